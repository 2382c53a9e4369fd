// A traveller's disclosure report across a correction that changes whom a
// record names: a batch sent again with one traveller's document number put
// right, a single record corrected to another person. A report lists only what
// was done to the traveller's own record: an original reached only through its
// correction names them by no identifier, so none of its decisions are theirs
// and it is not counted among their messages; a correction names the
// original's travellers it no longer carries, and discloses nothing of a
// single record's (docs/privacy-officers.md, "Corrections and retractions in
// the report"). The console and the offline verifier read each row the same.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { listExamples } from '../schemas/index.ts'
import type { AgencyClient } from '../sandbox/agency-client.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]
type Gateway = Awaited<ReturnType<typeof injectGateway>>
type Disclosure = { seq: number; event: string; messageId: string; shared: Array<{ path: string }>; withheld: number; ledgerEntry: string }
type Report = { subject: string; disclosures: Disclosure[]; totals: { sent: number; received: number; lastMonth: { sent: number } } }
type Document = { number: string; issuingCountry: string }

const CBP = { country: 'US', agency: 'CBP' } as const
/** The check of a report row against its ledger text that the console and the offline verifier share (a variable: a plain-JavaScript module). */
const ROW_CHECK: string = '../gateway/console/disclosures.mjs'

/** A privacy officer's report on `document`, each row checked against its ledger text as the console and the offline verifier check it. */
async function reporter(t: Test, gw: Gateway): Promise<(document: Document) => Promise<Report>> {
  const cert = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const token = (await gw.app.inject({ method: 'POST', url: '/v1/token', headers: cert })).json<{ access_token: string }>().access_token
  const check: {
    rowNotAsItsEntry(row: unknown, subject: string): string | null
    notTheTravellers(rows: unknown[], proven: Set<number>, subject: string): Map<number, string>
  } = await import(ROW_CHECK)
  return async ({ number, issuingCountry }) => {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/audit/disclosures',
      headers: { ...cert, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ documentNumber: number, issuingCountry })
    })
    t.equal(res.statusCode, 200, 'the report', { body: res.body })
    const report = res.json<Report>()
    for (const d of report.disclosures) t.equal(check.rowNotAsItsEntry(d, report.subject), null, `${d.event} ${d.messageId}: the row is its ledger text`)
    const seqs = new Set(report.disclosures.map((d) => d.seq))
    t.same(
      [...check.notTheTravellers(report.disclosures, seqs, report.subject)],
      [],
      "every row is the traveller's, or an original their correction supersedes"
    )
    return report
  }
}

/** The report's row for message `id`'s acceptance. */
function accepted(report: Report, id: string): Disclosure | undefined {
  return report.disclosures.find((d) => d.event === 'accepted' && d.messageId === id)
}

const paths = (d: Disclosure | undefined) => d?.shared.map((f) => f.path).sort()

/** `original` sent and delivered, then `correction` of it sent: both accepted. */
async function sendCorrected(t: Test, gw: Gateway, cbsa: AgencyClient, original: Record<string, unknown>, correction: Record<string, unknown>) {
  t.equal((await cbsa.submit(await cbsa.sign(original))).status, 202, 'the original')
  const id = String(original.id)
  await gw.app.store.markDelivered('outbound', id, 'receipt', auditEntry({ event: 'delivered', direction: 'outbound', messageId: id }))
  const sent = await cbsa.submit(await cbsa.sign(correction))
  t.equal(sent.status, 202, 'the correction', { body: sent.body })
}

/** A message's envelope fields a correction of it repeats: all but its id, sender and time. */
function sameRecord(envelope: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, createdAt: _createdAt, from: _from, ...rest } = envelope
  return rest
}

t.test('a batch sent again with one traveller’s document number put right: the report by the new number lists none of the original’s records', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const example = listExamples('entry-exit.batch').find((e) => e.name === 'valid-three-land-entries-ca-to-us')!.envelope
  const original = cbsa.envelope(sameRecord(structuredClone(example) as Record<string, unknown>))
  const O = String(original.id)
  // The second record's document number was mistyped: the whole batch again, put right.
  const payload = structuredClone(original.payload) as { records: Array<{ document: Document }> }
  const records = payload.records
  const oldDocument = { ...records[1]!.document }
  const newDocument = { ...oldDocument, number: '522019999' }
  records[1]!.document.number = newDocument.number
  const correction = cbsa.envelope({ ...sameRecord(original), payload, supersedes: { id: O, action: 'correct', reason: 'data-error' } })
  const C = String(correction.id)
  await sendCorrected(t, gw, cbsa, original, correction)
  const entry = (await gw.app.store.searchAudit({ messageId: O, event: 'accepted' }, 0, 1))[0]!.entry
  t.ok(entry.subjectFields !== undefined, "the batch's records were not all decided alike: the original's decisions are not all the traveller's")

  const report = await reporter(t, gw)
  const [byOld, byNew, byOther] = [await report(oldDocument), await report(newDocument), await report(records[0]!.document)]
  t.ok(paths(accepted(byOld, O))?.includes('records[].traveller.surname'), "by the old number: the original with the traveller's own record")
  t.ok(accepted(byNew, O), 'by the new number: the original is listed, found through its correction')
  t.same(accepted(byNew, O)?.shared, [], 'with none of its decisions: it names no record by the new number, and any one of them may be another person’s')
  t.equal(accepted(byNew, O)?.withheld, 0, 'none withheld either')
  t.same(paths(accepted(byNew, C)), paths(accepted(byOld, O)), "the correction, which carries the record, lists that record's decisions")
  t.equal(accepted(byNew, C)?.withheld, accepted(byOld, O)?.withheld)
  t.equal(byNew.totals.sent, 1, 'by the new number, one message sent: the original names it in no record')
  t.equal(byNew.totals.lastMonth.sent, 1)
  t.equal(byOld.totals.sent, 2, 'by the old number, both: the correction names the old number with the batch’s own fields')
  t.same(paths(accepted(byOld, C)), ['batchRef'], 'of the old number, the correction lists the batch’s own fields only')
  t.equal(byOther.totals.sent, 2, 'another traveller of the batch: two messages, both naming them')
})

t.test('a single record corrected to another person: neither report lists what was disclosed of the other', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
  const O = String(original.id)
  const b = { ...(original.payload as { document: Document }).document }
  // The record was about the wrong traveller: the agency corrects it to the right one, another name, birth date and document.
  const payload = structuredClone(original.payload) as { traveller: Record<string, string>; document: Document }
  Object.assign(payload.traveller, { surname: 'TREMBLAY', givenNames: 'JEAN', dateOfBirth: '1984-03-07', citizenship: 'CAN' })
  Object.assign(payload.document, { number: 'GA123456', issuingCountry: 'CAN' })
  const a = { ...payload.document }
  const correction = cbsa.envelope({ ...sameRecord(original), payload, supersedes: { id: O, action: 'correct', reason: 'data-error' } })
  const C = String(correction.id)
  await sendCorrected(t, gw, cbsa, original, correction)

  const report = await reporter(t, gw)
  const [ofB, ofA] = [await report(b), await report(a)]
  t.ok(paths(accepted(ofB, O))?.includes('traveller.surname'), "B's report: B's own record in the original")
  t.ok(accepted(ofB, C), 'and the correction that superseded it')
  t.same(accepted(ofB, C)?.shared, [], 'which disclosed nothing of B: its record is of A')
  t.equal(accepted(ofB, C)?.withheld, 0)
  t.equal(ofB.totals.sent, 2, 'both name B, the correction as what superseded B’s record')
  t.ok(paths(accepted(ofA, C))?.includes('traveller.surname'), "A's report: A's record in the correction")
  t.same(accepted(ofA, O)?.shared, [], "and the original it superseded, with none of B's fields")
  t.equal(accepted(ofA, O)?.withheld, 0)
  t.equal(ofA.totals.sent, 1, 'one message sent about A')
})

t.test('a single record with a list of its own (a designation’s conditions) corrected to another person is not read as a batch', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const example = listExamples('traveller.designation').find((e) => e.name === 'valid-xpt-after-sales-ca-to-us')!.envelope
  const original = cbsa.envelope(sameRecord(structuredClone(example) as Record<string, unknown>))
  const O = String(original.id)
  const b = { ...(original.payload as { document: Document }).document }
  const payload = structuredClone(original.payload) as { membershipId: string; traveller: Record<string, string>; document: Document }
  payload.membershipId = '171550099'
  Object.assign(payload.traveller, { surname: 'GAUTHIER', givenNames: 'LUC', dateOfBirth: '1980-01-12' })
  payload.document.number = 'HN990011'
  const a = { ...payload.document }
  const correction = cbsa.envelope({ ...sameRecord(original), payload, supersedes: { id: O, action: 'correct', reason: 'wrong-traveller' } })
  const C = String(correction.id)
  await sendCorrected(t, gw, cbsa, original, correction)

  const report = await reporter(t, gw)
  const [ofB, ofA] = [await report(b), await report(a)]
  t.ok(paths(accepted(ofB, O))?.includes('traveller.surname'), "B's own record in the original")
  t.same(accepted(ofB, C)?.shared, [], "the correction lists none of A's fields as disclosed of B")
  t.equal(accepted(ofB, C)?.withheld, 0)
  t.ok(paths(accepted(ofA, C))?.includes('traveller.surname'), "A's record in the correction")
  t.same(accepted(ofA, O)?.shared, [], "and none of B's in the original")
  t.equal(ofA.totals.sent, 1)
})
