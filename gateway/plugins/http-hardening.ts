// HTTP/1.1 below the routes. What Node's parser refuses, what times out and
// what a route never sees is still answered with an RFC 9457 problem document,
// and a message whose framing is in doubt is never acted on: a front proxy and
// this gateway that disagree on where a request ends are how requests are
// smuggled (RFC 9112 §6.3, §11.2).
//
// Two halves: httpHardeningOptions() is spread into the Fastify constructor
// (the listener's options and the handler for what Node's parser refuses),
// httpHardening is the plugin with the hooks, registered first.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ExpectationFailedError, HeadersTooLargeError, HttpInvalidError, RequestTimeoutError, UnsupportedMediaTypeError } from '../errors.ts'
import { echo } from '../lib/echo.ts'
import { problemDocument, problemFor, requestInstance } from './problem-details.ts'

// Taken from the module itself, not through an import: importing node:http
// as an ES module reads every one of its exports, and its WebSocket getter
// loads Node's own copy of undici: about 16 ms of CPU and 2 MB in every
// gateway, for a value the gateway never uses (docs/architecture.md, "What
// only compiling, or a request, needs").
const { STATUS_CODES } = process.getBuiltinModule('node:http')

export interface HttpTimeouts {
  /** The whole header section (Node's headersTimeout). */
  readonly headersMs: number
  /** The whole request, headers and body (Node's requestTimeout). */
  readonly requestMs: number
  /** Socket inactivity at any point of an exchange (Fastify's connectionTimeout). */
  readonly idleMs: number
  /** How often Node looks for requests past headersMs or requestMs. */
  readonly checkEveryMs: number
  /** The TLS handshake, from the TCP connection on (Node's handshakeTimeout). */
  readonly handshakeMs: number
  /**
   * How long a request may wait, its body unread, for room in the intake
   * byte budget (plugins/intake-budget.ts). A body already in the socket is
   * no longer watched by requestMs, so the wait has a deadline of its own.
   */
  readonly roomWaitMs: number
}

/**
 * A client that holds a connection open without finishing its request holds a
 * parser, a socket and a TLS session (slowloris for headers, R-U-Dead-Yet for
 * bodies). Headers are at most MAX_HEADER_BYTES: 10 s is generous on any
 * link. A body is at most the body limit (8 MiB): 30 s asks for ~280 kB/s.
 * The idle limit also ends responses the client stops reading (slow read).
 * It is longer than the request limit, so a slow request is answered 408
 * rather than cut without a word, and longer than a handler stays silent:
 * partner calls are bounded by DELIVERY_TIMEOUT_MS (10 s by default), but
 * GET /v1/audit/verification reads the whole ledger before it answers.
 * Node checks the first two only every checkEveryMs (30 s by default, which
 * would let a 10 s limit run to 40 s). A TLS handshake is a few small
 * messages: 10 s, where Node's default of 120 s let a peer that stopped
 * mid-handshake hold a socket, and a closing gateway, for two minutes. A
 * request that waits for room in the intake budget waits no longer than a
 * whole request may take.
 */
export const HTTP_TIMEOUTS: HttpTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  idleMs: 120_000,
  checkEveryMs: 1_000,
  handshakeMs: 10_000,
  roomWaitMs: 30_000
}

/** Node's default, stated: what is larger is refused 431 (RFC 6585 §5). */
export const MAX_HEADER_BYTES = 16 * 1024

/**
 * A refused request whose body is still arriving is read and discarded before
 * the answer and the close, at most this long and twice its body limit: a
 * socket closed with unread data sends a TCP reset, and the reset destroys
 * the answer in the client's receive buffer before it is read (RFC 9112 §9.6).
 */
const DRAIN_MS = 5_000
/** After a raw refusal, how long the client has to read it and hang up before the socket is destroyed. */
const LINGER_MS = 2_000

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8'

// What the clientErrorHandler (Node's side) must know of Fastify's side.
/** The last request read on each connection. */
const latestRequest = new WeakMap<Socket, IncomingMessage>()
/** The Fastify reply of each request, to stop a request whose framing broke. */
const replies = new WeakMap<IncomingMessage, FastifyReply>()
/** Requests whose onRequest hooks all passed: Fastify reads their body. */
const parsing = new WeakSet<IncomingMessage>()
/** Requests Fastify has an answer for (onSend reached). */
const responding = new WeakSet<IncomingMessage>()
/** Requests whose body Node's parser refused or gave up on: never drained. */
const broken = new WeakSet<IncomingMessage>()
/** Ends the drain of a request whose answer waits in onSend. */
const drains = new WeakMap<IncomingMessage, () => void>()
/** Connections with a client error being answered: Node may report more. */
const refusedSockets = new WeakSet<Socket>()
/** Connections answered with Connection: close: no request read after that is acted on (RFC 9112 §9.6). */
const closingSockets = new WeakSet<Socket>()
/** Requests whose Expect Node does not understand (its 'checkExpectation' event). */
const expectationFailed = new WeakSet<IncomingMessage>()

/** Requests whose client waits for 100 Continue before it sends the body (Node's 'checkContinue' event). */
const awaitingContinue = new WeakSet<IncomingMessage>()

/**
 * Tells a client that waits with its body (Expect: 100-continue) to send it,
 * once: called when the body is wanted, after what is checked before it is
 * read (the caller, the token, the media type, room in the intake budget:
 * plugins/intake-budget.ts). A request refused before gets its refusal
 * instead, and the client never sends the body (RFC 9110 §10.1.1).
 */
export function continueIfAwaited(request: FastifyRequest, reply: FastifyReply): void {
  // A body declared over the route's limit is refused unread (Fastify's 413),
  // so it is not wanted either (docs/integrators.md, "Error codes").
  if (declaredTooLarge(request)) return
  if (awaitingContinue.delete(request.raw)) reply.raw.writeContinue()
}

function declaredTooLarge(request: FastifyRequest): boolean {
  return Number(request.headers['content-length']) > request.routeOptions.bodyLimit
}

interface Refusal {
  readonly code: string
  readonly status: number
  readonly detail: string
  readonly error: FastifyError
}

function refusal(error: FastifyError): Refusal {
  return { ...problemFor(error), error }
}

/** Node's parser errors (llhttp, HPE_*) and its request timeouts; undefined for TLS and socket errors. */
function refusalForClientError(err: { code?: string; reason?: string }, timeouts: HttpTimeouts): Refusal | undefined {
  if (err.code === 'HPE_HEADER_OVERFLOW') return refusal(new HeadersTooLargeError(MAX_HEADER_BYTES))
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return refusal(new RequestTimeoutError(`the headers must arrive within ${timeouts.headersMs} ms and the whole request within ${timeouts.requestMs} ms`))
  }
  if (typeof err.code === 'string' && err.code.startsWith('HPE_')) {
    // llhttp's reason is a fixed phrase ("Invalid header value char"), never request bytes.
    return refusal(new HttpInvalidError(typeof err.reason === 'string' && err.reason !== '' ? err.reason : err.code))
  }
  return undefined
}

/** The response Node is writing on a connection; the next one queued takes its place when it finishes. */
function inFlight(socket: Socket): ServerResponse | null {
  // Node's own handler for client errors reads the same field (lib/_http_server.js, socketOnError).
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? null
}

function writeProblem(socket: Socket, r: Refusal, instance: string): void {
  if (socket.destroyed || !socket.writable || socket.writableEnded) return
  const body = JSON.stringify(problemDocument({ code: r.code, status: r.status, detail: r.detail, instance }))
  socket.end(
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\n` +
      `Date: ${new Date().toUTCString()}\r\n` +
      `Content-Type: ${PROBLEM_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body
  )
}

/** Ends the connection once what is written has gone; destroys it if the client does not hang up in time. */
function closeSoon(socket: Socket): void {
  if (socket.destroyed) return
  if (!socket.writableEnded) socket.end()
  const timer = setTimeout(() => socket.destroy(), LINGER_MS)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}

function onceDone(res: ServerResponse, then: () => void): void {
  let called = false
  const once = (): void => {
    if (called) return
    called = true
    res.off('finish', once)
    res.off('close', once)
    then()
  }
  res.once('finish', once)
  res.once('close', once)
}

/**
 * Answers a client error on a connection. Responses go out in the order of
 * their requests (RFC 9112 §9.3.2): those already read are answered first,
 * then the refusal, then the connection is closed, since nothing after an
 * unparseable message can be framed (RFC 9112 §11.2). Gives back what the
 * log may name of the failed request: the pattern of the route it reached,
 * as any request is logged (observability/request-log.ts), never the target
 * the client wrote, whose path or query may hold a traveller's name.
 */
function answerClientError(socket: Socket, r: Refusal): string {
  const latest = latestRequest.get(socket)
  const failed = latest !== undefined && !latest.complete ? latest : undefined
  // The instance every refusal has (plugins/problem-details.ts,
  // requestInstance): the route's pattern, not the path the client wrote.
  // Where no request was read (headers over the limit, a request line that
  // does not parse), there is no path to give: the empty reference, which
  // resolves to the request's own URI (RFC 3986 §4.4; RFC 9457 §3.1).
  const request = failed === undefined ? undefined : replies.get(failed)?.request
  const instance = request !== undefined ? requestInstance(request) : (failed?.url ?? '')
  const route = failed === undefined ? '(no request)' : (replies.get(failed)?.request.routeOptions?.url ?? '(no route)')
  if (failed !== undefined) {
    broken.add(failed)
    if (responding.has(failed)) {
      // Fastify already has an answer for it (a 413, say) and waits for the body: it never comes.
      drains.get(failed)?.()
    } else if (parsing.has(failed) && failed.listenerCount('error') > 0) {
      // Its caller passed every check and Fastify is reading the body: the
      // body fails, and Fastify answers with this refusal (audited like any other).
      failed.emit('error', r.error)
      responding.add(failed)
    } else {
      // Nothing about a message whose framing broke is acted on: not its
      // token, not its caller, not the ledger.
      replies.get(failed)?.hijack()
    }
  }
  const step = (): void => {
    if (socket.destroyed) return
    const res = inFlight(socket)
    if (res === null) {
      // Everything read has been answered (the failed request too, if there is one).
      if (failed === undefined) writeProblem(socket, r, instance)
      closeSoon(socket)
      return
    }
    if (res.req !== failed || responding.has(failed)) {
      onceDone(res, step)
      return
    }
    if (!res.headersSent) writeProblem(socket, r, instance)
    closeSoon(socket)
  }
  step()
  return route
}

/** Reads and discards what is left of a request body, bounded in bytes and time. */
function drain(req: IncomingMessage, maxBytes: number, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    let bytes = 0
    const done = (): void => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', done)
      req.off('close', done)
      req.off('error', done)
      drains.delete(req)
      resolve()
    }
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length
      if (bytes > maxBytes) done()
    }
    const timer = setTimeout(done, maxMs)
    timer.unref()
    req.on('data', onData)
    req.once('end', done)
    req.once('close', done)
    req.once('error', done)
    drains.set(req, done)
    req.resume()
  })
}

function headerLines(rawHeaders: readonly string[], name: string): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) count++
  return count
}

/** Refusals of a request whose headers Node parsed but this gateway will not act on. */
function headerRefusal(request: FastifyRequest): { error: FastifyError; close: boolean } | undefined {
  const raw = request.raw
  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any with more than one.
  const hosts = headerLines(raw.rawHeaders, 'host')
  if (hosts > 1) return { error: new HttpInvalidError('more than one Host header field (RFC 9112 §3.2)'), close: true }
  if (hosts === 0 && raw.httpVersionMajor === 1 && raw.httpVersionMinor >= 1) {
    return { error: new HttpInvalidError('an HTTP/1.1 request must carry a Host header field (RFC 9112 §3.2)'), close: true }
  }
  // Node frames a body by chunked whenever chunked is the final coding, and
  // hands on whatever codings come before it undecoded: `gzip, chunked` would
  // reach a parser as compressed bytes, and a proxy that reads codings
  // differently would see another message. RFC 9112 §6.1 lets a server refuse
  // a transfer coding it does not understand; only chunked alone is understood.
  const te = raw.headers['transfer-encoding']
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    return { error: new HttpInvalidError(`Transfer-Encoding ${echo(te)}: only chunked, alone, is accepted (RFC 9112 §6.1)`), close: true }
  }
  if (expectationFailed.has(raw)) {
    // RFC 9110 §10.1.1: an expectation other than 100-continue may be refused with 417.
    return { error: new ExpectationFailedError(echo(raw.headers.expect ?? '')), close: false }
  }
  // Bodies are read as sent: a content coding would be decoded by nobody, or
  // by a decompressor fed by the client (a compression bomb). RFC 9110 §15.5.16.
  const ce = raw.headers['content-encoding']
  if (ce?.split(',').some((coding) => !['', 'identity'].includes(coding.trim().toLowerCase()))) {
    return {
      error: new UnsupportedMediaTypeError(`Content-Encoding ${echo(ce)}: bodies are accepted only as sent, without a content coding (RFC 9110 §8.4)`),
      close: false
    }
  }
  return undefined
}

/**
 * What a close does to the listener's connections, so that none holds it
 * back (docs/operators.md, "Shutdown"):
 * - On close, Fastify ends idle keep-alive connections, but one busy with a
 *   request would stay open after its answer for keepAliveTimeout (65 s),
 *   holding back the close and so the workers' shutdown: what is answered
 *   while closing ends its connection.
 * - A connection still in its TLS handshake is no HTTP connection yet:
 *   neither of those reaches it, and the listener's close waits for it, up to
 *   the handshake timeout (test/http-hardening.test.ts: 10 s without this,
 *   7 ms with it). A peer that stopped or froze mid-handshake, such as a
 *   partner gateway stopped while it connected, leaves one. On close they
 *   are ended, and a connection that arrives while closing is not started.
 *   A raw socket and the TLS socket made of it share their peer's address
 *   and port: what names it here.
 */
function releaseConnectionsOnClose(app: FastifyInstance): void {
  const handshaking = new Map<string, Socket>()
  const peer = (socket: Socket): string => `${socket.remoteAddress}|${socket.remotePort}`
  let closing = false
  app.server.on('connection', (socket: Socket) => {
    if (closing) {
      socket.destroy()
      return
    }
    const key = peer(socket)
    handshaking.set(key, socket)
    socket.once('close', () => {
      if (handshaking.get(key) === socket) handshaking.delete(key)
    })
  })
  app.server.on('secureConnection', (socket: Socket) => {
    handshaking.delete(peer(socket))
  })
  app.addHook('preClose', function endHandshakes(done) {
    closing = true
    for (const socket of handshaking.values()) socket.destroy()
    handshaking.clear()
    done()
  })
  // Before drainBeforeClosing (below), which reads the header to know the connection ends.
  app.addHook('onSend', function closeAfterAnswer(_request, reply, payload, done) {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}

/** Fastify constructor options: the TLS listener's, with the HTTP/1.1 limits and the handlers for what never reaches a route. */
export function httpHardeningOptions<T extends object>(tls: T, timeouts: Partial<HttpTimeouts> = {}) {
  const limits: HttpTimeouts = { ...HTTP_TIMEOUTS, ...timeouts }
  return {
    // These reach https.createServer, which takes http.createServer's options too.
    https: {
      ...tls,
      // Node answers a missing Host with an empty 400; the onRequest hook answers it with a problem document.
      requireHostHeader: false,
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: limits.headersMs,
      requestTimeout: limits.requestMs,
      connectionsCheckingInterval: limits.checkEveryMs,
      handshakeTimeout: limits.handshakeMs
    },
    // Fastify sets these on the server after creating it (its defaults: none at all).
    requestTimeout: limits.requestMs,
    connectionTimeout: limits.idleMs,
    /** What Node's parser refuses, and requests past their time: answered on the socket, as nothing reached Fastify. */
    clientErrorHandler(this: FastifyInstance, err: Error & { code?: string; reason?: string }, socket: Socket): void {
      if (refusedSockets.has(socket)) return
      const r = refusalForClientError(err, limits)
      if (r === undefined) {
        // A failed TLS handshake or a reset: no HTTP was spoken, there is no one to answer.
        this.log.debug({ reason: err.code }, 'client connection error')
        socket.destroy()
        return
      }
      refusedSockets.add(socket)
      // info, not error: the client's mistake, not the gateway's. Never the
      // error object itself: it carries the raw bytes of the request.
      const route = answerClientError(socket, r)
      this.log.info({ code: r.code, status: r.status, reason: err.code, url: route }, 'request refused before routing')
    },
    /** The router's own refusals (a path parameter over maxParamLength, a bad percent-encoding), before any hook. */
    frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
      const { code, status, detail } = problemFor(error)
      const said =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? `a path parameter is longer than ${request.server.initialConfig.maxParamLength ?? 100} characters`
          : error.code === 'FST_ERR_BAD_URL'
            ? 'the path is not a valid URL'
            : detail
      if (status >= 500) request.log.error({ err: error }, 'request failed')
      else request.log.info({ code }, 'request refused')
      reply
        .code(status)
        .type(PROBLEM_TYPE)
        .send(problemDocument({ code, status, detail: said, instance: requestInstance(request) }))
    }
  }
}

export const httpHardening = fp(
  async function httpHardening(app: FastifyInstance) {
    releaseConnectionsOnClose(app)

    // Node answers an Expect it does not understand with an empty 417; this
    // routes the request to Fastify instead, where onRequest refuses it.
    app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      expectationFailed.add(req)
      app.routing(req, res)
    })
    // Node answers 100-continue at once, before any check: a client with no
    // certificate the gateway knows, or no token, was told to send megabytes
    // it would only be refused for. It is answered once the body is wanted
    // (continueIfAwaited).
    app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      awaitingContinue.add(req)
      app.routing(req, res)
    })

    // Once answered, a request is no longer what a client error on its
    // connection could be about (answerClientError takes only one still being
    // read). Forgotten here, it is not held, with its body, until the next
    // request on a kept-alive connection: the partner keeps up to 32 open, and
    // their last batches were tens of megabytes of an idle gateway's heap
    // (docs/operators.md, "Sizing").
    app.addHook('onResponse', function forgetRequest(request, _reply, done) {
      const raw = request.raw
      if (raw.socket !== null && latestRequest.get(raw.socket) === raw) latestRequest.delete(raw.socket)
      replies.delete(raw)
      done()
    })

    // The first onRequest hook of every route. It runs as Node emits the
    // request, before the parser reads on, so a client error in what follows
    // on the connection finds the request here.
    app.addHook('onRequest', function refuseHeaders(request, reply, done) {
      const raw = request.raw
      const socket = raw.socket
      latestRequest.set(socket, raw)
      replies.set(raw, reply)
      if (closingSockets.has(socket)) {
        // Pipelined behind a response that closes the connection: never answered, so never acted on.
        request.log.debug('request after Connection: close ignored')
        reply.hijack()
        return done()
      }
      const refused = headerRefusal(request)
      if (refused !== undefined) {
        // A request that might be framed differently by someone else is the last one read on its connection.
        if (refused.close) {
          reply.header('connection', 'close')
          closingSockets.add(socket)
        }
        return done(refused.error)
      }
      // Node drains the promise queue after each of its parser's callbacks, so the
      // other hooks (the caller, the token, refusals that are audited) could
      // act on a request whose body, already in hand, turns out to be
      // unparseable. They wait until Node has parsed what it has read: a
      // client error then stops the request here (answerClientError).
      if (!raw.complete && (raw.headers['transfer-encoding'] !== undefined || (raw.headers['content-length'] ?? '0') !== '0')) {
        setImmediate(done)
        return
      }
      done()
    })

    app.addHook('preParsing', function markParsing(request, _reply, payload, done) {
      parsing.add(request.raw)
      done(null, payload)
    })

    app.addHook('onSend', function drainBeforeClosing(request, reply, payload, done) {
      const raw = request.raw
      responding.add(raw)
      const closing = /\bclose\b/i.test(String(reply.getHeader('connection') ?? '')) || !reply.raw.shouldKeepAlive
      if (closing) closingSockets.add(raw.socket)
      // readableEnded: a body read to its end by other means than a socket
      // (app.inject's request never sets `complete`) has nothing left to drain.
      // Nor has a client still waiting for 100 Continue to send a body too
      // large to be read: it is never told to (continueIfAwaited), and the
      // wait would only hold its 413 until it gives up waiting and sends it.
      const neverAsked = awaitingContinue.has(raw) && declaredTooLarge(request)
      if (raw.complete || raw.readableEnded || !closing || broken.has(raw) || neverAsked) return done(null, payload)
      // The route's limit, else the server's: Fastify fills in the one that applies.
      drain(raw, 2 * request.routeOptions.bodyLimit, DRAIN_MS).then(
        () => done(null, payload),
        () => done(null, payload)
      )
    })
  },
  { name: 'http-hardening', fastify: '5.x' }
)
