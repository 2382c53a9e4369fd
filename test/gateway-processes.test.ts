// GATEWAY_PROCESSES=2 (gateway/cluster.ts): one gateway on two processes,
// sharing the port, the ledger and Redis. Under a load, one process is
// killed with -9: the supervisor starts it again, the agency system sends
// again what was cut off (the same signed message: a repeat), and nothing is
// lost or done twice. The ledger is one unbroken chain, written by both.
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { client, eventually, freePort, gatewayProcess, KEYS_DIR, startExchange } from './helper.ts'

const MESSAGES = 120
const CONCURRENCY = 8

interface LogLine {
  pid: number
  msg: string
  index?: number
  gatewayPid?: number
  req?: { url?: string }
}

t.test('two gateway processes on one port: both serve, one killed with -9 comes back, nothing lost or repeated, one chain', async (t) => {
  const ex = await startExchange(t)
  const port = await freePort()
  const gw = gatewayProcess(t, 'CA', port, {
    PARTNER_URL: ex.us.url,
    GATEWAY_PROCESSES: '2',
    LOG_LEVEL: 'info',
    PIPELINE_THREADS: '0',
    // The jobs the killed process held move again within seconds, not 25 s.
    QUEUE_LOCK_MS: '5000',
    QUEUE_STALLED_CHECK_MS: '2000'
  })
  const supervisor = spawn(process.execPath, gw.args, { env: gw.env, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => supervisor.kill('SIGKILL'))
  const exited = new Promise<number | null>((resolve) => supervisor.once('exit', (code) => resolve(code)))
  const logs: LogLine[] = []
  let partial = ''
  supervisor.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n')
    partial = lines.pop()!
    for (const line of lines) logs.push(JSON.parse(line) as LogLine)
  })
  const started = () => logs.filter((l) => l.msg === 'gateway process started')
  const listening = () => new Set(logs.filter((l) => l.msg.startsWith('Server listening')).map((l) => l.pid))
  await eventually(() => (listening().size === 2 ? true : undefined), 60_000, 'both gateway processes to listen')
  const pids = started().map((l) => l.gatewayPid!)
  t.equal(new Set(pids).size, 2, 'two processes, each with a pid of its own')

  const cbsa = client(t, 'CBSA', `https://127.0.0.1:${port}`)
  const signed = await Promise.all(
    Array.from({ length: MESSAGES }, async () => {
      const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
      return { id: String(envelope.id), jws: await cbsa.sign(envelope) }
    })
  )
  // An agency system sends again what got no answer: the same signed message.
  let resent = 0
  const submit = async (jws: string): Promise<number> => {
    for (;;) {
      try {
        const res = await cbsa.submit(jws)
        if (res.status === 202 || res.status === 200) return res.status
        throw new Error(`answered ${res.status}: ${res.body}`)
      } catch (err) {
        if (/answered/.test((err as Error).message)) throw err
        resent++
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
  let next = 0
  let answered = 0
  let killed: number | undefined
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < signed.length) {
        const { jws } = signed[next++]!
        await submit(jws)
        answered++
        if (answered === MESSAGES / 3 && killed === undefined) {
          killed = pids[1]!
          process.kill(killed, 'SIGKILL')
        }
      }
    })
  )
  t.ok(killed, 'one process was killed with -9 in the middle of the load')
  const restarted = await eventually(
    () => started().find((l) => l.index === 1 && l.gatewayPid !== killed),
    30_000,
    'the supervisor to start the killed process again'
  )
  t.ok(
    logs.some((l) => l.msg === 'gateway process exited; starting it again' && l.gatewayPid === killed),
    'the supervisor said the process died'
  )
  t.not(restarted.gatewayPid, killed, 'a new process in its place')

  const delivered = await eventually(
    () => {
      const ids = ex.mocks.CBP.received.filter((m) => signed.some((s) => s.id === m.id)).map((m) => m.id)
      return ids.length >= MESSAGES ? ids : undefined
    },
    60_000,
    `all ${MESSAGES} messages at CBP`
  )
  t.equal(new Set(delivered).size, MESSAGES, 'every message delivered, each once')
  t.equal(delivered.length, MESSAGES, 'none acted on twice')
  const incoming = new Set(logs.filter((l) => l.msg === 'incoming request' && l.req?.url === '/v1/messages').map((l) => l.pid))
  t.ok(incoming.size >= 2, `submissions were served by ${incoming.size} processes (${[...incoming].join(', ')})`)
  t.comment(`${resent} submissions sent again after the kill`)

  supervisor.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM stops every process, and the supervisor exits 0')

  const ledger = new SqliteStore(gw.ledgerPath, { readOnly: true })
  t.teardown(() => ledger.close())
  const ca = loadTrustStore(join(KEYS_DIR, 'CA', 'trust.json'))
  const verification = await verifyLedger(ledger, ca.ownKeys)
  t.ok(verification.ok, `one unbroken chain (${verification.entries} entries)`, { firstBad: verification.firstBad })
  const events = new Map<string, string[]>()
  for (let after = 0; ; ) {
    const page = await ledger.auditEntries(after, 1000)
    if (page.length === 0) break
    for (const e of page) {
      if (e.entry.messageId !== null) events.set(e.entry.messageId, [...(events.get(e.entry.messageId) ?? []), e.entry.event])
    }
    after = page[page.length - 1]!.seq
  }
  const wrong = signed.filter((s) => JSON.stringify(events.get(s.id)) !== JSON.stringify(['accepted', 'delivered']))
  t.same(
    wrong.map((s) => ({ id: s.id, events: events.get(s.id) })),
    [],
    'each message: one accepted and one delivered entry'
  )
})
