#!/usr/bin/env node
// Checks a traveller's disclosure report offline, as an oversight body
// would: no gateway, no network, no code of this project but the one module
// below; node:crypto and the gateways' published ledger keys only
// (GET /.well-known/ledger-keys.json; docs/privacy-officers.md, "Checking a
// disclosure report offline").
//
//   node verify-disclosure.mjs --report report.json --ledger-keys ca-ledger-keys.json [--witness-keys us-ledger-keys.json]
//
// It checks that:
//   1. the report's checkpoint is of the reporting gateway's ledger (the
//      origin its ledger keys name, btb-gateway/<country>/ledger) and signed
//      by one of its keys, a retired one included (a C2SP signed note:
//      origin, tree size, root hash), read as strictly as the gateway reads
//      it;
//   2. it is cosigned by the partner gateway, the ledger's witness (the
//      cosignature/v1 message of C2SP tlog-cosignature), by one of the keys
//      the ledger keys give for it, or those the witness publishes itself
//      when --witness-keys gives them; by a retired one, only if the
//      cosignature is dated no later than it was retired. Without
//      --witness-keys, the witness's keys are the reporting gateway's word,
//      and the output says so;
//   3. each entry of the report is in that tree: its exact ledger text,
//      hashed as an RFC 9162 leaf, and its inclusion proof lead to the root
//      (RFC 9162 §2.1.3.2);
//   4. what the report shows of each entry is what that text says, the
//      fields shared with the partner and the number withheld included.
// Exit code 0: every entry proven. 1: something does not verify (each
// finding is printed). 2: the inputs could not be read, or the report is not
// in the form the gateway makes it.
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
import { notALedgerPosition, notSupersededAsSaid, notTheTravellers, repeatedRows, rowNotAsItsEntry } from '../gateway/console/disclosures.mjs'

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
// Read as strictly as the gateway reads them (gateway/audit/signed-note.ts,
// parseNote and verifyNote): a note it would refuse is refused here too.

/** The spec asks verifiers to accept at least 16 signatures; more is refused, as the gateway refuses them. */
const MAX_SIGNATURES = 16
const MAX_NOTE_BYTES = 16 * 1024
/** The latest instant a Date holds (ECMA-262: 8.64e15 ms), in POSIX seconds. */
const LATEST_TIME = 8.64e12

/** The note's text and its signature lines (name, key ID, signature bytes); throws with what is wrong. */
export function parseNote(note) {
  if (typeof note !== 'string') throw new Error('the checkpoint is not a signed note: it is not text')
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) throw new Error(`the checkpoint is not a signed note: it is longer than ${MAX_NOTE_BYTES} bytes`)
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note) || !note.isWellFormed()) {
    throw new Error('the checkpoint is not a signed note: it holds a control character other than newline')
  }
  const split = note.lastIndexOf('\n\n')
  if (split === -1 || !note.endsWith('\n')) throw new Error('the checkpoint is not a signed note: no blank line before its signatures, or no final newline')
  const text = note.slice(0, split + 1)
  const lines = note.slice(split + 2, -1).split('\n')
  if (lines.length > MAX_SIGNATURES) throw new Error(`the checkpoint is not a signed note: more than ${MAX_SIGNATURES} signature lines`)
  const signatures = lines.map((line) => {
    const m = /^\u2014 ([^\s+]+) ([A-Za-z0-9+/]+={0,2})$/.exec(line)
    const bytes = m === null ? undefined : Buffer.from(m[2], 'base64')
    if (bytes === undefined || bytes.length < 5 || bytes.toString('base64') !== m[2]) {
      throw new Error('a signature line of the checkpoint is malformed: it is not "— <name> <base64 of a key ID and a signature>"')
    }
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

/**
 * The checkpoint's origin, size and root, if it is of the ledger `origin`
 * and a signature line by one of `jwks` under that name verifies. A line by
 * one of them that does not verify refuses the note, whatever else it
 * carries, as the gateway refuses it; a line by another key is ignored
 * (C2SP signed-note).
 */
export function openCheckpoint(note, origin, jwks) {
  const { text, signatures } = parseNote(note)
  const m = /^([^\s+]+)\n(0|[1-9][0-9]{0,15})\n([A-Za-z0-9+/]{43}=)\n$/.exec(text)
  if (m === null || !Number.isSafeInteger(Number(m[2])) || Buffer.from(m[3], 'base64').toString('base64') !== m[3]) {
    throw new Error('the checkpoint text is not an origin, a tree size and a root hash')
  }
  // Whose ledger it is: a checkpoint signs its origin, and one of another ledger proves nothing of this one.
  if (m[1] !== origin) throw new Error(`the checkpoint is of the ledger ${m[1]}, not ${origin}, whose report this is`)
  let signed = false
  for (const s of signatures) {
    for (const jwk of jwks) {
      const key = noteKey(jwk, origin)
      if (s.name !== origin || s.keyId !== key.logId) continue
      if (!key.verify(text, s.signature)) throw new Error(`the signature of ${origin} does not verify`)
      signed = true
    }
  }
  if (!signed) throw new Error(`the checkpoint is not signed by a key of the ledger ${origin}`)
  return { origin, size: Number(m[2]), root: Buffer.from(m[3], 'base64'), text, signatures }
}

/**
 * When (POSIX seconds) a key of `jwks` cosigned the checkpoint under the
 * witness's name `name`, the latest if it did more than once; undefined if
 * none did. Throws when a line by one of them does not verify, or is dated
 * after its key's `retiredAt` (whoever holds a retired key may not be the
 * witness), as the gateway does (gateway/audit/signed-note.ts, verifyNote).
 */
export function cosignedAt(checkpoint, name, jwks) {
  let latest
  for (const s of checkpoint.signatures) {
    if (s.name !== name) continue
    for (const jwk of jwks) {
      const key = noteKey(jwk, name)
      if (s.keyId !== key.cosignatureId) continue
      if (s.signature.length < 9) throw new Error(`the cosignature of ${name} has no timestamp`)
      const time = Number(s.signature.readBigUInt64BE(0))
      if (time > LATEST_TIME) throw new Error(`the cosignature of ${name} states a time past any date`)
      if (!key.verify(`cosignature/v1\ntime ${time}\n${checkpoint.text}`, s.signature.subarray(8))) {
        throw new Error(`the cosignature of ${name} does not verify`)
      }
      if (jwk.retiredAt !== undefined && time > jwk.retiredAt) {
        throw new Error(`the cosignature of ${name} is dated ${isoTime(time)}, after its key ${jwk.kid} was retired (${isoTime(jwk.retiredAt)})`)
      }
      if (latest === undefined || time > latest) latest = time
    }
  }
  return latest
}

/** POSIX seconds as an ISO 8601 time. */
function isoTime(seconds) {
  return new Date(seconds * 1000).toISOString()
}

// The report -------------------------------------------------------------------

/**
 * Findings for a report: none when every entry is proven. `ledgerKeys` is
 * what the gateway that made it publishes (GET /.well-known/ledger-keys.json):
 * its checkpoint must be of that ledger (`origin`), signed by one of `keys`,
 * and cosigned by the partner as its witness (`witness.name`) with one of
 * `witness.keys`.
 */
export function verifyReport(report, ledgerKeys) {
  const findings = []
  const proven = []
  if (report.checkpoint == null)
    return { findings: ['the report carries no cosigned checkpoint: nothing in it can be proven yet'], proven, checkpoint: undefined }
  let checkpoint
  try {
    checkpoint = openCheckpoint(report.checkpoint.note, ledgerKeys.origin, ledgerKeys.keys)
  } catch (err) {
    return { findings: [err.message], proven, checkpoint: undefined }
  }
  let time
  try {
    time = cosignedAt(checkpoint, ledgerKeys.witness.name, ledgerKeys.witness.keys)
    if (time === undefined) findings.push("the checkpoint is not cosigned by the partner's key: the ledger's keeper alone vouches for it")
  } catch (err) {
    findings.push(err.message)
  }
  const repeated = repeatedRows(report.disclosures ?? [])
  for (const seq of repeated) findings.push(`entry ${seq} is shown more than once in the report`)
  for (const d of report.disclosures ?? []) {
    const where = `entry ${d.seq}`
    const notAt = notALedgerPosition(d.seq)
    if (notAt !== null) {
      findings.push(notAt)
      continue
    }
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
    // Each hash in base64's one form, as the gateway writes it and the console
    // reads it: Buffer's decoder would take base64url, or skip a stray
    // character, and prove here what the page calls NOT verified.
    const malformed = hashes.findIndex((h) => !isDigest(h))
    if (malformed !== -1) {
      findings.push(`${where}: hash ${malformed + 1} of its proof is not a SHA-256 hash (32 bytes in base64)`)
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

/** A SHA-256 digest in standard base64, padded, in its one spelling: what a proof's hash is. */
function isDigest(h) {
  return /^[A-Za-z0-9+/]{43}=$/.test(h) && Buffer.from(h, 'base64').toString('base64') === h
}

/**
 * What makes `report` other than the form the gateway makes it in
 * (GET /v1/audit/disclosures; docs/privacy-officers.md, "Checking a
 * disclosure report offline"), in a few words; null when it is that form.
 * Only what the checks read: a value of another type there is no report to
 * check, and exits 2, not a finding.
 */
export function reportFormProblem(report) {
  const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (!isObject(report)) return 'it is not a JSON object'
  if (typeof report.subject !== 'string') return 'subject is not a string'
  if (report.checkpoint != null && (!isObject(report.checkpoint) || typeof report.checkpoint.note !== 'string')) return 'checkpoint has no note'
  if (!Array.isArray(report.disclosures)) return 'disclosures is not a list'
  for (const [i, d] of report.disclosures.entries()) {
    const where = `entry ${i + 1} of disclosures`
    if (!isObject(d)) return `${where} is not an object`
    if (typeof d.ledgerEntry !== 'string') return `${where}: ledgerEntry is not a string`
    const proof = d.inclusionProof
    if (proof != null && (!isObject(proof) || !Array.isArray(proof.hashes) || !proof.hashes.every((h) => typeof h === 'string'))) {
      return `${where}: inclusionProof is not a tree size and a list of base64 hashes`
    }
    if (d.supersededBy != null && !isObject(d.supersededBy)) return `${where}: supersededBy is not an object`
  }
  return null
}

/** A published key list, each key read as a public key, a retired one's retiredAt as POSIX seconds: throws when one cannot be. */
function checkKeys(keys, where) {
  if (!Array.isArray(keys)) throw new Error(`${where} is not a list of keys`)
  for (const jwk of keys) {
    createPublicKey({ key: jwk, format: 'jwk' })
    if (jwk.retiredAt !== undefined && !(Number.isSafeInteger(jwk.retiredAt) && jwk.retiredAt >= 0)) {
      throw new Error(`${where}: the retiredAt of ${jwk.kid} is not a time in POSIX seconds`)
    }
  }
}

/**
 * A gateway's published ledger keys (GET /.well-known/ledger-keys.json):
 * its ledger's origin and keys, and its witness's name and keys. Throws
 * when the file is not that.
 */
function readLedgerKeys(path) {
  const json = JSON.parse(readFileSync(path, 'utf8'))
  const isName = (v) => typeof v === 'string' && /^[^\s+]+$/.test(v)
  if (!isName(json?.origin) || !isName(json.witness?.name)) throw new Error(`${path} is not a gateway's ledger keys: no origin or witness name`)
  checkKeys(json.keys, `${path}, keys`)
  checkKeys(json.witness.keys, `${path}, witness.keys`)
  return json
}

/**
 * The ledger keys with the witness's keys as it publishes them itself, in
 * its own ledger keys (`witness`): the keys a gateway cosigns with are those
 * it signs its own checkpoints with, under its name as a witness.
 */
function withWitnessOwnKeys(ledgerKeys, witness) {
  const name = witness.origin.replace(/\/ledger$/, '/witness')
  if (name !== ledgerKeys.witness.name) {
    throw new Error(`the witness keys are of ${witness.origin}, not of the ledger's witness ${ledgerKeys.witness.name}`)
  }
  return { ...ledgerKeys, witness: { name, keys: witness.keys } }
}

function main() {
  const usage =
    'usage: node verify-disclosure.mjs --report <report.json> --ledger-keys <ledger-keys.json> [--witness-keys <ledger-keys.json>]\n' +
    '  --ledger-keys: GET /.well-known/ledger-keys.json of the gateway that made the report\n' +
    "  --witness-keys: the same of the partner gateway, its witness: its own keys are then the witness's"
  let values
  try {
    ;({ values } = parseArgs({
      options: { report: { type: 'string' }, 'ledger-keys': { type: 'string' }, 'witness-keys': { type: 'string' } },
      strict: true
    }))
  } catch (err) {
    process.stderr.write(`${err.message}\n${usage}\n`)
    return 2
  }
  if (values.report === undefined || values['ledger-keys'] === undefined) {
    process.stderr.write(`${usage}\n`)
    return 2
  }
  let report
  let ledgerKeys
  try {
    report = JSON.parse(readFileSync(values.report, 'utf8'))
    ledgerKeys = readLedgerKeys(values['ledger-keys'])
    if (values['witness-keys'] !== undefined) ledgerKeys = withWitnessOwnKeys(ledgerKeys, readLedgerKeys(values['witness-keys']))
  } catch (err) {
    process.stderr.write(`could not read the inputs: ${err.message}\n`)
    return 2
  }
  const formProblem = reportFormProblem(report)
  if (formProblem !== null) {
    process.stderr.write(`the report is not in the form the gateway makes it: ${formProblem}\n`)
    return 2
  }
  const { findings, notes, proven, checkpoint } = verifyReport(report, ledgerKeys)
  // The witness's keys in the reporting gateway's file are its account of
  // them: a gateway that names its own key there cosigns whatever it likes.
  // Only the witness's own ledger keys prove that the partner cosigned.
  const fromWitness = values['witness-keys'] !== undefined
  const out = []
  if (checkpoint !== undefined) {
    const by = fromWitness ? 'by the partner' : `by a key the gateway names as its witness's (${ledgerKeys.witness.name})`
    const when = checkpoint.cosignedAt === undefined ? 'not cosigned' : `cosigned ${by} at ${isoTime(checkpoint.cosignedAt)}`
    out.push(`Checkpoint: ${checkpoint.origin}, ${checkpoint.size} entries, signed by the ledger's key, ${when}.`)
  }
  out.push(`Entries proven in it: ${proven.length} of ${report.disclosures.length}${proven.length > 0 ? ` (${proven.join(', ')})` : ''}.`)
  for (const f of findings) out.push(`NOT PROVEN: ${f}.`)
  for (const n of notes ?? []) out.push(`NOTE: ${n}.`)
  // A report of many entries comes a page at a time (the console saves each
  // page on its own): what is proven is the page, not the report.
  const onePage = typeof report.nextCursor === 'string' && report.nextCursor !== ''
  if (onePage) out.push('NOTE: this is one page of the report: more entries follow it (nextCursor); check each page.')
  if (!fromWitness && checkpoint?.cosignedAt !== undefined) {
    out.push(
      "NOTE: the witness's keys are the reporting gateway's account of them (--ledger-keys): that the partner cosigned the checkpoint " +
        "is proven only with the partner's own ledger keys (--witness-keys)."
    )
  }
  const witnessed = fromWitness ? 'the partner witnessed' : 'its gateway signed and says its partner witnessed'
  out.push(
    findings.length === 0 ? `Result: OK. Every entry of ${onePage ? 'this page' : 'the report'} is in the ledger ${witnessed}, as shown.` : 'Result: NOT OK.'
  )
  process.stdout.write(`${out.join('\n')}\n`)
  return findings.length === 0 ? 0 : 1
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main()
