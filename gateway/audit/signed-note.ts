// Signed notes (C2SP signed-note; docs/architecture.md, "The verifiable
// ledger"): a text, a blank line, then one line per signature, "— <key name>
// base64(key ID || signature)". Checkpoints of the ledger are notes; the
// partner gateway's cosignature is one more line on the same note.
//
// Written here rather than taken from a package: on the npm registry only
// @sigstore/verify reads checkpoints, inside its own bundles, and nothing
// signs or cosigns notes; the format is a few dozen lines of node:crypto.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import type { SigningAlgorithm } from '../jws/signing-key.ts'

/** A note that cannot be read or whose signatures do not verify. */
export class NoteError extends Error {
  readonly code: 'NOTE_MALFORMED' | 'NOTE_UNVERIFIED'

  constructor(code: NoteError['code'], message: string) {
    super(message)
    this.name = 'NoteError'
    this.code = code
  }
}

/** The signature kinds this gateway makes and reads. */
export type NoteSignatureKind = 'log' | 'cosignature'

/** A key that signs or checks one kind of signature line under one name. */
export interface NoteKey {
  readonly name: string
  readonly alg: SigningAlgorithm
  /** Private to sign, public to verify. */
  readonly key: KeyObject
  /** A retired key's retirement (POSIX seconds): a cosignature it dates later is refused. */
  readonly retiredAt?: number
}

export interface NoteSignature {
  readonly name: string
  readonly keyId: number
  readonly signature: Buffer
}

export interface Note {
  /** The signed text, ending in a newline. */
  readonly text: string
  readonly signatures: readonly NoteSignature[]
}

const DASH = '\u2014 '
/** The spec asks verifiers to accept at least 16; more is refused, so a note's size stays bounded. */
const MAX_SIGNATURES = 16
const MAX_NOTE_BYTES = 16 * 1024
// Signature type bytes (C2SP signed-note, "Signature types").
const TYPE_ED25519 = 0x01
const TYPE_ED25519_COSIGNATURE = 0x04
const TYPE_OTHER = 0xff
/**
 * tlog-cosignature defines cosignatures for Ed25519 keys only. The gateways'
 * keys may be ECDSA P-256 (ES256): their cosignature is the same timestamped
 * message and structure, under type 0xff with this identifier.
 */
const ECDSA_COSIGNATURE_ID = 'btb-gateway/cosignature/v1/ecdsa-p256'

function publicOf(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key
}

/** The 4-byte key ID a signature line carries, as recommended by C2SP signed-note and tlog-cosignature. */
export function noteKeyId(kind: NoteSignatureKind, key: NoteKey): number {
  const pub = publicOf(key.key)
  const sha = createHash('sha256')
  if (key.alg === 'EdDSA') {
    // The 32-byte raw key is the last 32 bytes of its SPKI DER.
    const raw = pub.export({ format: 'der', type: 'spki' }).subarray(-32)
    sha
      .update(`${key.name}\n`)
      .update(Buffer.from([kind === 'log' ? TYPE_ED25519 : TYPE_ED25519_COSIGNATURE]))
      .update(raw)
  } else if (kind === 'log') {
    // Type 0x02 (ECDSA): the key ID is the hash of the SPKI DER alone.
    sha.update(pub.export({ format: 'der', type: 'spki' }))
  } else {
    sha
      .update(`${key.name}\n`)
      .update(Buffer.from([TYPE_OTHER]))
      .update(ECDSA_COSIGNATURE_ID)
      .update(pub.export({ format: 'der', type: 'spki' }))
  }
  return sha.digest().readUInt32BE(0)
}

function rawSign(alg: SigningAlgorithm, message: string, key: KeyObject): Buffer {
  // ECDSA as ASN.1 DER over SHA-256, as signature type 0x02 does.
  return sign(alg === 'EdDSA' ? null : 'sha256', Buffer.from(message, 'utf8'), key)
}

function rawVerify(alg: SigningAlgorithm, message: string, key: KeyObject, signature: Buffer): boolean {
  try {
    return verify(alg === 'EdDSA' ? null : 'sha256', Buffer.from(message, 'utf8'), key, signature)
  } catch {
    return false
  }
}

function line(name: string, keyId: number, signature: Buffer): string {
  const id = Buffer.alloc(4)
  id.writeUInt32BE(keyId)
  return `${DASH}${name} ${Buffer.concat([id, signature]).toString('base64')}\n`
}

/** A log's signature line over `text`. */
export function signNote(text: string, key: NoteKey): string {
  return line(key.name, noteKeyId('log', key), rawSign(key.alg, text, key.key))
}

/** The message a cosignature signs (tlog-cosignature, "Ed25519 signed message"). */
/** The latest instant a Date holds (ECMA-262: 8.64e15 ms), in POSIX seconds. */
const LATEST_TIME = 8.64e12

function cosignedMessage(text: string, time: number): string {
  return `cosignature/v1\ntime ${time}\n${text}`
}

/** A witness's cosignature line over a checkpoint's text, at `time` (POSIX seconds). */
export function cosignNote(text: string, key: NoteKey, time: number): string {
  const stamp = Buffer.alloc(8)
  stamp.writeBigUInt64BE(BigInt(time))
  return line(key.name, noteKeyId('cosignature', key), Buffer.concat([stamp, rawSign(key.alg, cosignedMessage(text, time), key.key)]))
}

/** Splits a note into its text and signature lines; throws NoteError(NOTE_MALFORMED). */
export function parseNote(note: string): Note {
  const malformed = (why: string): NoteError => new NoteError('NOTE_MALFORMED', `not a signed note: ${why}`)
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) throw malformed(`longer than ${MAX_NOTE_BYTES} bytes`)
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note) || !note.isWellFormed()) throw malformed('a control character other than newline')
  const split = note.lastIndexOf('\n\n')
  if (split === -1 || !note.endsWith('\n')) throw malformed('no blank line before the signatures, or no final newline')
  const text = note.slice(0, split + 1)
  const lines = note.slice(split + 2, -1).split('\n')
  if (lines.length > MAX_SIGNATURES) throw malformed(`more than ${MAX_SIGNATURES} signatures`)
  const signatures = lines.map((l) => {
    const m = /^\u2014 ([^\s+]+) ([A-Za-z0-9+/]+={0,2})$/.exec(l)
    if (m === null) throw malformed('a signature line is not "— <name> <base64>"')
    const bytes = Buffer.from(m[2]!, 'base64')
    if (bytes.length < 5 || bytes.toString('base64') !== m[2]) throw malformed('a signature is not base64 of a key ID and a signature')
    return { name: m[1]!, keyId: bytes.readUInt32BE(0), signature: bytes.subarray(4) }
  })
  return { text, signatures }
}

/** Puts a note back together from its text and signature lines. */
export function formatNote(text: string, signatureLines: readonly string[]): string {
  return `${text}\n${signatureLines.join('')}`
}

export interface Cosignature {
  readonly name: string
  /** POSIX seconds. */
  readonly time: number
}

/**
 * The signatures of `note` made by `keys` of `kind`: for a log signature, the
 * key itself; for a cosignature, the key and the time it states. Lines from
 * unknown keys are ignored (the spec's rule); a line from a known key that
 * does not verify is refused, and so is a note no known key signed.
 */
export function verifyNote(note: string, kind: 'log', keys: readonly NoteKey[]): { note: Note; by: NoteKey }
export function verifyNote(note: string, kind: 'cosignature', keys: readonly NoteKey[]): { note: Note; by: NoteKey; cosignature: Cosignature }
export function verifyNote(note: string, kind: NoteSignatureKind, keys: readonly NoteKey[]): { note: Note; by: NoteKey; cosignature?: Cosignature } {
  const parsed = parseNote(note)
  let found: { by: NoteKey; cosignature?: Cosignature } | undefined
  for (const s of parsed.signatures) {
    const key = keys.find((k) => k.name === s.name && noteKeyId(kind, k) === s.keyId)
    if (key === undefined) continue
    const pub = publicOf(key.key)
    if (kind === 'log') {
      if (!rawVerify(key.alg, parsed.text, pub, s.signature)) throw new NoteError('NOTE_UNVERIFIED', `the signature of ${s.name} does not verify`)
      found ??= { by: key }
    } else {
      if (s.signature.length < 9) throw new NoteError('NOTE_UNVERIFIED', `the cosignature of ${s.name} has no timestamp`)
      const time = Number(s.signature.readBigUInt64BE(0))
      // A time no Date can hold is no time: the ledger's readers turn it into one.
      if (time > LATEST_TIME)
        throw new NoteError('NOTE_UNVERIFIED', `the cosignature of ${s.name} states a time past any date (${s.signature.readBigUInt64BE(0)})`)
      if (!rawVerify(key.alg, cosignedMessage(parsed.text, time), pub, s.signature.subarray(8))) {
        throw new NoteError('NOTE_UNVERIFIED', `the cosignature of ${s.name} does not verify`)
      }
      // What a retired key signs is the partner's only while it was in use: after, whoever holds it may not be the partner.
      if (key.retiredAt !== undefined && time > key.retiredAt) {
        throw new NoteError('NOTE_UNVERIFIED', `the cosignature of ${s.name} is dated ${time}, after its key was retired (${key.retiredAt})`)
      }
      // The latest of several (a witness may have cosigned again).
      if (found?.cosignature === undefined || time > found.cosignature.time) found = { by: key, cosignature: { name: s.name, time } }
    }
  }
  if (found === undefined) throw new NoteError('NOTE_UNVERIFIED', `no ${kind === 'log' ? 'signature' : 'cosignature'} by a known key`)
  return { note: parsed, ...found }
}
