// Where a message waits between submission and push, hop by hop, from what
// the two ledgers say (each entry's `at`, stamped as the gateway decides) and
// what the load and the mock agency timed: no instrument inside the gateway,
// so the figures are those of the code as it ships. Read from each ledger's
// SQLite file, read-only, beside the running gateway (WAL readers do not
// block its writer).
import { DatabaseSync } from 'node:sqlite'
import { percentile } from './common.ts'

/** One message's times, epoch ms: submitted, answered, pushed to the agency. */
export interface MessageTimes {
  readonly id: string
  readonly sentAt: number
  readonly ackAt: number
  readonly pushedAt: number
}

export interface HopPercentiles {
  readonly hop: string
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** The whole of it, the last of the hops: what the bench's submit→push figure is. */
export const SUBMITTED_TO_PUSHED = 'submitted → pushed'

/** When each of `ids` first had an entry of `event`, from a ledger file. */
function eventTimes(path: string, ids: ReadonlySet<string>, event: string): Map<string, number> {
  const db = new DatabaseSync(path, { readOnly: true })
  try {
    const times = new Map<string, number>()
    const rows = db.prepare('SELECT message_id, at FROM audit WHERE event = ? ORDER BY seq').iterate(event) as Iterable<{
      message_id: string | null
      at: string
    }>
    for (const row of rows) {
      if (row.message_id !== null && ids.has(row.message_id) && !times.has(row.message_id)) times.set(row.message_id, Date.parse(row.at))
    }
    return times
  } finally {
    db.close()
  }
}

/**
 * The hops of CA agency → US agency, each from one mark to the next:
 * submitted → the CA gateway's decision (its `accepted` entry) → the US
 * gateway's (its `received` entry, once the CA gateway had committed, queued
 * and delivered it) → the push's arrival at the US agency; and, beside them,
 * submitted → `202`.
 */
export function hopLatencies(messages: readonly MessageTimes[], ledgers: { readonly CA: string; readonly US: string }): HopPercentiles[] {
  const ids = new Set(messages.map((m) => m.id))
  const ca = eventTimes(ledgers.CA, ids, 'accepted')
  const us = eventTimes(ledgers.US, ids, 'received')
  const hops: Array<{ hop: string; values: number[] }> = [
    { hop: 'submitted → 202', values: [] },
    { hop: 'submitted → CA accepted (verified, validated, minimised)', values: [] },
    { hop: 'CA accepted → US received (CA commit, queue, delivery, US checks)', values: [] },
    { hop: 'US received → pushed (US commit, queue, push, agency checks)', values: [] },
    { hop: SUBMITTED_TO_PUSHED, values: [] }
  ]
  for (const m of messages) {
    const accepted = ca.get(m.id)
    const received = us.get(m.id)
    if (accepted === undefined || received === undefined) throw new Error(`message ${m.id} is missing from a ledger`)
    const marks = [m.ackAt - m.sentAt, accepted - m.sentAt, received - accepted, m.pushedAt - received, m.pushedAt - m.sentAt]
    marks.forEach((value, i) => hops[i]!.values.push(value))
  }
  return hops.map(({ hop, values }) => ({
    hop,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: Math.max(...values)
  }))
}

export function describeHops(hops: readonly HopPercentiles[]): string[] {
  return hops.map((h) => `${h.hop}: p50 ${h.p50.toFixed(1)}, p90 ${h.p90.toFixed(1)}, p99 ${h.p99.toFixed(1)}, max ${h.max.toFixed(1)} ms`)
}
