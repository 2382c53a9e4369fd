import type { FastifyInstance } from 'fastify'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { ForbiddenError, GrantTypeUnsupportedError } from '../errors.ts'
import { echo } from '../lib/echo.ts'
import { issueAccessToken } from '../pipeline/authorize-token.ts'
import { SECURITY, jsonResponse, problemResponses } from '../plugins/openapi.ts'

const TOKEN_SCHEMA = {
  summary: 'Get an access token bound to the client certificate',
  description:
    'For any registered agency system, privacy officer or operator (not the partner gateway). No body is needed; an RFC 6749 ' +
    'client-credentials form (`application/x-www-form-urlencoded`, `grant_type=client_credentials`) is accepted for OAuth clients. ' +
    'The token is an ES256 JWT typed `at+jwt` (RFC 9068), bound to the certificate presented (RFC 8705, `cnf.x5t#S256`), and lists the kinds and purposes the system may send; ' +
    'send it as `Authorization: Bearer` over the same certificate.',
  tags: ['token'],
  security: SECURITY.certificate,
  response: {
    200: jsonResponse(
      'A certificate-bound access token (RFC 6749 §5.1).',
      {
        type: 'object',
        additionalProperties: false,
        required: ['access_token', 'token_type', 'expires_in'],
        properties: {
          access_token: { type: 'string', description: 'The JWT.' },
          token_type: { type: 'string', enum: ['Bearer'] },
          expires_in: { type: 'integer', minimum: 1, description: 'Seconds until it expires.' }
        }
      },
      { 'cache-control': { type: 'string', description: '`no-store`' } }
    ),
    ...problemResponses('UNAUTHENTICATED', 'FORBIDDEN', 'GRANT_TYPE_UNSUPPORTED', 'BODY_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE')
  }
}

/**
 * The one grant this endpoint answers is the one the contract names: the
 * certificate itself is the client credential (RFC 6749 §4.4, RFC 8705 §2).
 * A password, a JWT assertion or any other parameter is not silently ignored:
 * a client that believes it authenticated another way must be told it did not.
 */
function checkGrant(body: unknown, contentType: string | undefined): void {
  // No body at all. A JSON `null` is a body, and not the form.
  if (body === undefined) return
  // RFC 6749 §4.4.2: the request is a form, nothing else.
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType ?? '') || typeof body !== 'object' || Array.isArray(body)) {
    throw new GrantTypeUnsupportedError('send no body, or the form grant_type=client_credentials')
  }
  const form = body as Record<string, unknown>
  for (const name of Object.keys(form)) {
    if (name !== 'grant_type') throw new GrantTypeUnsupportedError(`parameter ${echo(name)} is not accepted`)
  }
  if (form.grant_type !== undefined && form.grant_type !== 'client_credentials') {
    throw new GrantTypeUnsupportedError(`grant_type ${echo(form.grant_type)}; only client_credentials`)
  }
}

/**
 * The largest body POST /v1/token reads. The one request it answers is
 * `grant_type=client_credentials`, or no body: anything longer is refused
 * (413) before it is read, rather than read and parsed on the event loop,
 * at the message body limit, only to be refused (3 MB of JSON whose names
 * are escaped took half a second; docs/integrators.md, "Step by step").
 */
const TOKEN_BODY_LIMIT = 1024

/** POST /v1/token: a certificate-bound access token (RFC 8705) for the calling system. */
export async function tokenRoutes(app: FastifyInstance, opts: { ttlSeconds: number }): Promise<void> {
  app.post(
    '/v1/token',
    {
      schema: TOKEN_SCHEMA,
      bodyLimit: TOKEN_BODY_LIMIT,
      // Who is asking is settled before the body is read (the body is the grant).
      onRequest: async (request) => {
        if (request.caller === null) await requireRole('agency')(request)
        if (request.caller?.role === 'partner') throw new ForbiddenError('this endpoint is not for the partner gateway: gateways do not use access tokens')
      }
    },
    async (request, reply) => {
      checkGrant(request.body, request.headers['content-type'])
      const token = issueAccessToken(app, request.caller!)
      return reply.header('cache-control', 'no-store').send({
        access_token: token,
        token_type: 'Bearer',
        expires_in: opts.ttlSeconds
      })
    }
  )
}
