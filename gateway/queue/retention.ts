// Retention (P5): a repeatable BullMQ job purges message records and sealed
// dead letters once they outlive their retention, except what a legal hold
// (a complaint reference, P9) covers; and, however recent, the sealed copy a
// hold kept of a message nothing sends, once the hold is released
// (store/sql/holds.ts). The ledger itself holds only digests
// and is kept whole: the chain and its checkpoints must stay verifiable.
import { Queue, Worker } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { GatewayStore } from '../store/records.ts'
import { closeWhenStarted, redisOptions } from './delivery-queues.ts'
import { stopStalledCheckOnClose } from './stalled-check-stop.ts'
import { closeWorkers } from './worker-close.ts'

export const RETENTION_QUEUE = 'retention'

export interface RetentionSettings {
  readonly redisUrl: string
  readonly prefix: string
  readonly retentionDays: number
  readonly everyMs: number
}

/** How a purge run ended: every chunk committed, or one failed and the run stopped there. */
export const PURGE_OUTCOMES = ['completed', 'failed'] as const
export type PurgeOutcome = (typeof PURGE_OUTCOMES)[number]

/** Purges what is older than the retention period; returns the counts. */
export async function purgeExpired(store: GatewayStore, retentionDays: number, now = Date.now()): Promise<{ messages: number; outbox: number }> {
  const before = new Date(now - retentionDays * 86_400_000).toISOString()
  return store.purge(before, auditEntry({ event: 'purged', counts: { retentionDays } }))
}

/** The scheduler's id: one per deployment, whichever instance made it. */
const SCHEDULER_ID = 'purge-expired'

/** How often the scheduler is looked for, at most: a Redis that lost its data loses it too. */
const WATCH_MAX_MS = 30_000

export class RetentionJob {
  readonly #queue: Queue
  readonly #worker: Worker
  readonly #settings: RetentionSettings
  readonly #log: FastifyBaseLogger
  #watch: NodeJS.Timeout | undefined
  /** Another instance's interval, once the watch has said it found it: said once, not at every look. */
  #otherEveryMs: number | undefined

  /** `onOutcome` hears of each run's end, for the metrics (btb_retention_purges_total). */
  constructor(store: GatewayStore, settings: RetentionSettings, log: FastifyBaseLogger, onOutcome?: (outcome: PurgeOutcome) => void) {
    this.#settings = settings
    this.#log = log
    const connection = redisOptions(settings.redisUrl)
    this.#queue = new Queue(RETENTION_QUEUE, { connection: { ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 1 }, prefix: settings.prefix })
    this.#queue.on('error', () => {
      /* retried by the scheduler */
    })
    this.#worker = stopStalledCheckOnClose(
      new Worker(
        RETENTION_QUEUE,
        async () => {
          const counts = await purgeExpired(store, settings.retentionDays)
          if (counts.messages + counts.outbox > 0) log.info(counts, 'retention purge')
          return counts
        },
        { connection: { ...connection, maxRetriesPerRequest: null }, prefix: settings.prefix, concurrency: 1 }
      )
    )
    this.#worker.on('error', (err) => log.warn({ err }, 'retention worker error'))
    this.#worker.on('completed', () => onOutcome?.('completed'))
    // A run that fails keeps personal data (sealed dead letters, message
    // records) past retention until one succeeds: an alert, not a job that
    // failed quietly in Redis (docs/operators.md, "Metrics and health").
    // The chunks committed before the failure stay purged, each with its entry.
    this.#worker.on('failed', (_job, err) => {
      onOutcome?.('failed')
      log.error({ alert: 'RETENTION_FAILED', err }, 'retention purge failed: personal data is kept past MESSAGE_RETENTION_DAYS until a run succeeds')
    })
  }

  /**
   * One scheduler per deployment: several instances upsert the same one. It
   * lives in Redis, so a Redis restarted empty (no AOF, or a new node) has
   * none: the scheduler is then looked for at intervals and made again,
   * rather than only at start-up, so that the purge comes back by itself.
   * Its interval is this instance's PURGE_EVERY_MS from its start: the
   * instance started last sets it (docs/operators.md, "Configuration").
   */
  async schedule(): Promise<void> {
    await this.#ensureScheduled(true)
    this.#watch ??= setInterval(
      () => {
        this.keepScheduled().catch((err: unknown) => this.#log.warn({ err }, 'retention: could not check the purge schedule; will retry'))
      },
      Math.min(this.#settings.everyMs, WATCH_MAX_MS)
    )
    this.#watch.unref()
  }

  /**
   * The watch's look: the scheduler made again if Redis lost it, and
   * otherwise left at its interval, another instance's included. Two
   * instances at different intervals (a rolling change of PURGE_EVERY_MS)
   * each set it back to their own at every look, and each replacement ran a
   * purge at once, with its lock on the legal holds: a purge every few
   * seconds, for as long as both ran.
   */
  async keepScheduled(): Promise<void> {
    await this.#ensureScheduled(false)
  }

  async #ensureScheduled(starting: boolean): Promise<void> {
    // Looked for first: upserting an existing scheduler replaces its next run.
    // Made again when missing; at start, also when at another interval than PURGE_EVERY_MS says (a changed setting).
    const existing = await this.#queue.getJobScheduler(SCHEDULER_ID)
    if (existing !== undefined) {
      const scheduledEveryMs = Number(existing.every)
      if (scheduledEveryMs === this.#settings.everyMs) return
      if (!starting) {
        if (this.#otherEveryMs !== scheduledEveryMs) {
          this.#otherEveryMs = scheduledEveryMs
          this.#log.warn(
            { everyMs: this.#settings.everyMs, scheduledEveryMs },
            'retention: the purge runs at the interval another instance set, not this PURGE_EVERY_MS: give every instance the same'
          )
        }
        return
      }
    }
    this.#otherEveryMs = undefined
    await this.#queue.upsertJobScheduler(
      SCHEDULER_ID,
      { every: this.#settings.everyMs },
      {
        name: SCHEDULER_ID,
        opts: { removeOnComplete: true, removeOnFail: 100 }
      }
    )
    this.#log.info({ everyMs: this.#settings.everyMs }, 'retention: purge scheduled')
  }

  /** Whether Redis holds the purge schedule now (for tests and readiness). */
  async scheduled(): Promise<boolean> {
    return (await this.#queue.getJobScheduler(SCHEDULER_ID)) !== undefined
  }

  async close(): Promise<void> {
    clearInterval(this.#watch)
    // At once if Redis does not answer: a graceful close would wait for it (worker-close.ts).
    await closeWorkers([this.#worker], this.#queue)
    await closeWhenStarted(this.#queue)
  }
}
