// GATEWAY_PROCESSES=2 (gateway/cluster.ts): one gateway on two processes,
// sharing the port, the ledger and Redis, with the ledger in SQLite and in
// PostgreSQL (where instances on several machines would share it). Under a
// load, one process is killed with -9: the supervisor starts it again, the
// agency system sends again what was cut off (the same signed message: a
// repeat), and nothing is lost or done twice. The ledger is one unbroken
// chain, written by both.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { join } from 'node:path'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { StopRequests } from '../gateway/cluster.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { PostgresStore } from '../gateway/store/ledger-postgres.ts'
import type { GatewayStore } from '../gateway/store/records.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { client, eventually, freePort, gatewayProcess, KEYS_DIR, PG_URL, startExchange } from './helper.ts'

// Each case starts an exchange and a supervised gateway of two processes,
// and waits out a kill: 15–30 s, over a minute on a machine whose cores are
// all busy, past tap's 120 s for the file (.taprc) for both.
t.setTimeout(300_000)

const MESSAGES = 60
const CONCURRENCY = 8

interface LogLine {
  level: number
  pid: number
  msg: string
  index?: number
  gatewayPid?: number
  req?: { url?: string }
}

/** A supervisor of gateway processes (gateway/cluster.ts), with an IPC channel, and its JSON log lines as they come. */
function supervise(t: Test, gw: { args: string[]; env: NodeJS.ProcessEnv }, opts: { detached: boolean }) {
  const supervisor = spawn(process.execPath, gw.args, { env: gw.env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'], detached: opts.detached })
  t.teardown(() => supervisor.kill('SIGKILL'))
  const exited = new Promise<number | null>((resolve) => supervisor.once('exit', (code) => resolve(code)))
  const logs: LogLine[] = []
  let partial = ''
  supervisor.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n')
    partial = lines.pop()!
    for (const line of lines) logs.push(JSON.parse(line) as LogLine)
  })
  return { supervisor, exited, logs }
}

async function twoProcesses(t: Test, ledger: 'sqlite' | 'postgres'): Promise<void> {
  const ex = await startExchange(t)
  const port = await freePort()
  const schema = `t_procs_${randomBytes(4).toString('hex')}`
  const pool = ledger === 'postgres' ? new pg.Pool({ connectionString: PG_URL, max: 2 }) : undefined
  if (pool !== undefined) {
    t.teardown(async () => {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await pool.end()
    })
  }
  const gw = gatewayProcess(t, 'CA', port, {
    ...(ledger === 'postgres' ? { LEDGER_POSTGRES_URL: PG_URL, LEDGER_POSTGRES_SCHEMA: schema } : {}),
    PARTNER_URL: ex.us.url,
    GATEWAY_PROCESSES: '2',
    LOG_LEVEL: 'info',
    PIPELINE_THREADS: '0',
    // The jobs the killed process held move again within seconds, not 25 s.
    QUEUE_LOCK_MS: '5000',
    QUEUE_STALLED_CHECK_MS: '2000'
  })
  // The IPC channel ends the supervisor, and so its gateways, with this process, however it ends (gateway/cluster.ts).
  // A process group of its own, so that the SQLite case can stop it as a terminal's Ctrl-C does: a SIGINT to every process of the group.
  const { supervisor, exited, logs } = supervise(t, gw, { detached: true })
  const started = () => logs.filter((l) => l.msg === 'gateway process started')
  const listening = () => new Set(logs.filter((l) => l.msg.startsWith('Server listening')).map((l) => l.pid))
  await eventually(() => (listening().size === 2 ? true : undefined), 60_000, 'both gateway processes to listen')
  // The processes listening now (one that died while starting, on a busy machine, was started again).
  const pids = [...listening()]
  t.equal(pids.length, 2, 'two processes listening, each with a pid of its own')

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
  let killedAt = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < signed.length) {
        const { jws } = signed[next++]!
        await submit(jws)
        answered++
        if (answered === MESSAGES / 3 && killed === undefined) {
          killed = pids[1]!
          killedAt = logs.length
          process.kill(killed, 'SIGKILL')
        }
      }
    })
  )
  t.ok(killed, 'one process was killed with -9 in the middle of the load')
  const restarted = await eventually(
    () => logs.slice(killedAt).find((l) => l.msg === 'gateway process started' && l.index === started().find((s) => s.gatewayPid === killed)?.index),
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

  // The agency may have a message before the CA gateway records its delivery:
  // a job the killed process held is sent again once its lock lapses, and
  // the partner answers the repeat with the same receipt.
  const store: GatewayStore = pool === undefined ? new SqliteStore(gw.ledgerPath, { readOnly: true }) : new PostgresStore(pool, { schema })
  t.teardown(() => store.close())
  await eventually(
    async () => {
      for (const { id } of signed) if ((await store.findMessage('outbound', id))?.status !== 'delivered') return undefined
      return true
    },
    60_000,
    'every message marked delivered in the CA ledger'
  )

  // SIGTERM to the supervisor alone (an orchestrator's stop), or SIGINT to
  // the whole group (Ctrl-C): either way each process closes once, gracefully.
  if (ledger === 'sqlite') process.kill(-supervisor.pid!, 'SIGINT')
  else supervisor.kill('SIGTERM')
  const code = await exited
  t.equal(code, 0, `${ledger === 'sqlite' ? 'SIGINT to the process group' : 'SIGTERM to the supervisor'} stops every process, and the supervisor exits 0`)
  t.equal(logs.filter((l) => l.msg === 'shutting down').length, 2, 'each process closed, once')
  if (code !== 0)
    t.comment(
      logs
        .filter((l) => l.level >= 40)
        .map((l) => JSON.stringify(l))
        .join('\n')
    )
  const ca = loadTrustStore(join(KEYS_DIR, 'CA', 'trust.json'))
  const verification = await verifyLedger(store, ca.ownKeys)
  t.ok(verification.ok, `one unbroken chain (${verification.entries} entries)`, { firstBad: verification.firstBad })
  const events = new Map<string, string[]>()
  for (let after = 0; ; ) {
    const page = await store.auditEntries(after, 1000)
    if (page.length === 0) break
    for (const e of page) {
      if (e.entry.messageId !== null) events.set(e.entry.messageId, [...(events.get(e.entry.messageId) ?? []), e.entry.event])
    }
    after = page[page.length - 1]!.seq
  }
  // One accepted and one delivered entry, in that order. An attempt that
  // failed in between (a partner that took longer than DELIVERY_TIMEOUT_MS
  // while every core was busy, say) is audited and retried: that is not an
  // effect twice, and the partner knows the retry by its id.
  const once = (seen: string[] | undefined): boolean =>
    seen !== undefined && seen[0] === 'accepted' && seen.at(-1) === 'delivered' && seen.slice(1, -1).every((e) => e === 'delivery-failed')
  const wrong = signed.filter((s) => !once(events.get(s.id)))
  const retried = signed.filter((s) => (events.get(s.id)?.length ?? 0) > 2)
  if (retried.length > 0) {
    t.comment(
      `${retried.length} delivered after a failed attempt: ${logs
        .filter((l) => l.msg === 'delivery attempt failed')
        .map((l) => JSON.stringify(l))
        .join('\n')}`
    )
  }
  t.same(
    wrong.map((s) => ({ id: s.id, events: events.get(s.id) })),
    [],
    'each message: one accepted and one delivered entry, with only failed attempts between'
  )
}

for (const ledger of ['sqlite', 'postgres'] as const) {
  t.test(`two gateway processes on one port, the ledger in ${ledger}: both serve, one killed with -9 comes back, nothing lost or repeated, one chain`, (t) =>
    twoProcesses(t, ledger)
  )
}

t.test('stopped while its processes are still starting, the supervisor still stops them all and exits 0', async (t) => {
  const gw = gatewayProcess(t, 'CA', await freePort(), { GATEWAY_PROCESSES: '2', LOG_LEVEL: 'info', PIPELINE_THREADS: '0' })
  const { supervisor, exited, logs } = supervise(t, gw, { detached: false })
  // Both forked, neither listening yet: a gateway takes a second or more to build.
  await eventually(() => (logs.filter((l) => l.msg === 'gateway process started').length === 2 ? true : undefined), 30_000, 'both processes forked')
  t.notOk(
    logs.some((l) => l.msg.startsWith('Server listening')),
    'neither listens yet'
  )
  supervisor.kill('SIGTERM')
  t.equal(await exited, 0, 'every process stopped, and the supervisor exits 0')
})

t.test('a SIGHUP while its processes are still starting kills none of them, and each re-reads the trust file once it has started', async (t) => {
  // docs/operators.md: after a change with the keys CLI, `kill -HUP` the
  // gateway. A process still building has no handler of its own yet, and
  // Node's default for SIGHUP ends it.
  const gw = gatewayProcess(t, 'CA', await freePort(), { GATEWAY_PROCESSES: '2', LOG_LEVEL: 'info', PIPELINE_THREADS: '0' })
  const { supervisor, exited, logs } = supervise(t, gw, { detached: false })
  await eventually(() => (logs.filter((l) => l.msg === 'gateway process started').length === 2 ? true : undefined), 30_000, 'both processes forked')
  supervisor.kill('SIGHUP')
  const reloaded = () => new Set(logs.filter((l) => l.msg === 'trust store reloaded').map((l) => l.pid))
  await eventually(() => (reloaded().size === 2 ? true : undefined), 60_000, 'both processes to re-read the trust file')
  const listening = new Set(logs.filter((l) => l.msg.startsWith('Server listening')).map((l) => l.pid))
  t.same([...reloaded()].sort(), [...listening].sort(), 'the two processes that listen each re-read it')
  t.same(
    logs.filter((l) => l.msg === 'gateway process exited; starting it again'),
    [],
    'no process died of it'
  )
  supervisor.kill('SIGTERM')
  t.equal(await exited, 0, 'and the supervisor stops them all and exits 0')
})

// A Ctrl-C reaches the supervisor and each gateway process at once, and the
// supervisor relays it as a stop message (gateway/cluster.ts): on a busy
// machine a process may read the message before its own copy of the signal.
// That copy is the same stop, not an operator's second Ctrl-C ("exit now").
t.test('a gateway process told to stop by its supervisor takes the same signal, arriving after, as that stop: it closes once and exits 0', async (t) => {
  const gw = gatewayProcess(t, 'CA', await freePort(), { LOG_LEVEL: 'info', PIPELINE_THREADS: '0' })
  const { supervisor: gateway, exited, logs } = supervise(t, gw, { detached: false })
  await eventually(() => (logs.some((l) => l.msg.startsWith('Server listening')) ? true : undefined), 60_000, 'the gateway to listen')
  // The signal as soon as the process says it has read the message, while it closes.
  gateway.stdout!.on('data', (chunk: Buffer) => {
    if (chunk.includes('told to stop by the supervisor')) gateway.kill('SIGINT')
  })
  gateway.send({ type: 'btb:stop', signal: 'SIGINT' })
  t.equal(await exited, 0, 'it exits 0')
  t.equal(logs.filter((l) => l.msg === 'shutting down').length, 1, 'it closed once')
})

t.test('StopRequests: the first request closes; a second signal exits now, except the copy of a signal the supervisor relayed', async (t) => {
  const seen = (): { calls: string[]; stops: StopRequests } => {
    const calls: string[] = []
    const stops = new StopRequests({ stop: (signal, by) => calls.push(`stop ${signal} by ${by}`), exitNow: (signal) => calls.push(`exit now ${signal}`) })
    return { calls, stops }
  }
  let { calls, stops } = seen()
  stops.signal('SIGTERM')
  stops.message('SIGTERM')
  stops.signal('SIGTERM')
  t.same(calls, ['stop SIGTERM by signal', 'exit now SIGTERM'], 'signal first: the message changes nothing, and the next signal exits now')
  ;({ calls, stops } = seen())
  stops.message('SIGINT')
  stops.signal('SIGINT')
  t.same(calls, ['stop SIGINT by supervisor'], "message first: the signal's copy that follows is the same stop")
  stops.signal('SIGINT')
  t.same(calls, ['stop SIGINT by supervisor', 'exit now SIGINT'], 'and a further one exits now')
  ;({ calls, stops } = seen())
  stops.message('SIGTERM')
  stops.signal('SIGINT')
  t.same(calls, ['stop SIGTERM by supervisor', 'exit now SIGINT'], 'another signal than the one relayed exits now')
  ;({ calls, stops } = seen())
  stops.closing()
  stops.message('SIGTERM')
  stops.signal('SIGTERM')
  t.same(calls, ['exit now SIGTERM'], 'closing after an error: the message changes nothing, and a signal exits now')
})
