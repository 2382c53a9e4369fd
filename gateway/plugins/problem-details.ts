// One error handler for the whole gateway: every refusal is an RFC 9457
// problem document with a stable `code`; a 5xx never shows its internals.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ERROR_CODES, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.ts'
import { ECHO_MAX, echo } from '../lib/echo.ts'

const KNOWN = new Set<string>(ERROR_CODES)

/** Fastify's own errors for bad input, mapped onto the gateway's codes. */
const FASTIFY_CODES: Record<string, [string, number]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 415],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['BODY_INVALID', 400],
  FST_ERR_CTP_BODY_TOO_LARGE: ['PAYLOAD_TOO_LARGE', 413],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['BODY_INVALID', 400],
  FST_ERR_CTP_INVALID_JSON_BODY: ['BODY_INVALID', 400],
  FST_ERR_CTP_EMPTY_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 415],
  FST_ERR_CTP_INVALID_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 415],
  FST_ERR_VALIDATION: ['REQUEST_INVALID', 400],
  FST_ERR_NOT_FOUND: ['NOT_FOUND', 404],
  // Raised by the router before any hook (constructor option frameworkErrors, plugins/http-hardening.ts).
  FST_ERR_MAX_PARAM_LENGTH: ['REQUEST_INVALID', 400],
  FST_ERR_BAD_URL: ['REQUEST_INVALID', 400],
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 415]
}

export interface Problem {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail: string
  readonly instance: string
  readonly code: string
}

/** The longest detail a problem document carries: the values it quotes are bounded (lib/echo.ts), this bounds the rest. */
const DETAIL_MAX = 512

/** The RFC 9457 document for a refusal; http-hardening writes it raw, for what never reaches a route. */
export function problemDocument({ code, status, detail, instance }: { code: string; status: number; detail: string; instance: string }): Problem {
  return {
    type: `https://btb-gateway.example/problems/${code.toLowerCase().replaceAll('_', '-')}`,
    title: code.replaceAll('_', ' ').toLowerCase(),
    status,
    detail: detail.length > DETAIL_MAX ? `${detail.slice(0, DETAIL_MAX)}…` : detail,
    instance: instanceOf(instance),
    code
  }
}

/** A path as a refusal may quote it: never its query string, and no longer than any value it quotes (lib/echo.ts). */
function instanceOf(url: string): string {
  const path = url.split('?', 1)[0]!
  return path.length > ECHO_MAX ? `${path.slice(0, ECHO_MAX)}…` : path
}

/**
 * A refusal's `instance`: the route the request reached, by its pattern
 * (`/v1/messages/{id}`), as the logs name it (observability/request-log.ts).
 * A path is whatever the client wrote, a traveller's document number
 * included. A request that reached no route: its path, cut as a quoted value is.
 */
export function requestInstance(request: FastifyRequest): string {
  const route = request.routeOptions?.url
  return route === undefined ? instanceOf(request.url) : route.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

/** A request body's media type as a refusal may quote it: its type alone, without parameters. */
function mediaTypeOf(request: FastifyRequest): string {
  const label = request.headers['content-type']
  return label === undefined ? 'a body with no Content-Type' : echo(label.split(';', 1)[0]!.trim())
}

export function problemFor(err: FastifyError): { code: string; status: number; detail: string } {
  const mapped = FASTIFY_CODES[err.code]
  if (mapped !== undefined) return { code: mapped[0], status: mapped[1], detail: err.message }
  if (KNOWN.has(err.code) && err.statusCode !== undefined && err.statusCode < 500) {
    return { code: err.code, status: err.statusCode, detail: err.message }
  }
  if (err.code === 'SERVICE_UNAVAILABLE') return { code: err.code, status: 503, detail: err.message }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return { code: 'BODY_INVALID', status: 400, detail: 'the request could not be read' }
  }
  return { code: 'INTERNAL', status: 500, detail: 'an internal error occurred; it has been logged' }
}

export const problemDetails = fp(
  async function problemDetails(app: FastifyInstance) {
    app.setErrorHandler(function handleError(err: FastifyError, request, reply) {
      // Fastify's own 413 says only "Request body is too large": the limit,
      // BODY_LIMIT_BYTES or the route's, is what the sender needs to know
      // (docs/integrators.md, "Error codes").
      // Nor does its 415 say what it did not read.
      const error =
        err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? new PayloadTooLargeError(request.routeOptions.bodyLimit)
          : err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? new UnsupportedMediaTypeError(`${request.method} ${requestInstance(request)} does not read ${mediaTypeOf(request)}`)
            : err
      const { code, status, detail } = problemFor(error)
      if (status >= 500) request.log.error({ err }, 'request failed')
      else request.log.info({ code }, 'request refused')
      return reply
        .code(status)
        .type('application/problem+json')
        .send(problemDocument({ code, status, detail, instance: requestInstance(request) }))
    })
    // Logged as every other refusal is, by its code (docs/operators.md,
    // "Metrics and health"): the path is the client's, and is not logged.
    const notFound = (request: FastifyRequest, reply: FastifyReply) => {
      request.log.info({ code: 'NOT_FOUND' }, 'request refused')
      return reply
        .code(404)
        .type('application/problem+json')
        .send(
          problemDocument({
            code: 'NOT_FOUND',
            status: 404,
            detail: `no route ${request.method} ${echo(instanceOf(request.url))}`,
            instance: requestInstance(request)
          })
        )
    }
    app.setNotFoundHandler(notFound)
    // Answered before the body is read: no route takes it, and Fastify would
    // otherwise read (and hold, and parse) a body sent to none, from anyone,
    // a client without a certificate included, holding the intake budget
    // (plugins/intake-budget.ts) that every agency's submission waits on.
    // A callback, not an async function: every other request goes on in the same tick, as it did without this hook.
    app.addHook('onRequest', function refuseUnrouted(request, reply, done) {
      if (request.is404) {
        notFound(request, reply)
        return
      }
      done()
    })
  },
  { name: 'problem-details', fastify: '5.x' }
)
