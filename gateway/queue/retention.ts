// Retention (P5): a repeatable BullMQ job purges message records and sealed
// dead letters once they outlive their retention, except what a legal hold
// (a complaint reference, P9) covers. The ledger itself holds only digests
// and is kept whole: the chain and its checkpoints must stay verifiable.
import { Queue, Worker } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { GatewayStore } from '../store/records.ts'
import { redisOptions } from './delivery-queues.ts'

export const RETENTION_QUEUE = 'retention'

export interface RetentionSettings {
  readonly redisUrl: string
  readonly prefix: string
  readonly retentionDays: number
  readonly everyMs: number
}

/** Purges what is older than the retention period; returns the counts. */
export async function purgeExpired(store: GatewayStore, retentionDays: number, now = Date.now()): Promise<{ messages: number; outbox: number }> {
  const before = new Date(now - retentionDays * 86_400_000).toISOString()
  return store.purge(before, (counts) => auditEntry({
    event: 'purged', direction: 'outbound', counts: { ...counts, retentionDays }
  }))
}

export class RetentionJob {
  readonly #queue: Queue
  readonly #worker: Worker
  readonly #settings: RetentionSettings

  constructor(store: GatewayStore, settings: RetentionSettings, log: FastifyBaseLogger) {
    this.#settings = settings
    const connection = redisOptions(settings.redisUrl)
    this.#queue = new Queue(RETENTION_QUEUE, { connection: { ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 1 }, prefix: settings.prefix })
    this.#queue.on('error', () => { /* retried by the scheduler */ })
    this.#worker = new Worker(RETENTION_QUEUE, async () => {
      const counts = await purgeExpired(store, settings.retentionDays)
      if (counts.messages + counts.outbox > 0) log.info(counts, 'retention purge')
      return counts
    }, { connection: { ...connection, maxRetriesPerRequest: null }, prefix: settings.prefix, concurrency: 1 })
    this.#worker.on('error', (err) => log.warn({ err }, 'retention worker error'))
  }

  /** One scheduler per deployment: several instances upsert the same one. */
  async schedule(): Promise<void> {
    await this.#queue.upsertJobScheduler('purge-expired', { every: this.#settings.everyMs }, {
      name: 'purge-expired', opts: { removeOnComplete: true, removeOnFail: 100 }
    })
  }

  async close(): Promise<void> {
    await this.#worker.close()
    await this.#queue.close()
  }
}
