// Checks a checkpoint's signatures in the page, with the browser's WebCrypto
// only (docs/architecture.md, "The verifiable ledger"): the gateway's
// signature line (C2SP signed note, ECDSA P-256 as type 0x02, Ed25519 as
// 0x01) and the partner's cosignature (the cosignature/v1 message of C2SP
// tlog-cosignature; an ECDSA key signs it as type 0xff with the gateway's
// identifier, an Ed25519 key as 0x04). The keys are those the gateway
// publishes: its own JWKS and the partner's it trusts. The gateway's side is
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

/** An ASN.1 DER ECDSA signature (what node:crypto makes) as the 64 bytes r || s WebCrypto takes. */
function derToRaw(der) {
  const out = new Uint8Array(64)
  let at = 2 // SEQUENCE, length (a P-256 signature is under 128 bytes)
  for (const half of [0, 32]) {
    const len = der[at + 1]
    let int = der.subarray(at + 2, at + 2 + len)
    while (int.length > 32 && int[0] === 0) int = int.subarray(1)
    out.set(int, half + 32 - int.length)
    at += 2 + len
  }
  return out
}

/** A published key, as the notes use it: its key IDs under `name`, and a verify. */
async function noteKey(jwk, name) {
  const ed = jwk.kty === 'OKP'
  const algorithm = ed ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' }
  const { d: _private, ...pub } = jwk
  const key = await crypto.subtle.importKey('jwk', { ...pub, key_ops: ['verify'] }, algorithm, true, ['verify'])
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', key))
  const named = (type, ...more) => keyId(encoder.encode(`${name}\n`), Uint8Array.of(type), ...more)
  return {
    logId: ed ? await named(0x01, spki.subarray(-32)) : await keyId(spki),
    cosignatureId: ed ? await named(0x04, spki.subarray(-32)) : await named(0xff, encoder.encode(ECDSA_COSIGNATURE_ID), spki),
    verify: async (message, signature) => {
      try {
        const params = ed ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' }
        return await crypto.subtle.verify(params, key, ed ? signature : derToRaw(signature), encoder.encode(message))
      } catch {
        return false
      }
    }
  }
}

function parse(note) {
  const split = note.lastIndexOf('\n\n')
  const text = note.slice(0, split + 1)
  const lines = note
    .slice(split + 2)
    .split('\n')
    .filter((l) => l.startsWith('\u2014 '))
    .map((l) => {
      const [name, b64] = l.slice(2).split(' ')
      const bytes = fromBase64(b64)
      return { name, keyId: new DataView(bytes.buffer).getUint32(0), signature: bytes.subarray(4) }
    })
  return { text, lines }
}

/**
 * The checkpoint a note signs, read from its text alone (C2SP
 * tlog-checkpoint: the origin, the tree size in decimal, the base64 root
 * hash), as tools/verify-disclosure.mjs reads it; null when the text is no
 * checkpoint. A page proves entries against this size and root only: a size
 * or root sent beside the note is read from a database column that whoever
 * can write the database can change, with no signature to show it
 * (docs/privacy-officers.md, "Checking a disclosure report offline").
 */
export function signedCheckpoint(note) {
  const body = /^(\S+)\n(0|[1-9][0-9]*)\n([A-Za-z0-9+/]{43}=)\n$/.exec(parse(note).text)
  return body === null ? null : { origin: body[1], size: Number(body[2]), root: body[3] }
}

/**
 * The checkpoint of `note` and whether it is witnessed: signed by one of the
 * gateway's own published keys and cosigned by one of the partner's
 * (`keys` as api.js's publishedKeys gives them). Only then may a page call an
 * entry proven in it "verified" (docs/privacy-officers.md, "The ledger").
 */
export async function verifyCheckpoint(note, keys) {
  const checkpoint = signedCheckpoint(note)
  const { signed, cosignedAt, signers } = await verifyCheckpointSignatures(note, keys.own, keys.partner)
  return { checkpoint, signed, cosignedAt, signers, witnessed: checkpoint !== null && signed && cosignedAt !== null }
}

/**
 * Whether the checkpoint `note` is signed by one of `ledgerKeys` (under the
 * origin its first line names) and cosigned by one of `witnessKeys`, and
 * when (POSIX seconds), with the names of the lines that verified. A line by
 * an unknown key is ignored, as the spec says.
 */
export async function verifyCheckpointSignatures(note, ledgerKeys, witnessKeys) {
  const { text, lines } = parse(note)
  const origin = text.split('\n')[0]
  let signed = false
  let cosignedAt = null
  const signers = new Set()
  for (const line of lines) {
    for (const jwk of ledgerKeys) {
      const key = await noteKey(jwk, origin)
      if (line.name === origin && line.keyId === key.logId && (await key.verify(text, line.signature))) {
        signed = true
        signers.add(line.name)
      }
    }
    if (line.signature.length < 9) continue
    const time = Number(new DataView(line.signature.buffer, line.signature.byteOffset).getBigUint64(0))
    for (const jwk of witnessKeys) {
      const key = await noteKey(jwk, line.name)
      if (line.keyId === key.cosignatureId && (await key.verify(`cosignature/v1\ntime ${time}\n${text}`, line.signature.subarray(8)))) {
        cosignedAt = time
        signers.add(line.name)
      }
    }
  }
  return { signed, cosignedAt, signers: [...signers] }
}
