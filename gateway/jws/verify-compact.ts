// Verification of a compact JWS (RFC 7515 §7.1) from an agency system or the
// partner gateway. The header is read first, so that a message is refused on
// its algorithm or key id before any signature work, and so that the key is
// taken from the registry by kid and checked against the caller: a key is
// only ever tried for the signer it is registered to.
import { joseToDer } from 'ecdsa-sig-formatter'
import {
  JwsAlgorithmError,
  JwsHeaderNotAllowedError,
  JwsInvalidError,
  JwsKeyNotCallersError,
  JwsKidUnknownError,
  JwsSignatureError,
  JwsTypInvalidError
} from '../errors.ts'
import { echo } from '../lib/echo.ts'
import { IJsonError, parseIJsonBytes } from '../lib/i-json.ts'
import { isAllowedAlgorithm, type SigningAlgorithm, type VerificationKey } from './signing-key.ts'
import { verifyBytes } from './signature-thread.ts'

// The signature part may be empty here, as RFC 7515 writes an unsecured JWS
// (alg none): its header is then read, and refused by its alg, by name; an
// allowed alg with no signature is refused at the signature (verifyCompactJws).
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/

/**
 * The only protected header parameters the contract names (docs/integrators.md, "Sign").
 * Everything else is refused rather than ignored (RFC 8725 §2.4, §3.1): `jku`,
 * `jwk`, `x5u`, `x5c` and `x5t` would name a key the signer chose, `crit` and
 * `b64` (RFC 7797) would change what is signed, and an unknown parameter is
 * one that some other reader of the same JWS might act on.
 */
const ALLOWED_PARAMETERS: ReadonlySet<string> = new Set(['alg', 'kid', 'typ'])

/**
 * Whether a base64url part is in its one canonical spelling (RFC 4648 §3.5):
 * the bits of its last character past the encoded bytes are zero, and its
 * length is one a whole number of bytes gives. Otherwise `…fQ` and `…fR`
 * would decode alike: one signed message, two JWS texts, and the gateway's
 * idempotency, replay checks and receipts all key on the exact text.
 */
function isCanonicalBase64url(part: string): boolean {
  const rest = part.length % 4
  if (rest === 1) return false
  if (rest === 0) return true
  const last = BASE64URL.indexOf(part[part.length - 1]!)
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** A kid is a registry name (keys CLI): short and printable. */
const KID = /^[\x21-\x7e]{1,200}$/
/**
 * The longest protected header read, base64url-encoded: alg, a kid of at most
 * 200 characters and typ take under 400. Refused before it is decoded, so
 * that no header costs more than that to look at, whoever sent it.
 */
const HEADER_MAX = 1024

export interface JwsHeader {
  readonly alg: SigningAlgorithm
  readonly kid: string
  readonly typ: string
}

export interface VerifiedJws {
  readonly header: JwsHeader
  readonly payload: Uint8Array
  readonly key: VerificationKey
}

export interface VerifyOptions {
  /** The registry, by kid. */
  readonly keys: ReadonlyMap<string, VerificationKey>
  /** Who must own the key: the caller's system id, or `gateway:XX`. */
  readonly owner: string
  /** The one media type this JWS may declare (RFC 7515 §4.1.9, RFC 8725 §3.11: explicit typing). */
  readonly typ: string
}

/** The protected header, held to the contract's allow-list. */
export function readProtectedHeader(jws: string, typ: string): JwsHeader {
  if (!COMPACT_JWS.test(jws)) throw new JwsInvalidError('expected three base64url parts separated by dots')
  if (!jws.split('.').every(isCanonicalBase64url)) throw new JwsInvalidError('a part is not canonical base64url (RFC 4648 §3.5): its unused bits must be zero')
  const encoded = jws.slice(0, jws.indexOf('.'))
  if (encoded.length > HEADER_MAX) throw new JwsInvalidError(`the protected header is longer than ${HEADER_MAX} characters`)
  let header: unknown
  try {
    // A header member written twice must be refused (RFC 7515 §5.2 step 4):
    // one reader would take the first alg, another the last.
    header = parseIJsonBytes(Buffer.from(encoded, 'base64url'))
  } catch (err) {
    // __proto__ and constructor are parameters like any other the contract does not name.
    if (err instanceof IJsonError && err.code === 'PROTOTYPE_KEY') throw new JwsHeaderNotAllowedError(err.message)
    throw new JwsInvalidError(err instanceof IJsonError ? `the protected header is not I-JSON (${err.message})` : 'the protected header is not JSON')
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new JwsInvalidError('the protected header is not a JSON object')
  }
  const fields = header as Record<string, unknown>
  for (const name of Object.keys(fields)) {
    if (!ALLOWED_PARAMETERS.has(name)) throw new JwsHeaderNotAllowedError(echo(name))
  }
  const { alg, kid } = fields
  if (!isAllowedAlgorithm(alg)) throw new JwsAlgorithmError(echo(alg), 'the contract allows ES256 and EdDSA')
  if (typeof kid !== 'string' || !KID.test(kid)) throw new JwsInvalidError('the protected header has no valid kid')
  if (fields.typ !== typ) throw new JwsTypInvalidError(`${typ}, not ${fields.typ === undefined ? 'absent' : echo(fields.typ)}`)
  return { alg, kid, typ }
}

export async function verifyCompactJws(jws: string, opts: VerifyOptions): Promise<VerifiedJws> {
  const header = readProtectedHeader(jws, opts.typ)
  const key = opts.keys.get(header.kid)
  if (key === undefined) throw new JwsKidUnknownError(echo(header.kid))
  // Named by its certificate: a certificate and a key of two systems mixed up shows which is which.
  if (key.owner !== opts.owner) throw new JwsKeyNotCallersError(echo(header.kid), opts.owner)
  if (key.alg !== header.alg) throw new JwsAlgorithmError(header.alg, `key ${echo(key.kid)} is registered for ${key.alg}`)
  // node:crypto rather than jose's compactVerify: jose decodes base64url in
  // JavaScript, which for a 3 MB batch held the event loop for ~100 ms; the
  // header was already read and held to the allow-list above.
  const lastDot = jws.lastIndexOf('.')
  if (lastDot === jws.length - 1) throw new JwsSignatureError('(the signature part is empty)')
  const signature = Buffer.from(jws.slice(lastDot + 1), 'base64url')
  // Both algorithms sign with 64 bytes (ES256: r‖s, RFC 7518 §3.4; Ed25519: RFC 8037).
  // Said, with what was sent: an ES256 signature left in DER (70 to 72 bytes) is
  // the commonest mistake with openssl (docs/integrators.md, "With curl and openssl").
  if (signature.length !== 64) {
    const format = header.alg === 'ES256' ? ', r‖s, not DER' : ''
    throw new JwsSignatureError(`(the signature is ${signature.length} bytes: ${header.alg} signs with 64 bytes${format})`)
  }
  const input = Buffer.from(jws.slice(0, lastDot))
  let valid: boolean
  try {
    // ES256 as DER with the KeyObject alone: node:crypto's `{ key, dsaEncoding: 'ieee-p1363' }`
    // cost 98 µs a verification against 71 (sign-compact.ts says why). On
    // libuv's pool while the event loop is busy (signature-thread.ts).
    valid = await (key.alg === 'ES256' ? verifyBytes('sha256', input, key.key, joseToDer(signature, 'ES256')) : verifyBytes(null, input, key.key, signature))
  } catch {
    throw new JwsSignatureError()
  }
  if (!valid) throw new JwsSignatureError()
  const payload = Buffer.from(jws.slice(jws.indexOf('.') + 1, lastDot), 'base64url')
  return { header, payload, key }
}
