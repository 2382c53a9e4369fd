// Keep-alive mTLS connections to the partner gateway and to agency webhooks:
// handshakes (RSA certificates) are the expensive part, so they are rare.
// The TLS context (certificate, key, roots) is built once per client and
// shared by its connections: given as PEM texts, it was built again for each
// connection, so for every attempt to reconnect while the partner was down
// (test/tls-client-context.test.ts).
//
// undici is loaded with the first client (lib/lazy-packages.ts), and a
// client is made with the first request to its peer (TrustBoundClient): an
// app that never delivers or probes never loads it.
import { checkServerIdentity, createSecureContext, type PeerCertificate } from 'node:tls'
import type { Agent, Dispatcher } from 'undici'
import { sha256 } from '../lib/digest.ts'
import { undiciModule } from '../lib/lazy-packages.ts'
import { CIPHER_POLICY } from '../trust/tls-options.ts'

export interface PostResult {
  readonly status: number
  readonly contentType: string
  /** Its Retry-After header, when it has one (delivery/retry-after.ts). */
  readonly retryAfter?: string
  /** The answer's body; empty where `unread` says why it could not be read. */
  readonly body: string
  /**
   * Why the body of a 2xx answer could not be read whole (past
   * RESPONSE_MAX_BYTES, or past the time limit): the status stands all the
   * same, so an agency's 2xx is its answer whatever follows it. Any other
   * status whose body cannot be read is a failed request.
   */
  readonly unread?: string
}

/** What a delivery needs of a client: one POST, answered in full. */
export interface Poster {
  post(url: string, body: string | Uint8Array, contentType: string, headers?: Readonly<Record<string, string>>): Promise<PostResult>
}

/**
 * A request given up because the gateway is closing (docs/operators.md,
 * "Shutdown"): not the far side's failure, so a delivery that meets it spends
 * no attempt and goes back to the queue (delivery-outcome.ts).
 */
export class RequestAbandonedError extends Error {
  readonly code = 'REQUEST_ABANDONED'
  override readonly name = 'RequestAbandonedError'
}

export interface TlsClientOptions {
  readonly cert: string
  readonly key: string
  readonly ca: string
  /** Pinned thumbprints (base64url SHA-256 of the DER): the server certificate must have one of them. */
  readonly pinsSha256?: readonly string[]
  /** Thumbprints of revoked certificates: refused as a server whatever else holds, a pin included. */
  readonly revokedSha256?: ReadonlySet<string>
  readonly timeoutMs: number
}

/**
 * The largest answer read from the partner or an agency: a receipt, a
 * problem document, a cosignature or a JWKS is a few kilobytes. A peer that
 * sends more is cut off (undici's maxResponseSize), not buffered into the
 * heap of a process that holds 32 deliveries at once.
 */
export const RESPONSE_MAX_BYTES = 1024 * 1024

async function read(res: Dispatcher.ResponseData): Promise<PostResult> {
  const type = res.headers['content-type']
  const retryAfter = res.headers['retry-after']
  const answer = {
    status: res.statusCode,
    contentType: Array.isArray(type) ? (type[0] ?? '') : (type ?? ''),
    ...(typeof retryAfter === 'string' ? { retryAfter } : {})
  }
  try {
    return { ...answer, body: await res.body.text() }
  } catch (err) {
    if (res.statusCode < 200 || res.statusCode >= 300) throw err
    return { ...answer, body: '', unread: err instanceof Error ? err.message : String(err) }
  }
}

export class TlsClient implements Poster {
  readonly #agent: Agent
  readonly #request: typeof import('undici').request
  readonly #timeoutMs: number

  constructor(opts: TlsClientOptions) {
    this.#timeoutMs = opts.timeoutMs
    const { Agent, request } = undiciModule()
    this.#request = request
    this.#agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: 16,
      maxResponseSize: RESPONSE_MAX_BYTES,
      connect: {
        secureContext: createSecureContext({ cert: opts.cert, key: opts.key, ca: opts.ca, ...CIPHER_POLICY }),
        rejectUnauthorized: true,
        checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
          const thumbprint = sha256(cert.raw)
          if (opts.revokedSha256?.has(thumbprint) === true) return new Error('the server certificate is revoked')
          if (opts.pinsSha256 !== undefined) {
            return opts.pinsSha256.includes(thumbprint) ? undefined : new Error('the server certificate is not the pinned one')
          }
          return checkServerIdentity(host, cert)
        }
      }
    })
  }

  /**
   * The answer's headers within the timeout, and the whole exchange within
   * twice it: undici's bodyTimeout alone is the longest pause between two
   * pieces of the body, which a peer sending a byte at a time never reaches,
   * holding the delivery and its share of the budget for ever.
   */
  async post(url: string, body: string | Uint8Array, contentType: string, headers: Readonly<Record<string, string>> = {}): Promise<PostResult> {
    const res = await this.#request(url, {
      method: 'POST',
      body,
      headers: { ...headers, 'content-type': contentType },
      dispatcher: this.#agent,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      signal: AbortSignal.timeout(2 * this.#timeoutMs)
    })
    return read(res)
  }

  /**
   * A GET with one deadline for all of it, connecting included: a health probe
   * must answer fast or not at all, and may ask for a shorter deadline than
   * deliveries on the same connections.
   */
  async get(url: string, timeoutMs = this.#timeoutMs): Promise<PostResult> {
    return read(await this.#request(url, { method: 'GET', dispatcher: this.#agent, signal: AbortSignal.timeout(timeoutMs) }))
  }

  close(): Promise<void> {
    return this.#agent.close()
  }

  /** Ends every connection now, one still connecting included, where close() would wait for it to connect. */
  destroy(): Promise<void> {
    return this.#agent.destroy()
  }
}

/**
 * A TlsClient that follows the trust store in force: when a reload changes
 * the gateway's certificate, the roots or the pin, new requests go through a
 * new connection pool and the old one closes once its requests are done.
 */
export class TrustBoundClient<T extends object> implements Poster {
  readonly #current: () => T
  readonly #optionsFor: (trust: T) => TlsClientOptions
  #trust: T | undefined
  #material = ''
  #client: TlsClient | undefined
  /**
   * Aborted at the abandonment: every request under way, on the pool in
   * force or on one a reload replaced, is raced against it (#counted).
   * Destroying the pools instead would not reach one a reload was already
   * closing: undici's Agent forgets its connections when asked to close.
   */
  readonly #abandon = new AbortController()
  /** Requests under way, for the log line of an abandonment. */
  #inFlight = 0
  #abandonTimer: NodeJS.Timeout | undefined

  constructor(current: () => T, optionsFor: (trust: T) => TlsClientOptions) {
    this.#current = current
    this.#optionsFor = optionsFor
  }

  #clientNow(): TlsClient {
    this.#abandon.signal.throwIfAborted()
    const trust = this.#current()
    if (trust === this.#trust && this.#client !== undefined) return this.#client
    const opts = this.#optionsFor(trust)
    const material = [opts.cert, opts.key, opts.ca, ...(opts.pinsSha256 ?? []), '', ...[...(opts.revokedSha256 ?? [])].sort()].join('\0')
    if (material !== this.#material || this.#client === undefined) {
      const previous = this.#client
      this.#client = new TlsClient(opts)
      this.#material = material
      void previous?.close()
    }
    this.#trust = trust
    return this.#client
  }

  /**
   * A request, counted while under way, and ended for its caller by the
   * abandonment whatever undici does with it: an abort signal given to undici
   * ends a request that is written, but not one still waiting for its
   * connection (a peer that takes the TCP connection and never finishes the
   * TLS handshake holds it until undici's connect timeout, 10 s).
   */
  async #counted(request: () => Promise<PostResult>): Promise<PostResult> {
    const { signal } = this.#abandon
    const pending = request()
    this.#inFlight++
    let onAbort!: () => void
    const abandoned = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(signal.reason)
    })
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await Promise.race([pending, abandoned])
    } finally {
      signal.removeEventListener('abort', onAbort)
      // Abandoned, it may still end later, failed: nobody waits for it then.
      pending.catch(() => undefined)
      this.#inFlight--
    }
  }

  // Async, so that a client the trust store's material cannot make (its TLS
  // context is built here, on first use after a change) is a rejection like
  // any failed request, not a throw.
  async post(url: string, body: string | Uint8Array, contentType: string, headers?: Readonly<Record<string, string>>): Promise<PostResult> {
    return this.#counted(() => this.#clientNow().post(url, body, contentType, headers))
  }

  async get(url: string, timeoutMs?: number): Promise<PostResult> {
    return this.#counted(() => this.#clientNow().get(url, timeoutMs))
  }

  /**
   * The gateway is closing: whatever is still in flight after `ms` is
   * abandoned (RequestAbandonedError), so that those who wait for it, the
   * queue workers and the checkpointer, finish within the shutdown's bound
   * whatever the far side does. `onAbandon` hears how many were abandoned.
   */
  abandonAfter(ms: number, onAbandon?: (requests: number) => void): void {
    clearTimeout(this.#abandonTimer)
    this.#abandonTimer = setTimeout(() => {
      if (this.#inFlight > 0) onAbandon?.(this.#inFlight)
      this.#abandon.abort(new RequestAbandonedError('the gateway is closing: the request was abandoned'))
    }, ms)
    this.#abandonTimer.unref()
  }

  async close(): Promise<void> {
    clearTimeout(this.#abandonTimer)
    if (this.#abandon.signal.aborted) {
      // A pool may still be connecting to a peer that never answers (a
      // paused container takes the connection and never finishes the TLS
      // handshake): closing would wait for that, up to undici's connect
      // timeout, past the shutdown's bound. Nothing on the pool is wanted now.
      await this.#client?.destroy()
    } else {
      await this.#client?.close()
    }
    this.#client = undefined
  }
}
