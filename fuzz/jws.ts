// Compact JWS (RFC 7515 §7.1) assembled by hand from exact bytes. A library
// signer (jose's CompactSign) re-serialises the header and refuses odd ones;
// the fuzzer needs the header and payload bytes it chose, signed as they are,
// so that a refusal can only come from what those bytes say, never from a
// signature that does not verify.
import { createHash, sign } from 'node:crypto'
import type { Signer } from './identities.ts'

export function b64u(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url')
}

/** The signature over `signingInput` (ES256: raw r‖s, RFC 7518 §3.4, not DER). */
export function signature(signer: Signer, signingInput: string, der = false): Buffer {
  const data = Buffer.from(signingInput, 'ascii')
  return signer.alg === 'ES256' ? sign('sha256', data, { key: signer.key, dsaEncoding: der ? 'der' : 'ieee-p1363' }) : sign(null, data, signer.key)
}

/** header.payload.signature, with the two first parts exactly as given (already encoded). */
export function signEncoded(signer: Signer, header: string, payload: string, der = false): string {
  return `${header}.${payload}.${b64u(signature(signer, `${header}.${payload}`, der))}`
}

export function sha256b64u(text: string): string {
  return createHash('sha256').update(text).digest('base64url')
}
