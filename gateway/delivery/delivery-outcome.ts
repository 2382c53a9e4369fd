// What happens around each delivery attempt, for both queues. Before it: a
// message that is no longer awaiting delivery is left alone (a job can come
// back after its message was delivered). After it: a failed attempt is
// recorded in the message's status, and sampled into the ledger; the last one
// dead-letters the message, raises the alert and leaves the sealed copy in
// the outbox for an operator to resend.
import { DelayedError, UnrecoverableError, type Job } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import { EXCHANGE_REFUSALS } from '../intake/submission-contract.ts'
import { withdrawalEntry } from '../intake/supersession.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { DeliveryJob, DeliveryQueues } from '../queue/delivery-queues.ts'
import type { GatewayStore, MessageRecord, MessageToDeliver } from '../store/records.ts'
import type { ByteBudget, Release } from '../lib/byte-budget.ts'
import { heldBytes } from '../lib/seal.ts'
import { problemCode } from '../lib/problem-code.ts'
import { RetryLaterError } from './retry-after.ts'
import { RequestAbandonedError } from './tls-client.ts'

/**
 * The message a job is for, with its sealed copy, if it still awaits
 * delivery (one read: GatewayStore's messageToDeliver). The job id protects
 * against a second job only while the first is in Redis: once it completed
 * and was removed, the outbox relay (which read the item before the delivery
 * committed) can add it again. Asking the ledger first makes that harmless:
 * no second POST, no second push, no second "delivered".
 */
export async function awaitingDelivery(store: GatewayStore, log: FastifyBaseLogger, job: Job<DeliveryJob>): Promise<MessageToDeliver | undefined> {
  const pending = await store.messageToDeliver(job.data.direction, job.data.id)
  if (pending === undefined) {
    log.debug({ messageId: job.data.id, direction: job.data.direction }, 'job for a message no longer awaiting delivery: nothing to do')
    return undefined
  }
  // Its sender superseded it before it went (docs/integrators.md,
  // "Corrections and retractions"): this worker holds its job, so no
  // attempt is under way, and it never goes now.
  if (await withdrawIfSuperseded(store, log, pending.record)) return undefined
  return pending
}

/** A message awaiting delivery, read within the delivery budget: `release` gives its bytes back once the attempt is over. */
export interface DeliveryInHand extends MessageToDeliver {
  readonly release: Release
}

/**
 * awaitingDelivery within the delivery budget. A job that says how much of
 * the message it will hold waits for room before it reads it, so the batches
 * waiting hold nothing; one that does not (the outbox relay's) reads first,
 * then waits.
 */
async function deliveryInHand({ store, log, budget }: DeliveryDeps, job: Job<DeliveryJob>): Promise<DeliveryInHand | undefined> {
  const taken = job.data.bytes === undefined ? undefined : await budget.take(job.data.bytes)
  // Bytes taken for a message that is not handed on (a read that throws, or
  // nothing left to deliver) are given back here; once handed on, the
  // processor gives them back after the attempt.
  let handedOn = false
  try {
    const pending = await awaitingDelivery(store, log, job)
    if (pending === undefined) return undefined
    const release = taken ?? (await budget.take(heldBytes(pending.sealed)))
    handedOn = true
    return { ...pending, release }
  } finally {
    if (!handedOn) taken?.()
  }
}

/** The deps every delivery processor has. */
export interface DeliveryDeps {
  readonly store: GatewayStore
  readonly log: FastifyBaseLogger
  /** Bytes of messages (each its sealed copy and what it opens to) this gateway's deliveries may hold at once, shared by both queues. */
  readonly budget: ByteBudget
  /** How long a correction or retraction waits, each time, for its original's attempt under way (waitForOriginal). */
  readonly waitMs: number
  /** How long an attempt may take, its answer included: what a job back from a stall waits out (waitOutStalledAttempt). */
  readonly attemptMs: number
}

/**
 * The BullMQ processor of a queue: around each attempt at a message, what
 * both queues do before it (awaitingDelivery within the budget, the original
 * first) and after it (the budget given back, whatever the outcome).
 */
export function deliveryProcessor(
  deps: DeliveryDeps,
  attempt: (pending: DeliveryInHand, job: Job<DeliveryJob>, token: string | undefined) => Promise<void>
): (job: Job<DeliveryJob>, token?: string) => Promise<void> {
  return async (job, token) => {
    // The far side has it already; only its record is owed (recordDelivered):
    // nothing is read or sent, and nothing withdraws it now.
    if (job.data.delivered !== undefined) return recordDelivered(deps, job, token, job.data.delivered.receipt)
    // Its last attempt failed; only its dead letter is owed (recordFailureOrPutOff): nothing is sent.
    if (job.data.deadLetter !== undefined) {
      const { error, ...owed } = job.data.deadLetter
      const record = await deps.store.findMessage(job.data.direction, job.data.id)
      if (record?.status !== 'accepted') return
      await recordFailureOrPutOff(deps, { job, token, err: new Error(error), record, owed })
      return
    }
    await waitOutStalledAttempt(job, token, deps.attemptMs)
    const pending = await deliveryInHand(deps, job)
    if (pending === undefined) return
    try {
      await waitForOriginal(deps.store, pending.record, job, token, deps.waitMs)
      await attempt(pending, job, token)
    } finally {
      pending.release()
    }
  }
}

/**
 * A job back from a stall (BullMQ found its lock lapsed) is not always one
 * whose worker died: a worker whose event loop, or whose Redis, froze past
 * QUEUE_LOCK_MS loses its lock with its attempt still under way, and finishes
 * it when it wakes. Sent again at once, the message reached the agency twice,
 * the first push still in flight (docs/integrators.md, "Receiving": each
 * message is pushed once). So the job is put off by what an attempt can take,
 * once for each stall and without spending an attempt; the ledger then says
 * whether the attempt under way took it (awaitingDelivery).
 */
export async function waitOutStalledAttempt(job: Job<DeliveryJob>, token: string | undefined, attemptMs: number): Promise<void> {
  if (job.stalledCounter === 0 || job.data.stalls === job.stalledCounter) return
  await putOff(job, token, attemptMs, { stalls: job.stalledCounter })
}

/**
 * The job back to the queue in `afterMs`, no attempt spent, with what its
 * next run must know (`noted`) kept on it: BullMQ's way for a processor to
 * move its own job to delayed (moveToDelayed, then DelayedError).
 */
async function putOff(job: Job<DeliveryJob>, token: string | undefined, afterMs: number, noted?: Partial<DeliveryJob>): Promise<never> {
  if (noted !== undefined) await job.updateData({ ...job.data, ...noted })
  await job.moveToDelayed(Date.now() + afterMs, token)
  throw new DelayedError()
}

/** Withdraws a message its sender superseded, if it is (still) waiting to go; true if it was. */
export async function withdrawIfSuperseded(store: GatewayStore, log: FastifyBaseLogger, record: MessageRecord): Promise<boolean> {
  if (record.supersededBy === undefined) return false
  const withdrawn = await store.withdraw(record.direction, record.id, withdrawalEntry(record.direction, record.id, record))
  if (withdrawn) log.info({ messageId: record.id, direction: record.direction, supersededBy: record.supersededBy.id }, 'superseded before delivery: withdrawn')
  return true
}

/**
 * A correction or retraction goes after its original, never before it: while
 * the original still awaits delivery here (an attempt at it may be under way,
 * and reach the partner or the agency), the job is put off by `waitMs`, not
 * failed, so it spends no attempt. The original is delivered or withdrawn
 * within one attempt (its worker withdraws it then: see awaitingDelivery and
 * withdrawIfSuperseded), so the wait ends.
 *
 * A withdrawn original never left, but it may itself have been waiting for
 * its own original (a correction of a correction): the chain is followed back
 * past every withdrawn link, so that the latest word never overtakes an
 * earlier one still under way.
 */
export async function waitForOriginal(
  store: GatewayStore,
  record: MessageRecord,
  job: Job<DeliveryJob>,
  token: string | undefined,
  waitMs: number
): Promise<void> {
  const seen = new Set([record.id])
  for (let link = record.supersedes; link !== undefined && !seen.has(link.id); ) {
    seen.add(link.id)
    const original = await store.findMessage(record.direction, link.id)
    if (original?.status === 'accepted') await putOff(job, token, waitMs)
    if (original?.status !== 'withdrawn') return
    link = original.supersedes
  }
}

/**
 * An attempt whose job this worker no longer holds is given up before it
 * sends anything: nothing is recorded, no attempt is spent, and the job is
 * left to whoever holds it now (BullMQ's DelayedError: the worker moves on).
 * waitOutStalledAttempt puts off a job back from a stall by what an attempt
 * under way can take, which holds only for a worker whose event loop runs: one
 * frozen (its process, or its Redis) past the lock, the stalled check and that
 * wait, with the message read and nothing sent yet, woke to send it after
 * another worker had sent it and recorded it delivered, and the agency had it
 * twice. So the lock is asked for right before the push goes: BullMQ's
 * extendLock answers 0 unless the lock's key still holds this worker's token
 * (lapsed, taken by another worker, the job moved or gone), and otherwise
 * makes it last `lockMs` from now. A lock that lapsed with no other worker
 * holding the job yet is given up too: the stalled check hands the job on.
 * A check Redis fails to answer is an error before the POST, a failed
 * attempt with nothing sent, as any other.
 *
 * The window left (docs/architecture.md, "The pipeline, one message"): a
 * freeze that starts after this check, while the push is on its way or its
 * answer not yet recorded, and lasts past the lock, the stalled check and
 * the wait after it. The agency then gets it again with the same
 * Idempotency-Key (docs/integrators.md, "Receiving").
 */
export async function giveUpUnlessHeld(log: FastifyBaseLogger, job: Job<DeliveryJob>, token: string | undefined, lockMs: number): Promise<void> {
  // A processor run by a BullMQ worker always has its token; without one, nothing shows the job is held.
  if (token !== undefined && (await job.extendLock(token, lockMs)) === 1) return
  log.warn(
    { messageId: job.data.id, direction: job.data.direction },
    'this worker no longer holds the job (its process or Redis stopped past QUEUE_LOCK_MS): nothing sent, the worker that takes it again delivers it'
  )
  throw new LockLostError()
}

/** The attempt was given up, the job left to its holder (giveUpUnlessHeld): no failure. */
export class LockLostError extends DelayedError {
  constructor() {
    super('the job is no longer held by this worker')
  }
}

/**
 * An attempt the closing gateway abandoned (docs/operators.md, "Shutdown")
 * is not a failed attempt: nothing is recorded, no attempt is spent, and the
 * job goes back to the queue at once, for another instance or the next start.
 * The far side may have had the message; it knows it again by its id (the
 * partner) or its idempotency key (an agency).
 */
export async function giveBackIfAbandoned(err: unknown, job: Job<DeliveryJob>, token: string | undefined): Promise<void> {
  if (!(err instanceof RequestAbandonedError)) return
  await putOff(job, token, 0)
}

/**
 * One attempt at a message: `send` hands it over and gives back what shows
 * the far side took it (the partner's receipt; null for an agency's 2xx). An
 * attempt that fails is recorded (recordFailure); one that did not fail is
 * recorded as delivered (recordDelivered), outside it: that record failing is
 * not a failed attempt.
 */
export async function attemptDelivery(
  deps: DeliveryDeps,
  { pending, job, token }: { readonly pending: DeliveryInHand; readonly job: Job<DeliveryJob>; readonly token: string | undefined },
  send: () => Promise<string | null>
): Promise<void> {
  let receipt: string | null
  try {
    receipt = await send()
  } catch (err) {
    if (err instanceof LockLostError) throw err
    await giveBackIfAbandoned(err, job, token)
    if ((await recordFailureOrPutOff(deps, { job, token, err, record: pending.record })) === 'withdrawn') return
    throw err
  }
  await recordDelivered(deps, job, token, receipt)
}

/**
 * The far side has the message (the partner's receipt verified, or the
 * agency's 2xx): its delivery is recorded. A ledger that cannot record it
 * now is not a failed attempt, and must never dead-letter the message: an
 * operator could then discard what the far side already acted on. Nor may a
 * correction withdraw it meanwhile, as if it had never arrived. So the job
 * says so (DeliveryJob's `delivered`, with the receipt) and goes back to the
 * queue after `waitMs` without spending an attempt: its next run records the
 * delivery and sends nothing, and a correction leaves it on the queue
 * (DeliveryQueues.cancel).
 */
export async function recordDelivered(
  { store, log, waitMs }: Pick<DeliveryDeps, 'store' | 'log' | 'waitMs'>,
  job: Job<DeliveryJob>,
  token: string | undefined,
  receipt: string | null
): Promise<void> {
  const { id, direction } = job.data
  try {
    await markDelivered(store, job.data, receipt)
  } catch (err) {
    log.error(
      { alert: 'DELIVERED_UNRECORDED', err, messageId: id, direction },
      'delivered, but the ledger could not record it: recorded at the next try, with nothing sent again'
    )
    await putOff(job, token, waitMs, job.data.delivered === undefined ? { delivered: { receipt } } : undefined)
  }
}

/** The message delivered, with what shows it (the partner's receipt), and its entry. */
function markDelivered(store: GatewayStore, { id, direction }: DeliveryJob, receipt: string | null): Promise<boolean> {
  return store.markDelivered(direction, id, receipt, auditEntry({ event: 'delivered', direction, messageId: id }))
}

/**
 * Whether the n-th failed attempt at a message goes into the ledger: the
 * 1st, 2nd, 4th, 8th… A partner outage then writes about log2(attempts)
 * entries per message instead of one per retry (21,320 for 3,000 messages in a
 * 60 s outage before), while the message's status keeps every attempt, and
 * the outcome (delivered or dead-lettered) is always written.
 */
export function auditsAttempt(n: number): boolean {
  return n >= 1 && (n & (n - 1)) === 0
}

/**
 * The codes a delivery may be answered with: POST /v1/exchange's refusals,
 * and INTERNAL, which any route may answer (plugins/openapi.ts,
 * problemResponses). An agency's webhook is held to the same, as it receives
 * a push as a gateway receives a delivery (docs/integrators.md, "Receiving").
 */
const DELIVERY_ANSWER_CODES: ReadonlySet<string> = new Set([...EXCHANGE_REFUSALS, 'INTERNAL'])

/**
 * The code of the partner's or an agency's answer to a delivery: one a
 * delivery can be refused with, else UNKNOWN (lib/problem-code.ts). Any
 * other code of the contract is no answer to a delivery, and would say what
 * did not happen: a `CHECKPOINT_CONFLICT` on a dead letter's entry read as
 * the ledger's tamper alarm (docs/architecture.md, "The verifiable ledger").
 */
export function deliveryAnswerCode(body: string): string {
  return problemCode(body, DELIVERY_ANSWER_CODES)
}

export class DeliveryRefusedError extends UnrecoverableError {
  readonly code: string
  constructor(status: number, code: string) {
    super(`refused with ${status} ${code}`)
    this.code = code
  }
}

/** A delivery attempt that failed: the job, why, and the message as stored before it. */
export interface FailedAttempt {
  readonly store: GatewayStore
  readonly log: FastifyBaseLogger
  readonly job: Job<DeliveryJob>
  readonly err: unknown
  readonly record: MessageRecord
  /** A last attempt whose dead letter is owed (DeliveryJob's `deadLetter`): when it failed, and the code it was refused with. */
  readonly owed?: { readonly at: string; readonly code: string | null }
}

/** Whether this failed attempt is the message's last: refused for good, or the last of its attempts. */
function isLastAttempt(job: Job<DeliveryJob>, err: unknown): boolean {
  return err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
}

/**
 * recordFailure, and if the ledger cannot record a last attempt then, the
 * job kept without spending an attempt. Thrown on, the ledger's error failed
 * the job for good and BullMQ removed it: the message stayed `accepted`, not
 * dead-lettered, and the outbox relay queued it again with a fresh set of
 * attempts, over and over while the dead letter's write failed (a refusal
 * for good was sent again too: the ledger's error is no
 * UnrecoverableError). Exhausted attempts end in a dead letter
 * (docs/operators.md, "Dead letters"). So, as for a delivery the ledger
 * could not record (recordDelivered), the job says so (DeliveryJob's
 * `deadLetter`) and goes back to the queue after `waitMs`: its next run
 * records the dead letter and sends nothing. An earlier attempt the ledger
 * cannot record fails as it would have, with its own error (its backoff, or
 * the Retry-After it was answered with), one attempt fewer on its status.
 */
async function recordFailureOrPutOff(
  { store, log, waitMs }: Pick<DeliveryDeps, 'store' | 'log' | 'waitMs'>,
  attempt: {
    readonly job: Job<DeliveryJob>
    readonly token: string | undefined
    readonly err: unknown
    readonly record: MessageRecord
    readonly owed?: FailedAttempt['owed']
  }
): Promise<'withdrawn' | 'recorded'> {
  const { job, token, err, owed } = attempt
  const at = owed?.at ?? new Date().toISOString()
  try {
    return await recordFailure({ store, log, job, err, record: attempt.record, owed: { at, code: owed?.code ?? refusalCode(err) } })
  } catch (ledgerErr) {
    const { id, direction } = job.data
    if (owed === undefined && !isLastAttempt(job, err)) {
      log.warn({ err: ledgerErr, messageId: id, direction }, 'a failed delivery attempt the ledger could not record: tried again as it would have been')
      throw err
    }
    log.error(
      { alert: 'DEAD_LETTER_UNRECORDED', err: ledgerErr, messageId: id, direction },
      'the last delivery attempt failed, but the ledger could not record its dead letter: recorded at the next try, with nothing sent again'
    )
    const noted = { deadLetter: { at, error: err instanceof Error ? err.message : String(err), code: refusalCode(err) } }
    return putOff(job, token, waitMs, job.data.deadLetter === undefined ? noted : undefined)
  }
}

function refusalCode(err: unknown): string | null {
  return err instanceof DeliveryRefusedError ? err.code : null
}

export async function recordFailure({ store, log, job, err, record, owed }: FailedAttempt): Promise<'withdrawn' | 'recorded'> {
  const at = owed?.at ?? new Date().toISOString()
  const error = err instanceof Error ? err.message : String(err)
  const attempt = { at, error }
  const { id, direction } = job.data
  // Superseded while this attempt was under way: it is not tried again. The
  // attempt is recorded first: whether it may have reached the far side is
  // what the withdrawal's entry says (intake/supersession.ts, withdrawalEntry).
  const now = await store.findMessage(direction, id)
  if (now !== undefined && now.status === 'accepted' && now.supersededBy !== undefined) {
    await store.recordAttempt(direction, id, attempt, null)
    await withdrawIfSuperseded(store, log, { ...now, attempts: [...now.attempts, attempt] })
    return 'withdrawn'
  }
  const final = job.data.deadLetter !== undefined || isLastAttempt(job, err)
  const code = owed?.code ?? refusalCode(err)
  if (final) {
    const moved = await store.markDeadLettered(direction, id, attempt, auditEntry({ event: 'dead-lettered', direction, messageId: id, code, at }))
    if (!moved) return 'recorded'
    DEAD_LETTERED_BY.add(job)
    // A correction committed since the read above (at another instance,
    // whose cancel found this job held and whose withdrawal found the message
    // not yet a dead letter) is applied now, as to any dead letter: withdrawn
    // (docs/operators.md, "Dead letters"). One committed after this read of it
    // finds the dead letter and withdraws it itself.
    const after = await store.findMessage(direction, id)
    if (after?.status === 'dead-lettered' && (await withdrawIfSuperseded(store, log, after))) return 'withdrawn'
    log.error({ alert: 'DEAD_LETTER', messageId: id, direction, attempts: job.attemptsMade + 1, error }, 'delivery dead-lettered')
  } else {
    const n = record.attempts.length + 1
    const entry = auditsAttempt(n) ? auditEntry({ event: 'delivery-failed', direction, messageId: id, code, at }) : null
    // The pause the far side asked for is BullMQ's delay (retry-after.ts,
    // deliveryBackoff), which a Redis that restarts empty loses: kept with
    // the message too, the outbox relay that queues it again waits as long
    // (docs/operators.md, "Redis").
    const notBefore = err instanceof RetryLaterError ? new Date(Date.parse(at) + err.retryAfterMs).toISOString() : undefined
    await store.recordAttempt(direction, id, attempt, entry, notBefore)
    log.warn({ messageId: id, direction, attempt: job.attemptsMade + 1, error }, 'delivery attempt failed')
  }
  return 'recorded'
}

/** The jobs whose last attempt this process recorded as a dead letter, until BullMQ has removed them (queueIfResent). */
const DEAD_LETTERED_BY = new WeakSet<Job<DeliveryJob>>()

/**
 * A dead letter an operator resends while the worker that recorded it still
 * holds its failed job (BullMQ removes it only once the processor has
 * returned) is added under that job's id: a no-op. The message is
 * `accepted`, with no job left once this one goes, and went only at the
 * outbox relay's next pass, a RELAY_INTERVAL_MS later, though the operator
 * was told it was queued (docs/operators.md, "Dead letters"). So once BullMQ
 * has removed the job (the worker's `failed` event), a message it
 * dead-lettered that is `accepted` again was resent meanwhile, and is queued
 * here. A resend after the removal added its own job: this add is then a
 * no-op, and a message delivered already is not `accepted`.
 */
export async function queueIfResent(
  { store, queues }: { readonly store: GatewayStore; readonly queues: DeliveryQueues },
  job: Job<DeliveryJob>
): Promise<boolean> {
  if (!DEAD_LETTERED_BY.has(job) || job.finishedOn === undefined) return false
  DEAD_LETTERED_BY.delete(job)
  const { id, direction } = job.data
  if ((await store.findMessage(direction, id))?.status !== 'accepted') return false
  const item = await store.outboxItem(direction, id)
  if (item === undefined) return false
  await queues.enqueue(item)
  return true
}

/**
 * A job that stalled more often than BullMQ allows (the worker that held it
 * died with it in hand, twice: a kill -9, an out-of-memory end) is failed by
 * BullMQ without its processor running, so recordFailure never sees it; the
 * message would stay `accepted`, and the outbox relay would queue it again
 * with its attempts afresh, for ever if it is what kills its worker. It is
 * dead-lettered here instead, from the worker's `failed` event, where an
 * operator sees it and can resend it (docs/operators.md, "Dead letters").
 */
export async function deadLetterStalled(deps: Pick<DeliveryDeps, 'store' | 'log'>, job: Job<DeliveryJob>, err: Error): Promise<void> {
  if (!job.deferredFailure) return
  const { id, direction, delivered } = job.data
  // The far side had it: delivered, however often its record's worker died.
  if (delivered !== undefined) {
    await markDelivered(deps.store, job.data, delivered.receipt)
    return
  }
  const record = await deps.store.findMessage(direction, id)
  if (record?.status !== 'accepted') return
  await recordFailure({ store: deps.store, log: deps.log, job, err, record })
}

/** 4xx answers other than 408/429 will not change on retry. */
export function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429
}
