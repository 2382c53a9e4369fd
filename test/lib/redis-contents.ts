// Everything Redis holds under a queue prefix, as text: every key of every
// type BullMQ writes (job hashes, the events stream, the sets and sorted sets
// of states, logs, counters). What a job's hash forgets on removal can stay
// in the events stream (a failed job's reason), so a test of what is left in
// Redis reads all of it, not the job hashes alone.
import { Redis } from 'ioredis'
import { REDIS_URL } from '../helper.ts'

export async function redisContents(prefix: string): Promise<string> {
  const redis = new Redis(REDIS_URL)
  try {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      keys.push(...batch)
      cursor = next
    } while (cursor !== '0')
    const lines: string[] = []
    for (const key of keys.sort()) {
      const type = await redis.type(key)
      const value =
        type === 'string'
          ? await redis.get(key)
          : type === 'hash'
            ? await redis.hgetall(key)
            : type === 'list'
              ? await redis.lrange(key, 0, -1)
              : type === 'set'
                ? await redis.smembers(key)
                : type === 'zset'
                  ? await redis.zrange(key, 0, -1)
                  : type === 'stream'
                    ? await redis.xrange(key, '-', '+')
                    : `(a ${type})`
      lines.push(`${key} ${JSON.stringify(value)}`)
    }
    return lines.join('\n')
  } finally {
    redis.disconnect()
  }
}
