// `npm run sandbox`, as a process a newcomer starts and stops: both gateways
// and the mock agencies as processes, with its own Redis (none answers at
// REDIS_URL); `--once` sends one sample of each kind each way, writes the
// manifest and exits 0 within a few seconds, Ctrl-C does too, and a gateway
// that dies is reported, whatever killed it.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, sandboxSetting, type SandboxSetting } from './helper.ts'

const root = join(import.meta.dirname, '..')
/** "Within a few seconds": what stopping may take, from the last line to the exit. */
const STOP_WITHIN_MS = 5_000

function sandbox(
  args: string[],
  redisPort: number,
  setting: SandboxSetting
): { child: ChildProcess; output: () => string; line: (pattern: RegExp) => Promise<string>; exit: Promise<{ code: number | null; at: number }> } {
  const child = spawn(process.execPath, ['sandbox/run.ts', ...args], {
    cwd: root,
    env: { ...process.env, ...setting.env, LOG_LEVEL: 'warn', REDIS_URL: `redis://127.0.0.1:${redisPort}` },
    // With an IPC channel, as every test starts it: it stops when the test process is gone.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  let output = ''
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = []
  const onData = (c: Buffer): void => {
    output += c.toString()
    for (const w of [...waiters]) {
      const found = output.split('\n').find((l) => w.pattern.test(l))
      if (found !== undefined) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(found)
      }
    }
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exit = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: Date.now() })))
  return {
    child,
    output: () => output,
    line: (pattern) =>
      new Promise((resolve, reject) => {
        const found = output.split('\n').find((l) => pattern.test(l))
        if (found !== undefined) return resolve(found)
        waiters.push({ pattern, resolve })
        void exit.then(() => reject(new Error(`the sandbox exited before ${pattern}:\n${output}`)))
      }),
    exit
  }
}

t.test('--once with its own Redis delivers a sample of every kind both ways, writes sandbox.json and exits 0 within a few seconds', async (t) => {
  // Ports, files and queues of its own (the environment sandbox/run.ts reads): another run on this machine does not collide.
  const setting = await sandboxSetting(t)
  const run = sandbox(['--once'], await freePort(), setting)
  t.teardown(() => run.child.kill('SIGKILL'))
  await run.line(/started redis-server/)
  await run.line(/samples delivered with the partner's signed receipt/)
  const done = Date.now()
  const { code, at } = await run.exit
  t.equal(code, 0, 'exit 0')
  if (code !== 0) t.comment(run.output())
  t.ok(at - done < STOP_WITHIN_MS, `stopped ${at - done} ms after the last sample`)

  const output = run.output()
  t.match(output, /12 of 12 samples delivered with the partner's signed receipt/)
  // SANDBOX_DIR is outside the checkout here: the banner names where the files are.
  t.ok(output.includes(`manifest  ${join(setting.dir, 'sandbox.json')} `), 'the manifest, where SANDBOX_DIR put it')
  t.ok(output.includes(`Logs: ${join(setting.dir, 'sandbox-run', '*.log')}.`), 'and the logs')
  for (const kind of ['biometric.match-request', 'biometric.match-response', 'traveller.designation', 'entry-exit.record', 'entry-exit.batch']) {
    t.match(output, new RegExp(`${kind.replace('.', '\\.')} +CA/\\w+ -> US/\\w+ +202 -> delivered`), `${kind} CA→US`)
    t.match(output, new RegExp(`${kind.replace('.', '\\.')} +US/\\w+ -> CA/\\w+ +202 -> delivered`), `${kind} US→CA`)
  }
  // A correction followed end to end (docs/integrators.md, "Corrections and retractions").
  const original = /correction: CBSA corrects the entry record ([0-9a-f-]{36})/.exec(output)?.[1]
  t.ok(original, 'CBSA corrects the entry record it sent')
  t.match(output, new RegExp(`entry-exit\\.record +CA/CBSA -> US/CBP +202 -> delivered, receipt .*, superseding ${original}`), 'the correction is delivered')
  t.match(
    output,
    new RegExp(`\\[mock US\\] CBP received entry-exit\\.record \\S+ from CA/CBSA/pik-primary, correcting ${original}`),
    'CBP is told what it corrects'
  )
  const manifest = JSON.parse(readFileSync(join(setting.dir, 'sandbox.json'), 'utf8'))
  t.equal(manifest.gateways.CA.url, `https://127.0.0.1:${setting.ports.CA}`, 'the CA gateway on CA_PORT')
  t.equal(manifest.gateways.US.url, `https://127.0.0.1:${setting.ports.US}`, 'the U.S. gateway on US_PORT')
  t.same(
    [...manifest.gateways.CA.agencySystems, ...manifest.gateways.US.agencySystems].map((s: { webhook: string }) => Number(new URL(s.webhook).port)),
    setting.mockPorts,
    'the mock agencies on CA_MOCK_PORTS and US_MOCK_PORTS'
  )
  t.equal(manifest.gateways.US.agencySystems.length, 2)
  for (const s of manifest.gateways.US.agencySystems) {
    t.match(s.kid, /^us-/)
    t.ok(readFileSync(join(setting.dir, s.clientCert), 'utf8').startsWith('-----BEGIN CERTIFICATE-----'), `${s.agency} certificate path resolves`)
  }
})

t.test('Ctrl-C exits 0 within a few seconds, and a gateway that dies is reported', async (t) => {
  const run = sandbox([], await freePort(), await sandboxSetting(t))
  t.teardown(() => run.child.kill('SIGKILL'))
  const gateways = await run.line(/^gateways /)
  await run.line(/keeps running for your own client/)
  const pid = Number(/US \S+ \(pid (\d+)\)/.exec(gateways)?.[1])
  t.ok(pid > 0, "the sandbox names the gateways' pids")
  process.kill(pid, 'SIGKILL')
  t.match(await run.line(/gateway-US/), /gateway-US was killed by SIGKILL/, 'a gateway killed by a signal is reported')

  const interrupted = Date.now()
  run.child.kill('SIGINT')
  const { code, at } = await run.exit
  t.equal(code, 0, 'exit 0')
  if (code !== 0) t.comment(run.output())
  t.ok(at - interrupted < STOP_WITHIN_MS, `stopped ${at - interrupted} ms after Ctrl-C`)
})

t.test('a sandbox whose starter is gone stops, gateways and all (a test runner that times a file out leaves none behind)', async (t) => {
  const run = sandbox([], await freePort(), await sandboxSetting(t))
  t.teardown(() => run.child.kill('SIGKILL'))
  const gateways = await run.line(/^gateways /)
  await run.line(/keeps running for your own client/)
  const pids = [...gateways.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]))
  t.equal(pids.length, 2, "the sandbox names both gateways' pids")
  // What the end of the starting process does to the channel.
  run.child.disconnect()
  const { code } = await run.exit
  t.equal(code, 0, 'it stops as on Ctrl-C')
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  t.same(pids.filter(alive), [], 'and its gateways with it')
})

// docs/integrators.md, "The sandbox": a port taken by another sandbox is to be
// moved with CA_PORT and the rest. One moved so, and nothing else, must not
// share the other's Redis queues: its start would drop them, and each one's
// workers would take the other's jobs.
t.test('a second sandbox on ports of its own leaves the first its queues', async (t) => {
  const redisPort = await freePort()
  const keysOf = async (): Promise<string[]> => {
    const redis = new Redis(`redis://127.0.0.1:${redisPort}`)
    try {
      return await redis.keys('*')
    } finally {
      redis.disconnect()
    }
  }
  const withoutPrefix = (setting: SandboxSetting): SandboxSetting => {
    const { SANDBOX_QUEUE_PREFIX: _prefix, ...env } = setting.env
    return { ...setting, env }
  }
  const first = sandbox([], redisPort, withoutPrefix(await sandboxSetting(t)))
  t.teardown(() => first.child.kill('SIGKILL'))
  await first.line(/keeps running for your own client/)
  // Its retention job's repeat key is named by the instant it was scheduled: one dropped and made again is another.
  const firstKeys = (await keysOf()).filter((key) => /:retention:repeat:purge-expired:\d+$/.test(key))
  t.equal(firstKeys.length, 2, "the first sandbox's gateways each scheduled their retention")

  const second = sandbox(['--once'], redisPort, withoutPrefix(await sandboxSetting(t)))
  t.teardown(() => second.child.kill('SIGKILL'))
  const { code } = await second.exit
  t.equal(code, 0, 'the second delivers its samples')
  if (code !== 0) t.comment(second.output())
  const after = await keysOf()
  t.same(
    firstKeys.filter((key) => !after.includes(key)),
    [],
    "the first sandbox's queues are still there"
  )
  first.child.kill('SIGINT')
  t.equal((await first.exit).code, 0)
})

// The same, from the same checkout without a SANDBOX_DIR of its own: the
// second would delete the first one's sandbox-run/ (its ledgers, open) and
// write sandbox.json over its manifest. It refuses, and says what to set.
t.test('a second sandbox writing where a running one writes refuses to start, and touches nothing', async (t) => {
  const redisPort = await freePort()
  const setting = await sandboxSetting(t)
  const first = sandbox([], redisPort, setting)
  t.teardown(() => first.child.kill('SIGKILL'))
  await first.line(/keeps running for your own client/)
  const manifest = readFileSync(join(setting.dir, 'sandbox.json'), 'utf8')
  const ledger = statSync(join(setting.dir, 'sandbox-run', 'ledger-CA.sqlite')).ino

  const other = await sandboxSetting(t)
  const second = sandbox(['--once'], redisPort, { ...other, env: { ...other.env, SANDBOX_DIR: setting.dir } })
  t.teardown(() => second.child.kill('SIGKILL'))
  const { code } = await second.exit
  t.equal(code, 1, 'the second exits 1')
  t.match(second.output(), /SANDBOX_DIR/, 'saying what to set')
  t.equal(readFileSync(join(setting.dir, 'sandbox.json'), 'utf8'), manifest, "the first one's manifest is left as it was")
  t.equal(statSync(join(setting.dir, 'sandbox-run', 'ledger-CA.sqlite')).ino, ledger, 'and its ledger')
  first.child.kill('SIGINT')
  t.equal((await first.exit).code, 0)
})
