// Taking in a message the pipeline has prepared, the same for both directions
// (docs/architecture.md, "The pipeline, one message"): the message, its sealed outbox item and
// its audit entry are committed in one ledger transaction before the answer,
// then the message is queued. Agency submissions (routes/messages.ts) and the
// partner gateway's deliveries (routes/exchange.ts) both come through here.
import type { FastifyBaseLogger } from 'fastify'
import { ServiceUnavailableError } from '../errors.ts'
import type { DeliveryQueues } from '../queue/delivery-queues.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { PreparedOutbound } from '../pipeline/prepare-outbound.ts'
import type { AuditEvent, Direction, GatewayStore, MessageRecord, OutboxItem } from '../store/records.ts'

export interface IntakeOptions {
  readonly store: Pick<GatewayStore, 'findMessage' | 'accept'>
  readonly queues: Pick<DeliveryQueues, 'enqueue'>
}

/**
 * One message the pipeline prepared (both directions prepare the same facts),
 * and what only its route knows. From these the intake makes the message
 * record, its outbox item and its audit entry, the same way for both.
 */
export interface Admission {
  readonly direction: Direction
  /** `accepted` for a submission, `received` for a partner's delivery. */
  readonly event: AuditEvent
  /** Who sent it: the agency system, or the partner gateway. */
  readonly caller: string
  /** The message record's sender and recipient. */
  readonly sender: string
  readonly recipient: string
  /** Where the outbox item goes: the partner, or the receiving system. */
  readonly target: string
  /** The receipt this gateway signed (inbound), or none yet (outbound). */
  readonly receipt: string | null
  /** Digest of the bytes received (repeats are recognised by it), and its keyed form for the ledger. */
  readonly digest: string
  readonly auditDigest: string
  readonly prepared: Pick<PreparedOutbound, 'envelope' | 'policy' | 'decisions' | 'subjects' | 'sealed' | 'at'>
  /** The request's logger: what goes wrong is logged against the request. */
  readonly log: FastifyBaseLogger
}

/** Accepted, or not because the id was already taken: `existing` is the message stored under it. */
export type AdmissionOutcome = { readonly accepted: true; readonly record: MessageRecord } | { readonly accepted: false; readonly existing: MessageRecord }

// The detail of the 503 each direction has always answered (docs/integrators.md, "Error codes").
const LEDGER_UNAVAILABLE: Readonly<Record<Direction, string>> = {
  outbound: 'the ledger could not record the message; nothing was accepted, retry later',
  inbound: 'the ledger could not record the message; retry later'
}

export class Intake {
  readonly #store: IntakeOptions['store']
  readonly #queues: IntakeOptions['queues']

  constructor(opts: IntakeOptions) {
    this.#store = opts.store
    this.#queues = opts.queues
  }

  /**
   * The message already stored under this id, if any. A repeat of an
   * agency's submission, or a partner's replay, is answered from it, whatever
   * the clock says now: a retrying sender must never be told it failed.
   */
  stored(direction: Direction, id: string): Promise<MessageRecord | undefined> {
    return this.#store.findMessage(direction, id)
  }

  async admit(admission: Admission): Promise<AdmissionOutcome> {
    const { direction, prepared, log } = admission
    const { envelope, policy, at } = prepared
    const record: MessageRecord = {
      direction,
      id: envelope.id,
      digest: admission.digest,
      kind: envelope.kind,
      purpose: envelope.purpose,
      sender: admission.sender,
      recipient: admission.recipient,
      status: 'accepted',
      acceptedAt: at,
      updatedAt: at,
      attempts: [],
      receipt: admission.receipt,
      correlationId: envelope.correlationId ?? null,
      policyVersion: policy.version
    }
    const item: OutboxItem = { direction, id: envelope.id, target: admission.target, sealed: prepared.sealed, createdAt: at }
    const audit = auditEntry({
      event: admission.event,
      direction,
      caller: admission.caller,
      envelope,
      policy,
      digest: admission.auditDigest,
      fields: prepared.decisions,
      at,
      subjects: prepared.subjects
    })
    let accepted: boolean
    try {
      accepted = await this.#store.accept(record, item, audit)
    } catch (err) {
      log.error({ err }, 'ledger write failed')
      throw new ServiceUnavailableError(LEDGER_UNAVAILABLE[record.direction])
    }
    // Lost a race with a concurrent message of the same id: the caller answers
    // it as a repeat of the one that won.
    if (!accepted) return { accepted: false, existing: (await this.#store.findMessage(record.direction, record.id))! }
    try {
      await this.#queues.enqueue(item)
    } catch (err) {
      // Committed to the outbox: the relay will enqueue it
      // (docs/architecture.md, "The pipeline, one message"). The answer stands.
      log.warn({ err, messageId: record.id }, 'enqueue failed; left to the outbox relay')
    }
    return { accepted: true, record }
  }
}
