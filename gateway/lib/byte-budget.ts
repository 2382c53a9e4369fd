// How many bytes of messages one part of a gateway holds at once: the
// delivery workers' sealed copies (DELIVERY_BUDGET_BYTES) and the request
// bodies being read and checked (INTAKE_BUDGET_BYTES; docs/operators.md,
// "Sizing"). BullMQ bounds the jobs in hand, not their size, and nothing
// bounds the requests being read: a batch of 1,000 designations is one job or
// one request, as is a single message, but it is a megabyte, and each one in
// hand is held several times over (its text, the JWS, the parsed records).
// Thirty-two of them a queue made the NEXUS roster's peak; single messages
// never come near a budget.

/** Gives back what `take` admitted; calling it again does nothing. */
export type Release = () => void

interface Waiter {
  readonly bytes: number
  readonly admit: () => void
}

export interface TakeOptions {
  /** Stops the wait: the take leaves the queue and rejects with the signal's reason. One already admitted is not affected. */
  readonly signal?: AbortSignal
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
   * Admits `bytes` at once if nothing waits and they fit (as `take` would
   * without waiting), else takes nothing and returns undefined. The intake
   * asks this first for each request: a promise and an abort signal per
   * request cost more than the check (docs/measurements.md, "Speed and
   * memory"), and only a request that must wait needs them.
   */
  tryTake(bytes: number): Release | undefined {
    return this.#waiting.length === 0 && this.#fits(bytes) ? this.#admit(bytes) : undefined
  }

  /**
   * Resolves once `bytes` fit beside what is in hand (or nothing else is in
   * hand, so that an item larger than the whole budget still goes), after
   * every take that waited before it.
   */
  take(bytes: number, { signal }: TakeOptions = {}): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    const now = this.tryTake(bytes)
    if (now !== undefined) return Promise.resolve(now)
    return new Promise<Release>((resolve, reject) => {
      const abandon = (): void => {
        const at = this.#waiting.indexOf(waiter)
        if (at < 0) return
        this.#waiting.splice(at, 1)
        // What waited behind it may fit now.
        this.#admitWaiting()
        reject(signal!.reason)
      }
      const waiter: Waiter = {
        bytes,
        admit: () => {
          signal?.removeEventListener('abort', abandon)
          resolve(this.#admit(bytes))
        }
      }
      this.#waiting.push(waiter)
      signal?.addEventListener('abort', abandon, { once: true })
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
