// Whether the ledger takes writes now, as the intake last found it, for
// /readyz (routes/health.ts). Its read-only check passed on a ledger whose
// disk was full: every message was refused with a 503 while the gateway
// said it was ready, and a load balancer kept sending it messages.
//
// A failed write makes the ledger not ready until a write succeeds, or until
// `holdMs` passes without another failure: with no messages sent to a gateway
// that is not ready, nothing else would find out that the disk has room again.
// Then the next message tries, and a failure holds it off again.

export interface LedgerWritesOptions {
  /** How long after a failed write, with none succeeding, the ledger is not ready. */
  readonly holdMs?: number
  /** The clock, in milliseconds (tests). */
  readonly now?: () => number
}

export class LedgerWrites {
  readonly #holdMs: number
  readonly #now: () => number
  #failure: { readonly at: number; readonly reason: string } | undefined

  constructor(options: LedgerWritesOptions = {}) {
    this.#holdMs = options.holdMs ?? 10_000
    this.#now = options.now ?? Date.now
  }

  failed(error: unknown): void {
    this.#failure = { at: this.#now(), reason: error instanceof Error ? error.message : String(error) }
  }

  succeeded(): void {
    this.#failure = undefined
  }

  /** Why the ledger is not taking writes, while a failure is held; undefined when it is. */
  get failing(): string | undefined {
    if (this.#failure === undefined) return undefined
    if (this.#now() - this.#failure.at >= this.#holdMs) return undefined
    return this.#failure.reason
  }
}
