// queue/outbox-relay.ts: every message awaiting delivery is checked, however
// many there are. The relay walks the outbox a page at a time, one page a
// pass, and starts again from the oldest after the last; a pass that reads
// only the oldest page would never find a newer message Redis lost while the
// oldest wait on a partner that is down.
import t from 'tap'
import { OutboxRelay } from '../gateway/queue/outbox-relay.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import type { MessageRecord, OutboxItem } from '../gateway/store/records.ts'
import { injectGateway, testConfig } from './helper.ts'
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
