// Dead letters, for operators (docs/architecture.md, "The pipeline, one
// message": "exhausted retries dead-letter the message … and leave it
// resendable by an operator").
//
// A dead letter is a message whose status is `dead-lettered`; its sealed copy
// stays in the outbox. The ledger's store is the truth, not Redis: a resend
// changes the store first (in the same transaction as its audit entry) and
// then queues the sealed copy from the outbox, so that if Redis loses the job
// the outbox relay re-drives it like any other accepted message. An operator
// sees metadata only: never the payload, the envelope or the JWS.
import { isMessageId } from '../../schemas/index.ts'
import { DeadLetterConflictError, DeadLetterNotFoundError, RequestInvalidError } from '../errors.ts'
import { auditEntry, entrySender } from '../pipeline/audit-entry.ts'
import type { AuditEntry, DeadLetterCursor, DeliveryAttempt, Direction, GatewayStore, MessageRecord } from '../store/records.ts'
import type { DeliveryQueues } from './delivery-queues.ts'
import { DIRECTIONS, QUEUES, QUEUE_NAMES, directionOf, queueOf, type QueueName } from './queue-names.ts'
import { isInstant } from '../lib/instant.ts'

export { QUEUES, queueOf, type QueueName } from './queue-names.ts'

/**
 * Why an attempt failed, reduced to a code: the stored error text may quote
 * whatever the far end answered, so only shapes known to carry nothing but a
 * status and a code pass through.
 */
export interface FailureReason {
  /** `ECONNREFUSED`, `TIMEOUT`, `POLICY_DENIED`, `HTTP_503`…: letters, digits and `_` only. */
  readonly code: string
  /** The HTTP status the far end answered, when it answered. */
  readonly status: number | null
}

/** A problem code as the gateways write them: anything else a peer sends is not a code. */
export const CODE = /^[A-Z][A-Z0-9_]{1,63}$/
/** Node's and undici's network error codes: named, never free text. */
const NETWORK_CODE =
  /\b(E(?:CONNREFUSED|CONNRESET|CONNABORTED|TIMEDOUT|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_AGAIN|PIPE|PROTO)|UND_ERR_[A-Z_]{2,40}|ERR_(?:TLS|SSL)_[A-Z0-9_]{2,40})\b/

export function failureReason(error: string): FailureReason {
  // DeliveryRefusedError ("refused with 403 POLICY_DENIED") and a retryable answer ("partner answered 503 UNKNOWN").
  const answered = /(?:refused with|answered) (\d{3})\b(.*)$/s.exec(error)
  if (answered !== null) {
    const status = Number(answered[1])
    const code = answered[2]!.trim()
    return { code: CODE.test(code) && code !== 'UNKNOWN' ? code : `HTTP_${status}`, status }
  }
  const network = NETWORK_CODE.exec(error)
  if (network !== null) return { code: network[1]!, status: null }
  // undici's connect timeout names no code in its message (delivery records
  // the message): no connection was made, so nothing was sent. Its other
  // timeouts come after the request was sent.
  if (/^Connect Timeout Error\b/.test(error)) return { code: 'UND_ERR_CONNECT_TIMEOUT', status: null }
  if (/timeout|timed out/i.test(error)) return { code: 'TIMEOUT', status: null }
  // undici's words for an answer past RESPONSE_MAX_BYTES (delivery/tls-client.ts).
  if (/exceeded max size/i.test(error)) return { code: 'RESPONSE_TOO_LARGE', status: null }
  if (/pinned/.test(error)) return { code: 'PARTNER_CERT_NOT_PINNED', status: null }
  if (/certificate|tls|ssl/i.test(error)) return { code: 'TLS_FAILED', status: null }
  if (/has no webhook/.test(error)) return { code: 'NO_WEBHOOK', status: null }
  // BullMQ's words for a job whose worker died with it in hand twice (delivery/delivery-outcome.ts, deadLetterStalled).
  if (/stalled more than allowable limit/.test(error)) return { code: 'WORKER_STALLED', status: null }
  if (/receipt/i.test(error)) return { code: 'RECEIPT_INVALID', status: null }
  if (/other side closed|socket/i.test(error)) return { code: 'CONNECTION_CLOSED', status: null }
  return { code: 'DELIVERY_FAILED', status: null }
}

/**
 * Whether a failed attempt may have reached the far side all the same: only
 * one that never got its request there (no connection, no TLS session, no
 * webhook) or that the far side answered with a refusal (a 4xx) surely did
 * not. A timeout, a 5xx, a connection closed mid-answer or a receipt that did
 * not verify may each follow a message the far side took and kept. A message
 * withdrawn after such an attempt says so (intake/supersession.ts).
 */
export function mayHaveArrived(error: string): boolean {
  const { code, status } = failureReason(error)
  if (status !== null) return status >= 500
  return !NEVER_SENT.has(code) && !/^ERR_(?:TLS|SSL)_/.test(code)
}

/** Failure codes of an attempt whose request never reached the far side. */
const NEVER_SENT: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'TLS_FAILED',
  'PARTNER_CERT_NOT_PINNED',
  'NO_WEBHOOK'
])

/** What an operator may see of a dead letter: who, what kind, for what, and why it failed. */
export interface DeadLetter {
  readonly id: string
  readonly queue: QueueName
  readonly direction: Direction
  readonly kind: string
  readonly purpose: string
  /** The sending system, `CA/CBSA/pik-primary`. */
  readonly from: string
  /** The receiving agency (outbound) or system (inbound). */
  readonly to: string
  readonly attempts: number
  readonly acceptedAt: string
  readonly firstFailureAt: string | null
  readonly lastFailureAt: string | null
  readonly deadLetteredAt: string
  readonly lastError: FailureReason | null
  readonly policyVersion: string | null
  /** base64url SHA-256 of the JWS as received, as the message record keeps it (a resubmission is matched on it). */
  readonly digest: string
}

/** One dead letter in full: every failed attempt, each reduced to its reason. */
export interface DeadLetterDetail extends DeadLetter {
  readonly failures: ReadonlyArray<{ readonly at: string } & FailureReason>
  readonly correlationId: string | null
}

export function deadLetterOf(record: MessageRecord): DeadLetter {
  const first: DeliveryAttempt | undefined = record.attempts[0]
  const last: DeliveryAttempt | undefined = record.attempts[record.attempts.length - 1]
  return {
    id: record.id,
    queue: queueOf(record.direction),
    direction: record.direction,
    kind: record.kind,
    purpose: record.purpose,
    from: record.sender,
    to: record.recipient,
    attempts: record.attempts.length,
    acceptedAt: record.acceptedAt,
    firstFailureAt: first?.at ?? null,
    lastFailureAt: last?.at ?? null,
    deadLetteredAt: record.updatedAt,
    lastError: last === undefined ? null : failureReason(last.error),
    policyVersion: record.policyVersion,
    digest: record.digest
  }
}

function detailOf(record: MessageRecord): DeadLetterDetail {
  return {
    ...deadLetterOf(record),
    failures: record.attempts.map((a) => ({ at: a.at, ...failureReason(a.error) })),
    correlationId: record.correlationId
  }
}

export interface DeadLetterCounts {
  readonly total: number
  readonly byQueue: Readonly<Record<QueueName, number>>
}

/** For the `btb_dead_letters` gauge: one indexed count, no Redis round trip. */
export async function countDeadLetters(store: GatewayStore): Promise<DeadLetterCounts> {
  const counts = await store.countDeadLetters()
  return {
    total: counts.outbound + counts.inbound,
    byQueue: Object.fromEntries(DIRECTIONS.map((direction) => [QUEUE_NAMES[direction], counts[direction]])) as Record<QueueName, number>
  }
}

export function encodeCursor(c: DeadLetterCursor): string {
  return Buffer.from(JSON.stringify([c.updatedAt, c.direction, c.id])).toString('base64url')
}

export function decodeCursor(cursor: string): DeadLetterCursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    // Only what a cursor this gateway gave can hold: an instant, a direction
    // and a message id. Anything else reached the database's query as text
    // (a NUL in it failed the query on PostgreSQL, a 500).
    if (
      Array.isArray(value) &&
      value.length === 3 &&
      typeof value[0] === 'string' &&
      isInstant(value[0]) &&
      (value[1] === 'outbound' || value[1] === 'inbound') &&
      isMessageId(value[2])
    ) {
      return { updatedAt: value[0], direction: value[1], id: value[2] }
    }
  } catch {
    /* refused below */
  }
  throw new RequestInvalidError('cursor is not one this gateway gave')
}

export interface ListOptions {
  readonly queue?: QueueName
  readonly cursor?: string
  readonly limit?: number
}

export type Outcome = 'requeued' | 'already-queued' | 'already-delivered' | 'discarded' | 'already-discarded'

export interface OperationResult {
  readonly id: string
  readonly queue: QueueName
  readonly outcome: Outcome
  /** The message's status now. */
  readonly status: MessageRecord['status']
  /** Whether something changed (and was audited): false for a repeat. */
  readonly changed: boolean
  readonly detail: string
}

export interface OperatorAction {
  /** The operator's id, as the audit entry names the caller. */
  readonly operator: string
  readonly reason?: string
  /** Which queue, when an id names messages in both (ids are the senders' choice). */
  readonly queue?: QueueName
}

const REASON_MAX = 500

/** A reason goes into the ledger: one line of printable text, bounded. */
export function checkReason(reason: string | undefined, required: boolean): string | undefined {
  if (reason === undefined) {
    if (required) throw new RequestInvalidError('a reason is required')
    return undefined
  }
  const text = reason.trim()
  if (text.length === 0 || text.length > REASON_MAX) throw new RequestInvalidError(`the reason must be 1 to ${REASON_MAX} characters`)
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) throw new RequestInvalidError('the reason must be one line of printable text')
  return text
}

export class DeadLetters {
  readonly #store: GatewayStore
  readonly #queues: DeliveryQueues

  constructor(store: GatewayStore, queues: DeliveryQueues) {
    this.#store = store
    this.#queues = queues
  }

  /** Oldest dead letter first; the cursor names the last one given, so a page is stable while others arrive. */
  async list(options: ListOptions = {}): Promise<{ deadLetters: DeadLetter[]; nextCursor: string | null }> {
    const limit = options.limit ?? 50
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor)
    const direction = options.queue === undefined ? undefined : directionOf(options.queue)
    // One more than asked tells whether another page exists.
    const rows = await this.#store.deadLetters(direction, after, limit + 1)
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    return {
      deadLetters: page.map(deadLetterOf),
      nextCursor: rows.length > limit && last !== undefined ? encodeCursor({ updatedAt: last.updatedAt, direction: last.direction, id: last.id }) : null
    }
  }

  async inspect(id: string, queue?: QueueName): Promise<DeadLetterDetail> {
    const record = await this.#locate(id, queue)
    if (record.status !== 'dead-lettered') throw new DeadLetterNotFoundError(`${id}: the message is ${record.status}`)
    return detailOf(record)
  }

  /**
   * Puts a dead letter back on its queue with a fresh set of attempts, from
   * the sealed copy in the outbox. A repeat, or a resend of a message already
   * delivered, changes nothing and says so.
   */
  async resend(id: string, action: OperatorAction): Promise<OperationResult> {
    const reason = checkReason(action.reason, false)
    const record = await this.#locate(id, action.queue)
    if (record.status === 'dead-lettered') {
      const audit = this.#audit('dead-letter-resent', record, { operator: action.operator, reason, counts: { attempts: record.attempts.length } })
      if (await this.#store.requeueDeadLetter(record.direction, id, audit)) {
        const queued = await this.#enqueue(record.direction, id)
        return {
          id,
          queue: queueOf(record.direction),
          outcome: 'requeued',
          status: 'accepted',
          changed: true,
          detail: queued
            ? 'queued for delivery with a fresh set of attempts'
            : 'accepted for delivery; the queue is unreachable now, and the outbox relay will queue it'
        }
      }
      // Another operator (or instance) moved it first: answer with what it is now.
      return this.#resendResult(await this.#locate(id, action.queue))
    }
    return this.#resendResult(record)
  }

  /**
   * Gives up on a dead letter for good: nothing sends it again, and its
   * sealed copy is deleted, or kept while a legal hold covers it (P9). The
   * answer says which, and nothing of the hold: operators do not see holds
   * (docs/operators.md, "Dead letters").
   */
  async discard(id: string, action: OperatorAction): Promise<OperationResult> {
    const reason = checkReason(action.reason, true)
    const record = await this.#locate(id, action.queue)
    if (record.status === 'dead-lettered') {
      const audit = this.#audit('dead-letter-discarded', record, { operator: action.operator, reason })
      const fate = await this.#store.discardDeadLetter(record.direction, id, audit)
      if (fate !== undefined) {
        return {
          id,
          queue: queueOf(record.direction),
          outcome: 'discarded',
          status: 'discarded',
          changed: true,
          detail:
            fate === 'deleted'
              ? 'its sealed copy is deleted, and nothing will send it'
              : 'nothing will send it; its sealed copy is kept under a legal hold, and deleted once the hold is released'
        }
      }
      return this.#discardResult(await this.#locate(id, action.queue))
    }
    return this.#discardResult(record)
  }

  #resendResult(record: MessageRecord): OperationResult {
    const base = { id: record.id, queue: queueOf(record.direction), status: record.status, changed: false }
    switch (record.status) {
      case 'delivered':
        return { ...base, outcome: 'already-delivered', detail: 'the message was delivered; nothing to resend' }
      case 'accepted':
        return { ...base, outcome: 'already-queued', detail: 'the message is already queued for delivery; nothing to resend' }
      case 'discarded':
        throw new DeadLetterConflictError(`${record.id} was discarded: its sealed copy is gone, it cannot be resent`)
      case 'dead-lettered':
        // Still dead-lettered, yet the store would not requeue it: its sealed copy is missing.
        throw new DeadLetterConflictError(`${record.id} has no sealed copy left to resend`)
      case 'withdrawn':
        throw new DeadLetterConflictError(`${record.id} was withdrawn by a correction or retraction from its sender: it is never sent`)
    }
  }

  #discardResult(record: MessageRecord): OperationResult {
    const base = { id: record.id, queue: queueOf(record.direction), status: record.status, changed: false }
    switch (record.status) {
      case 'discarded':
        return { ...base, outcome: 'already-discarded', detail: 'the message was discarded already; nothing changed' }
      case 'delivered':
        throw new DeadLetterConflictError(`${record.id} was delivered: there is nothing to discard`)
      case 'accepted':
        throw new DeadLetterConflictError(`${record.id} is queued for delivery: it can be discarded only once it is dead-lettered`)
      case 'dead-lettered':
        throw new DeadLetterConflictError(`${record.id} could not be discarded; try again`)
      case 'withdrawn':
        throw new DeadLetterConflictError(`${record.id} was withdrawn by a correction or retraction from its sender: there is nothing to discard`)
    }
  }

  async #enqueue(direction: Direction, id: string): Promise<boolean> {
    const item = await this.#store.outboxItem(direction, id)
    if (item === undefined) return false
    // Should the failed job still be in Redis as this runs (it is removed
    // just after the dead letter is recorded), the add is a no-op under the
    // same job id; the worker that holds it queues the message once BullMQ
    // has removed it (delivery/delivery-outcome.ts, queueIfResent).
    try {
      await this.#queues.enqueue(item)
      return true
    } catch {
      // Likewise when Redis is unreachable.
      return false
    }
  }

  async #locate(id: string, queue: QueueName | undefined): Promise<MessageRecord> {
    const directions: readonly Direction[] = queue === undefined ? DIRECTIONS : [directionOf(queue)]
    const found = (await Promise.all(directions.map((d) => this.#store.findMessage(d, id)))).filter((r) => r !== undefined)
    if (found.length === 0) throw new DeadLetterNotFoundError(id)
    if (found.length > 1) throw new RequestInvalidError(`message id ${id} is in both queues: say which with ${QUEUES.map((q) => `queue=${q}`).join(' or ')}`)
    return found[0]!
  }

  #audit(
    event: 'dead-letter-resent' | 'dead-letter-discarded',
    record: MessageRecord,
    { operator, reason, counts }: { operator: string; reason: string | undefined; counts?: Record<string, number> }
  ): AuditEntry {
    // The parties, kind and purpose make the entry findable by the privacy officer's usual filters.
    return {
      ...auditEntry({ event, direction: record.direction, caller: operator, messageId: record.id, ...(counts === undefined ? {} : { counts }) }),
      kind: record.kind,
      purpose: record.purpose,
      from: entrySender(record.sender, record.direction),
      to: record.recipient,
      ...(reason === undefined ? {} : { reason })
    }
  }
}
