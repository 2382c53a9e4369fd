// One error handler for the whole gateway: every refusal is an RFC 9457
// problem document with a stable `code`; a 5xx never shows its internals.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance } from 'fastify'
import { ERROR_CODES } from '../errors.ts'

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
  FST_ERR_NOT_FOUND: ['NOT_FOUND', 404]
}

export interface Problem {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail: string
  readonly instance: string
  readonly code: string
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

export const problemDetails = fp(async function problemDetails(app: FastifyInstance) {
  app.setErrorHandler(function handleError(err: FastifyError, request, reply) {
    const { code, status, detail } = problemFor(err)
    if (status >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ code }, 'request refused')
    const problem: Problem = {
      type: `https://btb-gateway.example/problems/${code.toLowerCase().replaceAll('_', '-')}`,
      title: code.replaceAll('_', ' ').toLowerCase(),
      status,
      detail,
      instance: request.url,
      code
    }
    return reply.code(status).type('application/problem+json').send(problem)
  })
  app.setNotFoundHandler(function notFound(request, reply) {
    return reply.code(404).type('application/problem+json').send({
      type: 'https://btb-gateway.example/problems/not-found', title: 'not found', status: 404,
      detail: `no route ${request.method} ${request.url}`, instance: request.url, code: 'NOT_FOUND'
    })
  })
}, { name: 'problem-details', fastify: '5.x' })
