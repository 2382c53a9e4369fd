/**
 * Changes to a trust file, as the keys CLI makes them. A running gateway
 * reloads the file when it is replaced, so every change is written beside it,
 * loaded exactly as the gateway would load it, and only then renamed over the
 * old file: the gateway never sees a half-written or inconsistent trust file.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs'
import { rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createPublicKey } from 'node:crypto'
import { isAllowedAlgorithm } from '../jws/signing-key.ts'
import { json } from './pki.ts'
import type { Jwks, PublicSigningJwk, RegisteredKey, TrustFile } from './trust-file.ts'
import { TRUST_FILE_VERSION } from './trust-file.ts'
import { loadTrustStore } from './trust-store.ts'
import { checkTrustFile } from './trust-schema.ts'

/** A refused change: the trust file is left as it was. */
export class TrustEditError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'TrustEditError'
    this.code = code
  }
}

export function readTrustFile(path: string): TrustFile {
  let file: TrustFile
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as TrustFile
  } catch (err) {
    throw new TrustEditError('TRUST_FILE_UNREADABLE', `cannot read the trust file ${path}: ${(err as Error).message}`)
  }
  if (file.version !== TRUST_FILE_VERSION) {
    throw new TrustEditError('TRUST_FILE_VERSION', `${path} is trust file version ${String(file.version)}, this tool writes version ${TRUST_FILE_VERSION}`)
  }
  return file
}

/**
 * Holds `path` for one command, from its read to its write, until the
 * returned function lets it go. A write is atomic, but two commands at once
 * (two operators) would each write the file as they read it, and the later
 * would undo the earlier's change, a revocation among them, while both said
 * it was done (docs/operators.md, "Keys and trust CLI"). The second is
 * refused instead, before it reads or writes anything.
 */
export function lockTrustFile(path: string): () => void {
  const lock = `${path}.lock`
  try {
    closeSync(openSync(lock, 'wx', 0o600))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new TrustEditError(
        'TRUST_FILE_LOCKED',
        `another keys command is changing ${path} (${lock} exists): nothing was changed; run this again once it is done, or delete the lock if no keys command is running`
      )
    }
    throw new TrustEditError('TRUST_FILE_UNREADABLE', `cannot lock the trust file ${path}: ${(err as Error).message}`)
  }
  return () => rmSync(lock, { force: true })
}

/**
 * Validates `file` as the gateway would load it (its schema, then the whole
 * load), then atomically replaces `path`.
 */
export async function writeTrustFile(path: string, file: TrustFile): Promise<void> {
  try {
    checkTrustFile(file, path)
  } catch (err) {
    throw new TrustEditError('TRUST_FILE_INVALID', `the change would make the trust file invalid, so it was not written: ${(err as Error).message}`)
  }
  const partial = join(dirname(path), `.trust.${randomBytes(4).toString('hex')}.partial`)
  await writeFile(partial, json(file), { mode: 0o644 })
  try {
    loadTrustStore(partial)
  } catch (err) {
    await rm(partial, { force: true })
    throw new TrustEditError('TRUST_FILE_INVALID', `the change would make the trust file invalid, so it was not written: ${(err as Error).message}`)
  }
  await rename(partial, path)
}

/** Every kid the trust file registers, and to whom. */
export function registeredKids(file: TrustFile): Map<string, string> {
  const kids = new Map<string, string>()
  for (const k of file.gateway.signingKeys) kids.set(k.kid, `gateway ${file.country}`)
  for (const a of file.agencies) for (const k of a.keys) kids.set(k.kid, `${a.agency}/${a.system}`)
  for (const k of file.partner.keys) kids.set(k.kid, `partner gateway ${file.partner.country}`)
  return kids
}

/**
 * A partner's published JWKS, checked key by key: public signing keys on the
 * allow-list only, each with a kid. A private key in a JWKS is refused: it
 * means someone published what they should not have.
 */
export function partnerKeysFromJwks(jwks: unknown): RegisteredKey[] {
  const keys = (jwks as Partial<Jwks> | null)?.keys
  if (!Array.isArray(keys) || keys.length === 0) throw new TrustEditError('JWKS_INVALID', 'the JWKS has no keys')
  const seen = new Set<string>()
  return keys.map((raw: unknown, i): RegisteredKey => {
    const jwk = raw as Partial<PublicSigningJwk> & { d?: unknown }
    if (typeof jwk !== 'object' || jwk === null) throw new TrustEditError('JWKS_INVALID', `key ${i} is not an object`)
    if ('d' in jwk) throw new TrustEditError('JWKS_PRIVATE_KEY', `key ${jwk.kid ?? i} is a PRIVATE key: refusing it (and tell the partner)`)
    if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new TrustEditError('JWKS_INVALID', `key ${i} has no kid`)
    if (seen.has(jwk.kid)) throw new TrustEditError('JWKS_INVALID', `kid ${jwk.kid} appears twice`)
    seen.add(jwk.kid)
    if (!isAllowedAlgorithm(jwk.alg)) throw new TrustEditError('JWKS_INVALID', `key ${jwk.kid}: alg ${String(jwk.alg)} is not allowed`)
    if (jwk.use !== undefined && jwk.use !== 'sig') throw new TrustEditError('JWKS_INVALID', `key ${jwk.kid}: use must be sig`)
    const clean =
      jwk.kty === 'EC'
        ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: (jwk as { y?: string }).y, kid: jwk.kid, alg: jwk.alg, use: 'sig' }
        : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid: jwk.kid, alg: jwk.alg, use: 'sig' }
    const expected = jwk.alg === 'ES256' ? { kty: 'EC', crv: 'P-256' } : { kty: 'OKP', crv: 'Ed25519' }
    if (clean.kty !== expected.kty || clean.crv !== expected.crv) {
      throw new TrustEditError('JWKS_INVALID', `key ${jwk.kid}: ${jwk.alg} needs kty ${expected.kty} crv ${expected.crv}`)
    }
    try {
      createPublicKey({ key: clean as never, format: 'jwk' })
    } catch (err) {
      throw new TrustEditError('JWKS_INVALID', `key ${jwk.kid} is not a valid public key: ${(err as Error).message}`)
    }
    return { kid: jwk.kid, alg: jwk.alg, jwk: clean as PublicSigningJwk }
  })
}
