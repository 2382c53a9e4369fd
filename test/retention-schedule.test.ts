// The retention purge (P5) is a BullMQ job scheduler, which lives in Redis. A
// Redis that restarts empty takes it along: it must come back by itself.
import t from 'tap'
import { Queue } from 'bullmq'
import { redisOptions } from '../gateway/queue/delivery-queues.ts'
import { RETENTION_QUEUE } from '../gateway/queue/retention.ts'
import { dropQueuePrefix, eventually, REDIS_URL, startGateway, testConfig } from './helper.ts'

t.test('the purge schedule comes back after Redis loses its data', async (t) => {
  const config = testConfig('CA', { purgeEveryMs: 300 })
  await startGateway(t, config)
  const queue = new Queue(RETENTION_QUEUE, { connection: redisOptions(REDIS_URL), prefix: config.queuePrefix })
  t.teardown(() => queue.close())
  const scheduled = async (): Promise<true | undefined> => ((await queue.getJobScheduler('purge-expired')) === undefined ? undefined : true)
  await eventually(scheduled, 5_000, 'the schedule at start-up')

  await dropQueuePrefix(config.queuePrefix)
  t.equal(await queue.getJobScheduler('purge-expired'), undefined, 'Redis lost it')
  t.ok(await eventually(scheduled, 10_000, 'the schedule to come back'), 'the gateway scheduled it again by itself')
})

t.test('a changed PURGE_EVERY_MS replaces the schedule in Redis when a gateway starts with it', async (t) => {
  const config = testConfig('CA', { purgeEveryMs: 3_600_000 })
  const first = await startGateway(t, config)
  const queue = new Queue(RETENTION_QUEUE, { connection: redisOptions(REDIS_URL), prefix: config.queuePrefix })
  t.teardown(() => queue.close())
  const every = async (): Promise<number | undefined> => {
    const scheduler = await queue.getJobScheduler('purge-expired')
    return scheduler === undefined ? undefined : Number(scheduler.every)
  }
  t.equal(await eventually(every, 5_000, 'the schedule at start-up'), 3_600_000)
  await first.app.close()
  await startGateway(t, { ...config, purgeEveryMs: 600_000 })
  t.equal(await eventually(async () => ((await every()) === 600_000 ? 600_000 : undefined), 5_000, 'the new interval'), 600_000, 'every 10 minutes now')
})
