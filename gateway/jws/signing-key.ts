import type { KeyObject } from 'node:crypto'

/** The JWS algorithms any signer may use: no `none`, no HMAC, no RSA (docs/architecture.md, "The pipeline, one message"). */
export const ALLOWED_ALGORITHMS = ['ES256', 'EdDSA'] as const
export type SigningAlgorithm = (typeof ALLOWED_ALGORITHMS)[number]

export function isAllowedAlgorithm(alg: unknown): alg is SigningAlgorithm {
  return alg === 'ES256' || alg === 'EdDSA'
}

/**
 * Why a key cannot be used with the algorithm it is registered for, or
 * undefined if it can. A key is used with one algorithm only, one its type
 * can do (RFC 8725 §3.1): ES256 needs a P-256 key and EdDSA an Ed25519 key.
 * Node would run `verify(null, …)` with a P-256 key as ECDSA whatever the
 * registry called it. A JWK that names its own algorithm must name the same.
 */
export function keyMisfit(alg: SigningAlgorithm, key: KeyObject, jwkAlg?: unknown): string | undefined {
  if (jwkAlg !== undefined && jwkAlg !== alg) return `its JWK says ${String(jwkAlg)}`
  const type = key.asymmetricKeyType
  const curve = key.asymmetricKeyDetails?.namedCurve
  if (alg === 'ES256' ? type === 'ec' && curve === 'prime256v1' : type === 'ed25519') return undefined
  if (type === 'ed25519') return 'it is an Ed25519 key'
  if (type === 'ec') return `it is an EC ${curve === 'prime256v1' ? 'P-256' : curve} key`
  return `it is a ${type} key`
}

/** A public key registered to one signer, parsed once at start-up. */
export interface VerificationKey {
  readonly kid: string
  readonly alg: SigningAlgorithm
  readonly key: KeyObject
  /** Who signs with it: `CA/CBSA/pik-primary`, or `gateway:US`. */
  readonly owner: string
  /** A retired key's retirement (POSIX seconds): what it says it signed later is not taken. */
  readonly retiredAt?: number
}

/** A private key this gateway signs with. */
export interface SigningKey {
  readonly kid: string
  readonly alg: SigningAlgorithm
  readonly key: KeyObject
}
