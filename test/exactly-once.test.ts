// No effect twice (docs/architecture.md, "Targets"): one "delivered" per
// message and hop, one push
// per message to the agency, whatever the queue carries again. The outbox
// relay re-drives what it read as undelivered; by the time it adds the job,
// the first one may have delivered the message and been removed from Redis,
// so the job id no longer protects it. Here that race is played out on
// purpose: the item the relay would have read is enqueued again after the
// message was delivered.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { QueueEvents } from 'bullmq'
import type { FastifyInstance } from 'fastify'
import { PARTNER_TARGET } from '../gateway/delivery/deliver-to-partner.ts'
import { redisOptions } from '../gateway/queue/delivery-queues.ts'
import { QUEUE_NAMES } from '../gateway/queue/queue-names.ts'
import type { Direction } from '../gateway/store/records.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { SYSTEMS, eventually, injectGateway, privateRedis, startExchange, testConfig } from './helper.ts'
import { agencyWebhook, asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'

async function entriesFor(app: FastifyInstance, id: string, event: string, direction: Direction): Promise<number> {
  const entries = await app.store.auditEntries(0, 100_000)
  return entries.filter((e) => e.entry.messageId === id && e.entry.event === event && e.entry.direction === direction).length
}

async function drained(app: FastifyInstance, direction: Direction): Promise<boolean | undefined> {
  const counts = await app.queues.queue(direction).getJobCounts('waiting', 'active', 'delayed', 'prioritized')
  return Object.values(counts).every((n) => n === 0) ? true : undefined
}

/**
 * A gateway on a Redis of its own whose CBSA webhook holds its answer to the
 * first push until `answer()`: a push in flight. `exchange` hands it a
 * partner's delivery.
 */
async function heldFirstPush(t: Test, overrides: Parameters<typeof testConfig>[1] = {}) {
  const redis = await privateRedis(t)
  let answer!: () => void
  const answered = new Promise<void>((resolve) => {
    answer = resolve
  })
  t.teardown(() => answer())
  const webhook = await agencyWebhook(t, 'CA', (res, n) => {
    if (n === 1) void answered.then(() => res.writeHead(204).end())
    else res.writeHead(204).end()
  })
  const gw = await injectGateway(
    t,
    testConfig('CA', { redisUrl: redis.url, webhooks: { 'CA/CBSA/pik-primary': webhook.url }, deliveryTimeoutMs: 5000, ...overrides })
  )
  const exchange = async (jws: string) => (await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: asPartnerOf('CA') })).statusCode
  return { redis, webhook, gw, answer, exchange }
}

/**
 * The partner forwards a correction of `originalId` while the original's push
 * is still in flight (held by heldFirstPush): the original must not be
 * withdrawn, and once its push is answered the agency gets it once, then the
 * correction.
 */
async function correctionWhilePushInFlight(
  t: Test,
  pushed: Pick<Awaited<ReturnType<typeof heldFirstPush>>, 'gw' | 'webhook' | 'answer' | 'exchange'>,
  originalId: string
): Promise<void> {
  const { gw, webhook, answer, exchange } = pushed
  const correction = await forwardedTo('CA', { envelope: { supersedes: { id: originalId, action: 'correct', reason: 'data-error' } } })
  t.equal(await exchange(correction.jws), 200)
  t.equal((await gw.app.store.findMessage('inbound', originalId))?.status, 'accepted', 'the original is not withdrawn while its push may arrive')
  answer()
  await eventually(
    async () => ((await gw.app.store.findMessage('inbound', correction.id))?.status === 'delivered' ? true : undefined),
    30_000,
    'the correction delivered'
  )
  const events = (await gw.app.store.searchAudit({ messageId: originalId, direction: 'inbound' }, 0, 100)).map((e) => e.entry.event)
  t.same(events, ['received', 'delivered'], 'the original: received, delivered, never withdrawn')
  t.same(
    webhook.pushes.map((p) => p.idempotencyKey),
    [originalId, correction.id],
    'the agency got the original once, then its correction'
  )
}

/** The ids of the inbound jobs BullMQ found stalled, as they are found. */
async function stalledJobs(t: Test, redisUrl: string, prefix: string): Promise<Set<string>> {
  const events = new QueueEvents(QUEUE_NAMES.inbound, { connection: redisOptions(redisUrl), prefix })
  t.teardown(() => events.close())
  const stalled = new Set<string>()
  events.on('stalled', ({ jobId }) => void stalled.add(jobId))
  await events.waitUntilReady()
  return stalled
}

/**
 * Redis frozen (a paused host, a fork that stalls it) for 1.5 s, past the
 * tests' 1 s lock: the fault's length, not a wait for a condition. The lock
 * lapses in Redis while the worker's push is still waiting for its answer.
 */
async function freezePastLock(redis: { pid?: number }): Promise<void> {
  process.kill(redis.pid!, 'SIGSTOP')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  process.kill(redis.pid!, 'SIGCONT')
}

t.test('a message queued again after its delivery is not delivered again', async (t) => {
  const ex = await startExchange(t)
  const cbsa = ex.clients.CBSA
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)

  await eventually(async () => ((await ex.us.app.store.findMessage('inbound', id))?.status === 'delivered' ? true : undefined), 15_000, 'the push')
  await eventually(async () => ((await ex.ca.app.store.findMessage('outbound', id))?.status === 'delivered' ? true : undefined), 15_000, 'the receipt')
  t.equal(ex.mocks.CBP.received.filter((m) => m.id === id).length, 1, 'CBP got it once')

  // The relay's late re-drive, on both hops, after both jobs completed and
  // were removed: what it would have read of each outbox item while the
  // message was on its way. Written out rather than caught in the outbox,
  // where the inbound item lives only from receipt to push (a fast push
  // left a test that polled for it waiting for an item already gone).
  const { country, agency, system } = SYSTEMS.CBP
  const receiver = `${country}/${agency}/${system}`
  t.equal(ex.us.app.partner.webhookFor(receiver), ex.mocks.CBP.url, 'the inbound target is the one CBP is pushed at')
  const createdAt = new Date().toISOString()
  await ex.ca.app.queues.enqueue({ direction: 'outbound', id, target: PARTNER_TARGET, createdAt })
  await ex.us.app.queues.enqueue({ direction: 'inbound', id, target: receiver, createdAt })
  await eventually(() => drained(ex.ca.app, 'outbound'), 10_000, 'the outbound queue to drain')
  await eventually(() => drained(ex.us.app, 'inbound'), 10_000, 'the inbound queue to drain')

  t.equal(ex.mocks.CBP.received.filter((m) => m.id === id).length, 1, 'CBP still got it once: one push per message')
  t.equal(await entriesFor(ex.ca.app, id, 'delivered', 'outbound'), 1, 'one "delivered" in the sending ledger')
  t.equal(await entriesFor(ex.us.app, id, 'delivered', 'inbound'), 1, 'one "delivered" in the receiving ledger')
  t.equal(await entriesFor(ex.us.app, id, 'received', 'inbound'), 1, 'one "received" in the receiving ledger')
  // The re-driven jobs ran and found the message delivered: not failed, not dead-lettered.
  t.equal((await ex.ca.app.store.findMessage('outbound', id))?.status, 'delivered')
  t.equal((await ex.us.app.store.findMessage('inbound', id))?.status, 'delivered')
  for (const event of ['delivery-failed', 'dead-lettered']) {
    t.equal((await entriesFor(ex.ca.app, id, event, 'outbound')) + (await entriesFor(ex.us.app, id, event, 'inbound')), 0, `no "${event}"`)
  }
})

t.test('a push carries the message id as its idempotency key', async (t) => {
  const ex = await startExchange(t)
  const cbsa = ex.clients.CBSA
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const pushed = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === envelope.id), 15_000, 'the push')
  t.equal(pushed.idempotencyKey, envelope.id, 'Idempotency-Key is the message id')
})

t.test('delivering twice to the store writes one entry', async (t) => {
  const ex = await startExchange(t, { runWorkers: false })
  const cbsa = ex.clients.CBSA
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const store = ex.ca.app.store
  const at = new Date().toISOString()
  const delivered = { at, event: 'delivered' as const, direction: 'outbound' as const, messageId: id }
  const { auditEntry } = await import('../gateway/pipeline/audit-entry.ts')
  t.equal(await store.markDelivered('outbound', id, 'receipt', auditEntry(delivered)), true, 'the first marks it')
  t.equal(await store.markDelivered('outbound', id, 'receipt', auditEntry(delivered)), false, 'the second finds it delivered')
  t.equal(
    await store.recordAttempt('outbound', id, { at, error: 'late' }, auditEntry({ ...delivered, event: 'delivery-failed' })),
    false,
    'a late failure is not recorded'
  )
  t.equal(await entriesFor(ex.ca.app, id, 'delivered', 'outbound'), 1)
  t.equal(await entriesFor(ex.ca.app, id, 'delivery-failed', 'outbound'), 0)
})

t.test('a push whose lock lapses while it is in flight (Redis frozen past QUEUE_LOCK_MS) is not pushed again meanwhile', async (t) => {
  const { redis, webhook, gw, answer, exchange } = await heldFirstPush(t, { queueLockMs: 1000, queueStalledCheckMs: 500 })
  const stalled = await stalledJobs(t, redis.url, gw.config.queuePrefix)
  const sent = await forwardedTo('CA')
  t.equal(await exchange(sent.jws), 200)
  await eventually(() => (webhook.pushes.length === 1 ? true : undefined), 15_000, 'the first push')

  await freezePastLock(redis)
  await eventually(() => (stalled.has(sent.id) ? true : undefined), 15_000, 'the stalled check to find the lapsed lock')
  const queue = gw.app.queues.queue('inbound')
  // Taken again: pushed at once, or put off.
  await eventually(
    async () => (webhook.pushes.length > 1 || (await queue.getJobState(sent.id)) === 'delayed' ? true : undefined),
    15_000,
    'the job taken again'
  )
  answer()
  await eventually(async () => ((await gw.app.store.findMessage('inbound', sent.id))?.status === 'delivered' ? true : undefined), 15_000, 'delivered')
  await eventually(() => drained(gw.app, 'inbound'), 30_000, 'the inbound queue to drain')
  t.equal(webhook.pushes.length, 1, 'pushed once: the agency did not get it again while its first push was in flight')
  t.equal(await entriesFor(gw.app, sent.id, 'delivered', 'inbound'), 1, 'one "delivered"')
})

/** A process's state as its kernel reports it (proc(5), the third field of `stat`): `T` once it is stopped. */
function processState(pid: number): string | undefined {
  try {
    return /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1]
  } catch {
    return undefined
  }
}

t.test(
  'a worker frozen past its lock, the stalled check and the wait after it, with the message read and nothing sent, does not push it after another worker did',
  async (t) => {
    const webhook = await agencyWebhook(t, 'CA')
    const config = testConfig('CA', {
      webhooks: { 'CA/CBSA/pik-primary': webhook.url },
      queueLockMs: 1000,
      queueStalledCheckMs: 500,
      // A job back from a stall waits twice this: 2 s.
      deliveryTimeoutMs: 1000
    })
    // The worker that takes the message first: a gateway process of its own
    // on the same ledger and queues, which stops itself (SIGSTOP) once it has
    // read the message, before it sends anything.
    const frozen = spawn(process.execPath, [join(import.meta.dirname, 'lib', 'worker-frozen-before-push.ts')], {
      // Its warnings on stdout, after `ready`: what it did when it woke.
      env: { ...process.env, BTB_CONFIG: JSON.stringify({ ...config, logLevel: 'warn' }) },
      stdio: ['ignore', 'pipe', 'inherit']
    })
    t.teardown(() => frozen.kill('SIGKILL'))
    let out = ''
    frozen.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
    })
    await eventually(() => (out.includes('ready\n') ? true : undefined), 60_000, 'the worker process to start')

    // The partner's delivery, taken in by an instance that runs no worker.
    const intake = await injectGateway(t, { ...config, runWorkers: false })
    const sent = await forwardedTo('CA')
    t.equal((await intake.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('CA') })).statusCode, 200)
    await eventually(() => (processState(frozen.pid!) === 'T' ? true : undefined), 15_000, 'the worker to freeze with the message read')
    t.equal(webhook.pushes.length, 0, 'nothing pushed before it froze')

    // Another instance's worker finds the frozen one's lock lapsed, waits out
    // the attempt it may have under way, and pushes the message.
    const stalled = await stalledJobs(t, config.redisUrl, config.queuePrefix)
    const other = await injectGateway(t, config)
    await eventually(() => (stalled.has(sent.id) ? true : undefined), 15_000, 'the stalled check to find the lapsed lock')
    await eventually(
      async () => ((await other.app.store.findMessage('inbound', sent.id))?.status === 'delivered' ? true : undefined),
      15_000,
      'the other worker to deliver it'
    )
    t.equal(webhook.pushes.length, 1, 'the other worker pushed it')

    // The frozen worker wakes; its close waits for its attempt in hand.
    frozen.kill('SIGCONT')
    frozen.kill('SIGTERM')
    const code = await eventually(() => frozen.exitCode ?? undefined, 30_000, 'the woken worker to end its attempt and close')
    t.equal(code, 0, 'it closed cleanly')
    t.equal(webhook.pushes.length, 1, 'pushed once: the worker that woke did not push it again')
    t.match(out, /no longer holds the job/, 'it gave its attempt up: the job was no longer its own')
    t.equal(await entriesFor(other.app, sent.id, 'delivered', 'inbound'), 1, 'one "delivered"')
    for (const event of ['delivery-failed', 'dead-lettered']) t.equal(await entriesFor(other.app, sent.id, event, 'inbound'), 0, `no "${event}"`)
    t.equal((await other.app.store.findMessage('inbound', sent.id))?.status, 'delivered')
  }
)

t.test('a push in flight when Redis restarts empty is not pushed again meanwhile by the outbox relay', async (t) => {
  const { redis, webhook, gw, answer, exchange } = await heldFirstPush(t)
  const sent = await forwardedTo('CA')
  t.equal(await exchange(sent.jws), 200)
  await eventually(() => (webhook.pushes.length === 1 ? true : undefined), 15_000, 'the first push')

  // Redis restarted with nothing (no AOF, no snapshot): the job in hand is gone from it.
  await redis.shutdownNoSave()
  await redis.start()
  const queue = gw.app.queues.queue('inbound')
  await eventually(async () => ((await gw.app.relay.runOnce(0)) === 1 ? true : undefined), 15_000, 'the relay to queue the message again')
  // Taken again: pushed at once, or put off.
  await eventually(
    async () => (webhook.pushes.length > 1 || (await queue.getJobState(sent.id)) === 'delayed' ? true : undefined),
    15_000,
    'the job taken again'
  )
  answer()
  await eventually(async () => ((await gw.app.store.findMessage('inbound', sent.id))?.status === 'delivered' ? true : undefined), 15_000, 'delivered')
  await eventually(() => drained(gw.app, 'inbound'), 30_000, 'the inbound queue to drain')
  t.equal(webhook.pushes.length, 1, 'pushed once: the agency did not get it again while its first push was in flight')
  t.equal(await entriesFor(gw.app, sent.id, 'delivered', 'inbound'), 1, 'one "delivered"')
})

t.test(
  "a correction that comes after its original's lock lapsed, its push still in flight, does not withdraw it: the original is delivered, the correction after it",
  async (t) => {
    const { redis, webhook, gw, answer, exchange } = await heldFirstPush(t, {
      queueLockMs: 1000,
      queueStalledCheckMs: 500,
      deliveryBackoffMs: 100,
      // One push at a time: the job back from its stall waits for the slot its own first attempt holds.
      workerConcurrency: 1
    })
    const stalled = await stalledJobs(t, redis.url, gw.config.queuePrefix)
    const original = await forwardedTo('CA')
    t.equal(await exchange(original.jws), 200)
    await eventually(() => (webhook.pushes.length === 1 ? true : undefined), 15_000, 'the push of the original')

    await freezePastLock(redis)
    await eventually(() => (stalled.has(original.id) ? true : undefined), 15_000, 'the stalled check to find the lapsed lock')

    // The partner forwards a correction of it meanwhile: the original's push is still in flight, its job not held.
    await correctionWhilePushInFlight(t, { gw, webhook, answer, exchange }, original.id)
  }
)

t.test(
  "a correction that comes after Redis lost its original's job, the push still in flight, does not withdraw it: the original is delivered, the correction after it",
  async (t) => {
    const { redis, webhook, gw, answer, exchange } = await heldFirstPush(t, { deliveryBackoffMs: 100 })
    const original = await forwardedTo('CA')
    t.equal(await exchange(original.jws), 200)
    await eventually(() => (webhook.pushes.length === 1 ? true : undefined), 15_000, 'the push of the original')

    await redis.shutdownNoSave()
    await redis.start()
    await eventually(async () => ((await gw.app.relay.runOnce(0)) === 1 ? true : undefined), 15_000, 'the relay to queue the original again')
    // The partner forwards a correction of it meanwhile: the original's push is still in flight.
    await correctionWhilePushInFlight(t, { gw, webhook, answer, exchange }, original.id)
  }
)
