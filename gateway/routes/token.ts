import type { FastifyInstance } from 'fastify'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { UnauthenticatedError } from '../errors.ts'
import { issueAccessToken } from '../pipeline/authorize-token.ts'

/** POST /v1/token: a certificate-bound access token (RFC 8705) for the calling system. */
export async function tokenRoutes(app: FastifyInstance, opts: { ttlSeconds: number }): Promise<void> {
  app.post('/v1/token', {
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
