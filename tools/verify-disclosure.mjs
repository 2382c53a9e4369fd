#!/usr/bin/env node
// Checks a traveller's disclosure report offline, as an oversight body
// would: no gateway, no network, no code of this project but the one module
// below; node:crypto and the two gateways' published keys only
// (docs/privacy-officers.md, "Checking a disclosure report offline").
//
//   node verify-disclosure.mjs --report report.json --ledger-keys ca-jwks.json --witness-keys us-jwks.json
//
// It checks that:
//   1. the report's checkpoint is signed by the reporting gateway's ledger key
//      (a C2SP signed note: origin, tree size, root hash);
//   2. it is cosigned by the partner gateway, the ledger's witness (the
//      cosignature/v1 message of C2SP tlog-cosignature);
//   3. each entry of the report is in that tree: its exact ledger text,
//      hashed as an RFC 9162 leaf, and its inclusion proof lead to the root
//      (RFC 9162 §2.1.3.2);
//   4. what the report shows of each entry is what that text says, the
//      fields shared with the partner and the number withheld included.
// Exit code 0: every entry proven. 1: something does not verify (each
// finding is printed). 2: the inputs could not be read.
//
// Plain JavaScript, so that any Node.js from 20 on runs it as it is. It is
// two files: this one and the module it imports,
// ../gateway/console/disclosures.mjs, which checks a row against its entry
// (the console makes the same check in the browser). Copy both out of the
// repository, at the same places relative to each other, and use them alone.
import { createHash, createPublicKey, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
// What a row shows against its entry: one module with the console's check, so the two cannot drift apart.
import { notSupersededAsSaid, notTheTravellers, repeatedRows, rowNotAsItsEntry } from '../gateway/console/disclosures.mjs'

export { travellerFields } from '../gateway/console/disclosures.mjs'

// RFC 9162 §2.1 ---------------------------------------------------------------

const sha256 = (...parts) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

/** The hash of a leaf: SHA-256(0x00 || data). */
export function leafHash(data) {
  return sha256(Buffer.from([0]), Buffer.from(data, 'utf8'))
}

/** The hash of an interior node: SHA-256(0x01 || left || right). */
function nodeHash(left, right) {
  return sha256(Buffer.from([1]), left, right)
}

/**
 * The root that leaf `index` of a tree of `size` leaves leads to with
 * `proof`, by RFC 9162 §2.1.3.2; undefined when the proof cannot be one for
 * that leaf and size.
 */
export function rootFromInclusionProof(index, size, leaf, proof) {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) return undefined
  if (leaf.length !== 32 || proof.some((p) => p.length !== 32)) return undefined
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : undefined
}

// C2SP signed notes -------------------------------------------------------------

/** The note's text and its signature lines (name, key ID, signature bytes). */
export function parseNote(note) {
  const split = note.lastIndexOf('\n\n')
  if (split === -1 || !note.endsWith('\n')) throw new Error('the checkpoint is not a signed note')
  const text = note.slice(0, split + 1)
  const signatures = note
    .slice(split + 2, -1)
    .split('\n')
    .map((line) => {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(line)
      if (m === null) throw new Error('a signature line of the checkpoint is not "— <name> <base64>"')
      const bytes = Buffer.from(m[2], 'base64')
      return { name: m[1], keyId: bytes.readUInt32BE(0), signature: bytes.subarray(4) }
    })
  return { text, signatures }
}

/**
 * A key as the notes use it: its key IDs for a log signature and for a
 * cosignature under `name` (C2SP signed-note and tlog-cosignature; ECDSA P-256
 * cosignatures take type 0xff and the gateway's identifier), and a verify.
 */
function noteKey(jwk, name) {
  const key = createPublicKey({ key: jwk, format: 'jwk' })
  const spki = key.export({ format: 'der', type: 'spki' })
  const id = (...parts) => sha256(...parts).readUInt32BE(0)
  const ed = jwk.kty === 'OKP'
  return {
    logId: ed ? id(`${name}\n`, Buffer.from([0x01]), spki.subarray(-32)) : id(spki),
    cosignatureId: ed
      ? id(`${name}\n`, Buffer.from([0x04]), spki.subarray(-32))
      : id(`${name}\n`, Buffer.from([0xff]), 'btb-gateway/cosignature/v1/ecdsa-p256', spki),
    verify: (message, signature) => {
      try {
        return verify(ed ? null : 'sha256', Buffer.from(message, 'utf8'), key, signature)
      } catch {
        return false
      }
    }
  }
}

/** The checkpoint's origin, size and root, if a signature line by one of `jwks` under the origin's name verifies. */
export function openCheckpoint(note, jwks) {
  const { text, signatures } = parseNote(note)
  const m = /^(\S+)\n(0|[1-9][0-9]*)\n([A-Za-z0-9+/]{43}=)\n$/.exec(text)
  if (m === null) throw new Error('the checkpoint text is not an origin, a tree size and a root hash')
  const [, origin, size, root] = m
  const signed = signatures.some((s) =>
    jwks.some((jwk) => {
      const key = noteKey(jwk, origin)
      return s.name === origin && s.keyId === key.logId && key.verify(text, s.signature)
    })
  )
  if (!signed) throw new Error(`the checkpoint is not signed by a key of the ledger ${origin}`)
  return { origin, size: Number(size), root: Buffer.from(root, 'base64'), text, signatures }
}

/** When (POSIX seconds) a key of `jwks` cosigned the checkpoint, or undefined if none did. */
export function cosignedAt(checkpoint, jwks) {
  for (const s of checkpoint.signatures) {
    if (s.signature.length < 9) continue
    const time = Number(s.signature.readBigUInt64BE(0))
    const message = `cosignature/v1\ntime ${time}\n${checkpoint.text}`
    for (const jwk of jwks) {
      const key = noteKey(jwk, s.name)
      if (s.keyId === key.cosignatureId && key.verify(message, s.signature.subarray(8))) return time
    }
  }
  return undefined
}

// The report -------------------------------------------------------------------

/** Findings for a report: none when every entry is proven. */
export function verifyReport(report, ledgerJwks, witnessJwks) {
  const findings = []
  const proven = []
  if (report.checkpoint == null)
    return { findings: ['the report carries no cosigned checkpoint: nothing in it can be proven yet'], proven, checkpoint: undefined }
  let checkpoint
  try {
    checkpoint = openCheckpoint(report.checkpoint.note, ledgerJwks)
  } catch (err) {
    return { findings: [err.message], proven, checkpoint: undefined }
  }
  const time = cosignedAt(checkpoint, witnessJwks)
  if (time === undefined) findings.push("the checkpoint is not cosigned by the partner's key: the ledger's keeper alone vouches for it")
  const repeated = repeatedRows(report.disclosures ?? [])
  for (const seq of repeated) findings.push(`entry ${seq} is shown more than once in the report`)
  for (const d of report.disclosures ?? []) {
    const where = `entry ${d.seq}`
    if (repeated.has(d.seq)) continue
    if (d.inclusionProof == null) {
      findings.push(`${where} is after the cosigned checkpoint (${checkpoint.size} entries): not yet provable`)
      continue
    }
    const { treeSize, hashes } = d.inclusionProof
    if (treeSize !== checkpoint.size) {
      findings.push(`${where}: its proof is for a tree of ${treeSize} entries, not the checkpoint's ${checkpoint.size}`)
      continue
    }
    const root = rootFromInclusionProof(
      d.seq - 1,
      treeSize,
      leafHash(d.ledgerEntry),
      hashes.map((h) => Buffer.from(h, 'base64'))
    )
    if (root === undefined || !root.equals(checkpoint.root)) {
      findings.push(`${where}: its text and proof do not lead to the checkpoint's root: it is not the ledger's entry ${d.seq}`)
      continue
    }
    // Whose report it is, and that the row shows what its proven text says: the check the console makes of each row too.
    const notAsItsEntry = rowNotAsItsEntry(d, report.subject)
    if (notAsItsEntry !== null) {
      findings.push(`${where}: ${notAsItsEntry}`)
      continue
    }
    proven.push(d.seq)
  }
  const stillProven = new Set(proven)
  for (const [seq, why] of notTheTravellers(report.disclosures, stillProven, report.subject)) {
    stillProven.delete(seq)
    findings.push(`entry ${seq}: ${why}`)
  }
  const notes = checkSupersededBy(report, stillProven, findings)
  return {
    findings,
    notes,
    proven: proven.filter((seq) => stillProven.has(seq)),
    checkpoint: { origin: checkpoint.origin, size: checkpoint.size, cosignedAt: time }
  }
}

/**
 * A row's `supersededBy` names the entry of the correction or retraction:
 * when that entry is in the report and proven, it must supersede this
 * message, as said. One on another page of the report is checked with that
 * page; whether the original was withdrawn before it left is the gateway's
 * account, from an entry about the message that names no traveller: both are
 * notes, not proof (docs/privacy-officers.md, "Checking a disclosure report offline").
 */
function checkSupersededBy(report, proven, findings) {
  const notes = []
  const rows = new Map((report.disclosures ?? []).map((d) => [d.seq, d]))
  for (const d of report.disclosures ?? []) {
    const by = d.supersededBy
    if (by == null || !proven.has(d.seq)) continue
    const where = `entry ${d.seq}`
    const superseding = rows.get(by.seq)
    if (superseding === undefined) {
      notes.push(`${where}: the entry that superseded it (${by.seq}) is not in this report: check the page that holds it`)
    } else if (!proven.has(by.seq)) {
      findings.push(`${where}: the entry that superseded it (${by.seq}) is not proven`)
      continue
    } else {
      const why = notSupersededAsSaid(d, superseding)
      if (why !== null) {
        proven.delete(d.seq)
        findings.push(`${where}: ${why}`)
        continue
      }
    }
    if (by.withdrawn === true) notes.push(`${where}: that it was withdrawn before it left is the gateway's account, not proven by the report`)
  }
  return notes
}

function readJwks(path) {
  const json = JSON.parse(readFileSync(path, 'utf8'))
  return Array.isArray(json.keys) ? json.keys : [json]
}

function main() {
  const usage = 'usage: node verify-disclosure.mjs --report <report.json> --ledger-keys <jwks.json> --witness-keys <jwks.json>'
  let values
  try {
    ;({ values } = parseArgs({ options: { report: { type: 'string' }, 'ledger-keys': { type: 'string' }, 'witness-keys': { type: 'string' } }, strict: true }))
  } catch (err) {
    process.stderr.write(`${err.message}\n${usage}\n`)
    return 2
  }
  if (values.report === undefined || values['ledger-keys'] === undefined || values['witness-keys'] === undefined) {
    process.stderr.write(`${usage}\n`)
    return 2
  }
  let report
  let ledgerJwks
  let witnessJwks
  try {
    report = JSON.parse(readFileSync(values.report, 'utf8'))
    ledgerJwks = readJwks(values['ledger-keys'])
    witnessJwks = readJwks(values['witness-keys'])
  } catch (err) {
    process.stderr.write(`could not read the inputs: ${err.message}\n`)
    return 2
  }
  const { findings, notes, proven, checkpoint } = verifyReport(report, ledgerJwks, witnessJwks)
  const out = []
  if (checkpoint !== undefined) {
    const when = checkpoint.cosignedAt === undefined ? 'not cosigned' : `cosigned by the partner at ${new Date(checkpoint.cosignedAt * 1000).toISOString()}`
    out.push(`Checkpoint: ${checkpoint.origin}, ${checkpoint.size} entries, signed by the ledger's key, ${when}.`)
  }
  out.push(`Entries proven in it: ${proven.length} of ${(report.disclosures ?? []).length}${proven.length > 0 ? ` (${proven.join(', ')})` : ''}.`)
  for (const f of findings) out.push(`NOT PROVEN: ${f}.`)
  for (const n of notes ?? []) out.push(`NOTE: ${n}.`)
  out.push(findings.length === 0 ? 'Result: OK. Every entry of the report is in the ledger the partner witnessed, as shown.' : 'Result: NOT OK.')
  process.stdout.write(`${out.join('\n')}\n`)
  return findings.length === 0 ? 0 : 1
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main()
