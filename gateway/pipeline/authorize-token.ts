// Step 2: the bearer token. Issued by this gateway to one certificate
// (RFC 8705 certificate-bound access token): a token presented over any other
// certificate is refused, so a leaked token is useless without the key.
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { KeyObject } from 'node:crypto'
import { TokenCertMismatchError, UnauthenticatedError } from '../errors.ts'
import type { Caller } from './authenticate-client.ts'

export interface AccessTokenClaims {
  readonly sub: string
  readonly role: Caller['role']
  readonly cnf: { readonly 'x5t#S256': string }
  readonly kinds: readonly string[]
  readonly purposes: readonly string[]
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenClaims
    user: AccessTokenClaims
  }
}

export interface TokenOptions {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly kid: string
  readonly issuer: string
  readonly ttlSeconds: number
}

export const accessTokens = fp(async function accessTokens(app: FastifyInstance, opts: TokenOptions) {
  await app.register(fastifyJwt, {
    secret: {
      private: opts.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
      public: opts.publicKey.export({ format: 'pem', type: 'spki' }) as string
    },
    sign: { algorithm: 'ES256', iss: opts.issuer, aud: opts.issuer, expiresIn: opts.ttlSeconds * 1000, kid: opts.kid },
    verify: { algorithms: ['ES256'], allowedIss: opts.issuer, allowedAud: opts.issuer }
  })
}, { name: 'access-tokens', fastify: '5.x' })

export function issueAccessToken(app: FastifyInstance, caller: Caller): string {
  const claims: AccessTokenClaims = {
    sub: caller.id,
    role: caller.role,
    cnf: { 'x5t#S256': caller.certSha256 },
    kinds: caller.role === 'agency' ? [...caller.system.kinds] : [],
    purposes: caller.role === 'agency' ? [...caller.system.purposes] : []
  }
  return app.jwt.sign(claims)
}

/** A preHandler: a valid token, for this certificate, for this caller. */
export async function requireBoundToken(request: FastifyRequest): Promise<void> {
  if (request.headers.authorization === undefined) throw new UnauthenticatedError('an access token from POST /v1/token is required')
  try {
    await request.jwtVerify()
  } catch (err) {
    throw new UnauthenticatedError(`the access token is not valid (${(err as Error).message})`)
  }
  const claims = request.user
  if (claims.cnf?.['x5t#S256'] !== request.clientCertSha256 || claims.sub !== request.caller?.id) {
    throw new TokenCertMismatchError()
  }
}
