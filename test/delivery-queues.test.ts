// Jobs asked for in one turn go to Redis together (gateway/queue/delivery-queues.ts,
// enqueue): each is added once, with the gateway's options, whether alone or
// with others, and when the write fails every caller hears it (the outbox
// relay then enqueues again).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { DeliveryQueues } from '../gateway/queue/delivery-queues.ts'
import { REDIS_URL, dropQueuePrefix } from './helper.ts'

const item = (id: string, direction: 'outbound' | 'inbound' = 'outbound') => ({
  direction,
  id,
  target: direction === 'outbound' ? 'partner' : 'US/CBP/ades',
  createdAt: '2026-12-02T00:00:00.000Z'
})

t.test('jobs enqueued together are each added once, with their options, in their own queue', async (t) => {
  const prefix = `test-queues-${randomUUID()}`
  const queues = new DeliveryQueues({ redisUrl: REDIS_URL, prefix, attempts: 5, backoffMs: 40 })
  t.teardown(async () => {
    await queues.close()
    await dropQueuePrefix(prefix)
  })
  const ids = Array.from({ length: 40 }, () => randomUUID())
  await Promise.all([...ids.map((id) => queues.enqueue(item(id))), queues.enqueue(item(ids[0]!)), queues.enqueue(item('in-1', 'inbound'))])
  const outbound = queues.queue('outbound')
  t.equal(await outbound.getWaitingCount(), ids.length, 'one job per message: the repeated id added nothing')
  const job = await outbound.getJob(ids[7]!)
  t.same(job?.data, { id: ids[7], direction: 'outbound', target: 'partner' }, 'a job names the message, not its content')
  t.match(job?.opts, { attempts: 5, backoff: { type: 'exponential', delay: 40 }, removeOnComplete: true, removeOnFail: true })
  t.equal(await queues.queue('inbound').getWaitingCount(), 1, 'and the inbound one in its own queue')
  await queues.enqueue(item('alone'))
  // Alone in its turn, a job is one add rather than a pipeline of one: with the same options.
  t.match(
    (await outbound.getJob('alone'))?.opts,
    { attempts: 5, backoff: { type: 'exponential', delay: 40 }, removeOnComplete: true, removeOnFail: true },
    'a job alone in its turn too'
  )
  t.same((await outbound.getJob('alone'))?.data, { id: 'alone', direction: 'outbound', target: 'partner' })
  await queues.enqueue(item('alone'))
  t.equal(await outbound.getWaitingCount(), ids.length + 1, 'and alone again, it adds nothing')
})

t.test('when Redis cannot take the write, every job of it is reported failed', async (t) => {
  const prefix = `test-queues-${randomUUID()}`
  const queues = new DeliveryQueues({ redisUrl: REDIS_URL, prefix, attempts: 1, backoffMs: 10 })
  t.teardown(() => dropQueuePrefix(prefix))
  // Its connection is closed, as when a gateway shuts down while requests are answered.
  await queues.close()
  const outcomes = await Promise.allSettled(['a', 'b', 'c'].map((id) => queues.enqueue(item(id))))
  t.same(
    outcomes.map((o) => o.status),
    ['rejected', 'rejected', 'rejected']
  )
})
