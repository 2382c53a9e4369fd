// A gateway started over an IPC channel stops when whoever started it is
// gone, even killed with -9 (gateway/server.ts): a fault run that a test
// runner times out must not leave gateways holding ports and cores.
import t from 'tap'
import { spawn } from 'node:child_process'
import { eventually, freePort, gatewayProcess } from './helper.ts'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('the supervisor is killed with -9: its gateway stops', async (t) => {
  const gp = gatewayProcess(t, 'CA', await freePort(), { LOG_LEVEL: 'warn' })
  // The supervisor: starts the gateway with an IPC channel, says its pid, waits.
  const supervisor = spawn(
    process.execPath,
    [
      '-e',
      `
    const { spawn } = require('node:child_process')
    const gateway = spawn(process.execPath, ${JSON.stringify(gp.args)}, { env: ${JSON.stringify(gp.env)}, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    process.stdout.write(String(gateway.pid) + '\\n')
    setInterval(() => {}, 1000)
  `
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  )
  t.teardown(() => {
    supervisor.kill('SIGKILL')
  })
  const pid = await new Promise<number>((resolve) => supervisor.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))))
  t.teardown(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL')
  })
  const url = `https://127.0.0.1:${gp.env.PORT}/healthz`
  await eventually(
    async () => {
      try {
        const res = await fetch(url)
        return res.ok ? true : undefined
      } catch (err) {
        // The gateway answers only over TLS with its own CA; a TLS error means it listens.
        return /certificate|self-signed|UNABLE_TO|SELF_SIGNED/i.test(String((err as { cause?: unknown }).cause ?? err)) ? true : undefined
      }
    },
    60_000,
    'the gateway to listen'
  )
  t.ok(alive(pid), 'the gateway runs')
  supervisor.kill('SIGKILL')
  await eventually(() => (alive(pid) ? undefined : true), 30_000, 'the gateway to stop')
  t.notOk(alive(pid), 'the gateway stopped when its supervisor died')
})
