// Graceful shutdown of a real gateway process: on SIGTERM the listener stops
// taking connections, the request in flight still gets its answer, the
// delivery in hand finishes and its receipt is recorded before the ledger
// closes, and the process exits 0. A message accepted during the shutdown
// is not lost: the next process delivers it.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import { join } from 'node:path'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { ADD_CHECKPOINT_PATH } from '../gateway/audit/witness-client.ts'
import {
  client,
  copyKeys,
  eventually,
  freePort,
  gatewayProcess,
  KEYS_DIR,
  PG_URL,
  startExchange,
  startGateway,
  testConfig,
  tokenOnceListening
} from './helper.ts'
import { scratchSchema } from './lib/scratch-schema.ts'
import { holdLedgerChain } from './lib/ledger-chain-holder.ts'
import { runKeys } from './lib/run-keys.ts'

const { Agent, request } = undiciModule()

const key = (path: string) => readFileSync(join(KEYS_DIR, path))

/**
 * Stands between the CA gateway and the US gateway, as the US gateway (its
 * pinned certificate), and holds every delivery until released: a partner
 * that is slow to answer. What it forwards, it forwards as the CA gateway.
 */
async function slowPartner(t: { teardown(fn: () => unknown): void }, target: string) {
  const upstream = new Agent({ connect: { cert: key('CA/gateway.crt.pem'), key: key('CA/gateway.key.pem'), ca: key('CA/partner/ca.crt.pem') } })
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  const held: string[] = []
  const server = createHttpsServer(
    {
      cert: key('US/gateway.crt.pem'),
      key: key('US/gateway.key.pem'),
      ca: key('CA/ca.crt.pem'),
      requestCert: true,
      rejectUnauthorized: true
    },
    async (req, res) => {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      if (req.url === '/v1/exchange') {
        held.push(req.url)
        await released
      }
      const answer = await request(`${target}${req.url}`, {
        method: req.method as 'GET' | 'POST',
        body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' },
        dispatcher: upstream
      })
      const body = Buffer.from(await answer.body.arrayBuffer())
      res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type']) }).end(body)
    }
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    release()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await upstream.close()
  })
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}`, held, release }
}

interface GatewayLogLine {
  level?: number
  msg?: string
  req?: { method?: string; url?: string }
  requests?: number
  err?: { message?: string }
}

/** Runs a gateway process, its JSON log lines collected as they come. */
function runGateway(t: { teardown(fn: () => unknown): void }, gw: ReturnType<typeof gatewayProcess>) {
  // The IPC channel ends the gateway with this process, however it ends
  // (gateway/cluster.ts, stopWithSupervisor): a test stopped by tap's
  // timeout, past its teardowns, left one running for an hour.
  const child = spawn(process.execPath, gw.args, {
    env: gw.env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  // Kept, and passed on as it comes: nothing the gateway writes belongs there but what Node itself writes.
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
    process.stderr.write(chunk)
  })
  t.teardown(() => child.kill('SIGKILL'))
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const logs: GatewayLogLine[] = []
  let partial = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n')
    partial = lines.pop()!
    for (const line of lines) logs.push(JSON.parse(line))
  })
  const logged = (msg: string, url?: string) => logs.filter((l) => l.msg === msg && (url === undefined || l.req?.url === url)).length
  return { child, exited, logs, logged, stderr: () => stderr }
}

/** Whether a new TCP connection to the port is refused: nothing listens there any more. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

t.test('SIGHUP re-reads the trust file, and the gateway goes on', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const port = await freePort()
  const gw = gatewayProcess(t, 'CA', port, { GATEWAY_TRUST_FILE: trustFile, TRUST_WATCH: 'false', LOG_LEVEL: 'info' })
  const { child, logged } = runGateway(t, gw)
  const cbsa = client(t, 'CBSA', `https://127.0.0.1:${port}`, dir)
  await tokenOnceListening(cbsa)
  t.equal((await runKeys('revoke', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')).code, 0)
  child.kill('SIGHUP')
  await eventually(() => (logged('trust store reloaded') === 1 ? true : undefined), 20_000, 'the reload')
  const ircc = client(t, 'IRCC', `https://127.0.0.1:${port}`, dir)
  t.equal((await ircc.call('POST', '/v1/token')).status, 200, 'the gateway still answers')
  t.equal((await cbsa.call('POST', '/v1/token')).status, 401, 'with the trust file as it is now')
  t.equal(logged('shutting down'), 0, 'it did not start to shut down')
  t.equal(child.exitCode, null, 'and is still running')
})

t.test('SIGTERM: no new connections, the request in flight gets its 202, the delivery in hand completes, exit 0, nothing lost', async (t) => {
  const ex = await startExchange(t)
  const partner = await slowPartner(t, ex.us.url)
  const port = await freePort()
  // A shutdown bound far above this test's steps: the held delivery is waited for, not abandoned.
  const gw = gatewayProcess(t, 'CA', port, { PARTNER_URL: partner.url, DELIVERY_TIMEOUT_MS: '20000', SHUTDOWN_TIMEOUT_MS: '120000', LOG_LEVEL: 'info' })
  const ledgerPath = gw.ledgerPath

  const { child, exited, logged } = runGateway(t, gw)
  const gatewayUrl = `https://127.0.0.1:${port}`
  const cbsa = client(t, 'CBSA', gatewayUrl)
  const token = await tokenOnceListening(cbsa)

  // A delivery in hand: accepted, and held by the partner.
  const first = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(first))).status, 202)
  await eventually(() => (partner.held.length === 1 ? true : undefined), 10_000, 'the delivery to reach the partner')

  // A request in flight: its headers and half its body are in.
  const second = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const jws = Buffer.from(await cbsa.sign(second))
  // A client that would keep the connection for its next request, as agency systems do.
  const keepAlive = new HttpsAgent({ keepAlive: true })
  t.teardown(() => keepAlive.destroy())
  const inFlight = httpsRequest(`${gatewayUrl}/v1/messages`, {
    method: 'POST',
    agent: keepAlive,
    cert: key('CA/agencies/CBSA-pik-primary/client.crt.pem'),
    key: key('CA/agencies/CBSA-pik-primary/client.key.pem'),
    ca: key('CA/ca.crt.pem'),
    headers: { 'content-type': 'application/jose', 'content-length': jws.length, authorization: `Bearer ${token}` }
  })
  const answered = new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    inFlight.once('error', reject)
    inFlight.once('response', (res) => {
      let body = ''
      res.on('data', (c: Buffer) => {
        body += c.toString('utf8')
      })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
  })
  inFlight.write(jws.subarray(0, jws.length >> 1))
  await eventually(() => (logged('incoming request', '/v1/messages') === 2 ? true : undefined), 10_000, 'the gateway to start on the request')

  child.kill('SIGTERM')
  await eventually(async () => ((await refused(port)) ? true : undefined), 10_000, 'the listener to close')
  t.pass('after SIGTERM, new connections are refused')

  inFlight.end(jws.subarray(jws.length >> 1))
  const response = await answered
  t.equal(response.status, 202, 'the request in flight is answered, and accepted')
  t.equal(JSON.parse(response.body).status, 'accepted')
  t.equal(response.headers.connection, 'close', 'and told not to reuse its connection, which would hold the shutdown open')

  // Only now, with the listener gone and the request answered, do the workers close: the delivery is still held.
  await eventually(
    () => (logged('closing the queue workers once their deliveries in hand finish') === 1 ? true : undefined),
    10_000,
    'the workers to start closing'
  )
  t.equal(partner.held.length >= 1, true, "the delivery is still in the partner's hands")
  t.equal(child.exitCode, null, 'and the process waits for it')
  partner.release()
  t.same(await exited, { code: 0, signal: null }, 'the process exits 0')

  const ledger = new SqliteStore(ledgerPath, { readOnly: true })
  const record = await ledger.findMessage('outbound', String(first.id))
  t.equal(record?.status, 'delivered', 'the delivery in hand completed before the ledger closed')
  t.match(record?.receipt, /^ey/, "with the partner's signed receipt kept")
  const events = (await ledger.searchAudit({ messageId: String(first.id) }, 0, 10)).map((e) => e.entry.event)
  t.same(events, ['accepted', 'delivered'], 'both audited')
  const late = await ledger.findMessage('outbound', String(second.id))
  t.ok(late, 'the message accepted during the shutdown is in the ledger')
  if (late?.status !== 'delivered') t.ok(await ledger.outboxItem('outbound', String(second.id)), 'and, not yet delivered, in the outbox')
  await ledger.close()

  // The next process, on the same ledger, delivers whatever was left.
  const { port: _taken, ...sameLedger } = gw.config
  await startGateway(t, testConfig('CA', { ...sameLedger, partnerUrl: ex.us.url }))
  for (const envelope of [first, second]) {
    await eventually(() => (ex.mocks.CBP.received.some((m) => m.id === envelope.id) ? true : undefined), 20_000, 'delivery to CBP')
  }
  t.equal(ex.mocks.CBP.received.filter((m) => m.id === first.id || m.id === second.id).length, 2, 'each message reached CBP once')
})

/**
 * A peer that takes every request and never answers: a container stopped
 * with its address gone, or a gateway or agency system hung. It presents
 * `identity`'s certificate (the peer's own) and counts what it holds, by path.
 */
async function silentPeer(t: { teardown(fn: () => unknown): void }, identity: { cert: string; key: string }) {
  const held: string[] = []
  const server = createHttpsServer(
    { cert: key(identity.cert), key: key(identity.key), ca: key('CA/ca.crt.pem'), requestCert: true, rejectUnauthorized: false },
    (req) => {
      req.resume()
      req.once('end', () => held.push(req.url ?? ''))
    }
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}`, held }
}

/** Settles with `promise`, or with 'still running' after `ms`: a bound a test asserts, not a sleep. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still running'> {
  return Promise.race([promise, new Promise<'still running'>((resolve) => setTimeout(resolve, ms, 'still running').unref())])
}

t.test(
  'SIGTERM with a partner that never answers: the delivery and the checkpoint in hand are abandoned within the default SHUTDOWN_TIMEOUT_MS, exit 0, and the next process delivers once',
  async (t) => {
    const ex = await startExchange(t)
    const partner = await silentPeer(t, { cert: 'US/gateway.crt.pem', key: 'US/gateway.key.pem' })
    const port = await freePort()
    // A request to the partner could wait a minute; the shutdown, by default,
    // takes at most 9 s and abandons what is in hand at 6 s (a busy machine
    // still has 3 s to give the job back and close the queues and the ledger).
    const gw = gatewayProcess(t, 'CA', port, {
      PARTNER_URL: partner.url,
      DELIVERY_TIMEOUT_MS: '60000',
      CHECKPOINT_EVERY_ENTRIES: '1',
      LOG_LEVEL: 'info'
    })
    const { child, exited, logs } = runGateway(t, gw)
    const cbsa = client(t, 'CBSA', `https://127.0.0.1:${port}`)
    await tokenOnceListening(cbsa)
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
    await eventually(
      () => (partner.held.includes('/v1/exchange') && partner.held.includes(ADD_CHECKPOINT_PATH) ? true : undefined),
      20_000,
      'the delivery and a checkpoint to reach the silent partner'
    )

    child.kill('SIGTERM')
    // Without the bound, the process waits out DELIVERY_TIMEOUT_MS for each, well past this.
    const ended = await within(exited, 30_000)
    t.same(ended, { code: 0, signal: null }, 'the process exits 0, before the shutdown bound (past it, close-with-grace exits 1)')
    const abandoned = logs.find((l) => l.msg === 'abandoning the requests to the partner still in hand; their messages stay queued')
    t.equal(abandoned?.requests, 2, 'it abandoned the two requests in hand: the delivery and the checkpoint')

    const ledger = new SqliteStore(gw.ledgerPath, { readOnly: true })
    const record = await ledger.findMessage('outbound', String(envelope.id))
    t.equal(record?.status, 'accepted', 'the message still awaits delivery')
    t.same(record?.attempts, [], 'and the abandoned attempt spent none of its attempts')
    t.ok(await ledger.outboxItem('outbound', String(envelope.id)), 'its sealed copy is in the outbox')
    const events = (await ledger.searchAudit({ messageId: String(envelope.id) }, 0, 10)).map((e) => e.entry.event)
    t.same(events, ['accepted'], 'nothing but its acceptance audited')
    await ledger.close()

    // The next process, on the same ledger and queue, with the partner back.
    const { port: _taken, ...sameLedger } = gw.config
    await startGateway(t, testConfig('CA', { ...sameLedger, partnerUrl: ex.us.url }))
    await eventually(() => (ex.mocks.CBP.received.some((m) => m.id === envelope.id) ? true : undefined), 20_000, 'delivery to CBP')
    t.equal(ex.mocks.CBP.received.filter((m) => m.id === envelope.id).length, 1, 'the message reached CBP once')
  }
)

t.test(
  'closing with a push to an agency that never answers: abandoned at two thirds of SHUTDOWN_TIMEOUT_MS, given back without spending an attempt, pushed once after',
  async (t) => {
    const agency = await silentPeer(t, { cert: 'US/agencies/CBP-ades/client.crt.pem', key: 'US/agencies/CBP-ades/client.key.pem' })
    const ex = await startExchange(t, (country) =>
      country === 'US' ? { webhooks: { 'US/CBP/ades': agency.url }, deliveryTimeoutMs: 60_000, shutdownTimeoutMs: 3000 } : {}
    )
    const cbsa = ex.clients.CBSA
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
    await eventually(() => (agency.held.length === 1 ? true : undefined), 20_000, "the push to reach CBP's silent system")

    // Without the bound, the close waits out DELIVERY_TIMEOUT_MS (a minute) for the push.
    t.equal(await within(ex.us.app.close(), 20_000), undefined, 'the US gateway closes, the push in hand abandoned at 2 s')
    const ledger = new SqliteStore(ex.us.config.ledgerPath, { readOnly: true })
    const record = await ledger.findMessage('inbound', String(envelope.id))
    t.equal(record?.status, 'accepted', 'the message still awaits its push')
    t.same(record?.attempts, [], 'and the abandoned push spent none of its attempts')
    await ledger.close()

    // The next US gateway, on the same ledger and queue, with CBP's system answering again.
    await startGateway(t, { ...ex.us.config, port: 0, webhooks: { 'US/CBP/ades': ex.mocks.CBP.url } })
    await eventually(() => (ex.mocks.CBP.received.some((m) => m.id === envelope.id) ? true : undefined), 20_000, 'the push to CBP')
    t.equal(ex.mocks.CBP.received.filter((m) => m.id === envelope.id).length, 1, 'CBP received it once')
  }
)

t.test('a close that outlasts SHUTDOWN_TIMEOUT_MS: exit 1, and the line that says so is JSON in the log, not text on stderr', async (t) => {
  // A ledger in PostgreSQL that does not answer a write under way, with no
  // deadline of its own short enough: the close waits for it, past the
  // shutdown's bound.
  const { pool, schema } = scratchSchema(t, 't_close', 2)
  const port = await freePort()
  const gw = gatewayProcess(t, 'CA', port, {
    LEDGER_POSTGRES_URL: PG_URL,
    LEDGER_POSTGRES_SCHEMA: schema,
    LEDGER_POSTGRES_TIMEOUT_MS: '60000',
    SHUTDOWN_TIMEOUT_MS: '1500',
    RUN_WORKERS: 'false',
    LOG_LEVEL: 'info'
  })
  const { child, exited, logs, logged, stderr } = runGateway(t, gw)
  const cbsa = client(t, 'CBSA', `https://127.0.0.1:${port}`)
  await tokenOnceListening(cbsa)
  const submit = async () =>
    (await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))).status
  t.equal(await submit(), 202)
  // Every append of the gateway's waits on the chain's lock, held here.
  const release = await holdLedgerChain(pool, schema)
  t.teardown(release)
  const cutOff = submit().catch(() => 'cut off')
  // Its request at the gateway: the ledger write it leads to waits for the lock, whether the stop comes before it or after.
  await eventually(() => (logged('incoming request', '/v1/messages') === 2 ? true : undefined), 10_000, 'the gateway to start on the request')
  child.kill('SIGTERM')
  t.same(await exited, { code: 1, signal: null }, 'exit 1: the close did not finish within its bound')
  await release()
  await cutOff
  const timedOut = logs.find((l) => /killed by timeout \(1500ms\)/.test(l.msg ?? ''))
  t.equal(timedOut?.level, 50, 'the bound logged as an error, as a JSON line')
  t.notMatch(stderr(), /killed by timeout/, 'and not as text on stderr')
})

t.test('a gateway whose Redis or PostgreSQL does not answer at start exits 1, saying which in one JSON line, with nothing on stderr', async (t) => {
  const nobody = await freePort()
  const cases: ReadonlyArray<readonly [string, Record<string, string>, RegExp]> = [
    ['Redis', { REDIS_URL: `redis://127.0.0.1:${nobody}` }, new RegExp(`^Redis at 127\\.0\\.0\\.1:${nobody} could not be reached: connect ECONNREFUSED`)],
    [
      'PostgreSQL',
      { LEDGER_POSTGRES_URL: `postgres://postgres:secret@127.0.0.1:${nobody}/test` },
      new RegExp(`^the ledger's PostgreSQL at 127\\.0\\.0\\.1:${nobody}/test could not be opened: connect ECONNREFUSED`)
    ]
  ]
  for (const [what, env, reason] of cases) {
    const gw = gatewayProcess(t, 'CA', await freePort(), { LOG_LEVEL: 'info', ...env })
    const { child, exited, logs, stderr } = runGateway(t, gw)
    // The exit can come before the last of what it wrote is read.
    const closed = new Promise((resolve) => child.once('close', resolve))
    t.same(await exited, { code: 1, signal: null }, `${what}: exit 1`)
    await closed
    const fatal = logs.filter((l) => l.level === 60)
    t.same(
      fatal.map((l) => l.msg),
      ['the gateway could not start'],
      `${what}: one line at level fatal`
    )
    t.match(fatal[0]?.err?.message, reason, `${what}: it says what did not answer`)
    t.notMatch(JSON.stringify(fatal), /secret/, `${what}: nor the URL's password`)
    t.equal(stderr(), '', `${what}: nothing on stderr`)
  }
})
