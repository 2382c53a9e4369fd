// The log's half of witnessing (docs/architecture.md, "The verifiable
// ledger"; C2SP tlog-witness): each new checkpoint goes to the partner
// gateway with a consistency proof from the last one it cosigned, and its
// cosignature is kept beside the checkpoint.
import type { Poster, PostResult } from '../delivery/tls-client.ts'
import type { Checkpoint, CheckpointRepository, LedgerRepository } from '../store/records.ts'
import { cosignatureTime } from './checkpoint.ts'
import { consistencyProof } from './ledger-proofs.ts'
import type { NoteKey } from './signed-note.ts'
import { addCheckpointBody } from './witness.ts'
import { problemCode } from '../lib/problem-code.ts'

export const ADD_CHECKPOINT_PATH = '/v1/witness/add-checkpoint'
/** Where the witness gives the latest checkpoint of the caller's ledger it cosigned. */
export const WITNESSED_CHECKPOINT_PATH = '/v1/witness/checkpoint'
/** The media type of an add-checkpoint request, and of the witness's size answer (tlog-witness). */
export const ADD_CHECKPOINT_TYPE = 'text/plain; charset=utf-8'
export const TLOG_SIZE_TYPE = 'text/x.tlog.size'

/** The partner refused the checkpoint as a contradiction of what it cosigned before, or contradicted that itself. */
export class WitnessRefusedError extends Error {
  readonly code = 'CHECKPOINT_CONFLICT'

  constructor(message: string) {
    super(message)
    this.name = 'WitnessRefusedError'
  }
}

export interface WitnessClientOptions {
  readonly client: Poster
  /** The witness's add-checkpoint URL (the partner's, as the partner plugin resolves it). */
  readonly url: () => string
  readonly store: Pick<CheckpointRepository, 'latestCosignedCheckpoint' | 'setCosignature'> & Pick<LedgerRepository, 'treeNodes' | 'auditHead'>
  /** The partner's cosigning keys, current and retired. */
  readonly witnesses: () => readonly NoteKey[]
  /** CLOCK_SKEW_SECONDS: how far the witness's clock may be from this gateway's. */
  readonly clockSkewSeconds: number
}

export type WitnessOutcome = 'cosigned' | 'superseded'

/**
 * Asks the witness to cosign `cp`, and keeps the cosignature. 'superseded'
 * when the witness already holds a larger checkpoint that this ledger
 * reaches (another instance's, sent first). Throws WitnessRefusedError on
 * CHECKPOINT_CONFLICT or CHECKPOINT_PROOF_INVALID, and Error on anything else (the next checkpoint tries
 * again).
 */
export async function requestCosignature(cp: Checkpoint, options: WitnessClientOptions): Promise<WitnessOutcome> {
  const { store } = options
  const cosigned = (await store.latestCosignedCheckpoint())?.size ?? 0
  let oldSize = cosigned
  /** Sent from its own size because this ledger does not reach the witness's: the alarm. */
  let shorter = false
  // At most twice: the second time from the size the witness said it holds.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (oldSize > cp.size) {
      const head = (await store.auditHead())?.seq ?? 0
      // A later checkpoint of this ledger was cosigned first: nothing to do.
      if (head >= oldSize) return 'superseded'
      // The witness holds a size this ledger no longer reaches. Sent anyway,
      // from that size: the witness refuses it and raises the alarm.
      oldSize = cp.size
      shorter = true
    }
    const proof = oldSize === 0 || oldSize === cp.size ? [] : await consistencyProof(store, oldSize, cp.size)
    const res = await options.client.post(options.url(), addCheckpointBody(oldSize, proof, cp.note), ADD_CHECKPOINT_TYPE)
    if (res.status === 200) {
      // Signature lines over the checkpoint's text, nothing else (C2SP tlog-witness; checkpoint.ts, cosignatureTime).
      const time = cosignatureTime(cp.note, res.body, options.witnesses())
      if (time === undefined) throw new Error('the witness answered without a cosignature by its key')
      // Not kept: the checkpoint is sent again (checkpointer.ts).
      const wrongTime = misdated(time, cp, options.clockSkewSeconds)
      if (wrongTime !== undefined) throw new Error(`the witness dated its cosignature ${new Date(time * 1000).toISOString()}, ${wrongTime}`)
      await store.setCosignature(cp.size, res.body, new Date(time * 1000).toISOString())
      return 'cosigned'
    }
    if (res.status === 409 && res.contentType.startsWith(TLOG_SIZE_TYPE)) {
      const size = Number(res.body.trim())
      if (!Number.isSafeInteger(size) || size < 0) throw new Error('the witness answered an unreadable size')
      // A witness never goes back (tlog-witness). One that did lost its state
      // or was rolled back, and would cosign whatever it was sent from there,
      // a fork included: not fed, and the alarm.
      if (size < cosigned) {
        throw new WitnessRefusedError(
          `the witness says it holds ${size} entries of this ledger, fewer than the ${cosigned} it cosigned: its state was lost or rolled back, and the ledger is not sent to it from there`
        )
      }
      // Sent from its own size, as a ledger that no longer reaches the
      // witness's says so (above), and told that size again: the witness
      // raised the alarm, and so does this side. Sent from it as a plain
      // retry (the checkpoint found cosigned, or the witness said it held
      // it), the witness moved on meanwhile: a larger checkpoint another
      // instance sharing the ledger had cosigned, if this ledger reaches it.
      if (oldSize === cp.size && size > cp.size) {
        const head = (await store.auditHead())?.seq ?? 0
        if (!shorter && head >= size) return 'superseded'
        throw new WitnessRefusedError(`the witness holds ${size} entries of this ledger, which has ${head}: it was cut short or rewritten here`)
      }
      oldSize = size
      continue
    }
    // 409 CHECKPOINT_CONFLICT, or 422 CHECKPOINT_PROOF_INVALID (tlog-witness's answer to a proof that fails): both the alarm.
    // Named by its status and code only: the reason goes into this ledger,
    // which nothing can be purged from, and the rest of the answer is the
    // partner's own text (lib/problem-code.ts).
    const code = problemCode(res.body)
    const answered = `the witness answered ${res.status} ${code}${Object.hasOwn(REFUSED_BECAUSE, code) ? `: ${REFUSED_BECAUSE[code]}` : ''}`
    if (res.status === 409 || res.status === 422) throw new WitnessRefusedError(answered)
    throw new Error(answered)
  }
  throw new Error('the witness moved on twice while the checkpoint was being sent')
}

/**
 * Why a cosignature's time (POSIX seconds) cannot be when the witness made
 * it, or undefined if it can. A cosignature states the witness's view as of
 * its time (C2SP tlog-cosignature). Dated ahead of this gateway's clock, it
 * would stand as the latest witnessing for as long (the staleness warning,
 * COSIGNATURE_MAX_AGE_MS, silent meanwhile), and once the partner retired its
 * key, dated after the retirement, which every verifier refuses: the intact
 * ledger would fail audit:verify and each report on it be NOT OK. Dated
 * before its checkpoint was made, it vouches for a head the witness cannot
 * have seen then (docs/architecture.md, "The verifiable ledger").
 */
function misdated(time: number, cp: Checkpoint, skewSeconds: number): string | undefined {
  if (time > Date.now() / 1000 + skewSeconds) return `more than ${skewSeconds} s ahead of this gateway's clock`
  if (time < Date.parse(cp.at) / 1000 - skewSeconds) return `before the checkpoint was made (${cp.at})`
  return undefined
}

/** What each refusal of tlog-witness means for this ledger, in this gateway's words. */
const REFUSED_BECAUSE: Readonly<Record<string, string>> = {
  CHECKPOINT_CONFLICT: 'the partner holds a checkpoint of this ledger that this one does not extend, so it was cut short or rewritten here',
  CHECKPOINT_PROOF_INVALID: 'the consistency proof from the checkpoint the partner cosigned last does not hold, so this ledger was rewritten since'
}

/**
 * The latest checkpoint of this ledger the partner cosigned, as the partner
 * holds it; undefined when it has cosigned none. Throws when the partner
 * cannot be asked.
 */
export async function fetchWitnessedCheckpoint(client: { get(url: string): Promise<PostResult> }, url: string): Promise<string | undefined> {
  const res = await client.get(url)
  if (res.status === 404) return undefined
  if (res.status !== 200) throw new Error(`the partner answered ${res.status} ${problemCode(res.body)}`)
  return res.body
}
