// What an agency sees when delivery fails: each failed attempt on the status,
// then dead-lettered after the last retry, with an alert and nothing left in
// Redis; the sealed copy stays in the outbox for an operator.
import t from 'tap'
import { spawn } from 'node:child_process'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { buildApp } from '../gateway/app.ts'
import { failureReason } from '../gateway/queue/dead-letters.ts'
import { RECEIPT_TYP } from '../gateway/pipeline/receipt.ts'
import { client, eventually, freePort, injectGateway, standInPartner, testConfig, UNREACHABLE_URL } from './helper.ts'
import { redisContents } from './lib/redis-contents.ts'

// The tests are independent (each its own gateway, Redis prefix and ledger) and spend their time waiting on retries: side by side.
t.jobs = 3

/** The message's status once it reads dead-lettered: waited for, `message` saying what was last seen if it does not. */
function deadLettered(
  cbsa: ReturnType<typeof client>,
  id: string,
  timeoutMs = 15_000,
  message: string | (() => string) = 'dead-lettering'
): Promise<{ status: string; attempts: Array<{ at: string; error: string }> }> {
  return eventually(
    async () => {
      const s = (await cbsa.status(id)).json<{ status: string; attempts: Array<{ at: string; error: string }> }>()
      return s.status === 'dead-lettered' ? s : undefined
    },
    timeoutMs,
    message
  )
}

t.test('an unreachable partner: failed attempts, then dead-lettered', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { partnerUrl: UNREACHABLE_URL, deliveryAttempts: 3, deliveryBackoffMs: 10 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const status = await deadLettered(cbsa, String(envelope.id))
  t.equal(status.attempts.length, 3, 'every attempt is listed')
  t.match(status.attempts[0]!.error, /ECONNREFUSED/)
  const events = (await gw.app.store.auditEntries(0, 100)).map((e) => e.entry.event)
  t.same(events, ['accepted', 'delivery-failed', 'delivery-failed', 'dead-lettered'], 'each step is audited')
  t.ok(await gw.app.store.outboxItem('outbound', String(envelope.id)), 'the sealed message is kept for a resend')
  // BullMQ removes the job once the processor's last attempt has returned,
  // which is just after the status reads dead-lettered: waited for, not raced.
  const queue = gw.app.queues.queue('outbound')
  t.ok(
    await eventually(async () => ((await queue.getJob(String(envelope.id))) === undefined ? true : undefined), 10_000, 'the job removed'),
    'and no job is left in Redis'
  )
})

t.test('an outage does not flood the ledger: attempts 1, 2, 4, 8 and the outcome', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { partnerUrl: UNREACHABLE_URL, deliveryAttempts: 10, deliveryBackoffMs: 1 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const status = await deadLettered(cbsa, String(envelope.id), 30_000)
  t.equal(status.attempts.length, 10, 'the status keeps every attempt')
  const events = (await gw.app.store.auditEntries(0, 100)).map((e) => e.entry.event)
  t.same(
    events,
    ['accepted', 'delivery-failed', 'delivery-failed', 'delivery-failed', 'delivery-failed', 'dead-lettered'],
    'the ledger gets failures 1, 2, 4 and 8, then the outcome: 6 entries for 10 attempts'
  )
})

t.test("a partner's receipt whose header names a traveller: no log line, no Redis key and no attempt holds it", async (t) => {
  // A partner at fault: its receipt's protected header carries a name and a
  // document number where a media type, a key id or a parameter's name go.
  // The header is read before the signature, and each was quoted in the
  // attempt's error: a log line, the message's status, and BullMQ's failed
  // reason, which the events stream keeps after the job is removed.
  const usKid = 'us-gateway-20261126-3eb8'
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const headers = [
    { alg: 'ES256', kid: usKid, typ: 'Jean TREMBLAY C4471862' },
    { alg: 'ES256', kid: 'TREMBLAY-C4471862', typ: RECEIPT_TYP },
    { alg: 'ES256', kid: usKid, typ: RECEIPT_TYP, 'Jean TREMBLAY C4471862': 1 }
  ]
  let answered = 0
  const partner = await standInPartner(t, (req, res) => {
    req.resume()
    const header = headers[answered++ % headers.length]
    const receipt = `${b64(header)}.${b64({ note: 'x' })}.${Buffer.alloc(64, 7).toString('base64url')}`
    res.writeHead(200, { 'content-type': 'application/jose' }).end(receipt)
  })
  const lines: string[] = []
  const gw = await injectGateway(t, testConfig('CA', { partnerUrl: partner.url, deliveryAttempts: headers.length, deliveryBackoffMs: 10, logLevel: 'debug' }), {
    logStream: { write: (line) => void lines.push(line) }
  })
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const status = await deadLettered(cbsa, id)
  t.equal(status.attempts.length, headers.length, 'each receipt refused, then dead-lettered')
  const queue = gw.app.queues.queue('outbound')
  await eventually(async () => ((await queue.getJob(id)) === undefined ? true : undefined), 10_000, 'the job removed')
  await eventually(() => (lines.some((l) => l.includes('DEAD_LETTER')) ? true : undefined), 10_000, 'the alert logged')

  const personal = /TREMBLAY|C4471862/
  t.notMatch(lines.join(''), personal, 'no log line holds the name or the number')
  t.notMatch(await redisContents(gw.config.queuePrefix), personal, 'nothing in Redis holds them, the events stream included')
  t.notMatch(JSON.stringify(status.attempts), personal, "nor does the message's status")
  t.same(
    status.attempts.map((a) => failureReason(a.error).code),
    headers.map(() => 'RECEIPT_INVALID'),
    'each attempt still says the receipt was refused'
  )
})

t.test('start-up refuses a Redis that may evict queue keys', async (t) => {
  const port = await freePort()
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--maxmemory-policy', 'allkeys-lru'], { stdio: 'ignore' })
  t.teardown(() => redis.kill('SIGKILL'))
  const url = `redis://127.0.0.1:${port}`
  const config = testConfig('CA', { redisUrl: url, redisChecks: 'refuse' })
  const error = await eventually(
    async () => {
      try {
        const app = await buildApp(config)
        await app.close()
        return new Error('started')
      } catch (err) {
        // Until redis-server listens, the connection is refused: try again.
        return /ECONNREFUSED/.test(String(err)) ? undefined : (err as Error)
      }
    },
    10_000,
    'a verdict on the Redis settings'
  )
  t.match(error.message, /maxmemory-policy is allkeys-lru: BullMQ needs noeviction/)
})

t.test('a last attempt whose dead letter the ledger cannot record then is dead-lettered once it can: no fresh attempts, nothing sent again', async (t) => {
  let posts = 0
  const partner = await standInPartner(t, (req, res) => {
    req.resume()
    posts++
    res.writeHead(503, { 'content-type': 'application/problem+json' }).end('{"code":"SERVICE_UNAVAILABLE"}')
  })
  // RELAY_INTERVAL_MS stays at the tests' minute, past the waits below.
  const gw = await injectGateway(t, testConfig('CA', { partnerUrl: partner.url, deliveryAttempts: 2, deliveryBackoffMs: 10 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const id = String(envelope.id)
  // The ledger fails the dead letter's write once, as PostgreSQL past LEDGER_POSTGRES_TIMEOUT_MS would.
  const store = gw.app.store
  const markDeadLettered = store.markDeadLettered.bind(store)
  let refused = 0
  store.markDeadLettered = async (...args) => {
    if (args[1] === id && refused++ === 0) throw new Error('the ledger could not write: SQLITE_FULL')
    return markDeadLettered(...args)
  }
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const status = await deadLettered(cbsa, id, 15_000, () => `dead-lettering (status ${refused} refused writes, ${posts} POSTs)`)
  t.equal(refused, 2, 'the dead letter was written at the second try')
  t.equal(status.attempts.length, 2, 'its two attempts, each recorded once')
  const queue = gw.app.queues.queue('outbound')
  await eventually(async () => ((await queue.getJob(id)) === undefined ? true : undefined), 10_000, 'the job removed')
  t.equal(posts, 2, 'the partner was asked twice, as DELIVERY_ATTEMPTS says: not a third time when the record was owed')
  t.equal(await gw.app.relay.runOnce(0), 0, 'the outbox relay has nothing to queue again')
  const events = (await store.searchAudit({ messageId: id, direction: 'outbound' }, 0, 100)).map((e) => e.entry.event)
  t.same(events, ['accepted', 'delivery-failed', 'dead-lettered'], 'the ledger ends with the dead letter')
})
