// queue/outbox-relay.ts: every message awaiting delivery is checked, however
// many there are. The relay walks the outbox a page at a time, one page a
// pass, and starts again from the oldest after the last; a pass that reads
// only the oldest page would never find a newer message Redis lost while the
// oldest wait on a partner that is down.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { OutboxRelay } from '../gateway/queue/outbox-relay.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import type { MessageRecord, OutboxItem } from '../gateway/store/records.ts'
import { client, dropQueuePrefix, eventually, injectGateway, PG_URL, standInPartner, testConfig } from './helper.ts'
import { scratchSchema } from './lib/scratch-schema.ts'
import { messageRecord } from './lib/store-fixtures.ts'

const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
const at = (i: number) => new Date(Date.now() - 60_000 + i).toISOString()
const record = (id: string, i: number): MessageRecord => messageRecord(id, at(i))
const item = (id: string, i: number): OutboxItem => ({ direction: 'outbound', id, target: 'partner', sealed: 'sealed', createdAt: at(i) })

// Thirteen messages awaiting delivery, oldest first: the ten oldest queued, the three newest lost by Redis.
const ids = Array.from({ length: 13 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
for (const [i, id] of ids.entries()) {
  await gw.app.store.accept(record(id, i), item(id, i), auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at: at(i) }))
  if (i < 10) await gw.app.queues.enqueue(item(id, i))
}
const queued = async () => (await gw.app.queues.missing(ids.map((id, i) => item(id, i)))).length

t.test('one page a pass: the pages after the first are reached, then the walk starts again', async (t) => {
  const relay = new OutboxRelay({ store: gw.app.store, queues: gw.app.queues, log: gw.app.log, intervalMs: 60_000, pageSize: 10 })
  t.equal(await relay.runOnce(0), 0, 'the first page: all ten are queued')
  t.equal(await queued(), 3, 'the three newest still missing')
  t.equal(await relay.runOnce(0), 3, 'the next page: the three the queue lost')
  t.equal(await queued(), 0, 'every message is in the queue')
  t.equal(await relay.runOnce(0), 0, 'then the first page again')
})

t.test('at start, every page at once', async (t) => {
  // Lost by Redis again: one the relay queued, one the intake did.
  await gw.app.queues.queue('outbound').remove(ids[12]!)
  await gw.app.queues.queue('outbound').remove(ids[0]!)
  const relay = new OutboxRelay({ store: gw.app.store, queues: gw.app.queues, log: gw.app.log, intervalMs: 60_000, pageSize: 10 })
  t.equal(await relay.runOnce(0, { every: true }), 2, 'one from each page')
  t.equal(await queued(), 0)
})

// Instances of one gateway share the outbox (docs/operators.md, "Every
// core"): one that starts, as in a rolling restart, while another has
// committed a message and is adding its job to Redis took the message for
// one Redis lost, queued it again to go twice DELIVERY_TIMEOUT_MS later (the
// other instance's add then a no-op under the same job id), and logged that
// Redis had lost messages.
t.test('an instance that starts while another is queueing a message it committed leaves the message to it: sent at once, nothing said lost', async (t) => {
  const { schema } = scratchSchema(t, 't_relay')
  const ledger = { ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schema, runWorkers: false }
  const first = await injectGateway(t, testConfig('CA', ledger))
  // The first instance's intake: committed, its add to Redis on its way.
  const id = randomUUID()
  const now = new Date().toISOString()
  const committed: OutboxItem = { direction: 'outbound', id, target: 'partner', sealed: 'sealed', createdAt: now }
  await first.app.store.accept(messageRecord(id, now), committed, auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at: now }))
  await injectGateway(t, testConfig('CA', { ...ledger, queuePrefix: first.config.queuePrefix }))
  await first.app.queues.enqueue(committed)
  const job = await first.app.queues.queue('outbound').getJob(id)
  t.equal(await job?.getState(), 'waiting', 'the message waits for a worker, not twice DELIVERY_TIMEOUT_MS')
  t.equal(job?.data.redriven, undefined, 'queued by the instance that accepted it, not as one Redis lost')
})

t.test('at start, what is older than an add may take is queued at once, and what is younger once it has had that time', async (t) => {
  // Lost by Redis, or never added (a process that died between commit and add): one old, one just committed.
  await gw.app.queues.queue('outbound').remove(ids[3]!)
  const id = randomUUID()
  const now = new Date().toISOString()
  const young: OutboxItem = { direction: 'outbound', id, target: 'partner', sealed: 'sealed', createdAt: now }
  await gw.app.store.accept(messageRecord(id, now), young, auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at: now }))
  // Behind more than a page of messages queued, and an interval away: only a walk of every page, before it, reaches it.
  const relay = new OutboxRelay({ store: gw.app.store, queues: gw.app.queues, log: gw.app.log, intervalMs: 60_000, pageSize: 10, addMs: 500 })
  t.teardown(() => relay.stop())
  t.equal(await relay.start(), 1, 'the old one at once')
  t.equal((await gw.app.queues.missing([young])).length, 1, 'the young one left to whoever committed it')
  await eventually(async () => ((await gw.app.queues.missing([young])).length === 0 ? true : undefined), 10_000, 'the young one to be queued')
})

// A partner (or an agency) that answers 429 or 503 with Retry-After asks not
// to be called before then (delivery/retry-after.ts). The pause lived only in
// the BullMQ job: Redis restarted empty, the relay queued the message again
// to go twice DELIVERY_TIMEOUT_MS later, not when the partner had asked.
t.test("a message Redis lost while it waited out a partner's Retry-After is queued again to wait until then, not only the relay's own delay", async (t) => {
  let posts = 0
  const partner = await standInPartner(t, (req, res) => {
    req.resume()
    posts++
    res.writeHead(503, { 'retry-after': '120', 'content-type': 'application/problem+json' }).end('{"code":"SERVICE_UNAVAILABLE"}')
  })
  const gw = await injectGateway(t, testConfig('CA', { partnerUrl: partner.url, deliveryBackoffMs: 10 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const [failed] = await eventually(
    async () => {
      const s = (await cbsa.status(id)).json<{ attempts: Array<{ at: string; error: string }> }>()
      return s.attempts.length === 1 ? s.attempts : undefined
    },
    10_000,
    'the failed attempt recorded'
  )
  const asked = Date.parse(failed!.at) + 120_000
  const queue = gw.app.queues.queue('outbound')
  const waiting = async () => ((await (await queue.getJob(id))?.getState()) === 'delayed' ? true : undefined)
  await eventually(waiting, 10_000, 'the job to wait out the Retry-After')
  // Redis restarts empty: the job, and the pause it held, are gone.
  await dropQueuePrefix(gw.config.queuePrefix)
  t.equal(await queue.getJob(id), undefined, 'no job is left for the message')
  t.equal(await gw.app.relay.runOnce(0), 1, 'the relay queues it again')
  const job = await queue.getJob(id)
  t.equal(await job?.getState(), 'delayed')
  const due = job!.timestamp + job!.delay
  t.ok(due >= asked, `due ${new Date(due).toISOString()}, not before the partner's Retry-After, ${new Date(asked).toISOString()}`)
  t.ok(due <= asked + 5_000, 'and not much later')
  t.equal(posts, 1, 'the partner was asked once')
})
