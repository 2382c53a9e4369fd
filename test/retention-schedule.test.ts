// The retention purge (P5) is a BullMQ job scheduler, which lives in Redis. A
// Redis that restarts empty takes it along: it must come back by itself.
import t from 'tap'
import { Writable } from 'node:stream'
import { Queue } from 'bullmq'
import { pino } from 'pino'
import { redisOptions } from '../gateway/queue/delivery-queues.ts'
import { RETENTION_QUEUE, RetentionJob } from '../gateway/queue/retention.ts'
import { dropQueuePrefix, eventually, injectGateway, REDIS_URL, startGateway, testConfig } from './helper.ts'

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

// Two instances of one gateway at different intervals (a rolling change of
// PURGE_EVERY_MS, one instance still on the old setting): each one's watch
// set the schedule back to its own every time it looked, up to every 30 s
// each, for as long as both ran, and each replacement ran a purge at once,
// with its lock on the legal holds. The instance started last sets it; the
// other's watch says so, once, and leaves it.
t.test('an instance at another PURGE_EVERY_MS than the schedule leaves it as the instance started last set it, and says so', async (t) => {
  const config = testConfig('CA', { runWorkers: false })
  const { app } = await injectGateway(t, config)
  const lines: string[] = []
  const log = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
        done()
      }
    })
  )
  const instance = (everyMs: number): RetentionJob => {
    const job = new RetentionJob(app.store, { redisUrl: REDIS_URL, prefix: config.queuePrefix, retentionDays: 90, everyMs }, log)
    t.teardown(() => job.close())
    return job
  }
  const queue = new Queue(RETENTION_QUEUE, { connection: redisOptions(REDIS_URL), prefix: config.queuePrefix })
  t.teardown(() => queue.close())
  const every = async (): Promise<number> => Number((await queue.getJobScheduler('purge-expired'))?.every)

  const old = instance(3_600_000)
  await old.schedule()
  const started = instance(600_000)
  await started.schedule()
  t.equal(await every(), 600_000, 'the instance started last set the interval')
  await old.keepScheduled()
  await old.keepScheduled()
  t.equal(await every(), 600_000, "the other instance's watch left it")
  const warnings = lines.map((line) => JSON.parse(line) as { msg: string; everyMs?: number; scheduledEveryMs?: number })
  t.equal(warnings.length, 1, 'said once')
  t.match(warnings[0], { everyMs: 3_600_000, scheduledEveryMs: 600_000, msg: /PURGE_EVERY_MS/ }, 'naming both intervals')

  await dropQueuePrefix(config.queuePrefix)
  await old.keepScheduled()
  t.equal(await every(), 3_600_000, 'a schedule Redis lost is made again, at the interval of the instance that finds it missing')
})
