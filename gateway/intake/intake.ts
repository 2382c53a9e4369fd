// Taking in a message the pipeline has prepared, the same for both directions
// (docs/architecture.md, "The pipeline, one message"): the message, its sealed outbox item and
// its audit entry are committed in one ledger transaction before the answer,
// then the message is queued. Agency submissions (routes/messages.ts) and the
// partner gateway's deliveries (routes/exchange.ts) both come through here.
import type { FastifyBaseLogger } from 'fastify'
import { ServiceUnavailableError } from '../errors.ts'
import type { DeliveryQueues } from '../queue/delivery-queues.ts'
import type { AuditEntry, Direction, GatewayStore, MessageRecord, OutboxItem } from '../store/records.ts'

export interface IntakeOptions {
  readonly store: Pick<GatewayStore, 'findMessage' | 'accept'>
  readonly queues: Pick<DeliveryQueues, 'enqueue'>
}

/** One prepared message: what the ledger records about it, its outbox item, its audit entry. */
export interface Admission {
  readonly record: MessageRecord
  readonly item: OutboxItem
  readonly audit: AuditEntry
  /** The request's logger: what goes wrong is logged against the request. */
  readonly log: FastifyBaseLogger
}

/** Accepted, or not because the id was already taken: `existing` is the message stored under it. */
export type AdmissionOutcome = { readonly accepted: true } | { readonly accepted: false; readonly existing: MessageRecord }

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

  async admit({ record, item, audit, log }: Admission): Promise<AdmissionOutcome> {
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
    return { accepted: true }
  }
}
