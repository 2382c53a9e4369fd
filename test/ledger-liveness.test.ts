// A SQLite ledger runs on a thread of its own. When that thread stops while
// the process runs (out of memory, say), nothing in the process brings it
// back: /healthz says the process is failing, every message is refused with
// a 503 and nothing is accepted, and a gateway process logs it at fatal,
// closes and exits 1, so that its supervisor or container starts it again
// (gateway/plugins/ledger.ts, LedgerLiveness; docs/operators.md, "Metrics and
// health").
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, freePort, gatewayProcess, injectGateway, testConfig, tokenOnceListening } from './helper.ts'

interface LogLine {
  readonly level: number
  readonly msg: string
}

t.test('a ledger thread that runs out of memory: /healthz fails, messages are refused, and the process is told to stop', async (t) => {
  const gw = await injectGateway(t, testConfig('CA'))
  const cbsa = client(t, 'CBSA', gw.url)
  const before = await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))
  t.equal(before.status, 202, 'a message is accepted while the ledger runs')
  t.same((await gw.app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' })

  // A call whose argument holds more than the thread's heap (48 MB): three
  // million small objects, cloned there, run it out of memory and end it.
  const call = gw.app.store.findMessage('outbound', Array.from({ length: 3_000_000 }, (_, i) => ({ i })) as never)
  await t.rejects(call, { code: 'LEDGER_THREAD_GONE' }, 'the call that ended the thread fails, with the thread')
  const stopped = await gw.app.ledgerLiveness.stopped
  t.match(stopped.message, /^the ledger's thread failed: .*memory/i, 'the process is told why its ledger stopped')

  const health = await gw.app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 503, '/healthz: not alive')
  t.same(health.json(), { status: 'failing', reason: stopped.message })
  const ready = await gw.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.json<{ checks: Record<string, string> }>().checks.ledger, stopped.message, '/readyz names the ledger')

  const after = await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))
  t.equal(after.status, 503, 'a message after it is refused')
  t.equal(after.json<{ code: string }>().code, 'SERVICE_UNAVAILABLE')
  const jobs = await gw.app.queues.queue('outbound').getJobCounts()
  t.equal(
    Object.values(jobs).reduce((a, b) => a + b, 0),
    1,
    'only the message accepted before was queued'
  )
})

t.test('a gateway process whose ledger thread stops logs it at fatal, closes, and exits 1', async (t) => {
  const port = await freePort()
  const gw = gatewayProcess(t, 'CA', port, { LOG_LEVEL: 'info' })
  const stopper = join(import.meta.dirname, 'lib', 'ledger-thread-stopper.ts')
  const child = spawn(process.execPath, gw.args, {
    env: { ...gw.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${stopper}`.trim() },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => child.kill('SIGKILL'))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const logs: LogLine[] = []
  let partial = ''
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n')
    partial = lines.pop()!
    for (const line of lines) logs.push(JSON.parse(line) as LogLine)
  })

  const cbsa = client(t, 'CBSA', `https://127.0.0.1:${port}`)
  await tokenOnceListening(cbsa, 60_000)
  const res = await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))
  t.equal(res.status, 202, 'the process takes messages')

  child.kill('SIGUSR1')
  t.equal(await exited, 1, 'the process exits 1, for its supervisor to start it again')
  t.same(
    logs.filter((l) => l.level === 60).map((l) => l.msg),
    ['the ledger has stopped: this process can take no message until it is started again'],
    'said once, at fatal'
  )
  t.ok(
    logs.some((l) => l.msg === 'shutting down: the ledger has stopped'),
    'and it closed as on a signal'
  )
})
