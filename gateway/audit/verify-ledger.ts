// Re-verifies the whole ledger (docs/architecture.md, "Privacy principles
// in code"; P12 effective oversight): every
// entry against the chain from the genesis hash, every checkpoint against the
// gateway's keys and the entry it signed, every countersignature against the
// partner's keys. Entries are read page by page: memory stays flat however
// long the ledger. It stops at the first entry that does not verify and says
// why, because everything after it is unproven.
import type { VerificationKey } from '../jws/signing-key.ts'
import { GENESIS_HASH, chainHash } from '../store/audit-chain.ts'
import { AUDIT_COLUMNS, auditColumnValues, auditColumns, auditFieldPatterns, auditSubjects } from '../store/audit-index.ts'
import type { AuditChainLink, AuditEntry, Checkpoint, GatewayStore } from '../store/records.ts'
import type { Country } from '../trust/trust-store.ts'
import { readCountersignature } from './checkpoint-exchange.ts'
import { verifyCheckpointJws } from './checkpointer.ts'

export interface LedgerVerification {
  readonly ok: boolean
  /** Entries whose chain verified. */
  readonly entries: number
  /** Checkpoints whose signature and claims verified. */
  readonly checkpoints: number
  /** Of those, how many carried a partner countersignature that verified too. */
  readonly countersignatures: number
  /**
   * The seq the last verified checkpoint signs (0: none). Entries after it are
   * held by the chain alone: whoever can write the database could rewrite and
   * rehash them, or cut them from the end, unseen until a checkpoint signs them.
   */
  readonly checkpointedTo: number
  /** The first entry that does not verify: nothing from it on can be relied on. */
  readonly firstBad?: { readonly seq: number; readonly reason: string }
}

export interface VerifyLedgerOptions {
  readonly pageSize?: number
}

/** The first entry of a page whose search index rows differ from what the entry implies. */
async function indexProblem(
  store: GatewayStore,
  page: ReadonlyArray<{ seq: number; entry: AuditEntry }>
): Promise<{ seq: number; reason: string } | undefined> {
  const rows = await store.auditIndexRows(page[0]!.seq, page[page.length - 1]!.seq)
  // The columns a search filters on (message id, event, parties…) are copies
  // of what the entry says: edited, they would hide an entry from a search
  // while the chain, which covers only the entry, still verified.
  const stored = new Map(rows.columns.map((r) => [r.seq, r.values]))
  for (const e of page) {
    const expectedValues = auditColumnValues(auditColumns(e.entry))
    const actualValues = stored.get(e.seq)
    const differs = AUDIT_COLUMNS.findIndex((_, i) => actualValues?.[i] !== expectedValues[i])
    if (differs !== -1) {
      return {
        seq: e.seq,
        reason: `the searchable column ${AUDIT_COLUMNS[differs]} of entry ${e.seq} does not say what the entry says: it was edited, so a search could hide or misattribute the entry`
      }
    }
    for (const [kind, expected, actual] of [
      ['traveller', auditSubjects(e.entry), rows.subjects.get(e.seq)],
      ['field', auditFieldPatterns(e.entry), rows.fields.get(e.seq)]
    ] as const) {
      const problem = rowsDiffer(expected, actual ?? [])
      if (problem !== undefined) {
        return {
          seq: e.seq,
          reason: `the search index of entry ${e.seq} ${problem} a ${kind} row: it was edited, so a search could hide or misattribute the entry`
        }
      }
    }
  }
  return undefined
}

/** Whether an entry's index rows lack or add one against what the entry implies (rows are unique: a primary key). */
function rowsDiffer(expected: readonly string[], actual: readonly string[]): 'lacks' | 'adds' | undefined {
  const want = new Set(expected)
  if (want.size === actual.length && actual.every((row) => want.has(row))) return undefined
  const have = new Set(actual)
  return [...want].some((row) => !have.has(row)) ? 'lacks' : 'adds'
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

/** Checkpoints in seq order, one page at a time, up to `lastSeq`. */
class CheckpointCursor {
  readonly #store: GatewayStore
  readonly #pageSize: number
  readonly #lastSeq: number
  #page: Checkpoint[] = []
  #after = 0
  #done: boolean

  constructor(store: GatewayStore, pageSize: number, lastSeq: number) {
    this.#store = store
    this.#pageSize = pageSize
    this.#lastSeq = lastSeq
    this.#done = lastSeq === 0
  }

  async peek(): Promise<Checkpoint | undefined> {
    if (this.#page.length === 0 && !this.#done) {
      const page = await this.#store.checkpoints(this.#after, this.#pageSize)
      this.#page = page.filter((cp) => cp.seq <= this.#lastSeq)
      if (this.#page.length < this.#pageSize) this.#done = true
      if (page.length > 0) this.#after = page[page.length - 1]!.seq
    }
    return this.#page[0]
  }

  shift(): void {
    this.#page.shift()
  }
}

export async function verifyLedger(
  store: GatewayStore,
  ownKeys: ReadonlyMap<string, VerificationKey>,
  partnerKeys?: ReadonlyMap<string, VerificationKey>,
  options: VerifyLedgerOptions = {}
): Promise<LedgerVerification> {
  const pageSize = options.pageSize ?? 1000
  const country = gatewayCountry(ownKeys)
  const partnerCountry = gatewayCountry(partnerKeys)
  let entries = 0
  let checkpoints = 0
  let countersignatures = 0
  /** The last checkpoint that verified: a rewrite found by a later one happened after it. */
  let trustedUpTo = 0
  const bad = (seq: number, reason: string): LedgerVerification => ({
    ok: false,
    entries,
    checkpoints,
    countersignatures,
    checkpointedTo: trustedUpTo,
    firstBad: { seq, reason }
  })

  // Checkpoints made while this runs are left for the next run: they may name
  // entries appended after the last page was read.
  const latest = await store.latestCheckpoint()
  const cursor = new CheckpointCursor(store, pageSize, latest?.seq ?? 0)

  /** Why `cp` does not verify, or undefined if it does; `entry` is the entry at its seq, if any. */
  async function checkpointProblem(cp: Checkpoint, entry: AuditChainLink | undefined): Promise<string | undefined> {
    if (country === undefined) return `checkpoint ${cp.seq} cannot be verified: no key of this gateway was given`
    let claims
    try {
      claims = await verifyCheckpointJws(cp.jws, ownKeys, country)
    } catch (err) {
      return `checkpoint ${cp.seq} is not signed by this gateway (${describe(err)})`
    }
    if (claims.seq !== cp.seq || claims.hash !== cp.hash) {
      return `checkpoint ${cp.seq} was altered: its signature covers entry ${claims.seq} with hash ${claims.hash}`
    }
    if (entry === undefined) return undefined
    if (claims.hash !== entry.hash) {
      return `entry ${cp.seq} is not the entry checkpoint ${cp.seq} signed: the ledger was rewritten after entry ${trustedUpTo}`
    }
    if (cp.countersignature !== null && partnerKeys !== undefined) {
      if (partnerCountry === undefined) return `the countersignature of checkpoint ${cp.seq} cannot be verified: no partner key was given`
      try {
        const counter = await readCountersignature(cp.countersignature, { keys: partnerKeys, owner: `gateway:${partnerCountry}`, expected: cp })
        if (counter.gateway !== country) return `the countersignature of checkpoint ${cp.seq} names gateway ${counter.gateway}`
      } catch (err) {
        return `the countersignature of checkpoint ${cp.seq} does not verify with the partner's keys (${describe(err)})`
      }
      countersignatures++
    }
    return undefined
  }

  let expectedSeq = 1
  let prevHash = GENESIS_HASH
  for (;;) {
    // The links as stored: the chain hashes each entry's exact text, so the
    // text is hashed as it is (parsing it and writing it out again was about a
    // sixth of the time, docs/architecture.md "Targets"), then parsed once for
    // the index.
    const page = await store.auditChain(expectedSeq - 1, pageSize)
    const parsed: Array<{ seq: number; entry: AuditEntry }> = []
    for (const link of page) {
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
      if (chainHash(link.prevHash, link.text) !== link.hash) {
        return bad(link.seq, `entry ${link.seq} does not match its hash: its content or its hash was edited`)
      }
      let entry: AuditEntry
      try {
        entry = JSON.parse(link.text) as AuditEntry
      } catch {
        return bad(link.seq, `entry ${link.seq} is not JSON: it was written by something other than the gateway`)
      }
      parsed.push({ seq: link.seq, entry })
      entries++
      prevHash = link.hash
      expectedSeq++
      for (let cp = await cursor.peek(); cp !== undefined && cp.seq <= link.seq; cp = await cursor.peek()) {
        const problem = await checkpointProblem(cp, cp.seq === link.seq ? link : undefined)
        if (problem !== undefined) return bad(cp.seq, problem)
        if (cp.seq !== link.seq) return bad(cp.seq, `checkpoint ${cp.seq} names no entry of the ledger`)
        checkpoints++
        trustedUpTo = cp.seq
        cursor.shift()
      }
    }
    // The search index must say exactly what the entries say: a deleted index
    // row would hide an entry from a disclosure report without breaking the chain.
    if (parsed.length > 0) {
      const problem = await indexProblem(store, parsed)
      if (problem !== undefined) return bad(problem.seq, problem.reason)
    }
    if (page.length < pageSize) break
  }

  // A checkpoint beyond the last entry signed a head the ledger no longer
  // reaches: entries were cut from its end (if the checkpoint is genuine).
  const beyond = await cursor.peek()
  if (beyond !== undefined) {
    const problem = await checkpointProblem(beyond, undefined)
    if (problem !== undefined) return bad(beyond.seq, problem)
    return bad(
      expectedSeq,
      `the ledger ends at entry ${expectedSeq - 1}, but checkpoint ${beyond.seq} signed a head at entry ${beyond.seq}: ` +
        `entries ${expectedSeq} to ${beyond.seq} were deleted`
    )
  }
  return { ok: true, entries, checkpoints, countersignatures, checkpointedTo: trustedUpTo }
}
