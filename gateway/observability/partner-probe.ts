// Does the partner gateway take this gateway's deliveries? Asked over the
// same mutual TLS client (this gateway's certificate, the partner's pinned
// one) that deliveries use, of a partner-only endpoint: the partner's
// /healthz needs no client certificate (docs/operators.md, "Metrics and health"), so it
// proved only that this gateway trusts the partner, never that the partner
// takes this gateway, and a partner that had revoked or never pinned this
// gateway's certificate refused every delivery while /readyz said ready. The
// witnessed checkpoint (GET /v1/witness/checkpoint) goes through the
// partner's caller identification and its partner role, as /v1/exchange
// does, and is one read (docs/architecture.md, "The verifiable ledger").
// The verdict is kept for a few seconds and shared by concurrent callers: a
// storm of readiness probes costs the partner one request. It is a verdict
// on one URL: once a trust reload moves the partner, the next probe asks the
// new one.
import { WITNESSED_CHECKPOINT_PATH } from '../audit/witness-client.ts'
import type { PostResult } from '../delivery/tls-client.ts'
import { problemCode } from '../lib/problem-code.ts'

/** What the partner is asked: answered only to the partner gateway's certificate, as deliveries are. */
export const PARTNER_PROBE_PATH = WITNESSED_CHECKPOINT_PATH

export interface PartnerProbeOptions {
  readonly client: { get(url: string): Promise<PostResult> }
  /** The partner's base URL in force now (configuration, else the trust store). */
  readonly partnerUrl: () => string
  /** The client's deadline, to name it when it passes. */
  readonly timeoutMs: number
  readonly cacheMs: number
}

/** `ok`, or why not. */
export type Verdict = 'ok' | string

function why(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`
  if (err instanceof Error) return err.message
  return String(err)
}

export class PartnerProbe {
  readonly #opts: PartnerProbeOptions
  #last: { readonly at: number; readonly url: string; readonly verdict: Verdict } | undefined
  #running: { readonly url: string; readonly verdict: Promise<Verdict> } | undefined

  constructor(opts: PartnerProbeOptions) {
    this.#opts = opts
  }

  check(): Promise<Verdict> {
    const url = new URL(PARTNER_PROBE_PATH, this.#opts.partnerUrl()).toString()
    const last = this.#last
    if (last !== undefined && last.url === url && Date.now() - last.at < this.#opts.cacheMs) return Promise.resolve(last.verdict)
    if (this.#running?.url === url) return this.#running.verdict
    const running = {
      url,
      verdict: this.#probe(url).then((verdict) => {
        this.#last = { at: Date.now(), url, verdict }
        if (this.#running === running) this.#running = undefined
        return verdict
      })
    }
    this.#running = running
    return running.verdict
  }

  async #probe(url: string): Promise<Verdict> {
    try {
      const res = await this.#opts.client.get(url)
      // 404: nothing of this ledger cosigned yet; the partner took the caller for its partner all the same.
      if (res.status === 200 || res.status === 404) return 'ok'
      if (res.status === 401 || res.status === 403) {
        const code = problemCode(res.body)
        return `the partner refuses this gateway's certificate: ${code === 'UNKNOWN' ? res.status : code}`
      }
      return `the partner gateway's ${PARTNER_PROBE_PATH} answered ${res.status}`
    } catch (err) {
      return `the partner gateway is unreachable: ${why(err, this.#opts.timeoutMs)}`
    }
  }
}
