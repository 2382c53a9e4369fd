// `npm run sandbox -- --once`, as a newcomer runs it: both gateways and the
// mock agencies as processes, one sample of each kind each way, a manifest.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sandboxSetting } from './helper.ts'

const root = join(import.meta.dirname, '..')

t.test('the sandbox delivers a sample of every kind both ways and writes sandbox.json', async (t) => {
  // Ports, files and queues of its own (the environment sandbox/run.ts reads): another run on this machine does not collide.
  const sandbox = await sandboxSetting(t)
  const child = spawn(process.execPath, ['sandbox/run.ts', '--once'], {
    cwd: root,
    env: { ...process.env, ...sandbox.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString()
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.equal(code, 0, `exit 0\n${output}`)
  t.match(output, /10 of 10 samples delivered with the partner's signed receipt/)
  for (const kind of ['biometric.match-request', 'biometric.match-response', 'traveller.designation', 'entry-exit.record', 'entry-exit.batch']) {
    t.match(output, new RegExp(`${kind.replace('.', '\\.')} +CA/\\w+ -> US/\\w+ +202 -> delivered`), `${kind} CA→US`)
    t.match(output, new RegExp(`${kind.replace('.', '\\.')} +US/\\w+ -> CA/\\w+ +202 -> delivered`), `${kind} US→CA`)
  }
  const manifest = JSON.parse(readFileSync(join(sandbox.dir, 'sandbox.json'), 'utf8'))
  t.equal(manifest.gateways.CA.url, `https://127.0.0.1:${sandbox.ports.CA}`, 'the CA gateway on CA_PORT')
  t.equal(manifest.gateways.US.url, `https://127.0.0.1:${sandbox.ports.US}`, 'the U.S. gateway on US_PORT')
  t.same(
    [...manifest.gateways.CA.agencySystems, ...manifest.gateways.US.agencySystems].map((s: { webhook: string }) => Number(new URL(s.webhook).port)),
    sandbox.mockPorts,
    'the mock agencies on CA_MOCK_PORTS and US_MOCK_PORTS'
  )
  t.equal(manifest.gateways.US.agencySystems.length, 2)
  for (const s of manifest.gateways.US.agencySystems) {
    t.match(s.kid, /^us-/)
    t.ok(readFileSync(join(sandbox.dir, s.clientCert), 'utf8').startsWith('-----BEGIN CERTIFICATE-----'), `${s.agency} certificate path resolves`)
  }
})
