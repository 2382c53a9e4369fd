// What the console charts (gateway/audit/audit-statistics.ts): counted from
// message entries only, bucketed by time, by kind with the field decisions'
// actions, by purpose and partner agency, and match rates from whether a
// match response's entry decided a `subject.` field.
import t from 'tap'
import { auditStatistics } from '../gateway/audit/audit-statistics.ts'
import type { AuditEntry, StoredAuditEntry } from '../gateway/store/records.ts'

function entry(seq: number, e: Partial<AuditEntry>): StoredAuditEntry {
  const base: AuditEntry = {
    at: '2026-12-01T10:15:00.000Z',
    event: 'accepted',
    direction: 'outbound',
    messageId: null,
    caller: null,
    kind: 'entry-exit.record',
    purpose: 'entry-exit-verification',
    legalAuthority: null,
    agreementRef: null,
    from: 'CA/CBSA/pik-primary',
    to: 'US/CBP',
    policy: null,
    code: null,
    digest: null,
    fields: [],
    subjects: []
  }
  return { seq, hash: '', prevHash: '', entry: { ...base, ...e } }
}

const field = (path: string, action: string) => ({ path, action, rule: 'r', principle: 'P2', digest: 'd' }) as AuditEntry['fields'][number]

async function* of(entries: StoredAuditEntry[]): AsyncGenerator<StoredAuditEntry> {
  yield* entries
}

t.test('counts messages, their field decisions and match rates; ignores other entries', async (t) => {
  const stats = await auditStatistics(
    of([
      entry(1, { fields: [field('traveller.surname', 'share'), field('vehicle.make', 'withhold')] }),
      entry(2, { event: 'delivered' }),
      entry(3, {
        at: '2026-12-01T11:00:00.000Z',
        event: 'received',
        direction: 'inbound',
        from: 'US/CBP/ades',
        to: 'CA/CBSA',
        fields: [field('x', 'generalise')]
      }),
      entry(4, { event: 'disclosure-report', direction: undefined, kind: null, purpose: null }),
      // U.S. answers to Canadian prints: one match (a subject), one not.
      entry(5, {
        event: 'received',
        direction: 'inbound',
        kind: 'biometric.match-response',
        purpose: 'immigration-examination',
        from: 'US/USCIS/ident-gateway',
        to: 'CA/IRCC',
        fields: [field('result', 'share'), field('subject.subjectCategory', 'share')]
      }),
      entry(6, {
        event: 'received',
        direction: 'inbound',
        kind: 'biometric.match-response',
        purpose: 'immigration-examination',
        from: 'US/USCIS/ident-gateway',
        to: 'CA/IRCC',
        fields: [field('result', 'share')]
      }),
      entry(7, {
        kind: 'biometric.match-response',
        purpose: 'immigration-examination',
        from: 'CA/IRCC/gcms',
        to: 'US/USCIS',
        fields: [field('result', 'share')]
      })
    ]),
    { from: '2026-12-01T00:00:00.000Z', to: '2026-12-02T00:00:00.000Z', bucket: 'hour' }
  )
  t.equal(stats.messages, 5, 'accepted and received entries only')
  t.same(stats.overTime, [
    { at: '2026-12-01T10:00:00.000Z', outbound: 2, inbound: 2 },
    { at: '2026-12-01T11:00:00.000Z', outbound: 0, inbound: 1 }
  ])
  t.same(stats.byKind, [
    { kind: 'biometric.match-response', messages: 3, share: 4, generalise: 0, pseudonymise: 0, withhold: 0 },
    { kind: 'entry-exit.record', messages: 2, share: 1, generalise: 1, pseudonymise: 0, withhold: 1 }
  ])
  t.same(stats.byPurpose, [
    { purpose: 'entry-exit-verification', messages: 2 },
    { purpose: 'immigration-examination', messages: 3 }
  ])
  t.same(stats.byPartner, [
    { partner: 'US/CBP', direction: 'inbound', messages: 1 },
    { partner: 'US/USCIS', direction: 'inbound', messages: 2 },
    { partner: 'US/CBP', direction: 'outbound', messages: 1 },
    { partner: 'US/USCIS', direction: 'outbound', messages: 1 }
  ])
  t.same(stats.matchRates, [
    { answeredBy: 'US', answered: 2, matched: 1 },
    { answeredBy: 'CA', answered: 1, matched: 0 }
  ])
})

t.test("a batch's field decisions count once per value decided, not once per group of them", async (t) => {
  // One decision row of a batch stands for a field of each of its records (policies/lib/engine.ts, FieldDecision.count).
  const batch = entry(1, {
    kind: 'entry-exit.batch',
    fields: [
      { ...field('records[].traveller.surname', 'share'), count: 3 },
      { ...field('records[].vehicle.make', 'withhold'), count: 2 },
      field('batchRef', 'share')
    ]
  })
  const stats = await auditStatistics(of([batch]), { from: '2026-12-01T00:00:00.000Z', to: '2026-12-02T00:00:00.000Z', bucket: 'hour' })
  t.same(stats.byKind, [{ kind: 'entry-exit.batch', messages: 1, share: 4, generalise: 0, pseudonymise: 0, withhold: 2 }])
})
