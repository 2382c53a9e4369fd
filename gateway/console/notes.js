// Checks a checkpoint's signatures in the page, with the browser's WebCrypto
// only (docs/architecture.md, "The verifiable ledger"): the gateway's
// signature line (C2SP signed note, ECDSA P-256 as type 0x02, Ed25519 as
// 0x01) and the partner's cosignature (the cosignature/v1 message of C2SP
// tlog-cosignature; an ECDSA key signs it as type 0xff with the gateway's
// identifier, an Ed25519 key as 0x04). The keys are those the gateway
// publishes for its ledger (GET /.well-known/ledger-keys.json): its own, and
// the partner's as its witness, retired ones included. The gateway's side is
// gateway/audit/signed-note.ts; an oversight body checks the same offline
// with tools/verify-disclosure.mjs.

const encoder = new TextEncoder()
const ECDSA_COSIGNATURE_ID = 'btb-gateway/cosignature/v1/ecdsa-p256'

function fromBase64(b64) {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

async function keyId(...parts) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)))
  return new DataView(digest.buffer).getUint32(0)
}

/**
 * An ASN.1 DER ECDSA signature (what node:crypto makes) as the 64 bytes
 * r || s WebCrypto takes; null when it is not in its one DER form. OpenSSL,
 * and so the gateway and tools/verify-disclosure.mjs, refuse any other
 * spelling of a signature (a needless zero byte, bytes after it): read
 * loosely here, the page would call verified a note they refuse.
 */
function derToRaw(der) {
  // SEQUENCE, its length (a P-256 signature is under 128 bytes), then two INTEGERs and nothing after.
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return null
  const out = new Uint8Array(64)
  let at = 2
  for (const half of [0, 32]) {
    const len = der[at + 1]
    if (der[at] !== 0x02 || !(len >= 1 && len <= 33) || at + 2 + len > der.length) return null
    let int = der.subarray(at + 2, at + 2 + len)
    // Positive, in as few bytes as it takes: a leading zero only before a high bit.
    if (int[0] >= 0x80 || (int.length > 1 && int[0] === 0 && int[1] < 0x80)) return null
    if (int[0] === 0 && int.length > 1) int = int.subarray(1)
    if (int.length > 32) return null
    out.set(int, half + 32 - int.length)
    at += 2 + len
  }
  return at === der.length ? out : null
}

/** A published key, as the notes use it: its key IDs under `name`, and a verify. */
async function noteKey(jwk, name) {
  const ed = jwk.kty === 'OKP'
  const algorithm = ed ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' }
  const { d: _private, retiredAt: _retiredAt, ...pub } = jwk
  const key = await crypto.subtle.importKey('jwk', { ...pub, key_ops: ['verify'] }, algorithm, true, ['verify'])
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', key))
  const named = (type, ...more) => keyId(encoder.encode(`${name}\n`), Uint8Array.of(type), ...more)
  return {
    logId: ed ? await named(0x01, spki.subarray(-32)) : await keyId(spki),
    cosignatureId: ed ? await named(0x04, spki.subarray(-32)) : await named(0xff, encoder.encode(ECDSA_COSIGNATURE_ID), spki),
    verify: async (message, signature) => {
      try {
        const params = ed ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' }
        const raw = ed ? signature : derToRaw(signature)
        return raw !== null && (await crypto.subtle.verify(params, key, raw, encoder.encode(message)))
      } catch {
        return false
      }
    }
  }
}

/** A note the page refuses, with why in the words it shows (notes the gateway refuses too: gateway/audit/signed-note.ts). */
class NoteRefused extends Error {}

/** The spec asks verifiers to accept at least 16 signatures; more is refused, as the gateway refuses them. */
const MAX_SIGNATURES = 16
const MAX_NOTE_BYTES = 16 * 1024
/** The latest instant a Date holds (ECMA-262: 8.64e15 ms), in POSIX seconds. */
const LATEST_TIME = 8.64e12

/** POSIX seconds as an ISO 8601 time. */
function isoTime(seconds) {
  return new Date(seconds * 1000).toISOString()
}

function toBase64(bytes) {
  return btoa(String.fromCharCode(...bytes))
}

/** The bytes of `b64`, or null when atob refuses it (a length no base64 has). */
function base64OrNull(b64) {
  try {
    return fromBase64(b64)
  } catch {
    return null
  }
}

/**
 * The note's text and signature lines, read as the gateway reads them
 * (signed-note.ts, parseNote): any line after the blank one that is not
 * "— <name> <base64 of a key ID and a signature>" refuses the note. Throws
 * NoteRefused.
 */
function parse(note) {
  if (typeof note !== 'string' || encoder.encode(note).length > MAX_NOTE_BYTES) {
    throw new NoteRefused(`the checkpoint is not a signed note of at most ${MAX_NOTE_BYTES} bytes`)
  }
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note) || !note.isWellFormed()) {
    throw new NoteRefused('the checkpoint is not a signed note: it holds a control character other than newline')
  }
  const split = note.lastIndexOf('\n\n')
  if (split === -1 || !note.endsWith('\n'))
    throw new NoteRefused('the checkpoint is not a signed note: no blank line before its signatures, or no final newline')
  const text = note.slice(0, split + 1)
  const raw = note.slice(split + 2, -1).split('\n')
  if (raw.length > MAX_SIGNATURES) throw new NoteRefused(`the checkpoint carries more than ${MAX_SIGNATURES} signature lines`)
  const lines = raw.map((l) => {
    const m = /^\u2014 ([^\s+]+) ([A-Za-z0-9+/]+={0,2})$/.exec(l)
    const bytes = m === null ? null : base64OrNull(m[2])
    if (bytes === null || bytes.length < 5 || toBase64(bytes) !== m[2]) {
      throw new NoteRefused('a signature line of the checkpoint is malformed: it is not "— <name> <base64 of a key ID and a signature>"')
    }
    return { name: m[1], keyId: new DataView(bytes.buffer).getUint32(0), signature: bytes.subarray(4) }
  })
  return { text, lines }
}

/** The checkpoint a note's text states (C2SP tlog-checkpoint), as the gateway reads it (checkpoint.ts, readCheckpointText); null when it is none. */
function checkpointOf(text) {
  const body = /^([^\s+]+)\n(0|[1-9][0-9]{0,15})\n([A-Za-z0-9+/]{43}=)\n$/.exec(text)
  if (body === null || !Number.isSafeInteger(Number(body[2])) || toBase64(fromBase64(body[3])) !== body[3]) return null
  return { origin: body[1], size: Number(body[2]), root: body[3] }
}

/**
 * The checkpoint of `note` and whether it is witnessed: of this gateway's
 * ledger (`keys.origin`), signed by one of its keys (`keys.keys`) and
 * cosigned by one of the partner's under its witness name (`keys.witness`;
 * `keys` as GET /.well-known/ledger-keys.json gives them, and api.js's
 * publishedKeys). Only then
 * may a page call an entry proven in it "verified" (docs/privacy-officers.md,
 * "The ledger"); `why` says, when it is not, in the page's words. The size
 * and root are read from the note's text alone: a size or root sent beside
 * the note is read from a database column that whoever can write the
 * database can change, with no signature to show it
 * (docs/privacy-officers.md, "Checking a disclosure report offline").
 */
export async function verifyCheckpoint(note, keys) {
  const refused = (checkpoint, why) => ({ checkpoint, signed: false, cosignedAt: null, signers: [], witnessed: false, why })
  let parsed
  try {
    parsed = parse(note)
  } catch (err) {
    if (err instanceof NoteRefused) return refused(null, err.message)
    throw err
  }
  const checkpoint = checkpointOf(parsed.text)
  if (checkpoint === null) return refused(null, 'the checkpoint’s text is not an origin, a tree size and a root hash')
  // Whose ledger it is: a checkpoint signs its origin, and one of another ledger proves nothing of this one.
  if (checkpoint.origin !== keys.origin) return refused(checkpoint, `the checkpoint is of the ledger ${checkpoint.origin}, not this gateway’s (${keys.origin})`)
  let verified
  try {
    verified = await verifyCheckpointSignatures(parsed, keys)
  } catch (err) {
    if (err instanceof NoteRefused) return refused(checkpoint, err.message)
    throw err
  }
  const { signed, cosignedAt, signers } = verified
  const witnessed = signed && cosignedAt !== null
  const missing = [signed ? null : 'not signed by this gateway’s key', cosignedAt !== null ? null : 'not cosigned by the partner’s key'].filter(Boolean)
  return { checkpoint, signed, cosignedAt, signers, witnessed, why: witnessed ? null : `the checkpoint is ${missing.join(' and ')}` }
}

/**
 * Whether the checkpoint (`text` and its signature `lines`) is signed by one
 * of `keys.keys` under its origin and cosigned by one of `keys.witness.keys`
 * under the witness's name, and when (POSIX seconds; the latest, if more
 * than once), with the names of the lines that verified. A line by an
 * unknown key is ignored, as the spec says; a line by a known key that does
 * not verify, or a cosignature dated after its key was retired, refuses the
 * note (NoteRefused), as the gateway refuses it (signed-note.ts, verifyNote).
 */
async function verifyCheckpointSignatures({ text, lines }, keys) {
  let signed = false
  let cosignedAt = null
  const signers = new Set()
  for (const line of lines) {
    if (line.name === keys.origin) {
      for (const jwk of keys.keys) {
        const key = await noteKey(jwk, keys.origin)
        if (line.keyId !== key.logId) continue
        if (!(await key.verify(text, line.signature))) throw new NoteRefused(`the signature of ${line.name} does not verify`)
        signed = true
        signers.add(line.name)
      }
    }
    if (line.name !== keys.witness.name) continue
    for (const jwk of keys.witness.keys) {
      const key = await noteKey(jwk, keys.witness.name)
      if (line.keyId !== key.cosignatureId) continue
      if (line.signature.length < 9) throw new NoteRefused(`the cosignature of ${line.name} has no timestamp`)
      const time = Number(new DataView(line.signature.buffer, line.signature.byteOffset).getBigUint64(0))
      if (time > LATEST_TIME) throw new NoteRefused(`the cosignature of ${line.name} states a time past any date`)
      if (!(await key.verify(`cosignature/v1\ntime ${time}\n${text}`, line.signature.subarray(8)))) {
        throw new NoteRefused(`the cosignature of ${line.name} does not verify`)
      }
      // Whoever holds a retired key may not be the witness: what it dates later is not the partner's word.
      if (jwk.retiredAt !== undefined && time > jwk.retiredAt) {
        throw new NoteRefused(`the cosignature of ${line.name} is dated ${isoTime(time)}, after its key ${jwk.kid} was retired (${isoTime(jwk.retiredAt)})`)
      }
      if (cosignedAt === null || time > cosignedAt) cosignedAt = time
      signers.add(line.name)
    }
  }
  return { signed, cosignedAt, signers: [...signers] }
}
