// What a delivery's metrics need of its message (kind, purpose, when it was
// accepted), kept from the acceptance the ledger announced (audit-feed.ts).
// A delivery entry names only its message (docs/architecture.md, "The
// pipeline, one message"): reading the message's record back for its labels
// was a store call on every delivery, on the ledger's thread, for what the
// acceptance entry of a few milliseconds before had said. A message this
// instance did not see accepted (another instance sharing the ledger
// accepted it, or this one restarted since) is not here, and its record is
// read as before.
import type { CommittedEntry, Direction } from '../store/records.ts'

/** The labels of a message and when it was accepted (its record's acceptedAt: the acceptance entry's `at`). */
export interface AcceptedMessage {
  readonly kind: string
  readonly purpose: string
  readonly acceptedAt: string
}

export interface RecentAcceptancesOptions {
  /**
   * How many messages awaiting delivery are remembered; past it the oldest is
   * forgotten (and read from the store if it is delivered after all). About
   * 150 bytes each: the default holds a minute of deliveries at 1,000 msg/s
   * in a few megabytes.
   */
  readonly max?: number
}

const DEFAULT_MAX = 60_000

/** The events that accept a message into a gateway: from its agency, and from the partner. */
const ACCEPTANCES: ReadonlySet<string> = new Set(['accepted', 'received'])
/**
 * The outcomes after which a message is not delivered again: its memory is
 * let go. (A dead letter resent and then delivered is read from the store.)
 */
const FINAL: ReadonlySet<string> = new Set(['delivered', 'dead-lettered'])

export class RecentAcceptances {
  readonly #max: number
  /** In insertion order, which is acceptance order: the first key is the oldest. */
  readonly #accepted = new Map<string, AcceptedMessage>()

  constructor(options: RecentAcceptancesOptions = {}) {
    this.#max = options.max ?? DEFAULT_MAX
  }

  get size(): number {
    return this.#accepted.size
  }

  /** Remembers an acceptance; any other entry changes nothing. */
  remember(entry: CommittedEntry): void {
    const { direction, messageId, kind, purpose } = entry
    if (!ACCEPTANCES.has(entry.event) || direction === undefined || messageId === null || kind === null || purpose === null) return
    if (this.#accepted.size >= this.#max) this.#accepted.delete(this.#accepted.keys().next().value!)
    this.#accepted.set(key(direction, messageId), { kind, purpose, acceptedAt: entry.at })
  }

  /** What was remembered of the message an outcome entry names; forgotten once the outcome is final (a failed attempt is retried). */
  recall(entry: Pick<CommittedEntry, 'event'> & { readonly direction: Direction; readonly messageId: string }): AcceptedMessage | undefined {
    const k = key(entry.direction, entry.messageId)
    const accepted = this.#accepted.get(k)
    if (FINAL.has(entry.event)) this.#accepted.delete(k)
    return accepted
  }
}

function key(direction: Direction, id: string): string {
  return `${direction} ${id}`
}
