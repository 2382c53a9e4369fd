// Real mutual TLS to the gateway, as its clients use it: one undici Agent per
// identity (keep-alive, several connections, so many requests are in flight at
// once), a certificate-bound token per identity that gets one, and for broken
// framing a raw TLS socket per request, since no HTTP client will write it.
import { connect, type TLSSocket } from 'node:tls'
import { Agent } from 'undici'
import type { Identities, IdentityName } from './identities.ts'
import type { WireRequest } from './materialize.ts'

export interface WireResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

/** The request never got an answer (reset, timeout), or the client refused to send it. */
export class NoAnswer extends Error {
  readonly clientSide: boolean
  constructor(message: string, clientSide: boolean) {
    super(message)
    this.clientSide = clientSide
  }
}

const REQUEST_TIMEOUT_MS = 30_000
const RAW_TIMEOUT_MS = 10_000

export class Transport {
  readonly #identities: Identities
  readonly #origin: string
  readonly #host: string
  readonly #port: number
  readonly #connections: number
  readonly #agents = new Map<IdentityName, Agent>()
  readonly #tokens = new Map<IdentityName, { value: string; expires: number }>()
  readonly #sessions = new Map<IdentityName, Buffer>()

  constructor(identities: Identities, baseUrl: string, connections = 8) {
    this.#identities = identities
    const url = new URL(baseUrl)
    this.#origin = url.origin
    this.#host = url.hostname
    this.#port = Number(url.port)
    this.#connections = connections
  }

  get host(): string {
    return `${this.#host}:${this.#port}`
  }

  #agent(name: IdentityName): Agent {
    let agent = this.#agents.get(name)
    if (agent === undefined) {
      const id = this.#identities.byName[name]
      agent = new Agent({
        connections: this.#connections,
        keepAliveTimeout: 30_000,
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
        connect: { ca: id.ca, ...(id.cert === undefined ? {} : { cert: id.cert, key: id.key }) }
      })
      this.#agents.set(name, agent)
    }
    return agent
  }

  token(name: IdentityName): string | undefined {
    return this.#tokens.get(name)?.value
  }

  /** Tokens for every identity that gets one, renewed a minute before they expire. */
  async refreshTokens(force = false): Promise<void> {
    for (const id of Object.values(this.#identities.byName)) {
      if (!id.getsToken) continue
      const held = this.#tokens.get(id.name)
      if (!force && held !== undefined && held.expires > Date.now() + 60_000) continue
      const res = await this.send({ identity: id.name, method: 'POST', path: '/v1/token', headers: {} })
      if (res.status !== 200) throw new Error(`no token for ${id.name}: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`)
      const { access_token: value, expires_in: ttl } = JSON.parse(res.body.toString('utf8')) as { access_token: string; expires_in: number }
      this.#tokens.set(id.name, { value, expires: Date.now() + ttl * 1000 })
    }
  }

  async send(req: WireRequest): Promise<WireResponse> {
    if (req.raw !== undefined) return this.#sendRaw(req.identity, req.raw)
    let res
    try {
      res = await this.#agent(req.identity).request({
        origin: this.#origin,
        path: req.path,
        method: req.method as 'GET',
        headers: req.headers,
        ...(req.body === undefined ? {} : { body: req.body })
      })
    } catch (err) {
      const e = err as { code?: string; message: string }
      // undici checks a request before sending it; those are the generator's inputs undici will not write, not answers.
      const clientSide = e.code === 'UND_ERR_INVALID_ARG' || e.code === 'UND_ERR_NOT_SUPPORTED'
      throw new NoAnswer(`${e.code ?? 'ERROR'}: ${e.message}`, clientSide)
    }
    let body: Buffer
    try {
      body = Buffer.from(await res.body.arrayBuffer())
    } catch (err) {
      throw new NoAnswer(`body: ${(err as Error).message}`, false)
    }
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v
    return { status: res.statusCode, headers, body }
  }

  /** One request on its own TLS connection, read until the server closes it. */
  #sendRaw(name: IdentityName, raw: string): Promise<WireResponse> {
    const id = this.#identities.byName[name]
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      const session = this.#sessions.get(name)
      const socket: TLSSocket = connect({
        host: this.#host,
        port: this.#port,
        ca: id.ca,
        ...(id.cert === undefined ? {} : { cert: id.cert, key: id.key }),
        ...(session === undefined ? {} : { session })
      })
      socket.on('session', (s: Buffer) => this.#sessions.set(name, s))
      // The request is written and the connection left open, as a client does; only if nothing comes back is
      // the write side closed, for a server that waits for more of a request that will never come.
      const halfClose = setTimeout(() => socket.end(), RAW_TIMEOUT_MS / 2)
      const timer = setTimeout(() => {
        socket.destroy()
        finish(new NoAnswer(`no answer within ${RAW_TIMEOUT_MS} ms, even after the client closed its side at ${RAW_TIMEOUT_MS / 2} ms`, false))
      }, RAW_TIMEOUT_MS)
      let done = false
      const finish = (err?: Error) => {
        if (done) return
        done = true
        clearTimeout(timer)
        clearTimeout(halfClose)
        const bytes = Buffer.concat(chunks)
        if (bytes.length === 0) return reject(err ?? new NoAnswer('the connection closed without an answer', false))
        try {
          resolve(parseRawResponse(bytes))
        } catch (e) {
          reject(new NoAnswer(`unreadable answer: ${(e as Error).message}: ${JSON.stringify(bytes.toString('latin1').slice(0, 120))}`, false))
        }
      }
      socket.once('secureConnect', () => socket.write(Buffer.from(raw, 'latin1')))
      socket.on('data', (d: Buffer) => chunks.push(d))
      socket.on('end', () => finish())
      socket.on('close', () => finish())
      socket.on('error', (err) => finish(new NoAnswer(err.message, false)))
    })
  }

  async close(): Promise<void> {
    await Promise.all([...this.#agents.values()].map((a) => a.close()))
  }
}

/** The final answer in an HTTP/1.1 byte stream (1xx interim answers skipped), its body by Content-Length, chunks or close. */
export function parseRawResponse(bytes: Buffer): WireResponse {
  let rest = bytes
  for (;;) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) throw new Error('no complete head')
    const head = rest.subarray(0, end).toString('latin1').split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')
    if (m === null) throw new Error(`no status line: ${head[0]}`)
    const status = Number(m[1])
    const headers: Record<string, string> = {}
    for (const line of head.slice(1)) {
      const i = line.indexOf(':')
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
    }
    let body = rest.subarray(end + 4)
    if (status >= 100 && status < 200) {
      rest = body
      continue
    }
    if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) body = dechunk(body)
    else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']))
    return { status, headers, body }
  }
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = data.indexOf('\r\n', at)
    if (eol < 0) break
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16)
    if (!Number.isFinite(size) || size === 0) break
    out.push(data.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
  return Buffer.concat(out)
}
