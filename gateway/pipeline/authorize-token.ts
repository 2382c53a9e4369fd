// Step 2: the bearer token. Issued by this gateway to one certificate
// (RFC 8705 certificate-bound access token): a token presented over any other
// certificate is refused, so a leaked token is useless without the key.
import fp from 'fastify-plugin'
import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { randomUUID, type KeyObject } from 'node:crypto'
import { TokenCertMismatchError, UnauthenticatedError } from '../errors.ts'
import type { TrustStore } from '../trust/trust-store.ts'
import type { Caller } from './authenticate-client.ts'
import { readProtectedHeader } from '../jws/verify-compact.ts'

export interface AccessTokenClaims {
  readonly sub: string
  /**
   * RFC 9068 §2.2's: the client, here the system the token was issued to
   * (its sub), and the token's own id. Not required of a token presented:
   * one issued before they were written is good until it expires.
   */
  readonly client_id?: string
  readonly jti?: string
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

/** An Authorization header carrying a bearer token (RFC 6750 §2.1), as @fastify/jwt reads it. */
const BEARER = /^Bearer ([^\s]+)$/i

/**
 * The Bearer scheme with something after it: a bearer token came, however
 * malformed (`Bearer  <token>`, `Bearer <token> <more>`). Anything else
 * (`Basic …`, the token alone, `Bearer` alone) is no bearer token at all.
 */
const BEARER_SCHEME = /^Bearer\s+\S/i

/** How far ahead of this instance's clock another instance's may have set a token's iat. */
const CLOCK_SKEW_SECONDS = 60

/**
 * The key a token must verify under, once the token is held to what POST
 * /v1/token issues. fast-jwt decodes leniently: the last of a header member
 * written twice, any spelling of base64url, any header parameter, and any
 * algorithm of its list for any key. The token as sent is held to the
 * messages' rules first (jws/verify-compact.ts, readProtectedHeader; RFC 8725
 * §3.1), its alg to its key's, and its lifetime to the one this gateway
 * gives. Only a token the verifier's cache does not hold comes here.
 */
function tokenKey(trust: TrustStore, request: FastifyRequest, token: TokenOrHeader, ttlSeconds: number): string {
  const sent = BEARER.exec(request.headers.authorization ?? '')?.[1] ?? ''
  const header = readProtectedHeader(sent, ACCESS_TOKEN_TYP)
  const key = trust.ownKeys.get(header.kid)
  if (key === undefined) throw new Error('the token was not signed by a key of this gateway')
  if (key.alg !== header.alg) throw new Error(`the token says ${header.alg}, but its key is ${key.alg}`)
  const claims = ('payload' in token ? token.payload : {}) as { iat?: unknown; exp?: unknown }
  const { iat, exp } = claims
  if (typeof iat !== 'number' || typeof exp !== 'number') throw new Error('the token has no numeric iat and exp')
  if (iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) throw new Error('the token was issued in the future')
  if (exp - iat > ttlSeconds) throw new Error(`the token lives longer than the ${ttlSeconds} s this gateway gives`)
  return pem(key.key)
}

export const accessTokens = fp(
  async function accessTokens(app: FastifyInstance, opts: TokenOptions) {
    await app.register(fastifyJwt, {
      secret: {
        private: pem(app.trust.signingKey.key),
        public: async (request: FastifyRequest, token: TokenOrHeader) => tokenKey(app.trust, request, token, opts.ttlSeconds)
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
    client_id: caller.id,
    jti: randomUUID(),
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

/**
 * A hook: a valid token, for this certificate, for this caller. A refusal
 * carries the Bearer challenge (RFC 6750 §3): bare when no bearer token came
 * (no Authorization, or credentials of another scheme, §3.1), with
 * `invalid_token` when one came and is not valid here: malformed, expired,
 * or not this gateway's. What is wrong with it is in the problem document.
 */
export async function requireBoundToken(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const authorization = request.headers.authorization ?? ''
  if (authorization === '') {
    reply.header('www-authenticate', 'Bearer')
    throw new UnauthenticatedError('an access token from POST /v1/token is required')
  }
  // The token alone, or under another scheme: @fastify/jwt would answer "No
  // Authorization was found", to a request that has one (docs/integrators.md, step 1).
  if (!BEARER.test(authorization)) {
    reply.header('www-authenticate', BEARER_SCHEME.test(authorization) ? INVALID_TOKEN : 'Bearer')
    throw new UnauthenticatedError('send the access token as Authorization: Bearer <token>, with one space and nothing else')
  }
  try {
    await request.jwtVerify()
  } catch (err) {
    reply.header('www-authenticate', INVALID_TOKEN)
    throw new UnauthenticatedError(`the access token is not valid (${(err as Error).message})`)
  }
  const claims = request.user
  if (claims.cnf?.['x5t#S256'] !== request.clientCertSha256 || claims.sub !== request.caller?.id) {
    reply.header('www-authenticate', INVALID_TOKEN)
    throw new TokenCertMismatchError()
  }
}

const INVALID_TOKEN = 'Bearer error="invalid_token"'
