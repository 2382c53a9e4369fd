// One signed message submitted until the gateway gives an answer that will not
// change: the bulk loader (bulk-load.ts) and the fault harness (faults/load.ts)
// both submit through it, so that both ride out a restart the same way.
import { TokenRefusedError, type AgencyClient } from './agency-client.ts'

export interface SubmitRetryOptions {
  /** How long to go on retrying an unanswered or 503/429 submission. */
  readonly retryForMs: number
  /** Called before each try (the fault harness counts them). */
  readonly onTry?: () => void
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export type SubmitOutcome = { readonly status: 'accepted' } | { readonly status: 'refused' | 'failed'; readonly code: string }

function problemCode(body: string, status: number): string {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code
    if (typeof code === 'string' && code !== '') return code
  } catch {
    /* not a problem document */
  }
  return `HTTP_${status}`
}

/** The longest pause between two tries of one message. */
const BACKOFF_MAX_MS = 5_000

/**
 * Submits one signed message. The same bytes may be sent again safely (the
 * gateway answers a repeat with 200), so a lost connection, a 503, a 429 or a 408 is
 * retried with backoff (exponential, capped, with jitter so that the requests
 * in flight do not all come back at once) for up to `retryForMs`: long enough
 * to ride out a gateway restart. A 401 gets one retry with a fresh token (the
 * gateway may have restarted and forgotten the old one). Anything else is the
 * answer.
 */
export async function submitWithRetry(client: AgencyClient, jws: string, { retryForMs, onTry }: SubmitRetryOptions): Promise<SubmitOutcome> {
  let renewed = false
  let lastCode = 'NETWORK_ERROR'
  const giveUpAt = Date.now() + retryForMs
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) {
      const pause = Math.min(BACKOFF_MAX_MS, 100 * 2 ** attempt) * (0.5 + Math.random() / 2)
      if (Date.now() + pause > giveUpAt) break
      await sleep(pause)
    }
    onTry?.()
    let res
    try {
      res = await client.submit(jws)
    } catch (err) {
      if (err instanceof TokenRefusedError) {
        if (err.status !== 503 && err.status !== 429) return { status: 'failed', code: 'TOKEN_REFUSED' }
        lastCode = 'TOKEN_REFUSED'
        continue
      }
      lastCode = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'NETWORK_ERROR'
      continue
    }
    if (res.status === 202 || res.status === 200) return { status: 'accepted' }
    const code = problemCode(res.body, res.status)
    if (res.status === 401 && !renewed) {
      renewed = true
      client.forgetToken()
      attempt--
      continue
    }
    // 408 too: the gateway answers it to a submission that waited for room while it was busy (its intake budget).
    if (res.status === 503 || res.status === 429 || res.status === 408) {
      lastCode = code
      continue
    }
    return { status: res.status >= 500 ? 'failed' : 'refused', code }
  }
  return { status: 'failed', code: lastCode }
}
