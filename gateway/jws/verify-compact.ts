// Verification of a compact JWS (RFC 7515 §7.1) from an agency system or the
// partner gateway. The header is read first, so that a message is refused on
// its algorithm or key id before any signature work, and so that the key is
// taken from the registry by kid and checked against the caller: a key is
// only ever tried for the signer it is registered to.
import { compactVerify } from 'jose'
import {
  JwsAlgorithmError, JwsInvalidError, JwsKeyNotCallersError, JwsKidUnknownError, JwsSignatureError
} from '../errors.ts'
import { isAllowedAlgorithm, type SigningAlgorithm, type VerificationKey } from './signing-key.ts'

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/

export interface JwsHeader {
  readonly alg: SigningAlgorithm
  readonly kid: string
  readonly typ?: string
  readonly [name: string]: unknown
}

export interface VerifiedJws {
  readonly header: JwsHeader
  readonly payload: Uint8Array
  readonly key: VerificationKey
}

export function readProtectedHeader(jws: string): JwsHeader {
  if (!COMPACT_JWS.test(jws)) throw new JwsInvalidError('expected three base64url parts separated by dots')
  const encoded = jws.slice(0, jws.indexOf('.'))
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'))
  } catch {
    throw new JwsInvalidError('the protected header is not JSON')
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new JwsInvalidError('the protected header is not a JSON object')
  }
  const { alg, kid, crit } = header as Record<string, unknown>
  if (!isAllowedAlgorithm(alg)) throw new JwsAlgorithmError(String(alg))
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 200) throw new JwsInvalidError('the protected header has no kid')
  // No extension is understood, so any critical one must be refused (RFC 7515 §4.1.11).
  if (crit !== undefined) throw new JwsInvalidError('critical header parameters are not supported')
  return header as JwsHeader
}

export async function verifyCompactJws(
  jws: string,
  keys: ReadonlyMap<string, VerificationKey>,
  expectedOwner: string
): Promise<VerifiedJws> {
  const header = readProtectedHeader(jws)
  const key = keys.get(header.kid)
  if (key === undefined) throw new JwsKidUnknownError(header.kid)
  if (key.owner !== expectedOwner) throw new JwsKeyNotCallersError(header.kid)
  if (key.alg !== header.alg) throw new JwsAlgorithmError(`${header.alg} (key ${key.kid} is ${key.alg})`)
  try {
    const { payload } = await compactVerify(jws, key.key, { algorithms: [key.alg] })
    return { header, payload, key }
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw new JwsSignatureError()
    throw new JwsInvalidError((err as Error).message)
  }
}
