// queue/outbox-relay.ts: every message awaiting delivery is checked, however
// many there are. The relay walks the outbox a page at a time, one page a
// pass, and starts again from the oldest after the last; a pass that reads
// only the oldest page would never find a newer message Redis lost while the
// oldest wait on a partner that is down.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { OutboxRelay } from '../gateway/queue/outbox-relay.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import type { MessageRecord, OutboxItem } from '../gateway/store/records.ts'
import { eventually, injectGateway, PG_URL, testConfig } from './helper.ts'
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
