import type { KeyObject } from 'node:crypto'

/** The JWS algorithms any signer may use: no `none`, no HMAC, no RSA (docs/architecture.md, "The pipeline, one message"). */
export const ALLOWED_ALGORITHMS = ['ES256', 'EdDSA'] as const
export type SigningAlgorithm = (typeof ALLOWED_ALGORITHMS)[number]

export function isAllowedAlgorithm(alg: unknown): alg is SigningAlgorithm {
  return alg === 'ES256' || alg === 'EdDSA'
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
