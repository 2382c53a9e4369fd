// How many bytes of sealed messages the delivery workers of one gateway hold
// at once (docs/operators.md, "Sizing"). BullMQ bounds the jobs in hand,
// not their size: a batch of 1,000 designations is one job, as is a single
// message, but it is a megabyte, and each one in hand is held several times
// over (its sealed copy, the JWS, the request). Thirty-two of them a queue
// made the NEXUS roster's peak; single messages never come near the budget.

/** Gives back what `take` admitted; calling it again does nothing. */
export type Release = () => void

interface Waiter {
  readonly bytes: number
  readonly admit: () => void
}

export class ByteBudget {
  /** The bytes that may be in hand at once. One item larger than this still goes, alone. */
  readonly limit: number
  #inHand = 0
  /** First come, first served: a small message never overtakes a batch that waits, so a batch is not starved. */
  readonly #waiting: Waiter[] = []

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('a byte budget must be a positive whole number of bytes')
    this.limit = limit
  }

  /** Bytes admitted and not yet given back. */
  get inHand(): number {
    return this.#inHand
  }

  /** Takes waiting for room. */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Resolves once `bytes` fit beside what is in hand (or nothing else is in
   * hand, so that an item larger than the whole budget still goes), after
   * every take that waited before it.
   */
  take(bytes: number): Promise<Release> {
    if (this.#waiting.length === 0 && this.#fits(bytes)) return Promise.resolve(this.#admit(bytes))
    return new Promise<Release>((resolve) => {
      this.#waiting.push({ bytes, admit: () => resolve(this.#admit(bytes)) })
    })
  }

  #fits(bytes: number): boolean {
    return this.#inHand === 0 || this.#inHand + bytes <= this.limit
  }

  #admit(bytes: number): Release {
    this.#inHand += bytes
    let given = false
    return () => {
      if (given) return
      given = true
      this.#inHand -= bytes
      this.#admitWaiting()
    }
  }

  #admitWaiting(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) this.#waiting.shift()!.admit()
  }
}
