// One page of a traveller's disclosure report, read from the ledger: the
// entries that name them after a cursor, at most `limit` of them and about
// PAGE_MAX_BYTES (a 5,000-record batch's entry is ~220 kB, and a daily
// commuter's years of them would not fit in memory at once), with what the
// whole report needs from every page: the totals, and which message
// superseded each of theirs. Every entry of the report is read, one store
// page at a time, for those; only this page's are kept, and an original
// counted only when it names the traveller
// (docs/privacy-officers.md, "The audit API").
import type { Direction, GatewayStore, StoredAuditEntry } from '../store/records.ts'
import { allMatching, PAGE_MAX_BYTES, reportCursor } from './audit-query.ts'

/** What the report's totals call the last month. */
const LAST_MONTH_MS = 30 * 86_400_000

export interface DisclosurePageOptions {
  /** The keyed digest the ledger knows the traveller by. */
  readonly subject: string
  /** The last seq of the page before (0 for the first). */
  readonly after: number
  /**
   * The last seq the report covers: the ledger's head when its first page
   * was asked for. Each page asked for is audited, naming the traveller, so
   * a report read to its head would find one more entry a page, and with one
   * entry a page it would never end.
   */
  readonly upTo: number
  readonly limit: number
  readonly now?: number
}

export interface SupersedingEntry {
  readonly messageId: string
  readonly action: 'correct' | 'retract'
  readonly reason?: string
  readonly seq: number
}

export interface DisclosurePage {
  readonly entries: StoredAuditEntry[]
  readonly nextCursor: string | null
  readonly totals: {
    entries: number
    sent: number
    received: number
    lastMonth: { sent: number; received: number; to: string[] }
  }
  /** The correction or retraction of a message, by its direction and id (supersedingKey). */
  readonly supersededBy: ReadonlyMap<string, SupersedingEntry>
  /**
   * The messages the report reaches only through what corrected or retracted
   * them, as the ledger links them: they outlive the records' own links, which
   * the purge removes with the messages.
   */
  readonly originals: readonly MessageKey[]
}

export function supersedingKey(direction: Direction | undefined, id: string): string {
  return `${direction} ${id}`
}

export async function disclosurePage(store: GatewayStore, opts: DisclosurePageOptions): Promise<DisclosurePage> {
  const entries: StoredAuditEntry[] = []
  let nextCursor: string | null = null
  let bytes = 0
  const since = new Date((opts.now ?? Date.now()) - LAST_MONTH_MS).toISOString()
  const totals = { entries: 0, sent: 0, received: 0, lastMonth: { sent: 0, received: 0, to: new Set<string>() } }
  // A correction's or retraction's entry names the travellers of what it
  // supersedes too (intake/intake.ts), so it is among these, after its
  // original, maybe pages later: each original is linked to it by (direction, id).
  const supersededBy = new Map<string, SupersedingEntry>()
  const originals = await supersededChain(store, opts.subject, opts.upTo)
  for await (const e of reportEntries(store, opts.subject, opts.upTo, originals)) {
    const { supersedes, direction, event, messageId } = e.entry
    totals.entries++
    const side = event !== 'accepted' && event !== 'received' ? undefined : direction === 'outbound' ? 'sent' : direction === 'inbound' ? 'received' : undefined
    // An original found through its correction that names the traveller by
    // none of its identifiers is listed, not counted: none of its records is
    // known to be theirs, and the correction that carries theirs is counted
    // (docs/privacy-officers.md, "Corrections and retractions in the report").
    if (side !== undefined && e.entry.subjects.includes(opts.subject)) {
      totals[side]++
      if (e.entry.at >= since) {
        totals.lastMonth[side]++
        if (side === 'sent' && e.entry.to !== null) totals.lastMonth.to.add(e.entry.to)
      }
    }
    if (supersedes !== undefined && messageId !== null && !supersededBy.has(supersedingKey(direction, supersedes.id))) {
      supersededBy.set(supersedingKey(direction, supersedes.id), {
        messageId,
        action: supersedes.action,
        ...(supersedes.reason === undefined ? {} : { reason: supersedes.reason }),
        seq: e.seq
      })
    }
    if (e.seq <= opts.after || nextCursor !== null) continue
    const size = JSON.stringify(e.entry).length
    if (entries.length === opts.limit || (entries.length > 0 && bytes + size > PAGE_MAX_BYTES)) {
      nextCursor = reportCursor(entries[entries.length - 1]!.seq, opts.upTo)
      continue
    }
    bytes += size
    entries.push(e)
  }
  return { entries, nextCursor, totals: { ...totals, lastMonth: { ...totals.lastMonth, to: [...totals.lastMonth.to] } }, supersededBy, originals }
}

/**
 * Every entry of a report on `subject`, in ledger order, up to `upTo`: those
 * that name the traveller, and, for each message one of these corrects or
 * retracts, back along the chain, that message's own entries naming its
 * travellers. An original corrected to another document number names only the
 * old one; its correction names both (intake/intake.ts), so a report by the
 * new number finds the original through the correction
 * (docs/privacy-officers.md, "Corrections and retractions in the report").
 */
async function* reportEntries(store: GatewayStore, subject: string, upTo: number, originals: readonly MessageKey[]): AsyncGenerator<StoredAuditEntry> {
  const ofOriginal = async function* (o: MessageKey): AsyncGenerator<StoredAuditEntry> {
    for await (const e of allMatching(store, { messageId: o.id, direction: o.direction })) if (e.entry.subjects.length > 0) yield e
  }
  yield* inSeqOrder([allMatching(store, { subject }), ...originals.map(ofOriginal)], upTo)
}

export interface MessageKey {
  readonly direction: Direction
  readonly id: string
}

/** The messages superseded by one the traveller's entries are about, and by those, and so on. */
async function supersededChain(store: GatewayStore, subject: string, upTo: number): Promise<MessageKey[]> {
  const found = new Map<string, MessageKey>()
  const note = ({ seq, entry }: StoredAuditEntry): void => {
    const { supersedes, direction, event } = entry
    // A correction's own entry, as taken in: a refused one superseded nothing.
    if (seq > upTo || supersedes === undefined || direction === undefined || (event !== 'accepted' && event !== 'received')) return
    const key = supersedingKey(direction, supersedes.id)
    if (!found.has(key)) found.set(key, { direction, id: supersedes.id })
  }
  for await (const e of allMatching(store, { subject })) note(e)
  // The map grows as it is walked: each original's own entries may name an earlier one.
  for (const o of found.values()) for await (const e of allMatching(store, { messageId: o.id, direction: o.direction })) note(e)
  return [...found.values()]
}

/** The entries of several streams, each in seq order, as one in seq order, each once, up to `upTo`. */
async function* inSeqOrder(streams: AsyncGenerator<StoredAuditEntry>[], upTo: number): AsyncGenerator<StoredAuditEntry> {
  const heads = await Promise.all(streams.map(async (s) => (await s.next()).value as StoredAuditEntry | undefined))
  let last = 0
  for (;;) {
    let at = -1
    for (let i = 0; i < heads.length; i++) if (heads[i] !== undefined && (at < 0 || heads[i]!.seq < heads[at]!.seq)) at = i
    if (at < 0 || heads[at]!.seq > upTo) return
    const e = heads[at]!
    heads[at] = (await streams[at]!.next()).value as StoredAuditEntry | undefined
    if (e.seq === last) continue
    last = e.seq
    yield e
  }
}
