// This gateway as the witness of the partner's ledger (docs/architecture.md,
// "The verifiable ledger"), after C2SP tlog-witness: the partner sends each
// new checkpoint of its ledger with a consistency proof from the last one
// this gateway cosigned; the checkpoint is cosigned only if the proof shows
// that the new tree extends the old one. A ledger cut short, or rewritten,
// at any length, and re-signed with the partner's own key or not, cannot
// show that: it is refused (CHECKPOINT_CONFLICT, or CHECKPOINT_PROOF_INVALID
// for a proof that fails, tlog-witness's 422), and raised as an alert.
import {
  CheckpointConflictError,
  CheckpointInvalidError,
  CheckpointOriginUnknownError,
  CheckpointProofInvalidError,
  CheckpointUnsignedError
} from '../errors.ts'
import { EMPTY_ROOT, verifyConsistency } from '../store/merkle-tree.ts'
import type { AuditEntry, CheckpointRepository } from '../store/records.ts'
import { type CheckpointText, checkpointOrigin, cosignCheckpoint, openCheckpoint, withCosignature } from './checkpoint.ts'
import { echo } from '../lib/echo.ts'
import { NoteError, type NoteKey } from './signed-note.ts'

/** An add-checkpoint request (C2SP tlog-witness): the size it extends, the proof, the signed checkpoint. */
export interface AddCheckpoint {
  readonly oldSize: number
  readonly proof: readonly Buffer[]
  readonly note: string
}

/** The spec's bound on proof lines: a proof is at most 63 hashes deep. */
const MAX_PROOF = 63

/** Reads a request body; throws CheckpointInvalidError. */
export function readAddCheckpoint(body: string): AddCheckpoint {
  const blank = body.indexOf('\n\n')
  if (blank === -1) throw new CheckpointInvalidError('no blank line between the old size and proof and the checkpoint')
  const [first, ...proofLines] = body.slice(0, blank).split('\n')
  const old = /^old (0|[1-9][0-9]{0,15})$/.exec(first ?? '')
  if (old === null || !Number.isSafeInteger(Number(old[1]))) throw new CheckpointInvalidError('the first line is not "old <size>"')
  if (proofLines.length > MAX_PROOF) throw new CheckpointInvalidError(`more than ${MAX_PROOF} proof lines`)
  const proof = proofLines.map((line) => {
    const hash = Buffer.from(line, 'base64')
    if (hash.length !== 32 || hash.toString('base64') !== line) throw new CheckpointInvalidError('a proof line is not a base64 SHA-256 hash')
    return hash
  })
  return { oldSize: Number(old[1]), proof, note: body.slice(blank + 2) }
}

/** The body of an add-checkpoint request. */
export function addCheckpointBody(oldSize: number, proof: readonly string[], note: string): string {
  return `old ${oldSize}\n${proof.map((h) => `${h}\n`).join('')}\n${note}`
}

export type WitnessAnswer =
  /** Cosigned: the cosignature line(s) to send back; `again` when they are those of an earlier request, nothing new cosigned. */
  | { readonly cosigned: string; readonly again?: true }
  /** The request extends another size than the one last cosigned, which it should (tlog-witness: 409, text/x.tlog.size). */
  | { readonly witnessedSize: number }

/** What a refusal for conflict says, for the alert and the audit entry: sizes and roots only. */
export interface CheckpointConflict {
  readonly origin: string
  readonly size: number
  readonly root: string
  readonly witnessedSize: number
  readonly witnessedRoot: string
  readonly why: string
}

export interface WitnessOptions {
  readonly store: Pick<CheckpointRepository, 'witnessState' | 'witnessCheckpoint' | 'latestWitnessedCheckpoint' | 'witnessedCheckpoints'>
  /** The partner ledger's origin line. */
  readonly origin: string
  /** The partner ledger's keys, current and retired; a function, as trust reloads change them. */
  readonly logKeys: () => readonly NoteKey[]
  /** This gateway's cosigning key. */
  readonly key: () => NoteKey
  /** Told of each conflict before it is refused: the alert (log, metric, ledger). */
  readonly onConflict: (conflict: CheckpointConflict) => Promise<void>
  readonly now?: () => number
}

export class Witness {
  readonly #options: WitnessOptions

  constructor(options: WitnessOptions) {
    this.#options = options
  }

  /** What the alarm says of a checkpoint that contradicts the one cosigned: sizes and roots only. */
  #conflict(cp: CheckpointText, witnessed: { size: number; root: string }, why: string): CheckpointConflict {
    return { origin: this.#options.origin, size: cp.size, root: cp.root, witnessedSize: witnessed.size, witnessedRoot: witnessed.root, why }
  }

  /** Whether this witness cosigned a checkpoint of the partner's ledger of `cp`'s size and root. */
  async #cosigned(cp: CheckpointText): Promise<boolean> {
    const [at] = await this.#options.store.witnessedCheckpoints(this.#options.origin, cp.size - 1, 1)
    return at !== undefined && at.size === cp.size && at.root === cp.root
  }

  /**
   * Checks and cosigns. Throws CheckpointInvalidError (unreadable),
   * CheckpointOriginUnknownError (not the partner's ledger),
   * CheckpointUnsignedError (not the partner ledger's signature),
   * CheckpointConflictError (another root at the size cosigned) or
   * CheckpointProofInvalidError (a consistency proof that fails, or one that
   * is not empty where none is due). An old size other than the witness's
   * is answered with its size (tlog-witness's order), a shorter tree sent
   * from its own size with the alarm raised too. `entry`, the ledger's
   * record of a new cosignature, is written with the witness's state.
   */
  async addCheckpoint(request: AddCheckpoint, entry?: AuditEntry): Promise<WitnessAnswer> {
    const { store, origin } = this.#options
    let cp: CheckpointText
    try {
      const claimed = checkpointOrigin(request.note)
      if (claimed !== origin) throw new CheckpointOriginUnknownError(`${echo(claimed)}; this gateway witnesses ${origin}`)
      cp = openCheckpoint(request.note, origin, this.#options.logKeys())
    } catch (err) {
      if (!(err instanceof NoteError)) throw err
      if (err.code === 'NOTE_MALFORMED') throw new CheckpointInvalidError(err.message)
      throw new CheckpointUnsignedError(err.message)
    }
    if (request.oldSize > cp.size) throw new CheckpointInvalidError(`old size ${request.oldSize} is larger than the checkpoint's ${cp.size}`)
    // Nothing cosigned yet is the empty tree: a checkpoint of it is no conflict.
    const witnessed = (await store.witnessState(origin)) ?? { size: 0, root: EMPTY_ROOT.toString('base64') }
    const conflict = async (
      why: string,
      refusal: typeof CheckpointConflictError | typeof CheckpointProofInvalidError = CheckpointConflictError
    ): Promise<never> => {
      await this.#options.onConflict(this.#conflict(cp, witnessed, why))
      throw new refusal(`${why} (checkpoint of ${cp.size} entries; last cosigned: ${witnessed.size})`)
    }
    if (cp.size < witnessed.size) {
      // Sent from an old size below it, a smaller checkpoint is only late:
      // two checkpoints of one ledger in flight at once (a scheduled one and
      // one a privacy officer's proof asked for, or two instances'), the
      // larger cosigned first. The sender is told the size, as tlog-witness
      // says, finds its ledger reaches it, and leaves it there
      // (witness-client.ts). Only one sent from its own size, which is how a
      // sender whose ledger no longer reaches the witness's says so, is the
      // alarm; it is answered as any old size the witness is not at is. But
      // a checkpoint this witness cosigned itself, sent again from its own
      // size, is a retry overtaken by a larger checkpoint, proven then to
      // extend it (two instances of one gateway, one's retry late): it
      // contradicts nothing, and is no alarm.
      if (request.oldSize === cp.size && !(await this.#cosigned(cp)))
        await this.#options.onConflict(this.#conflict(cp, witnessed, 'the ledger is shorter than one already cosigned: it was cut short'))
      return { witnessedSize: witnessed.size }
    }
    // tlog-witness's order: an old size other than the witness's is answered
    // with its size before anything else is looked at; the sender proves from it.
    if (request.oldSize !== witnessed.size) return { witnessedSize: witnessed.size }
    if (cp.size === witnessed.size) {
      // From the size it is at, the only proof is none.
      if (request.proof.length > 0) throw new CheckpointProofInvalidError(`a proof from size ${cp.size} to the same size must be empty`)
      if (cp.root !== witnessed.root) return conflict('the same size with another root: the ledger was rewritten')
      // The same checkpoint again, from the size it reached (a retry whose
      // answer was lost, or a sender told that size): the same cosignature,
      // nothing new written.
      const latest = await store.latestWitnessedCheckpoint(origin)
      if (latest !== undefined && latest.size === cp.size) return { cosigned: cosignatureLines(latest.note, request.note), again: true }
    }
    if (witnessed.size === 0) {
      if (request.proof.length > 0) throw new CheckpointProofInvalidError('a proof from size 0 must be empty')
    } else if (!verifyConsistency(witnessed.size, cp.size, Buffer.from(witnessed.root, 'base64'), Buffer.from(cp.root, 'base64'), request.proof)) {
      // tlog-witness answers a proof that fails 422; here it is the same alarm as a conflict.
      return conflict('the consistency proof does not show it extends the last one cosigned: the ledger was rewritten', CheckpointProofInvalidError)
    }
    const now = this.#options.now?.() ?? Date.now()
    const cosignature = cosignCheckpoint(request.note, this.#options.key(), Math.floor(now / 1000))
    const kept = await store.witnessCheckpoint(
      witnessed.size,
      {
        origin,
        size: cp.size,
        root: cp.root,
        note: withCosignature(request.note, cosignature),
        cosignedAt: new Date(now).toISOString()
      },
      entry
    )
    // Another request moved the record first: the sender asks again from the new size.
    if (!kept) return { witnessedSize: (await store.witnessState(origin))?.size ?? 0 }
    return { cosigned: cosignature }
  }
}

/** The lines a kept note has beyond the note as sent: the cosignature. */
function cosignatureLines(kept: string, sent: string): string {
  return kept.startsWith(sent) ? kept.slice(sent.length) : kept.slice(kept.lastIndexOf('\u2014 '))
}
