// Step 2: the bearer token. Issued by this gateway to one certificate
// (RFC 8705 certificate-bound access token): a token presented over any other
// certificate is refused, so a leaked token is useless without the key.
import fp from 'fastify-plugin'
import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { KeyObject } from 'node:crypto'
import { TokenCertMismatchError, UnauthenticatedError } from '../errors.ts'
import type { TrustStore } from '../trust/trust-store.ts'
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
  readonly issuer: string
  readonly ttlSeconds: number
}

// fast-jwt takes keys as PEM; export each KeyObject once.
const pems = new WeakMap<KeyObject, string>()
function pem(key: KeyObject): string {
  let text = pems.get(key)
  if (text === undefined) {
    text = key.export(key.type === 'private' ? { format: 'pem', type: 'pkcs8' } : { format: 'pem', type: 'spki' }) as string
    pems.set(key, text)
  }
  return text
}

/**
 * Tokens are signed with the gateway's active key and verified with whichever
 * of its keys the token's `kid` names, both looked up in the trust store in
 * force: after a rotation new tokens carry the new kid while tokens already
 * issued stay valid until they expire or their key is retired.
 */
/** The `typ` of this gateway's access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYP = 'at+jwt'

export const accessTokens = fp(
  async function accessTokens(app: FastifyInstance, opts: TokenOptions) {
    const ownKey = (trust: TrustStore, kid: unknown): KeyObject => {
      const key = typeof kid === 'string' ? trust.ownKeys.get(kid) : undefined
      if (key === undefined) throw new Error('the token was not signed by a key of this gateway')
      return key.key
    }
    await app.register(fastifyJwt, {
      secret: {
        private: pem(app.trust.signingKey.key),
        public: async (_request: FastifyRequest, token: TokenOrHeader) => pem(ownKey(app.trust, 'header' in token ? token.header.kid : token.kid))
      },
      // The key is chosen by the token's header, so the decoder must keep it.
      decode: { complete: true },
      // @fastify/jwt reads a numeric expiresIn as seconds (and converts it for
      // fast-jwt itself): the token's exp − iat is then exactly the expires_in
      // that POST /v1/token announces.
      sign: { iss: opts.issuer, aud: opts.issuer, expiresIn: opts.ttlSeconds },
      // Verified tokens are cached (per key) until they expire: the signature is
      // the costly part, and the certificate binding and the kid are still
      // checked on every request.
      // A token without exp would never expire, and one without cnf would be a
      // bearer token usable from any certificate: both are refused, even when
      // signed by this gateway's own key (RFC 8725 §3.10).
      verify: {
        algorithms: ['ES256', 'EdDSA'],
        allowedIss: opts.issuer,
        allowedAud: opts.issuer,
        // Typed as an access token (RFC 9068 §2.1; issueAccessToken), and
        // checked as one (RFC 8725 §3.11): nothing else this gateway signs, a
        // receipt or an envelope, can pass for one, whatever claims it carried.
        checkTyp: ACCESS_TOKEN_TYP,
        cache: 1000,
        requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'cnf']
      }
    })
  },
  { name: 'access-tokens', fastify: '5.x', dependencies: ['trust'] }
)

export function issueAccessToken(app: FastifyInstance, caller: Caller): string {
  const claims: AccessTokenClaims = {
    sub: caller.id,
    role: caller.role,
    cnf: { 'x5t#S256': caller.certSha256 },
    kinds: caller.role === 'agency' ? [...caller.system.kinds] : [],
    purposes: caller.role === 'agency' ? [...caller.system.purposes] : []
  }
  const { signingKey } = app.trust
  return app.jwt.sign(claims, {
    key: pem(signingKey.key),
    kid: signingKey.kid,
    algorithm: signingKey.alg,
    header: { alg: signingKey.alg, typ: ACCESS_TOKEN_TYP }
  })
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
