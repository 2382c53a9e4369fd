// BullMQ loses jobs if Redis evicts keys (docs/architecture.md,
// "Runtime"): refuse to start unless
// maxmemory-policy is noeviction. Without AOF a Redis restart loses the queue;
// the outbox relay re-drives it, so that is only a warning.
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { redisOptions } from './delivery-queues.ts'

export interface RedisDurability {
  readonly evictionPolicy: string | null
  readonly appendOnly: boolean | null
}

export async function readRedisDurability(url: string): Promise<RedisDurability> {
  const options = redisOptions(url)
  const redis = new Redis({ ...options, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  // connect() rejects only with "Connection is closed.": the reason comes as an error event.
  let refused: Error | undefined
  redis.on('error', (err: Error) => {
    refused ??= err
  })
  try {
    try {
      await redis.connect()
    } catch (err) {
      // Host and port only: the URL may hold a password. The log adds the cause's message to this one.
      throw new Error(`Redis at ${options.host}:${options.port} could not be reached`, { cause: refused ?? err })
    }
    const read = async (name: string): Promise<string | null> => {
      try {
        const [, value] = (await redis.config('GET', name)) as [string, string]
        return value ?? null
      } catch {
        return null // managed Redis may disable CONFIG
      }
    }
    const policy = await read('maxmemory-policy')
    const aof = await read('appendonly')
    return { evictionPolicy: policy, appendOnly: aof === null ? null : aof === 'yes' }
  } finally {
    redis.disconnect()
  }
}

export function checkRedisDurability(d: RedisDurability, mode: 'refuse' | 'warn', log: FastifyBaseLogger): void {
  if (d.evictionPolicy !== null && d.evictionPolicy !== 'noeviction') {
    const message = `Redis maxmemory-policy is ${d.evictionPolicy}: BullMQ needs noeviction (redis-cli CONFIG SET maxmemory-policy noeviction)`
    if (mode === 'refuse') throw new Error(message)
    log.warn(message)
  }
  if (d.evictionPolicy === null) log.warn('could not read Redis maxmemory-policy (CONFIG disabled?): make sure it is noeviction')
  if (d.appendOnly === false) {
    log.warn(
      'Redis runs without AOF (appendonly no): queued jobs are lost on a Redis restart and re-driven from the outbox by the relay; enable appendonly yes to avoid the re-drive delay'
    )
  }
}
