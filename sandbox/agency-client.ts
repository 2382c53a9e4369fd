// An agency system's side of the contract, as an integrator would write it:
// mTLS, a certificate-bound token, messages signed with the system's own key.
// The mock agencies, the sandbox traffic, the tests and the benchmarks use it.
import { randomUUID, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSecureContext } from 'node:tls'
import { CompactSign } from 'jose'
import type { Agent } from 'undici'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'

export interface AgencyCredentials {
  readonly country: 'CA' | 'US'
  readonly agency: string
  readonly system: string
  readonly cert: string
  readonly key: string
  /** The root that issued the gateway's certificate (the country's CA). */
  readonly ca: string
  readonly signingKey: KeyObject
  readonly kid: string
  readonly alg: 'ES256' | 'EdDSA'
}

/** Reads `keys-example/<C>/agencies/<AGENCY>-<system>/` (the layout the PKI script writes). */
export function loadAgencyCredentials(keysDir: string, country: 'CA' | 'US', agency: string, system: string): AgencyCredentials {
  const dir = join(keysDir, country, 'agencies', `${agency}-${system}`)
  const jwk = JSON.parse(readFileSync(join(dir, 'signing.private.jwk.json'), 'utf8')) as { kid: string; alg: 'ES256' | 'EdDSA' }
  return {
    country,
    agency,
    system,
    cert: readFileSync(join(dir, 'client.crt.pem'), 'utf8'),
    key: readFileSync(join(dir, 'client.key.pem'), 'utf8'),
    ca: readFileSync(join(keysDir, country, 'ca.crt.pem'), 'utf8'),
    signingKey: createPrivateKey({ key: jwk as never, format: 'jwk' }),
    kid: jwk.kid,
    alg: jwk.alg
  }
}

export interface HttpResult {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  json<T = Record<string, unknown>>(): T
}

/** The gateway would not issue a token (the body is its problem document). */
export class TokenRefusedError extends Error {
  readonly code = 'TOKEN_REFUSED'
  readonly status: number

  constructor(status: number, body: string) {
    super(`token refused: ${status} ${body}`)
    this.status = status
  }
}

export class AgencyClient {
  readonly creds: AgencyCredentials
  readonly baseUrl: string
  readonly #agent: Agent
  readonly #request: typeof import('undici').request
  #token: { value: string; expires: number } | undefined
  #tokenRequest: Promise<string> | undefined

  constructor(creds: AgencyCredentials, baseUrl: string, opts: { connections?: number } = {}) {
    this.creds = creds
    this.baseUrl = baseUrl
    // undici is loaded with the first client (gateway/lib/lazy-packages.ts).
    const { Agent, request } = undiciModule()
    this.#request = request
    this.#agent = new Agent({
      connections: opts.connections ?? 8,
      keepAliveTimeout: 30_000,
      // One TLS context for all its connections, as the gateway's own client (gateway/delivery/tls-client.ts).
      connect: { secureContext: createSecureContext({ cert: creds.cert, key: creds.key, ca: creds.ca }) }
    })
  }

  async call(method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): Promise<HttpResult> {
    const res = await this.#request(new URL(path, this.baseUrl), { method, body, headers, dispatcher: this.#agent })
    const text = await res.body.text()
    return {
      status: res.statusCode,
      headers: res.headers,
      body: text,
      json: <T>() => JSON.parse(text) as T
    }
  }

  /** The cached token, renewed 30 s before it expires; concurrent callers share one renewal. */
  async token(): Promise<string> {
    if (this.#token !== undefined && this.#token.expires > Date.now() + 30_000) return this.#token.value
    this.#tokenRequest ??= this.#fetchToken().finally(() => {
      this.#tokenRequest = undefined
    })
    return this.#tokenRequest
  }

  /** Drops the cached token, so the next call fetches another (after a 401: the gateway may have restarted with a new key). */
  forgetToken(): void {
    this.#token = undefined
  }

  async #fetchToken(): Promise<string> {
    const res = await this.call('POST', '/v1/token', 'grant_type=client_credentials', { 'content-type': 'application/x-www-form-urlencoded' })
    if (res.status !== 200) throw new TokenRefusedError(res.status, res.body)
    const { access_token: value, expires_in: ttl } = res.json<{ access_token: string; expires_in: number }>()
    this.#token = { value, expires: Date.now() + ttl * 1000 }
    return value
  }

  /** Fills in id, from, createdAt and schemaVersion where missing. */
  envelope(fields: Record<string, unknown>): Record<string, unknown> {
    return {
      id: randomUUID(),
      schemaVersion: '1.0',
      createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ...fields,
      from: { country: this.creds.country, agency: this.creds.agency, system: this.creds.system }
    }
  }

  sign(envelope: unknown, header: Record<string, unknown> = {}): Promise<string> {
    return new CompactSign(new TextEncoder().encode(JSON.stringify(envelope)))
      .setProtectedHeader({ alg: this.creds.alg, kid: this.creds.kid, typ: 'btb-envelope+jws', ...header })
      .sign(this.creds.signingKey)
  }

  async submit(jws: string, contentType = 'application/jose'): Promise<HttpResult> {
    return this.call('POST', '/v1/messages', jws, { 'content-type': contentType, authorization: `Bearer ${await this.token()}` })
  }

  async status(id: string): Promise<HttpResult> {
    return this.call('GET', `/v1/messages/${id}`, undefined, { authorization: `Bearer ${await this.token()}` })
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}
