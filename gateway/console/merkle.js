// Checks an RFC 9162 inclusion proof in the page, with the browser's SHA-256
// only: the leaf is SHA-256(0x00 || the entry's exact ledger text), a node
// SHA-256(0x01 || left || right) (docs/architecture.md, "The verifiable
// ledger"; the gateway's side is gateway/store/merkle-tree.ts). So what the
// page shows of an entry is what the ledger the partner witnessed holds.

import { notALedgerPosition } from './disclosures.mjs'

const encoder = new TextEncoder()

async function sha256(...parts) {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    bytes.set(p, at)
    at += p.length
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
}

function fromBase64(b64) {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
}

function toBase64(bytes) {
  return btoa(String.fromCharCode(...bytes))
}

/**
 * The 32 bytes of a proof's hash, or null when it is no SHA-256 digest in
 * base64, as the gateway writes them (gateway/audit/ledger-proofs.ts): atob
 * throws on what is not base64 (base64url's - and _ among it), which would
 * end the page's check in an error where the officer is owed a verdict.
 */
function digestOf(b64) {
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(b64)) return null
  const bytes = fromBase64(b64)
  return toBase64(bytes) === b64 ? bytes : null
}

/** Why `hashes` is no list of SHA-256 digests in base64, in the page's words; null when it is one. */
function proofHashesProblem(hashes) {
  if (!Array.isArray(hashes)) return 'its proof is not a list of hashes'
  const bad = hashes.findIndex((x) => digestOf(x) === null)
  return bad === -1 ? null : `hash ${bad + 1} of its proof is not a SHA-256 hash (32 bytes in base64)`
}

export async function leafHash(text) {
  return sha256(Uint8Array.of(0), encoder.encode(text))
}

/**
 * RFC 9162 §2.1.3.2: whether `text`, leaf `index` (seq - 1) of a tree of
 * `size` leaves, leads through `proof` (base64 hashes) to `root` (base64).
 * Returns the root it computed too, to show.
 */
export async function verifyInclusion(text, index, size, proof, root) {
  // A leaf index is a whole number below the size: -1 or 0.5 would walk the proof as some other leaf (RFC 9162 §2.1.3.2 takes 0 <= index < size).
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) return { ok: false, computed: null }
  // Every node is a SHA-256 digest: a proof of other lengths is none (RFC 9162 §2.1.3.2), as tools/verify-disclosure.mjs refuses it.
  if (proofHashesProblem(proof) !== null) return { ok: false, computed: null }
  const hashes = proof.map(digestOf)
  let fn = index
  let sn = size - 1
  let r = await leafHash(text)
  for (const p of hashes) {
    if (sn === 0) return { ok: false, computed: null }
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  const computed = toBase64(r)
  return { ok: sn === 0 && computed === root, computed }
}

/**
 * Whether entry `seq`'s exact ledger text and its `inclusionProof` lead to
 * the root of `checkpoint`, the size and root read from its signed note
 * (notes.js, verifyCheckpoint). A proof for another tree size is refused, as
 * tools/verify-disclosure.mjs refuses it, and so is a `seq` that is no
 * ledger position. `why` says what failed.
 */
export async function verifyInCheckpoint(text, seq, inclusionProof, checkpoint) {
  // An entry is proven at its ledger position only, as tools/verify-disclosure.mjs proves it (disclosures.mjs, notALedgerPosition).
  const notAt = notALedgerPosition(seq)
  if (notAt !== null) return { ok: false, computed: null, why: notAt }
  if (checkpoint === null) return { ok: false, computed: null, why: 'the checkpoint’s signed note names no tree size and root' }
  if (inclusionProof.treeSize !== checkpoint.size) {
    return { ok: false, computed: null, why: `its proof is for a tree of ${inclusionProof.treeSize} entries, not the signed checkpoint’s ${checkpoint.size}` }
  }
  const malformed = proofHashesProblem(inclusionProof.hashes)
  if (malformed !== null) return { ok: false, computed: null, why: malformed }
  const checked = await verifyInclusion(text, seq - 1, checkpoint.size, inclusionProof.hashes, checkpoint.root)
  return { ...checked, why: checked.ok ? null : 'its text and proof do not lead to the signed checkpoint’s root' }
}
