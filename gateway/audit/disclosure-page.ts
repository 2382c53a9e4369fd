// One page of a traveller's disclosure report, read from the ledger: the
// entries that name them after a cursor, at most `limit` of them and about
// PAGE_MAX_BYTES (a 5,000-record batch's entry is ~220 kB, and a daily
// commuter's years of them would not fit in memory at once), with what the
// whole report needs from every page: the totals, and which message
// superseded each of theirs. Every entry naming the traveller is read, one
// store page at a time, for those; only this page's are kept
// (docs/privacy-officers.md, "The audit API").
import type { Direction, GatewayStore, StoredAuditEntry } from '../store/records.ts'
import { allMatching, cursorAfter, PAGE_MAX_BYTES } from './audit-query.ts'

/** What the report's totals call the last month. */
const LAST_MONTH_MS = 30 * 86_400_000

export interface DisclosurePageOptions {
  /** The keyed digest the ledger knows the traveller by. */
  readonly subject: string
  /** The last seq of the page before (0 for the first). */
  readonly after: number
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
  for await (const e of allMatching(store, { subject: opts.subject })) {
    const { supersedes, direction, event, messageId } = e.entry
    totals.entries++
    const side = event !== 'accepted' && event !== 'received' ? undefined : direction === 'outbound' ? 'sent' : direction === 'inbound' ? 'received' : undefined
    if (side !== undefined) {
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
      nextCursor = cursorAfter(entries[entries.length - 1]!.seq)
      continue
    }
    bytes += size
    entries.push(e)
  }
  return { entries, nextCursor, totals: { ...totals, lastMonth: { ...totals.lastMonth, to: [...totals.lastMonth.to] } }, supersededBy }
}
