// Counting what became of every accepted message, from three independent
// witnesses: the sending gateway's ledger (CA, outbound), the receiving
// gateway's ledger (US, inbound) and the agency's own record of pushes.
// The ledgers are read with the gateway's store class (read-only) and
// verified with its verifier, exactly as `npm run audit:verify` does.
import { readFileSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { join } from 'node:path'
import { verifyLedger, type LedgerVerification } from '../gateway/audit/verify-ledger.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import type { AgencyFleet } from './agencies.ts'
import { KEYS_DIR, type Country } from './processes.ts'

/** Per message, how many entries of each event one ledger holds (one direction). */
export type EventCounts = Map<string, Record<string, number>>

export interface LedgerTally {
  readonly entries: number
  readonly byMessage: EventCounts
}

/** Reads a whole ledger, a page at a time, and counts each message's events in one direction. */
export async function tallyLedger(path: string, direction: 'outbound' | 'inbound'): Promise<LedgerTally> {
  const store = new SqliteStore(path, { readOnly: true })
  const byMessage: EventCounts = new Map()
  let entries = 0
  try {
    for (let after = 0; ; ) {
      const page = await store.auditEntries(after, 2000)
      for (const e of page) {
        entries++
        const id = e.entry.messageId
        if (id === null || e.entry.direction !== direction) continue
        const counts = byMessage.get(id) ?? {}
        counts[e.entry.event] = (counts[e.entry.event] ?? 0) + 1
        byMessage.set(id, counts)
      }
      if (page.length < 2000) break
      after = page[page.length - 1]!.seq
    }
  } finally {
    await store.close()
  }
  return { entries, byMessage }
}

/** The gateway's own verification of a ledger, with the keys of its trust file. */
export async function verifyLedgerFile(path: string, country: Country): Promise<LedgerVerification> {
  const trust = loadTrustStore(join(KEYS_DIR, country, 'trust.json'))
  const store = new SqliteStore(path, { readOnly: true })
  try {
    return await verifyLedger(store, trust.ownLedgerKeys, trust.partner.ledgerKeys)
  } finally {
    await store.close()
  }
}

/**
 * POST /v1/exchange requests that reached the receiving gateway, from its
 * request log (Fastify logs each one at info). The gateways pin each other's
 * certificates end to end, so the proxy sees only TLS and cannot count them.
 */
export function exchangeCalls(logPath: string): number {
  let n = 0
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (line.includes('"msg":"incoming request"') && line.includes('"url":"/v1/exchange"')) n++
  }
  return n
}

/** Cheap status counts for polling while a run recovers (SQL on the messages table, read-only). */
export class LedgerProbe {
  readonly #db: DatabaseSync
  readonly #direction: 'outbound' | 'inbound'

  constructor(path: string, direction: 'outbound' | 'inbound') {
    this.#db = new DatabaseSync(path, { readOnly: true })
    this.#direction = direction
  }

  /** Messages per status, and the ledger's head (it stops moving once the run is quiet). */
  read(): { statuses: Record<string, number>; head: number } {
    const rows = this.#db.prepare('SELECT status, count(*) AS n FROM messages WHERE direction = ? GROUP BY status').all(this.#direction) as Array<{
      status: string
      n: number
    }>
    const head = (this.#db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM audit').get() as { seq: number }).seq
    return { statuses: Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])), head: Number(head) }
  }

  /** One message's row, for a finding's evidence. */
  message(id: string): Record<string, unknown> | undefined {
    const row = this.#db.prepare('SELECT status, accepted_at, updated_at, attempts FROM messages WHERE direction = ? AND id = ?').get(this.#direction, id) as
      | Record<string, unknown>
      | undefined
    return row
  }

  close(): void {
    this.#db.close()
  }
}

export interface Counts {
  readonly accepted: number
  readonly delivered: number
  readonly lost: readonly string[]
  /** Messages with more than one outcome entry of a kind, per ledger: CA delivered/accepted, US received/delivered. */
  readonly ledgerDuplicates: {
    readonly caAccepted: readonly string[]
    readonly caDelivered: readonly string[]
    readonly usReceived: readonly string[]
    readonly usDelivered: readonly string[]
  }
  /** Messages with any ledger duplicate, once each. */
  readonly dupLedger: readonly string[]
  /**
   * Messages the agency acted on more than once: pushes it could not tell
   * for a repeat, because the Idempotency-Key was missing or was not the
   * message id. Its memory of keys spans its own restarts, as a real
   * agency's durable record would.
   */
  readonly actedTwice: readonly string[]
  /** Messages pushed more than once (transport repeats), and the pushes beyond the first. */
  readonly rawRepeats: readonly string[]
  readonly extraPushes: number
  /** The mocks' own duplicates() counters, summed over incarnations (repeats within one incarnation). */
  readonly mockDuplicates: number
  /** Whether the mocks still held every push (they trim past 20,000). */
  readonly pushesComplete: boolean
  readonly exchangeCalls: number
  /** Ids the CA ledger accepted that the client never heard accepted (no answer, then gave up). */
  readonly acceptedUnbeknown: readonly string[]
  readonly deadLettered: { readonly CA: number; readonly US: number }
  /** Failed attempts the ledgers audited (sampled 1st, 2nd, 4th…), per side. */
  readonly failuresAudited: { readonly CA: number; readonly US: number }
  readonly ledgerEntries: { readonly CA: number; readonly US: number }
}

const ids = (tally: EventCounts, event: string, atLeast: number): string[] => [...tally].filter(([, c]) => (c[event] ?? 0) >= atLeast).map(([id]) => id)

export async function countOutcome(input: {
  readonly acceptedIds: readonly string[]
  readonly ledgers: Readonly<Record<Country, string>>
  readonly usLog: string
  readonly agencies: AgencyFleet
}): Promise<Counts> {
  const ca = await tallyLedger(input.ledgers.CA, 'outbound')
  const us = await tallyLedger(input.ledgers.US, 'inbound')
  const cbp = input.agencies.get('CBP').pushes()

  // Pushes per message, and what an agency that keeps its keys would act on.
  const pushes = new Map<string, number>()
  const actions = new Map<string, number>()
  const keysSeen = new Set<string>()
  for (const p of cbp.all) {
    pushes.set(p.id, (pushes.get(p.id) ?? 0) + 1)
    const key = p.idempotencyKey
    if (key !== null && key === p.id && keysSeen.has(key)) continue
    if (key !== null && key === p.id) keysSeen.add(key)
    actions.set(p.id, (actions.get(p.id) ?? 0) + 1)
  }

  const accepted = new Set(input.acceptedIds)
  const caDelivered = new Set(ids(ca.byMessage, 'delivered', 1))
  const delivered = [...accepted].filter((id) => caDelivered.has(id) && (pushes.get(id) ?? 0) > 0)
  const deliveredSet = new Set(delivered)
  const ledgerDuplicates = {
    caAccepted: ids(ca.byMessage, 'accepted', 2),
    caDelivered: ids(ca.byMessage, 'delivered', 2),
    usReceived: ids(us.byMessage, 'received', 2),
    usDelivered: ids(us.byMessage, 'delivered', 2)
  }
  return {
    accepted: accepted.size,
    delivered: delivered.length,
    lost: [...accepted].filter((id) => !deliveredSet.has(id)),
    ledgerDuplicates,
    dupLedger: [...new Set(Object.values(ledgerDuplicates).flat())],
    actedTwice: [...actions].filter(([, n]) => n > 1).map(([id]) => id),
    rawRepeats: [...pushes].filter(([, n]) => n > 1).map(([id]) => id),
    extraPushes: [...pushes.values()].reduce((sum, n) => sum + n - 1, 0),
    mockDuplicates: cbp.recognisedRepeats,
    pushesComplete: cbp.complete,
    exchangeCalls: exchangeCalls(input.usLog),
    acceptedUnbeknown: ids(ca.byMessage, 'accepted', 1).filter((id) => !accepted.has(id)),
    deadLettered: { CA: ids(ca.byMessage, 'dead-lettered', 1).length, US: ids(us.byMessage, 'dead-lettered', 1).length },
    failuresAudited: {
      CA: [...ca.byMessage.values()].reduce((s, c) => s + (c['delivery-failed'] ?? 0), 0),
      US: [...us.byMessage.values()].reduce((s, c) => s + (c['delivery-failed'] ?? 0), 0)
    },
    ledgerEntries: { CA: ca.entries, US: us.entries }
  }
}

/** What both ledgers and the agency say about one message: the evidence for a finding. */
export async function evidence(id: string, ledgers: Readonly<Record<Country, string>>, agencies: AgencyFleet): Promise<string> {
  const lines: string[] = [`message ${id}:`]
  for (const [country, direction] of [
    ['CA', 'outbound'],
    ['US', 'inbound']
  ] as const) {
    const store = new SqliteStore(ledgers[country], { readOnly: true })
    try {
      const entries = await store.searchAudit({ messageId: id }, 0, 100)
      lines.push(
        `  ${country} ledger: ${entries.map((e) => `#${e.seq} ${e.entry.event}${e.entry.code ? `(${e.entry.code})` : ''} ${e.entry.at}`).join(', ') || 'no entry'}`
      )
    } finally {
      await store.close()
    }
    const probe = new LedgerProbe(ledgers[country], direction)
    try {
      const row = probe.message(id)
      lines.push(
        `  ${country} status: ${row === undefined ? 'no message row' : `${String(row.status)}, accepted ${String(row.accepted_at)}, updated ${String(row.updated_at)}, attempts ${String(row.attempts).slice(0, 300)}`}`
      )
    } finally {
      probe.close()
    }
  }
  const pushes = agencies
    .get('CBP')
    .pushes()
    .all.filter((p) => p.id === id)
  lines.push(`  CBP pushes: ${pushes.length === 0 ? 'none' : pushes.map((p) => `${p.receivedAt} key=${p.idempotencyKey ?? '(none)'}`).join(', ')}`)
  return lines.join('\n')
}
