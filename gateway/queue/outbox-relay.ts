// The other half of the transactional outbox: whatever was committed but has
// no receipt yet is put (back) on the queue — after a crash between commit and
// enqueue, or after Redis lost its data. An item still queued is left as it
// is; job ids are message ids, so one added meanwhile is not duplicated.
import type { FastifyBaseLogger } from 'fastify'
import type { GatewayStore, PendingDelivery } from '../store/records.ts'
import type { DeliveryQueues } from './delivery-queues.ts'

export interface OutboxRelayOptions {
  readonly store: GatewayStore
  readonly queues: DeliveryQueues
  readonly log: FastifyBaseLogger
  readonly intervalMs: number
  /** How many outbox items a pass reads and checks against the queue. */
  readonly pageSize?: number
  /** How long an attempt may take, its answer included: how long a job queued again waits before it is sent (#drive). */
  readonly attemptMs?: number
  /**
   * How long an instance's add to Redis may take once its commit is seen
   * (the queues' command timeout, config.ts redisCommandTimeoutMs): what the
   * start leaves to the instance that committed it (start).
   */
  readonly addMs?: number
}

const PAGE_SIZE = 1000

/**
 * A pass reads one page of the items awaiting delivery, the one after the
 * last pass's, and starts again from the oldest after the last page: each
 * pass costs at most a page, and no item waits more than a walk of them all
 * to be found. Reading only the oldest page, a newer message Redis lost
 * stayed lost while the oldest waited on a partner that was down.
 */
export class OutboxRelay {
  readonly #store: GatewayStore
  readonly #queues: DeliveryQueues
  readonly #log: FastifyBaseLogger
  readonly #intervalMs: number
  readonly #pageSize: number
  readonly #attemptMs: number
  readonly #addMs: number
  /** The last item of the last page read; undefined: the walk starts from the oldest. */
  #after: PendingDelivery | undefined
  #timer: NodeJS.Timeout | undefined
  /** The start's second walk, for what was too young for its first. */
  #settling: NodeJS.Timeout | undefined
  #settled: Promise<unknown> = Promise.resolve()
  #running: Promise<number> | undefined

  constructor({ store, queues, log, intervalMs, pageSize = PAGE_SIZE, attemptMs = 0, addMs = 0 }: OutboxRelayOptions) {
    this.#store = store
    this.#queues = queues
    this.#log = log
    this.#intervalMs = intervalMs
    this.#pageSize = pageSize
    this.#attemptMs = attemptMs
    this.#addMs = addMs
  }

  /**
   * Queues what was committed before the start and is not queued (a
   * process that died between a commit and its add), every page of it; then
   * passes at intervals. The instances sharing the outbox (docs/operators.md,
   * "Every core") commit and add theirs meanwhile, and one of theirs not yet
   * added, taken for lost, went twice DELIVERY_TIMEOUT_MS late (their own add
   * a no-op under the same job id) and was logged as lost by Redis. So the
   * first walk leaves what is younger than an add may take, and a second,
   * once that has passed, queues what is still missing of it. Returns how
   * many the first queued.
   */
  async start(): Promise<number> {
    const count = await this.runOnce(this.#addMs, { every: true })
    this.#settling = setTimeout(() => {
      // After a pass under way, not instead of it: this one walks every page.
      this.#settled = this.#settled.then(() => this.#running).then(() => this.runOnce(this.#addMs, { every: true }))
    }, this.#addMs)
    this.#settling.unref()
    this.#timer = setInterval(() => {
      void this.runOnce(this.#intervalMs)
    }, this.#intervalMs)
    this.#timer.unref()
    return count
  }

  /**
   * Re-drives items older than `minAgeMs` that the queue does not hold: the
   * next page of them, or with `every` all of them (at start, after a crash);
   * returns how many were enqueued.
   */
  runOnce(minAgeMs: number, { every = false }: { readonly every?: boolean } = {}): Promise<number> {
    this.#running ??= this.#drive(minAgeMs, every).finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #drive(minAgeMs: number, every: boolean): Promise<number> {
    const before = new Date(Date.now() - minAgeMs).toISOString()
    let count = 0
    try {
      do {
        // A message still in the queue (waiting for a partner that is down, say) is left there: only
        // what Redis does not hold is queued again, and counted, so that the log says when Redis lost something.
        const page = await this.#store.pendingOutbox(before, this.#pageSize, this.#after)
        this.#after = page.length < this.#pageSize ? undefined : page.at(-1)
        // A job Redis lost (restarted empty) may have been in a worker's
        // hands, its attempt still under way: sent again at once, the
        // message reached the agency twice, the first push still in flight.
        // It waits out what an attempt can take; the ledger then says whether
        // that attempt arrived (delivery/delivery-outcome.ts, awaitingDelivery).
        // Nor before the far side asked, if its last answer was a 429 or 503
        // with Retry-After (delivery/retry-after.ts): that pause was only
        // the lost job's delay, and a partner that throttles is not called
        // again early because Redis restarted.
        for (const item of await this.#queues.missing(page)) {
          const asked = item.notBefore === undefined ? 0 : Date.parse(item.notBefore) - Date.now()
          await this.#queues.enqueue(item, { afterMs: Math.max(this.#attemptMs, asked) })
          count++
        }
      } while (every && this.#after !== undefined)
      if (count > 0) this.#log.info({ count }, 'outbox relay queued again messages missing from the queue')
    } catch (err) {
      this.#log.warn({ err }, 'outbox relay could not reach the queue; will retry')
    }
    return count
  }

  async stop(): Promise<void> {
    clearTimeout(this.#settling)
    clearInterval(this.#timer)
    await this.#settled
    await this.#running
  }
}
