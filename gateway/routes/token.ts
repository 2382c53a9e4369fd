import type { FastifyInstance } from 'fastify'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { UnauthenticatedError } from '../errors.ts'
import { issueAccessToken } from '../pipeline/authorize-token.ts'
import { SECURITY, jsonResponse, problemResponses } from '../plugins/openapi.ts'

const TOKEN_SCHEMA = {
  summary: 'Get an access token bound to the client certificate',
  description: 'For any registered agency system, privacy officer or operator (not the partner gateway). No body is needed; an RFC 6749 ' +
    'client-credentials form (`application/x-www-form-urlencoded`, `grant_type=client_credentials`) is accepted for OAuth clients. ' +
    'The token is an ES256 JWT bound to the certificate presented (RFC 8705, `cnf.x5t#S256`) and lists the kinds and purposes the system may send; ' +
    'send it as `Authorization: Bearer` over the same certificate.',
  tags: ['token'],
  security: SECURITY.certificate,
  response: {
    200: jsonResponse('A certificate-bound access token (RFC 6749 §5.1).', {
      type: 'object',
      additionalProperties: false,
      required: ['access_token', 'token_type', 'expires_in'],
      properties: {
        access_token: { type: 'string', description: 'The JWT.' },
        token_type: { type: 'string', enum: ['Bearer'] },
        expires_in: { type: 'integer', minimum: 1, description: 'Seconds until it expires.' }
      }
    }, { 'cache-control': { type: 'string', description: '`no-store`' } }),
    ...problemResponses('UNAUTHENTICATED', 'BODY_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE')
  }
}

/** POST /v1/token: a certificate-bound access token (RFC 8705) for the calling system. */
export async function tokenRoutes(app: FastifyInstance, opts: { ttlSeconds: number }): Promise<void> {
  app.post('/v1/token', {
    schema: TOKEN_SCHEMA,
    preHandler: async (request) => {
      if (request.caller === null) await requireRole('agency')(request)
      if (request.caller?.role === 'partner') throw new UnauthenticatedError('gateways do not use access tokens')
    }
  }, async (request, reply) => {
    const token = issueAccessToken(app, request.caller!)
    return reply.header('cache-control', 'no-store').send({
      access_token: token,
      token_type: 'Bearer',
      expires_in: opts.ttlSeconds
    })
  })
}
