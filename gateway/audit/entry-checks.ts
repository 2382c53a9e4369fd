// The part of ledger verification (verify-ledger.ts) that each entry of a page
// needs alone, without the entries before it: its chain hash, its Merkle leaf,
// its JSON, and its search index rows against what it says. Pure, so that it
// runs on a worker thread (entry-check-worker.ts) as well as on the caller's;
// the sequential part (links, tree nodes, checkpoints) stays with the caller.
//
// Every comparison here has a fast form for the common case, an entry whose
// rows are exactly what the gateway wrote, and falls back to the functions the
// stores index with (audit-index.ts) whenever the fast form is unsure: a fast
// form only ever says "the same", so the reasons given are unchanged.
import { hash } from 'node:crypto'
import { chainHash } from '../store/audit-chain.ts'
import { AUDIT_COLUMNS, auditColumnValues, auditColumns, auditFieldPatterns, auditSubjects } from '../store/audit-index.ts'
import { leafHash } from '../store/merkle-tree.ts'
import type { AuditEntry, AuditIndexRows } from '../store/records.ts'

/**
 * What a page's entries bring to be checked: their links as stored (the tree
 * nodes are the caller's), and their index rows. The texts cross to a thread
 * as UTF-8 in one buffer, moved rather than copied: a page's strings,
 * structured-cloned, cost the caller more than reading them (postMessage was
 * a third of its time in a profile). Each text there follows its link's
 * `prevHash` and a newline, so that both its hashes are one-shot hashes of
 * slices of the buffer: the chain's of `prevHash\n` and the text, the Merkle
 * leaf's of the text with the newline's byte set to 0x00 for the moment.
 */
export interface EntriesToCheck {
  readonly seqs: readonly number[]
  /** Each entry's stored `prevHash`; in a packed page, also before its text in the buffer. */
  readonly prevHashes: readonly string[]
  readonly hashes: readonly string[]
  readonly texts: Texts
  /** Absent for an empty page. */
  readonly rows: AuditIndexRows | undefined
  /** The Merkle leaves of a packed page, when the sender hashed them (packedLeaves): not hashed again. */
  readonly leaves?: Uint8Array
}

/**
 * Texts as strings, or as UTF-8 in `bytes`: entry i's `prevHash` and a newline
 * from `heads[i]`, then its text from `starts[i]` to `ends[i]`.
 */
export type Texts = readonly string[] | PackedTexts

export interface PackedTexts {
  readonly bytes: Uint8Array
  readonly heads: Uint32Array
  readonly starts: Uint32Array
  readonly ends: Uint32Array
}

const NEWLINE = 0x0a

/**
 * A page's texts in one buffer (reused when `spare` is large enough), each
 * after its `prevHash` and a newline, or as they are if one of them is not
 * well-formed UTF-16: UTF-8 would replace its lone surrogate, and its JSON
 * would no longer be the text's. Texts read from SQLite or PostgreSQL are
 * UTF-8 already, so always well-formed.
 */
export function packTexts(prevHashes: readonly string[], texts: readonly string[], spare: ArrayBuffer | undefined): Texts {
  // Room for every text as ASCII and a quarter more; a page that needs more is written again into a larger buffer.
  let size = 0
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]!
    const prevHash = prevHashes[i]!
    if (!text.isWellFormed() || !prevHash.isWellFormed()) return texts
    size += prevHash.length + 1 + text.length
  }
  size = Math.ceil(size * 1.25) + 8
  for (;;) {
    const bytes = spare !== undefined && spare.byteLength >= size ? new Uint8Array(spare) : new Uint8Array(size)
    const packed = packInto(bytes, prevHashes, texts)
    if (packed !== undefined) return packed
    spare = undefined
    size *= 2
  }
}

/**
 * The texts written into `bytes`, or undefined when they may not have fitted:
 * Buffer#write stops short of a character that does not fit, so a write that
 * ends within 4 bytes of the end may have been cut (UTF-8 takes at most 4 a
 * character), and one that ends before cannot have been.
 */
function packInto(bytes: Uint8Array, prevHashes: readonly string[], texts: readonly string[]): PackedTexts | undefined {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const limit = buffer.length - 4
  const heads = new Uint32Array(texts.length)
  const starts = new Uint32Array(texts.length)
  const ends = new Uint32Array(texts.length)
  let at = 0
  for (let i = 0; i < texts.length; i++) {
    heads[i] = at
    at += buffer.write(prevHashes[i]!, at, 'utf8')
    if (at >= limit) return undefined
    buffer[at++] = NEWLINE
    starts[i] = at
    at += buffer.write(texts[i]!, at, 'utf8')
    if (at >= limit) return undefined
    ends[i] = at
  }
  return { bytes, heads, starts, ends }
}

export interface EntriesChecked {
  /** The Merkle leaf hash of each entry (merkle-tree.ts, leafHash), 32 bytes each, in page order. */
  readonly leaves: Uint8Array
  /** The first entry (by its place in the page) that does not match its hash, or is not JSON. */
  readonly broken?: { readonly at: number; readonly why: 'hash' | 'json' }
  /** The first entry whose search index rows differ from what it says: looked for only when no entry is broken. */
  readonly index?: { readonly seq: number; readonly reason: string }
  /**
   * What reading the index rows' counterparts out of an entry threw (an entry
   * of a shape the gateway never writes): thrown by the caller once the
   * page's links have verified, where verification on one thread threw it.
   */
  readonly thrown?: unknown
}

export const LEAF_BYTES = 32

/** The Merkle leaf of each text of a packed page, 32 bytes each, in page order: SHA-256(0x00 || text), over the buffer in place. */
export function packedLeaves(packed: PackedTexts): Uint8Array {
  const leaves = new Uint8Array(packed.starts.length * LEAF_BYTES)
  const leafBytes = Buffer.from(leaves.buffer, leaves.byteOffset, leaves.byteLength)
  const buffer = Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength)
  for (let i = 0; i < packed.starts.length; i++) writeLeaf(buffer, packed.starts[i]!, packed.ends[i]!, leafBytes, i)
  return leaves
}

/**
 * The leaf of the text from `start` to `end`: the byte before it (the newline
 * after its prevHash) set to 0x00 for the moment. Written as a latin1 string:
 * node:crypto's 'buffer' output costs about 1 µs more a call (merkle-tree.ts, sha256Bytes).
 */
function writeLeaf(buffer: Buffer, start: number, end: number, leafBytes: Buffer, i: number): void {
  buffer[start - 1] = 0
  leafBytes.write(hash('sha256', buffer.subarray(start - 1, end), 'binary'), i * LEAF_BYTES, LEAF_BYTES, 'latin1')
  buffer[start - 1] = NEWLINE
}

export function checkEntries({ seqs, prevHashes, hashes, texts, rows, leaves: hashed }: EntriesToCheck): EntriesChecked {
  const leaves = hashed ?? new Uint8Array(seqs.length * LEAF_BYTES)
  const leafBytes = Buffer.from(leaves.buffer, leaves.byteOffset, leaves.byteLength)
  const packed = isPacked(texts) ? { ...texts, buffer: Buffer.from(texts.bytes.buffer, texts.bytes.byteOffset, texts.bytes.byteLength) } : undefined
  // The first entry whose index differs, or what reading one threw: the
  // rest are still hashed, since a broken entry anywhere in the page is what
  // is reported first, but no more index is compared.
  let index: Pick<EntriesChecked, 'index' | 'thrown'> | undefined
  for (let i = 0; i < seqs.length; i++) {
    let text: string
    if (packed === undefined) {
      text = (texts as readonly string[])[i]!
      leaves.set(leafHash(text), i * LEAF_BYTES)
      if (chainHash(prevHashes[i]!, text) !== hashes[i]) return { leaves, broken: { at: i, why: 'hash' } }
    } else {
      const { buffer } = packed
      const start = packed.starts[i]!
      const end = packed.ends[i]!
      if (hashed === undefined) writeLeaf(buffer, start, end, leafBytes, i)
      // chainHash over the same bytes: the hash of `${prevHash}\n${text}` in UTF-8.
      if (hash('sha256', buffer.subarray(packed.heads[i]!, end), 'base64url') !== hashes[i]) return { leaves, broken: { at: i, why: 'hash' } }
      text = buffer.toString('utf8', start, end)
    }
    let entry: AuditEntry
    try {
      entry = JSON.parse(text) as AuditEntry
    } catch {
      return { leaves, broken: { at: i, why: 'json' } }
    }
    // Compared as soon as parsed, so that each parsed entry is garbage before
    // the next: a page's worth held until the end made the young generation's
    // collections copy them, a tenth of a thread's time (docs/measurements.md, "Speed and memory").
    if (rows !== undefined && index === undefined) {
      try {
        const problem = indexProblem(seqs[i]!, entry, i, rows)
        if (problem !== undefined) index = { index: problem }
      } catch (thrown) {
        index = { thrown }
      }
    }
  }
  return { leaves, ...index }
}

export function isPacked(texts: Texts): texts is PackedTexts {
  return !Array.isArray(texts)
}

/** Whether the search index rows of a page's entry `i` differ from what the entry implies, and how. */
function indexProblem(seq: number, entry: AuditEntry, i: number, rows: AuditIndexRows): { seq: number; reason: string } | undefined {
  // The columns a search filters on (message id, event, parties…) are copies
  // of what the entry says: edited, they would hide an entry from a search
  // while the chain, which covers only the entry, still verified.
  const at = i * AUDIT_COLUMNS.length
  if (!columnsMatch(entry, rows.columns, at)) {
    const expectedValues = auditColumnValues(auditColumns(entry))
    const differs = AUDIT_COLUMNS.findIndex((_, c) => rows.columns[at + c] !== expectedValues[c])
    if (differs !== -1) {
      return {
        seq,
        reason: `the searchable column ${AUDIT_COLUMNS[differs]} of entry ${seq} does not say what the entry says: it was edited, so a search could hide or misattribute the entry`
      }
    }
  }
  for (const kind of ['traveller', 'field'] as const) {
    const actual = (kind === 'traveller' ? rows.subjects : rows.fields).get(seq) ?? []
    if (kind === 'traveller' ? sameSubjects(entry, actual) : sameFieldPatterns(entry, actual)) continue
    const problem = rowsDiffer(kind === 'traveller' ? auditSubjects(entry) : auditFieldPatterns(entry), actual)
    if (problem !== undefined) {
      return {
        seq,
        reason: `the search index of entry ${seq} ${problem} a ${kind} row: it was edited, so a search could hide or misattribute the entry`
      }
    }
  }
  return undefined
}

/** Whether an entry's index rows lack or add one against what the entry implies (rows are unique: a primary key). */
export function rowsDiffer(expected: readonly string[], actual: readonly string[]): 'lacks' | 'adds' | undefined {
  const want = new Set(expected)
  if (want.size === actual.length && actual.every((row) => want.has(row))) return undefined
  const have = new Set(actual)
  return [...want].some((row) => !have.has(row)) ? 'lacks' : 'adds'
}

/**
 * Whether the stored columns are those auditColumns gives, for an entry of the
 * gateway's shape; false when unsure. Without auditColumns' object and array,
 * and without its Date round trip for `at` when `at` is already in the one
 * form it normalises to.
 */
function columnsMatch(entry: AuditEntry, columns: ReadonlyArray<string | null>, at: number): boolean {
  if (columns.length < at + AUDIT_COLUMNS.length || typeof entry !== 'object' || entry === null) return false
  const { from, to } = entry
  const instant = entry.at
  if (typeof instant !== 'string' || columns[at] !== instant || !isCanonicalInstant(instant)) return false
  if (
    columns[at + 1] !== entry.event ||
    columns[at + 2] !== (entry.direction ?? null) ||
    columns[at + 3] !== entry.kind ||
    columns[at + 4] !== entry.purpose ||
    columns[at + 5] !== entry.code ||
    columns[at + 6] !== entry.messageId ||
    columns[at + 7] !== (entry.policy?.version ?? null)
  ) {
    return false
  }
  return partyMatches(from, columns[at + 8], columns[at + 9]) && partyMatches(to, columns[at + 10], columns[at + 11])
}

/** `CA/CBSA/system` as audit-index.ts's party splits it: the parts before the first and second slash, an empty one null. */
function partyMatches(party: string | null, country: string | null | undefined, agency: string | null | undefined): boolean {
  if (party === null) return country === null && agency === null
  if (typeof party !== 'string') return false
  const first = party.indexOf('/')
  if (first === -1) return country === (party || null) && agency === null
  const second = party.indexOf('/', first + 1)
  return country === (party.slice(0, first) || null) && agency === (party.slice(first + 1, second === -1 ? party.length : second) || null)
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * Whether `value` is an instant exactly as toISOString writes it, so that
 * normaliseInstant (audit-index.ts) gives it back unchanged: YYYY-MM-DDTHH:mm:ss.sssZ
 * with every part in range (Date.parse takes 24:00 and 30 February, and moves them).
 */
export function isCanonicalInstant(value: string): boolean {
  if (value.length !== 24) return false
  const digits = (from: number, to: number): number => {
    let n = 0
    for (let i = from; i < to; i++) {
      const d = value.charCodeAt(i) - 48
      if (d < 0 || d > 9) return -1
      n = n * 10 + d
    }
    return n
  }
  if (value[4] !== '-' || value[7] !== '-' || value[10] !== 'T' || value[13] !== ':' || value[16] !== ':' || value[19] !== '.' || value[23] !== 'Z') {
    return false
  }
  const year = digits(0, 4)
  const month = digits(5, 7)
  const day = digits(8, 10)
  if (year < 0 || month < 1 || month > 12 || day < 1) return false
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  if (day > DAYS_IN_MONTH[month - 1]! + (month === 2 && leap ? 1 : 0)) return false
  const hour = digits(11, 13)
  const minute = digits(14, 16)
  const second = digits(17, 19)
  return hour >= 0 && hour < 24 && minute >= 0 && minute < 60 && second >= 0 && second < 60 && digits(20, 23) >= 0
}

/** Whether the stored subject rows are exactly the entry's subjects (all distinct, as the gateway writes them); false when unsure. */
function sameSubjects(entry: AuditEntry, actual: readonly string[]): boolean {
  const subjects = entry.subjects ?? []
  if (!Array.isArray(subjects) || subjects.length !== actual.length) return false
  // Two subjects an entry, the common case: no Set.
  if (subjects.length === 2) {
    const [a, b] = subjects
    return a !== b && ((actual[0] === a && actual[1] === b) || (actual[0] === b && actual[1] === a))
  }
  return subjects.length === 0 || (subjects.length === 1 && subjects[0] === actual[0])
}

/**
 * Whether the patterns of the entry's stored field set are exactly its field patterns; false
 * when unsure. A path without `[` is its own pattern (audit-index.ts,
 * fieldPattern), so the common entry needs no regex. Entries of one kind
 * decide on the same paths and have the same rows: a pairing of paths and
 * rows found the same once is remembered, and the next entry that has it is
 * compared string by string, without building two Sets of 22 strings.
 */
function sameFieldPatterns(entry: AuditEntry, actual: readonly string[]): boolean {
  const fields = entry.fields
  if (!Array.isArray(fields)) return false
  const paths: unknown[] = fields.map((f: unknown) => (f as { path?: unknown } | null)?.path)
  for (const path of paths) if (typeof path !== 'string' || path.includes('[')) return false
  if (remembered.some((known) => sameList(known.paths, paths) && sameList(known.rows, actual))) return true
  // The rows are unique (a primary key): the same rows if as many as the distinct paths, and each one of them.
  const want = new Set(paths)
  if (want.size !== actual.length || !actual.every((row) => want.has(row))) return false
  if (remembered.length === REMEMBERED) remembered.shift()
  remembered.push({ paths, rows: actual })
  return true
}

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Pairings of paths and rows found the same. A few kinds of entry carry fields: a short list. */
const remembered: Array<{ readonly paths: readonly unknown[]; readonly rows: readonly string[] }> = []
const REMEMBERED = 8
