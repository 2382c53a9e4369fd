// Is the partner gateway there? Asked of its /healthz over the same mutual
// TLS (this gateway's certificate, the partner's pinned one) that deliveries
// use. The verdict is kept for a few seconds and shared by concurrent
// callers: a storm of readiness probes costs the partner one request. It is a
// verdict on one URL: once a trust reload moves the partner, the next probe
// asks the new one.
import type { PostResult } from '../delivery/tls-client.ts'

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
    const url = new URL('/healthz', this.#opts.partnerUrl()).toString()
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
      return res.status === 200 ? 'ok' : `the partner gateway's /healthz answered ${res.status}`
    } catch (err) {
      return `the partner gateway is unreachable: ${why(err, this.#opts.timeoutMs)}`
    }
  }
}
