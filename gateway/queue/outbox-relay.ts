// The other half of the transactional outbox: whatever was committed but has
// no receipt yet is put (back) on the queue — after a crash between commit and
// enqueue, or after Redis lost its data. An item still queued is left as it
// is; job ids are message ids, so one added meanwhile is not duplicated.
import type { FastifyBaseLogger } from 'fastify'
import type { GatewayStore } from '../store/records.ts'
import type { DeliveryQueues } from './delivery-queues.ts'

export class OutboxRelay {
  readonly #store: GatewayStore
  readonly #queues: DeliveryQueues
  readonly #log: FastifyBaseLogger
  readonly #intervalMs: number
  #timer: NodeJS.Timeout | undefined
  #running: Promise<number> | undefined

  constructor({ store, queues, log, intervalMs }: { store: GatewayStore; queues: DeliveryQueues; log: FastifyBaseLogger; intervalMs: number }) {
    this.#store = store
    this.#queues = queues
    this.#log = log
    this.#intervalMs = intervalMs
  }

  start(): void {
    this.#timer = setInterval(() => {
      void this.runOnce(this.#intervalMs)
    }, this.#intervalMs)
    this.#timer.unref()
  }

  /** Re-drives items older than `minAgeMs` that the queue does not hold; returns how many were enqueued. */
  runOnce(minAgeMs: number): Promise<number> {
    this.#running ??= this.#drive(minAgeMs).finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #drive(minAgeMs: number): Promise<number> {
    const before = new Date(Date.now() - minAgeMs).toISOString()
    let count = 0
    try {
      // A message still in the queue (waiting for a partner that is down, say) is left there: only
      // what Redis does not hold is queued again, and counted, so that the log says when Redis lost something.
      const pending = await this.#store.pendingOutbox(before, 1000)
      for (const item of await this.#queues.missing(pending)) {
        await this.#queues.enqueue(item)
        count++
      }
      if (count > 0) this.#log.info({ count }, 'outbox relay queued again messages missing from the queue')
    } catch (err) {
      this.#log.warn({ err }, 'outbox relay could not reach the queue; will retry')
    }
    return count
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }
}
