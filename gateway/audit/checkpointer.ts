// Checkpoints (docs/architecture.md, "The verifiable ledger"): at intervals
// the gateway signs its ledger's Merkle tree head in C2SP checkpoint form.
// A signed head cannot be taken back: whoever later edits, deletes or
// reorders an entry at or before it, or cuts the ledger short, contradicts a
// signature only this gateway's key could have made — and, once the partner
// has cosigned it as witness, a head the partner holds too, which no
// rewrite of this ledger can be shown to extend.
import type { SigningKey } from '../jws/signing-key.ts'
import type { Checkpoint, GatewayStore } from '../store/records.ts'
import type { Country } from '../trust/trust-store.ts'
import { ledgerOrigin, signCheckpoint } from './checkpoint.ts'
import { treeHead } from './ledger-proofs.ts'

export interface CheckpointSchedule {
  /** Sign once the head has moved this many entries past the last checkpoint. */
  readonly everyEntries: number
  /** Or once this long has passed since the last checkpoint, if the head moved at all. */
  readonly everyMs: number
  /** How often the head is looked at; at most `everyMs`, 1 s by default. */
  readonly pollMs?: number
}

export interface CheckpointerOptions {
  readonly store: GatewayStore
  /** A function when the key can rotate while the gateway runs. */
  readonly key: SigningKey | (() => SigningKey)
  /** The country whose gateway signs. */
  readonly country: Country
  readonly schedule: CheckpointSchedule
  /**
   * Called with each new checkpoint (the partner exchange); its failure
   * leaves the checkpoint kept, uncountersigned. Called again with the
   * latest checkpoint while it covers the head without a cosignature.
   */
  readonly onCheckpoint?: (cp: Checkpoint) => Promise<void>
  /** Where a failed scheduled checkpoint is reported; the next tick tries again. */
  readonly onError?: (err: unknown) => void
  /** Called after each scheduled look at the head, whatever came of it (tests wait on it rather than on a timer). */
  readonly onTick?: () => void
}

export class Checkpointer {
  readonly #store: GatewayStore
  readonly #key: () => SigningKey
  readonly #country: Country
  readonly #schedule: CheckpointSchedule
  readonly #options: CheckpointerOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> = Promise.resolve()
  /** When no checkpoint exists yet, time is counted from the start. */
  #startedAt = Date.now()
  /** When this instance last sent an uncosigned checkpoint again (ms). */
  #resentAt = 0

  constructor(options: CheckpointerOptions) {
    const { store, key, country, schedule } = options
    if (!(schedule.everyEntries >= 1) || !(schedule.everyMs >= 1)) throw new Error('checkpoint schedule: everyEntries and everyMs must be at least 1')
    this.#store = store
    // A function when the key can rotate while the gateway runs.
    this.#key = typeof key === 'function' ? key : () => key
    this.#country = country
    this.#schedule = schedule
    this.#options = options
  }

  start(): void {
    if (this.#timer !== undefined) return
    this.#startedAt = Date.now()
    const pollMs = Math.min(this.#schedule.pollMs ?? 1000, this.#schedule.everyMs)
    this.#timer = setInterval(() => {
      // One tick at a time: a slow store or partner must not pile them up.
      this.#running = this.#running
        .then(() => this.#tick())
        .catch((err: unknown) => this.#options.onError?.(err))
        .then(() => this.#options.onTick?.())
    }, pollMs)
    this.#timer.unref()
  }

  /** Stops the schedule and waits for a checkpoint in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  async #tick(): Promise<void> {
    const [head, last] = await Promise.all([this.#store.auditHead(), this.#store.latestCheckpoint()])
    if (head === undefined) return
    if (last !== undefined && head.seq <= last.size) {
      // The head is checkpointed but not witnessed: its request for cosigning
      // failed or was lost with the instance that made it, and with no new
      // entry no new checkpoint would carry it to the partner. Sent again
      // once an interval has passed since it was made or last sent, by each
      // instance: the interval is what bounds the witness's load, and what
      // the unwitnessed entries wait at most while the partner answers
      // (docs/architecture.md, "The verifiable ledger").
      if (this.#awaitsCosignature(last, head.seq) && Date.now() - Math.max(Date.parse(last.at), this.#resentAt) >= this.#schedule.everyMs) {
        await this.#sendAgain(last)
      }
      return
    }
    const moved = head.seq - (last?.size ?? 0)
    const since = last === undefined ? this.#startedAt : Date.parse(last.at)
    if (moved >= this.#schedule.everyEntries || Date.now() - since >= this.#schedule.everyMs) await this.checkpointNow()
  }

  /** The checkpoint is of the head exactly, and the partner, if there is one to send it to, has not cosigned it. */
  #awaitsCosignature(cp: Checkpoint, headSeq: number): boolean {
    return this.#options.onCheckpoint !== undefined && cp.size === headSeq && cp.cosignature === null
  }

  async #sendAgain(cp: Checkpoint): Promise<void> {
    this.#resentAt = Date.now()
    await this.#options.onCheckpoint?.(cp)
  }

  /**
   * Signs the head now; or, when the latest checkpoint covers the head but
   * is not cosigned, sends that one to the partner (again). Returns the
   * checkpoint signed or sent (its cosignature, if the partner gave one, is
   * in the store). Undefined when there is nothing to sign or send: an empty
   * ledger, or a head already checkpointed and cosigned.
   */
  async checkpointNow(): Promise<Checkpoint | undefined> {
    const head = await this.#store.auditHead()
    if (head === undefined) return undefined
    const last = await this.#store.latestCheckpoint()
    if (last !== undefined && last.size >= head.seq) return this.#sendUncosigned(last)
    const tree = await treeHead(this.#store, head.seq)
    const key = this.#key()
    const note = signCheckpoint(tree, { name: ledgerOrigin(this.#country), alg: key.alg, key: key.key })
    const checkpoint: Checkpoint = { ...tree, at: new Date().toISOString(), note, cosignature: null, cosignedAt: null }
    // Another instance sharing the ledger, or this one's schedule, signed the head first.
    if (!(await this.#store.addCheckpoint(checkpoint))) return this.#sendUncosigned(await this.#store.latestCheckpoint())
    await this.#options.onCheckpoint?.(checkpoint)
    return checkpoint
  }

  /**
   * `cp`, of the head read or a later one, sent to the partner unless it
   * cosigned it already. Its own request for cosigning failed, or is
   * another's still on its way (another instance's, or this one's
   * schedule's, that signed it first): a report or proof waiting on
   * checkpointNow promises its entries a witnessed checkpoint
   * (docs/privacy-officers.md, "Checking a disclosure report offline"), and
   * does not wait for someone else's.
   */
  async #sendUncosigned(cp: Checkpoint | undefined): Promise<Checkpoint | undefined> {
    if (cp === undefined || cp.cosignature !== null || this.#options.onCheckpoint === undefined) return undefined
    await this.#sendAgain(cp)
    return cp
  }
}
