// When a delivery that failed is tried again: BullMQ's exponential backoff
// (DELIVERY_BACKOFF_MS, doubled at each attempt), unless the far side said
// when to come back. A partner or an agency answering 429 or 503 with
// Retry-After (RFC 9110 §10.2.3) is not tried again before then, up to an
// hour: one that throttles loses nothing to dead letters while it asks for
// a pause, nor is pushed again meanwhile (docs/operators.md, "Configuration").
import type { BackoffStrategy } from 'bullmq'

/** The backoff type a delivery job names (queue/delivery-queues.ts), which deliveryBackoff computes. */
export const DELIVERY_BACKOFF = 'exponential-or-retry-after'

/** The longest pause a Retry-After is taken for: past it, the backoff's own schedule. */
export const RETRY_AFTER_MAX_MS = 3_600_000

/** The statuses whose Retry-After says when to come back (RFC 9110 §15.6.4, RFC 6585 §4). */
const ASKS_FOR_A_PAUSE: ReadonlySet<number> = new Set([429, 503])

/** A failed attempt whose answer said when to come back: `retryAfterMs` from now. */
export class RetryLaterError extends Error {
  readonly retryAfterMs: number
  constructor(message: string, retryAfterMs: number) {
    super(message)
    this.retryAfterMs = retryAfterMs
  }
}

/**
 * How long an answer of `status` with the header `retryAfter` asks to wait,
 * in ms, at most RETRY_AFTER_MAX_MS; undefined when it asks nothing readable
 * (delay-seconds, or an HTTP-date).
 */
export function retryAfterMs(status: number, retryAfter: string | undefined, now = Date.now()): number | undefined {
  if (!ASKS_FOR_A_PAUSE.has(status) || retryAfter === undefined) return undefined
  const value = retryAfter.trim()
  if (/^[0-9]{1,10}$/.test(value)) return Math.min(Number(value) * 1000, RETRY_AFTER_MAX_MS)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.min(Math.max(at - now, 0), RETRY_AFTER_MAX_MS)
}

/** The failure of an answer that was not the far side's acceptance: to be tried again after its Retry-After, if it gave one. */
export function retryableFailure(message: string, status: number, retryAfter: string | undefined): Error {
  const wait = retryAfterMs(status, retryAfter)
  return wait === undefined ? new Error(message) : new RetryLaterError(message, wait)
}

export const deliveryBackoff: BackoffStrategy = (attemptsMade, _type, err, job) => {
  const backoff = job?.opts.backoff
  const delay = typeof backoff === 'number' ? backoff : (backoff?.delay ?? 1000)
  const exponential = Math.round(2 ** (attemptsMade - 1) * delay)
  return err instanceof RetryLaterError ? Math.max(exponential, err.retryAfterMs) : exponential
}
