// The public keys a gateway signs with (its own, during a rotation both), and
// the partner gateway's keys as this gateway trusts them. Agencies verify
// pushes with them: when a push names a kid they do not know, they fetch
// these again instead of refusing (the sandbox's mock agency does exactly
// that). Public keys only, so no certificate or token is needed.
import type { FastifyInstance } from 'fastify'
import type { KeyObject } from 'node:crypto'
import type { VerificationKey } from '../jws/signing-key.ts'

/** One public key as published: a JWK with its kid, its one algorithm and use `sig`. */
export const PUBLIC_JWK_SCHEMA = {
  type: 'object',
  required: ['kty', 'kid', 'alg', 'use'],
  properties: {
    kty: { type: 'string' },
    crv: { type: 'string' },
    x: { type: 'string' },
    y: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string', enum: ['ES256', 'EdDSA'] },
    use: { type: 'string', const: 'sig' }
  }
} as const

const JWKS_SCHEMA = {
  type: 'object',
  required: ['keys'],
  properties: { keys: { type: 'array', items: PUBLIC_JWK_SCHEMA } }
} as const

export function publicJwk(key: VerificationKey): Record<string, unknown> {
  const jwk = (key.key as KeyObject).export({ format: 'jwk' })
  return { ...jwk, kid: key.kid, alg: key.alg, use: 'sig' }
}

export async function jwksRoutes(app: FastifyInstance): Promise<void> {
  const headers = { 'cache-control': 'public, max-age=300' }
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        summary: "This gateway's public signing keys (JWKS)",
        description:
          'Every key the gateway signs with, or signed with until recently: two during a rotation. Verify pushes and receipts with the key the JWS header names; on an unknown kid, fetch this again.',
        tags: ['keys'],
        response: { 200: JWKS_SCHEMA }
      }
    },
    async (_request, reply) => reply.headers(headers).send({ keys: [...app.trust.ownKeys.values()].map(publicJwk) })
  )
  app.get(
    '/.well-known/partner-jwks.json',
    {
      schema: {
        summary: "The partner gateway's public signing keys, as this gateway trusts them",
        description: "Verify the partner's signature inside a push (`receivedFrom.jws`) with these.",
        tags: ['keys'],
        response: { 200: JWKS_SCHEMA }
      }
    },
    async (_request, reply) => reply.headers(headers).send({ keys: [...app.trust.partner.keys.values()].map(publicJwk) })
  )
}
