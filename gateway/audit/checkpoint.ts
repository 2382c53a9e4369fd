// Checkpoints of the ledger in C2SP tlog-checkpoint form (docs/architecture.md,
// "The verifiable ledger"): a signed note whose text is the log's origin, its
// tree size and its root hash. This gateway signs its own; the partner
// gateway, its witness, adds a cosignature once it has checked that the
// checkpoint extends the last one it cosigned.
import type { VerificationKey } from '../jws/signing-key.ts'
import type { Country } from '../trust/trust-store.ts'
import { NoteError, type NoteKey, cosignNote, formatNote, parseNote, signNote, verifyNote } from './signed-note.ts'

/** A country's ledger, as its checkpoints name it: its origin line, and its key name. */
export function ledgerOrigin(country: Country): string {
  return `btb-gateway/${country}/ledger`
}

/** A country's gateway as a witness of the partner's ledger: its cosignature key name. */
export function witnessName(country: Country): string {
  return `btb-gateway/${country}/witness`
}

export interface TreeHead {
  readonly size: number
  /** The root hash, base64 (RFC 4648 §4, as the note carries it). */
  readonly root: string
}

export interface CheckpointText extends TreeHead {
  readonly origin: string
}

/** The note text: origin, size, root, each on its line. */
export function checkpointText(cp: CheckpointText): string {
  return `${cp.origin}\n${cp.size}\n${cp.root}\n`
}

/**
 * Reads a checkpoint's text; throws NoteError(NOTE_MALFORMED). Extension
 * lines are refused: this ledger writes none. The root must be in its one
 * canonical base64 spelling (its unused bits zero): roots are compared as
 * text, and one tree head spelled two ways would read as two.
 */
export function readCheckpointText(text: string): CheckpointText {
  const m = /^([^\s+]+)\n(0|[1-9][0-9]{0,15})\n([A-Za-z0-9+/]{43}=)\n$/.exec(text)
  const size = Number(m?.[2])
  if (m === null || !Number.isSafeInteger(size) || Buffer.from(m[3]!, 'base64').toString('base64') !== m[3]) {
    throw new NoteError('NOTE_MALFORMED', 'not a checkpoint: expected an origin, a tree size and a base64 SHA-256 root, one per line')
  }
  return { origin: m[1]!, size, root: m[3]! }
}

/** The keys a gateway signs its checkpoints with, as note keys of its ledger's name. */
export function ledgerKeys(country: Country, keys: ReadonlyMap<string, VerificationKey>): NoteKey[] {
  return [...keys.values()].map((k) => ({ name: ledgerOrigin(country), alg: k.alg, key: k.key }))
}

/** The keys a gateway cosigns the partner's checkpoints with. */
export function witnessKeys(country: Country, keys: ReadonlyMap<string, VerificationKey>): NoteKey[] {
  return [...keys.values()].map((k) => ({
    name: witnessName(country),
    alg: k.alg,
    key: k.key,
    ...(k.retiredAt === undefined ? {} : { retiredAt: k.retiredAt })
  }))
}

/** A checkpoint of `head`, signed by the ledger's key: its name is the ledger's origin (C2SP tlog-checkpoint). */
export function signCheckpoint(head: TreeHead, key: NoteKey): string {
  const text = checkpointText({ origin: key.name, ...head })
  return formatNote(text, [signNote(text, key)])
}

/**
 * A checkpoint's origin, read before any signature is: a witness answers a
 * log it does not witness 404 (C2SP tlog-witness). Throws NoteError(NOTE_MALFORMED).
 */
export function checkpointOrigin(note: string): string {
  return readCheckpointText(parseNote(note).text).origin
}

/**
 * Opens a signed checkpoint: its text, if one of `keys` signed it for
 * `origin`. Throws NoteError: NOTE_MALFORMED, or NOTE_UNVERIFIED when no
 * key of the ledger signed it (or one's signature fails).
 */
export function openCheckpoint(note: string, origin: string, keys: readonly NoteKey[]): CheckpointText {
  const { note: parsed } = verifyNote(note, 'log', keys)
  const cp = readCheckpointText(parsed.text)
  if (cp.origin !== origin) throw new NoteError('NOTE_UNVERIFIED', `the checkpoint is of ${cp.origin}, not ${origin}`)
  return cp
}

/** The cosignature line a witness adds to a checkpoint it has checked. */
export function cosignCheckpoint(note: string, key: NoteKey, time: number): string {
  return cosignNote(parseNote(note).text, key, time)
}

/** A checkpoint with the witness's cosignature line(s) added after its own signatures. */
export function withCosignature(note: string, cosignature: string): string {
  return note + cosignature
}

/** One signature line, as C2SP signed-note writes it: "— <name> <base64>" and its newline. */
const SIGNATURE_LINES = /^(?:\u2014 [^\s+]+ [A-Za-z0-9+/]+={0,2}\n)+$/

/**
 * When `witnesses` cosigned the checkpoint `note` (POSIX seconds) by
 * `cosignature`, the witness's answer as kept beside it; undefined if no
 * witness key's line is among them. The answer must be signature lines and
 * nothing else (C2SP tlog-witness: one or more signature lines), and is
 * verified against the checkpoint's own text: a blank line before them, once
 * appended to the note, would move its split, and a line signing the text
 * and this gateway's signature line would read as the cosignature. Throws
 * NoteError: NOTE_MALFORMED for an answer of anything else, NOTE_UNVERIFIED
 * when a witness key's line does not verify.
 */
export function cosignatureTime(note: string, cosignature: string, witnesses: readonly NoteKey[]): number | undefined {
  if (!SIGNATURE_LINES.test(cosignature)) throw new NoteError('NOTE_MALFORMED', 'the cosignature is not signature lines only')
  // Kept, the answer is part of every note a report or proof carries: a line
  // under another name (this ledger's own, one that does not verify), or
  // lines past the note's bounds, would have every reader refuse that note.
  const answer = formatNote(parseNote(note).text, [cosignature])
  if (parseNote(answer).signatures.some((s) => !witnesses.some((w) => w.name === s.name))) {
    throw new NoteError('NOTE_MALFORMED', 'the cosignature has a line not by the witness')
  }
  parseNote(withCosignature(note, cosignature))
  return cosignedAt(answer, witnesses)
}

/**
 * When `witnesses` cosigned a checkpoint (POSIX seconds), if one did. Throws
 * NoteError when a witness key's line does not verify.
 */
export function cosignedAt(note: string, witnesses: readonly NoteKey[]): number | undefined {
  try {
    return verifyNote(note, 'cosignature', witnesses).cosignature.time
  } catch (err) {
    if (err instanceof NoteError && err.code === 'NOTE_UNVERIFIED' && /^no cosignature/.test(err.message)) return undefined
    throw err
  }
}
