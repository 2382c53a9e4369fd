// A gateway closed just after it opened closes its delivery queues cleanly
// (gateway/queue/delivery-queues.ts, closeWhenStarted): BullMQ's connection,
// closed while it starts, emitted its start's rejection as an error nobody
// heard, an uncaught exception that ended a test process in CI.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { DeliveryQueues } from '../gateway/queue/delivery-queues.ts'
import { REDIS_URL, dropQueuePrefix } from './helper.ts'

t.test('queues closed at every moment of their start raise no error', async (t) => {
  const prefix = `test-close-${randomUUID()}`
  t.teardown(() => dropQueuePrefix(prefix))
  const uncaught: string[] = []
  const onUncaught = (err: Error): void => {
    uncaught.push(err.message)
  }
  process.on('uncaughtException', onUncaught)
  t.teardown(() => process.off('uncaughtException', onUncaught))
  // Closed 0 to 7 ms after they were made: across the start's steps (connect, INFO, ready).
  for (let i = 0; i < 64; i++) {
    const queues = new DeliveryQueues({ redisUrl: REDIS_URL, prefix, attempts: 1, backoffMs: 10 })
    await new Promise((resolve) => setTimeout(resolve, i % 8))
    await queues.close()
  }
  // A late rejection surfaces on a later turn: give it one, then look.
  await new Promise((resolve) => setImmediate(resolve))
  t.same(uncaught, [], 'no uncaught error')
})
