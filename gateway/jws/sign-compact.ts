// Compact JWS signing (RFC 7515 §7.1) with node:crypto. Not jose's
// CompactSign: jose encodes base64url in JavaScript (btoa over a binary
// string), which for a forwarded 3 MB batch took ~200 ms of the event loop
// per message; Buffer's encoder is native. What is signed is the same:
// base64url(header) "." base64url(payload), ES256 as raw r‖s (RFC 7518 §3.4).
// ES256 is signed in OpenSSL's DER form with the KeyObject alone, then turned
// into r‖s by ecdsa-sig-formatter: node:crypto's own conversion, asked for
// with `{ key, dsaEncoding: 'ieee-p1363' }`, cost twice as much (50 µs a
// signature against 27 on Node 24.21; docs/measurements.md, "Speed and memory").
import { derToJose } from 'ecdsa-sig-formatter'
import { signBytes } from './signature-thread.ts'
import type { SigningKey } from './signing-key.ts'

/** Encoded protected headers, by key and typ: a gateway signs with a handful. */
const headers = new Map<string, string>()

function encodedHeader(key: SigningKey, typ: string): string {
  const id = `${key.kid}\u0000${key.alg}\u0000${typ}`
  let encoded = headers.get(id)
  if (encoded === undefined) {
    encoded = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ })).toString('base64url')
    headers.set(id, encoded)
  }
  return encoded
}

/** Signs `payload` (already serialised: what is signed is exactly what is sent). */
export async function signCompactJws(payload: string, key: SigningKey, typ: string): Promise<string> {
  const input = `${encodedHeader(key, typ)}.${Buffer.from(payload).toString('base64url')}`
  const data = Buffer.from(input)
  // On libuv's pool while the event loop is busy (signature-thread.ts).
  const signature =
    key.alg === 'ES256' ? derToJose(await signBytes('sha256', data, key.key), 'ES256') : (await signBytes(null, data, key.key)).toString('base64url')
  return `${input}.${signature}`
}
