// Re-verifies the whole ledger (docs/architecture.md, "The verifiable
// ledger"; P12 effective oversight): every entry against the chain from the
// genesis hash and against the Merkle tree stored with it, every checkpoint
// against the gateway's keys and the tree's root at its size, every
// cosignature against the partner's keys, and the ledger against the latest
// checkpoint the partner cosigned, as the partner holds it: no rewrite of
// the ledger, with its checkpoints deleted or re-signed, reaches that one.
// Entries are read page by page: memory stays flat however long the ledger.
// Each page's per-entry checks (hashes, JSON, search index) run on worker
// threads while the next pages are read (ledger-pages.ts, entry-check-pool.ts);
// what depends on the entries before, this thread verifies in ledger order.
// It stops at the first entry that does not verify and says why, because
// everything after it is unproven.
import { availableParallelism } from 'node:os'
import type { VerificationKey } from '../jws/signing-key.ts'
import { GENESIS_HASH } from '../store/audit-chain.ts'
import { fieldSetId } from '../store/audit-index.ts'
import { TreeEdge } from '../store/merkle-tree.ts'
import type { AuditChainLink, AuditIndexRows, Checkpoint, GatewayStore } from '../store/records.ts'
import { encodeTreeNodes } from '../store/sql/ledger.ts'
import type { Country } from '../trust/trust-store.ts'
import { type CheckpointText, cosignatureTime, cosignedAt, ledgerKeys, ledgerOrigin, openCheckpoint, witnessKeys } from './checkpoint.ts'
import { EntryCheckPool } from './entry-check-pool.ts'
import { type EntriesChecked, LEAF_BYTES, rowsDiffer } from './entry-checks.ts'
import { LedgerPages } from './ledger-pages.ts'

export interface LedgerVerification {
  readonly ok: boolean
  /** Entries whose chain verified. */
  readonly entries: number
  /** Checkpoints whose signature and root verified. */
  readonly checkpoints: number
  /** Of those, how many carried a partner cosignature that verified too. */
  readonly countersignatures: number
  /**
   * The size of the last verified checkpoint (0: none). Entries after it are
   * held by the chain alone: whoever can write the database could rewrite and
   * rehash them, or cut them from the end, unseen until a checkpoint signs them.
   */
  readonly checkpointedTo: number
  /**
   * The largest checkpoint the partner cosigned that the ledger was checked
   * against (the partner's copy when one was given, else this ledger's own
   * record of it), and when it was cosigned. Entries after it are not yet
   * witnessed: only the partner's copy proves anything up to it.
   */
  readonly cosigned: { readonly size: number; readonly cosignedAt: string; readonly fromPartner: boolean } | null
  /** What weakens the result without disproving it: no cosignature, or one older than the bound. */
  readonly warnings: readonly string[]
  /** The first entry that does not verify: nothing from it on can be relied on. */
  readonly firstBad?: { readonly seq: number; readonly reason: string }
  /** The worker threads that checked entries (0: all were checked on the calling thread). */
  readonly threads: number
}

/** VerifyLedgerOptions.threadsFrom's default: about where checking threads start to pay for their start. */
const THREADS_FROM = 20_000

export interface VerifyLedgerOptions {
  readonly pageSize?: number
  /**
   * Worker threads that check pages (hashes, JSON, search index) while this
   * one reads the next and verifies the rest in order (entry-check-pool.ts);
   * 0: all on this thread. Started only for a ledger longer than a page and
   * than `threadsFrom`.
   * Default: one fewer than the cores, and at least one, so that this
   * thread, which reads the pages, has a core of its own. Once the checks got
   * cheaper, this thread and one checking thread kept two cores busy alone:
   * a second checking thread only made three threads share them. On a 2-core
   * AMD machine, one verified 93,000–96,500 entries/s with 18.3–18.9 s of
   * CPU for a million, where two verified 88,000–92,800 with 19.5–20.2 s
   * (docs/measurements.md, "Speed and memory"). The gateway's own verification, which
   * shares its cores with the traffic, asks for none on one core.
   */
  readonly threads?: number
  /**
   * The threads are started only for a ledger of more entries than this
   * (default 20,000); a shorter one is checked on this thread alone. A thread
   * costs about 0.1 s of CPU to start, as much as checking a few thousand
   * entries: on a 2-core AMD machine, 1,000 entries took 74–85 ms here
   * against 199–201 ms with two threads, 10,000 took 477–508 against
   * 542–561 ms, 15,000 as long either way, 20,000 4 % less time with them
   * but 35 % more CPU, and 100,000 20 % less time (docs/measurements.md,
   * "Speed and memory"). 0: whenever there is more than a page.
   */
  readonly threadsFrom?: number
  /**
   * The latest checkpoint of this ledger the partner cosigned, as the
   * partner holds it (its GET /v1/witness/checkpoint, or a saved copy): the
   * ledger must extend it.
   */
  readonly witnessed?: string
  /** A cosignature older than this is warned of (milliseconds). */
  readonly maxCosignatureAgeMs?: number
  readonly now?: number
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown }
  return typeof e.code === 'string' ? `${e.code}: ${String(e.message)}` : String(e.message ?? err)
}

/** The country of a gateway key set: its keys are all owned by `gateway:CA` or `gateway:US`. */
function gatewayCountry(keys: ReadonlyMap<string, VerificationKey> | undefined): Country | undefined {
  for (const key of keys?.values() ?? []) {
    const country = key.owner.replace(/^gateway:/, '')
    if (country === 'CA' || country === 'US') return country
  }
  return undefined
}

/** Checkpoints in size order, one page at a time, up to `lastSize`. */
class CheckpointCursor {
  readonly #store: GatewayStore
  readonly #pageSize: number
  readonly #lastSize: number
  #page: Checkpoint[] = []
  #after = 0
  #done: boolean

  constructor(store: GatewayStore, pageSize: number, lastSize: number) {
    this.#store = store
    this.#pageSize = pageSize
    this.#lastSize = lastSize
    this.#done = lastSize === 0
  }

  /**
   * The next checkpoint, or undefined when none is left: read without
   * waiting, so that the ledger's loop asks it at every entry for free (an
   * await an entry was a few per cent of that thread's time). Valid once
   * load() has resolved, and after each shift().
   */
  get next(): Checkpoint | undefined {
    return this.#page[0]
  }

  /** Reads the next page of checkpoints when the one held is used up. */
  async load(): Promise<void> {
    if (this.#page.length > 0 || this.#done) return
    const page = await this.#store.checkpoints(this.#after, this.#pageSize)
    this.#page = page.filter((cp) => cp.size <= this.#lastSize)
    if (this.#page.length < this.#pageSize) this.#done = true
    if (page.length > 0) this.#after = page[page.length - 1]!.size
  }

  async shift(): Promise<void> {
    this.#page.shift()
    await this.load()
  }
}

export async function verifyLedger(
  store: GatewayStore,
  ownKeys: ReadonlyMap<string, VerificationKey>,
  partnerKeys?: ReadonlyMap<string, VerificationKey>,
  options: VerifyLedgerOptions = {}
): Promise<LedgerVerification> {
  // 500: less of this thread's time an entry than 1,000 or 5,000 (a page's texts stay in cache from read to check).
  const pageSize = options.pageSize ?? 500
  const country = gatewayCountry(ownKeys)
  const partnerCountry = gatewayCountry(partnerKeys)
  const signers = country === undefined ? [] : ledgerKeys(country, ownKeys)
  const witnesses = partnerCountry === undefined || partnerKeys === undefined ? [] : witnessKeys(partnerCountry, partnerKeys)
  let entries = 0
  let checkpoints = 0
  let countersignatures = 0
  /** The last checkpoint that verified: a rewrite found by a later one happened after it. */
  let trustedUpTo = 0
  /** The checking threads, once a page past the first is read (below): what the result says of them. */
  let pool: EntryCheckPool | undefined
  let cosigned: LedgerVerification['cosigned'] = null
  const warnings: string[] = []
  const bad = (seq: number, reason: string): LedgerVerification => ({
    ok: false,
    entries,
    checkpoints,
    countersignatures,
    checkpointedTo: trustedUpTo,
    cosigned,
    warnings,
    firstBad: { seq, reason },
    threads: pool?.threads ?? 0
  })

  /** The checkpoint text a note signed by this ledger's keys says, or why it does not. */
  const open = (note: string, what: string): CheckpointText | string => {
    if (country === undefined) return `${what} cannot be verified: no key of this gateway was given`
    try {
      return openCheckpoint(note, ledgerOrigin(country), signers)
    } catch (err) {
      return `${what} is not signed by this gateway (${describe(err)})`
    }
  }

  // The partner's copy of the latest checkpoint it cosigned: checked first,
  // so that a copy that is not genuine is not mistaken for evidence.
  let witnessed: (CheckpointText & { cosignedAt: string }) | undefined
  if (options.witnessed !== undefined) {
    const cp = open(options.witnessed, "the partner's checkpoint")
    if (typeof cp === 'string') return bad(0, cp)
    let time: number | undefined
    try {
      time = cosignedAt(options.witnessed, witnesses)
    } catch (err) {
      return bad(0, `the partner's checkpoint carries a cosignature that does not verify (${describe(err)})`)
    }
    if (time === undefined) return bad(0, "the partner's checkpoint carries no cosignature by the partner's key")
    witnessed = { ...cp, cosignedAt: new Date(time * 1000).toISOString() }
  }

  // Checkpoints made while this runs are left for the next run: they may name
  // entries appended after the last page was read.
  const latest = await store.latestCheckpoint()
  const cursor = new CheckpointCursor(store, pageSize, latest?.size ?? 0)
  await cursor.load()

  /** Why `cp` does not verify against the tree's root at its size (`root`, when the ledger reaches it), or undefined if it does. */
  function checkpointProblem(cp: Checkpoint, root: string | undefined): string | undefined {
    const claims = open(cp.note, `checkpoint ${cp.size}`)
    if (typeof claims === 'string') return claims
    if (claims.size !== cp.size || claims.root !== cp.root) {
      return `checkpoint ${cp.size} was altered: its signature covers a tree of ${claims.size} entries with root ${claims.root}`
    }
    if (root === undefined) return undefined
    if (claims.root !== root) {
      return `the ledger's first ${cp.size} entries are not those checkpoint ${cp.size} signed: the ledger was rewritten after entry ${trustedUpTo}`
    }
    if (cp.cosignature !== null && witnesses.length > 0) {
      try {
        const time = cosignatureTime(cp.note, cp.cosignature, witnesses)
        if (time === undefined) return `the cosignature of checkpoint ${cp.size} is not by the partner's key`
        countersignatures++
        if (cosigned === null || cp.size >= cosigned.size) cosigned = { size: cp.size, cosignedAt: new Date(time * 1000).toISOString(), fromPartner: false }
      } catch (err) {
        return `the cosignature of checkpoint ${cp.size} does not verify with the partner's keys (${describe(err)})`
      }
    }
    return undefined
  }

  const edge = new TreeEdge()
  /** The tree's root as far as the entries read so far: computed only where a checkpoint needs it. */
  const root = (): string => edge.root().toString('base64')
  let expectedSeq = 1
  let prevHash = GENESIS_HASH
  // The head says how long the ledger is, only to choose the threads: what
  // is verified is what the pages hold.
  const length = (await store.auditHead())?.seq ?? 0
  const threads = length > (options.threadsFrom ?? THREADS_FROM) ? (options.threads ?? Math.max(1, availableParallelism() - 1)) : 0
  // The first page is checked here: a ledger of one page does not wait for threads to start.
  const here = new EntryCheckPool(0)
  const check = (links: readonly AuditChainLink[], rows: AuditIndexRows): Promise<EntriesChecked> => {
    if (pool === undefined && threads > 0 && links[0]!.seq > 1) pool = new EntryCheckPool(threads)
    return (pool ?? here).check(links, rows)
  }
  // Two pages read ahead a checking thread, and one more: with one a thread,
  // the pages behind one a thread was slow on waited while the other thread
  // sat idle (94,755–95,536 against 98,938–100,338 entries/s with six, three
  // alternated pairs; eight was slower, docs/architecture.md "Targets").
  const pages = new LedgerPages(store, pageSize, Math.max(2, threads * 2 + 1), check)
  try {
    for (;;) {
      // The links as stored: the chain hashes each entry's exact text, so the
      // text is hashed as it is (parsing it and writing it out again was about a
      // sixth of the time, docs/architecture.md "Targets"), then parsed once for
      // the index, by the page's check.
      const page = await pages.next()
      if (page === undefined) break
      const checked = await page.checked
      const { broken, leaves } = checked
      for (let i = 0; i < page.links.length; i++) {
        const link = page.links[i]!
        if (link.seq !== expectedSeq) {
          return bad(expectedSeq, `entry ${expectedSeq} is missing: the ledger goes from entry ${expectedSeq - 1} to entry ${link.seq}`)
        }
        if (link.prevHash !== prevHash) {
          return bad(
            link.seq,
            link.seq === 1
              ? 'the first entry does not start from the genesis hash'
              : `entry ${link.seq} does not chain onto entry ${link.seq - 1}: an entry was removed, moved or rewritten here`
          )
        }
        if (broken?.at === i && broken.why === 'hash') {
          return bad(link.seq, `entry ${link.seq} does not match its hash: its content or its hash was edited`)
        }
        // The tree nodes stored with the entry are what proofs are served from.
        if (encodeTreeNodes(edge.append(leaves.subarray(i * LEAF_BYTES, (i + 1) * LEAF_BYTES))) !== link.treeNodes) {
          return bad(
            link.seq,
            `the Merkle tree nodes stored with entry ${link.seq} are not those of the ledger's entries: proofs served from them would not verify`
          )
        }
        if (broken?.at === i) return bad(link.seq, `entry ${link.seq} is not JSON: it was written by something other than the gateway`)
        entries++
        prevHash = link.hash
        expectedSeq++
        for (let cp = cursor.next; cp !== undefined && cp.size <= link.seq; cp = cursor.next) {
          const problem = checkpointProblem(cp, cp.size === link.seq ? root() : undefined)
          if (problem !== undefined) return bad(cp.size, problem)
          if (cp.size !== link.seq) return bad(cp.size, `checkpoint ${cp.size} names no size the ledger had`)
          checkpoints++
          trustedUpTo = cp.size
          await cursor.shift()
        }
        if (witnessed !== undefined && witnessed.size === link.seq) {
          if (witnessed.root !== root()) {
            return bad(
              link.seq,
              `the ledger's first ${witnessed.size} entries are not those of the checkpoint the partner cosigned at ${witnessed.cosignedAt}: ` +
                'the ledger was rewritten (its own checkpoints, if any say otherwise, were re-signed or deleted)'
            )
          }
          cosigned = { size: witnessed.size, cosignedAt: witnessed.cosignedAt, fromPartner: true }
        }
      }
      // The search index must say exactly what the entries say: a deleted index
      // row would hide an entry from a disclosure report without breaking the chain.
      if (checked.thrown !== undefined) throw checked.thrown
      if (checked.index !== undefined) return bad(checked.index.seq, checked.index.reason)
      if (page.links.length < pageSize) break
    }
  } finally {
    await pages.stop()
    await pool?.close()
  }

  // A search by field finds an entry through its set's pattern rows: a row
  // deleted or added would hide the set's entries from a search, or show
  // them for a field they never carried, while every entry still verified.
  for (const set of await store.auditFieldSets()) {
    const patterns = set.patterns.split(' ')
    const problem = rowsDiffer(patterns, set.rows)
    if (problem !== undefined || fieldSetId(set.patterns) !== set.id) {
      return bad(
        0,
        `the search index's field set ${set.id} ${problem ?? 'is not named for'} ${problem === undefined ? 'its patterns' : 'a pattern row'}: ` +
          'it was edited, so a search by field could hide or misattribute the entries of that set'
      )
    }
  }

  // A checkpoint beyond the last entry signed a head the ledger no longer
  // reaches: entries were cut from its end (if the checkpoint is genuine).
  const beyond = cursor.next
  if (beyond !== undefined) {
    const problem = checkpointProblem(beyond, undefined)
    if (problem !== undefined) return bad(beyond.size, problem)
    return bad(
      expectedSeq,
      `the ledger ends at entry ${expectedSeq - 1}, but checkpoint ${beyond.size} signed a tree of ${beyond.size} entries: ` +
        `entries ${expectedSeq} to ${beyond.size} were deleted`
    )
  }
  if (witnessed !== undefined && witnessed.size > entries) {
    return bad(
      expectedSeq,
      `the ledger ends at entry ${entries}, but the partner cosigned a checkpoint of ${witnessed.size} entries at ${witnessed.cosignedAt}: ` +
        `entries ${expectedSeq} to ${witnessed.size} were deleted (with any checkpoint of this ledger that named them)`
    )
  }

  const now = options.now ?? Date.now()
  if (cosigned === null) {
    if (entries > 0) warnings.push('no checkpoint of this ledger is cosigned by the partner: nothing here is witnessed')
  } else {
    const age = now - Date.parse(cosigned.cosignedAt)
    if (options.maxCosignatureAgeMs !== undefined && age > options.maxCosignatureAgeMs) {
      warnings.push(
        `the latest cosignature by the partner (${cosigned.size} entries) is from ${cosigned.cosignedAt}, ` +
          `older than the ${Math.round(options.maxCosignatureAgeMs / 1000)} s allowed: the partner has witnessed nothing since`
      )
    }
  }
  return { ok: true, entries, checkpoints, countersignatures, checkpointedTo: trustedUpTo, cosigned, warnings, threads: pool?.threads ?? 0 }
}
