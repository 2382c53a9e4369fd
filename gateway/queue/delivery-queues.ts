// BullMQ carries what the outbox already holds (docs/architecture.md,
// "The pipeline, one message": a 202 is a promise): a job
// names a message and who it goes to; the sealed message itself stays in the
// outbox, where the worker reads it. Redis then never holds message content
// at all, and a job is a hundred bytes whatever the batch (a sealed
// 1,000-record push is ~2 MB, which each worker used to fetch and parse from
// Redis). Its id is the message id, so adding the same message twice is a
// no-op and the relay can re-drive without duplicates.
import { Queue } from 'bullmq'
import type { Direction, PendingDelivery } from '../store/records.ts'
import { heldBytes } from '../lib/seal.ts'
import { DIRECTIONS, QUEUE_NAMES } from './queue-names.ts'
import { DELIVERY_BACKOFF } from '../delivery/retry-after.ts'

export interface DeliveryJob {
  readonly id: string
  readonly direction: Direction
  readonly target: string
  /**
   * What the worker will hold of the message (its sealed copy and what that
   * opens to: lib/seal.ts, heldBytes), when the producer had the sealed copy
   * in hand: the worker waits for room in the delivery budget
   * (lib/byte-budget.ts) before it reads a megabyte batch. The outbox
   * relay leaves it out (it reads no sealed copy); the worker then learns it
   * from what it reads.
   */
  readonly bytes?: number
  /**
   * Set when the far side took the message and the ledger could not record
   * it then (delivery/delivery-outcome.ts, recordDelivered): what shows it
   * took it, the partner's receipt (null for an agency's 2xx), which names
   * no traveller. The job's next run records the delivery and sends nothing.
   */
  readonly delivered?: { readonly receipt: string | null }
  /**
   * Set when its last attempt failed and the ledger could not record the
   * dead letter then (delivery/delivery-outcome.ts, recordFailureOrPutOff):
   * when it failed, why, and the code it was refused with. The job's next
   * run records the dead letter and sends nothing.
   */
  readonly deadLetter?: { readonly at: string; readonly error: string; readonly code: string | null }
  /**
   * How many of the job's stalls its worker has waited out already
   * (delivery/delivery-outcome.ts, waitOutStalledAttempt): BullMQ's own count
   * of them stays on the job for good, and each is waited out once.
   */
  readonly stalls?: number
  /**
   * Set when the outbox relay queued it again (queue/outbox-relay.ts): Redis
   * may have lost it from a worker's hands with its attempt under way, which
   * the job waits out before it is taken.
   */
  readonly redriven?: true
}

export { QUEUE_NAMES } from './queue-names.ts'

export interface QueueSettings {
  readonly redisUrl: string
  readonly prefix: string
  readonly attempts: number
  readonly backoffMs: number
  /** How long an add or a count may wait for Redis's answer (config.ts, redisCommandTimeoutMs). */
  readonly commandTimeoutMs?: number
}

export function redisOptions(url: string): { host: string; port: number; db: number; username?: string; password?: string; tls?: object } {
  const u = new URL(url)
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db: Number(u.pathname.slice(1) || 0),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {})
  }
}

/** A job waiting for this turn's addBulk, and its caller. */
interface PendingAdd {
  readonly job: DeliveryJob
  /** How long the job waits before a worker may take it. */
  readonly delayMs: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

export class DeliveryQueues {
  readonly #queues: Record<Direction, Queue<DeliveryJob>>
  readonly #settings: QueueSettings
  readonly #adding: Record<Direction, PendingAdd[]> = { outbound: [], inbound: [] }

  constructor(settings: QueueSettings) {
    this.#settings = settings
    // Producers fail fast: a Redis outage must not hold the request open, the
    // outbox already holds the message and the relay will enqueue it later.
    // A Redis that stops answering without closing its connections (paused,
    // or cut off by the network) is an outage too: past commandTimeout, a
    // command fails. The producers' connection runs no blocking command
    // (the workers have their own), so none waits longer by design.
    const connection = {
      ...redisOptions(settings.redisUrl),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: settings.commandTimeoutMs ?? 5000
    }
    const make = (name: string): Queue<DeliveryJob> => new Queue<DeliveryJob>(name, { connection, prefix: settings.prefix })
    this.#queues = Object.fromEntries(DIRECTIONS.map((direction) => [direction, make(QUEUE_NAMES[direction])])) as Record<Direction, Queue<DeliveryJob>>
    for (const q of Object.values(this.#queues))
      q.on('error', () => {
        /* reported by readiness; the relay retries */
      })
  }

  queue(direction: Direction): Queue<DeliveryJob> {
    return this.#queues[direction]
  }

  /**
   * Queues a delivery. The jobs asked for in one turn of the event loop (the
   * messages of one group commit, answered together) go to Redis together:
   * one addBulk is one pipelined write, where an add each was a write and a
   * round trip each (docs/architecture.md, "The pipeline, one message"); a
   * job alone in its turn is one add.
   * If the write fails, every job of it is reported failed, and the outbox
   * relay enqueues them again: a job id is its message id, so one that did
   * get in is not added twice. The relay's job (`redrive`) is taken by no
   * worker before `afterMs`.
   */
  enqueue(item: PendingDelivery & { readonly sealed?: string }, redrive?: { readonly afterMs: number }): Promise<void> {
    const job: DeliveryJob = {
      id: item.id,
      direction: item.direction,
      target: item.target,
      ...(item.sealed === undefined ? {} : { bytes: heldBytes(item.sealed) }),
      ...(redrive === undefined ? {} : { redriven: true })
    }
    return new Promise<void>((resolve, reject) => {
      const pending = this.#adding[item.direction]
      pending.push({ job, delayMs: redrive?.afterMs ?? 0, resolve, reject })
      if (pending.length === 1) setImmediate(() => this.#add(item.direction))
    })
  }

  #add(direction: Direction): void {
    const batch = this.#adding[direction].splice(0)
    const queue = this.#queues[direction]
    // A job alone in its turn (most of them, below saturation) goes as one
    // add: addBulk builds an ioredis pipeline, whose every instance copies
    // each of BullMQ's scripts onto itself, and for one job cost 110 µs of
    // CPU against add's 64, for the same commands in Redis and one round trip
    // either way (docs/measurements.md, "One job, one add").
    const added: Promise<unknown> =
      batch.length === 1
        ? queue.add(direction, batch[0]!.job, this.#jobOptions(batch[0]!))
        : queue.addBulk(batch.map((pending) => ({ name: direction, data: pending.job, opts: this.#jobOptions(pending) })))
    added.then(
      () => {
        for (const pending of batch) pending.resolve()
      },
      (err: unknown) => {
        for (const pending of batch) pending.reject(err)
      }
    )
  }

  #jobOptions({ job, delayMs }: Pick<PendingAdd, 'job' | 'delayMs'>) {
    return {
      jobId: job.id,
      ...(delayMs > 0 ? { delay: delayMs } : {}),
      attempts: this.#settings.attempts,
      // Exponential, or longer where the far side asked for a pause (delivery/retry-after.ts).
      backoff: { type: DELIVERY_BACKOFF, delay: this.#settings.backoffMs },
      // Nothing personal stays in Redis once delivered or dead-lettered:
      // the dead letter lives on, sealed, in the outbox for an operator.
      removeOnComplete: true,
      removeOnFail: true
    }
  }

  /**
   * Of `items`, those with no job under their id in Redis: lost with its data
   * (a restart without persistence), or never added (a crash between the
   * commit and the add). A job waiting, delayed, active or failed keeps its
   * hash; one completed is removed (removeOnComplete). One pipelined round
   * trip a queue.
   */
  async missing<T extends PendingDelivery>(items: readonly T[]): Promise<T[]> {
    const present = new Set<T>()
    await Promise.all(
      DIRECTIONS.map(async (direction) => {
        const mine = items.filter((item) => item.direction === direction)
        if (mine.length === 0) return
        const queue = this.#queues[direction]
        const pipeline = (await queue.client).pipeline()
        for (const item of mine) pipeline.runCommand('exists', [queue.toKey(item.id)])
        const answers = (await pipeline.exec()) ?? []
        mine.forEach((item, i) => {
          const [error, exists] = answers[i] ?? [new Error('no answer'), 0]
          if (error !== null) throw error
          if (exists === 1) present.add(item)
        })
      })
    )
    return items.filter((item) => !present.has(item))
  }

  /**
   * Takes a message's job off the queue, if no worker holds it (BullMQ
   * removes no locked job), no attempt may still be under way, and the far
   * side does not have the message already (DeliveryJob's `delivered`): true
   * if it was. Only a worker that holds a job marks it, and `remove` leaves a
   * held job; read in this order, a mark is missed only if a whole attempt,
   * its failed record included, falls between the second read and the remove.
   */
  async cancel(direction: Direction, id: string): Promise<boolean> {
    const queue = this.#queues[direction]
    if ((await queue.getJobState(id)) === 'active') return false
    const job = await queue.getJob(id)
    if (job?.data.delivered !== undefined) return false
    // Its last attempt's record is owed, and says whether it may have reached the far side:
    // left to its next run, which records it and withdraws the message.
    if (job?.data.deadLetter !== undefined) return false
    // One that stalled, or that Redis lost and the relay queued again, may
    // still be under way at the worker that had it (delivery/delivery-outcome.ts,
    // waitOutStalledAttempt): left to its own next run, which withdraws it
    // unless that attempt took it.
    if ((job?.stalledCounter ?? 0) > 0 || job?.data.redriven === true) return false
    return (await queue.remove(id)) === 1
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.#queues).map((q) => closeWhenStarted(q)))
  }
}

/** How long a close waits for a queue's connection to finish starting. */
const START_WAIT_MS = 2_000
/** How long a close waits for Redis to answer its QUIT before it ends the connection itself. */
const QUIT_WAIT_MS = 1_000

/**
 * Closes a BullMQ queue once its connection has finished starting. Closed
 * while it starts, BullMQ 5's connection drops its listeners, and the start's
 * rejection ("Stream isn't writeable…") is then emitted as an error nobody
 * hears: an uncaught exception, which ended a test process once when a
 * gateway closed just after it opened. Bounded, for a Redis that is down.
 */
export async function closeWhenStarted(queue: Pick<Queue, 'waitUntilReady' | 'close' | 'client'>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    queue.waitUntilReady().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, START_WAIT_MS)
    })
  ])
  clearTimeout(timer)
  // Redis down: the producers' connection cannot send its QUIT (it has no
  // offline queue), and BullMQ leaves it trying to reconnect, which held an
  // in-process app's process open after the close. Redis paused (a frozen
  // host, a network cut off): the QUIT is sent and never answered, which
  // held a SIGTERM for the whole shutdown bound, to exit 1 (docs/operators.md,
  // "Shutdown"). Either way the connection is ended without it.
  const closing = queue.close()
  const closed = await Promise.race([
    closing.then(
      () => true,
      () => false
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(resolve, QUIT_WAIT_MS, false)
    })
  ])
  clearTimeout(timer)
  if (closed) return
  closing.catch(() => {})
  const client = await queue.client
  client.on('error', () => {})
  client.disconnect()
}
