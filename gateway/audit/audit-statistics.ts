// What the privacy officer's console charts (docs/privacy-officers.md, "The
// console"): messages and field decisions over time, by kind, purpose and
// partner, and the biometric match rates each way, counted from the ledger's
// message entries (`accepted` outbound, `received` inbound: one per message
// and gateway) in a time range. Counted as the entries stream past: constant
// memory, whatever the range holds.
import type { AuditEntry, StoredAuditEntry } from '../store/records.ts'

export type Bucket = 'hour' | 'day'

const ACTIONS = ['share', 'generalise', 'pseudonymise', 'withhold'] as const
type Action = (typeof ACTIONS)[number]
type ActionCounts = Record<Action, number>

export interface AuditStatistics {
  readonly from: string
  readonly to: string
  readonly bucket: Bucket
  readonly messages: number
  readonly overTime: ReadonlyArray<{ readonly at: string; readonly outbound: number; readonly inbound: number }>
  readonly byKind: ReadonlyArray<{ readonly kind: string; readonly messages: number } & ActionCounts>
  readonly byPurpose: ReadonlyArray<{ readonly purpose: string; readonly messages: number }>
  readonly byPartner: ReadonlyArray<{ readonly partner: string; readonly direction: 'outbound' | 'inbound'; readonly messages: number }>
  readonly matchRates: ReadonlyArray<{ readonly answeredBy: 'CA' | 'US'; readonly answered: number; readonly matched: number }>
}

const BUCKET_MS: Record<Bucket, number> = { hour: 3_600_000, day: 86_400_000 }

/** The other side of a message, `country/agency`: whom it went to, or whom it came from. */
function partnerOf(e: AuditEntry): string {
  const party = e.direction === 'inbound' ? e.from : e.to
  return (party ?? 'unknown').split('/').slice(0, 2).join('/')
}

/**
 * A match response names a subject on MATCH and only then
 * (schemas/kinds/biometric.match-response.schema.json): the ledger holds no
 * value, but a decision for every field present, so a match is an entry
 * with a decision on a `subject.` field.
 */
function isMatch(e: AuditEntry): boolean {
  return e.fields.some((f) => f.path.startsWith('subject.'))
}

export async function auditStatistics(entries: AsyncIterable<StoredAuditEntry>, range: { from: string; to: string; bucket: Bucket }): Promise<AuditStatistics> {
  const width = BUCKET_MS[range.bucket]
  const overTime = new Map<string, { outbound: number; inbound: number }>()
  const byKind = new Map<string, { messages: number } & ActionCounts>()
  const byPurpose = new Map<string, number>()
  const byPartner = new Map<string, { partner: string; direction: 'outbound' | 'inbound'; messages: number }>()
  const matchRates = { US: { answered: 0, matched: 0 }, CA: { answered: 0, matched: 0 } }
  let messages = 0
  for await (const { entry: e } of entries) {
    if (e.direction === undefined || (e.event !== 'accepted' && e.event !== 'received')) continue
    messages += 1
    const at = new Date(Math.floor(Date.parse(e.at) / width) * width).toISOString()
    const slot = overTime.get(at) ?? { outbound: 0, inbound: 0 }
    slot[e.direction] += 1
    overTime.set(at, slot)
    const kind = e.kind ?? 'unknown'
    const k = byKind.get(kind) ?? { messages: 0, share: 0, generalise: 0, pseudonymise: 0, withhold: 0 }
    k.messages += 1
    // A row of a batch's decisions stands for its field in each record that has it (FieldDecision.count).
    for (const f of e.fields) if ((ACTIONS as readonly string[]).includes(f.action)) k[f.action as Action] += f.count ?? 1
    byKind.set(kind, k)
    byPurpose.set(e.purpose ?? 'unknown', (byPurpose.get(e.purpose ?? 'unknown') ?? 0) + 1)
    const partner = partnerOf(e)
    const p = byPartner.get(`${e.direction} ${partner}`) ?? { partner, direction: e.direction, messages: 0 }
    p.messages += 1
    byPartner.set(`${e.direction} ${partner}`, p)
    if (e.kind === 'biometric.match-response') {
      const answeredBy = (e.from ?? '').slice(0, 2)
      if (answeredBy === 'CA' || answeredBy === 'US') {
        matchRates[answeredBy].answered += 1
        if (isMatch(e)) matchRates[answeredBy].matched += 1
      }
    }
  }
  const sorted = <T>(m: Map<string, T>): T[] => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v)
  return {
    from: range.from,
    to: range.to,
    bucket: range.bucket,
    messages,
    overTime: [...overTime.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([at, v]) => ({ at, ...v })),
    byKind: [...byKind.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([kind, v]) => ({ kind, ...v })),
    byPurpose: [...byPurpose.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([purpose, n]) => ({ purpose, messages: n })),
    byPartner: sorted(byPartner),
    matchRates: (['US', 'CA'] as const).map((answeredBy) => ({ answeredBy, ...matchRates[answeredBy] }))
  }
}
