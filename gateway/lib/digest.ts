import { createHash, createHmac, type KeyObject } from 'node:crypto'

/** base64url(SHA-256(data)): message digests in receipts, the RFC 8705 certificate thumbprint. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('base64url')
}

/** Keyed digest of a value: the ledger can match values without holding them. */
export function hmac(key: KeyObject | Uint8Array, data: string | Uint8Array): string {
  return createHmac('sha256', key).update(data).digest('base64url')
}
