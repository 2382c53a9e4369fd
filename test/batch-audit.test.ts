// A 5,000-record batch, the largest the contract allows: its ledger entry
// says what each field rule did to how many records, not 5,000 copies; it is
// prepared on a worker thread, off the event loop other requests need; a
// page of such entries is bounded in bytes, not only in count; and a
// traveller's report names what was done to their own record, a correction's
// entry for a traveller it leaves out naming the batch's own fields only.
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { auditPage, PAGE_MAX_BYTES } from '../gateway/audit/audit-query.ts'
import { borderDayRecord, seedHash } from '../sandbox/synthetic-travellers.ts'
import { entryExitBatch } from '../sandbox/sample-messages.ts'
import { documentSubject } from '../gateway/pipeline/traveller-subjects.ts'
import { listExamples } from '../schemas/index.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { client, injectGateway, KEYS_DIR, PG_URL, presenting, testConfig } from './helper.ts'
import { asPartnerOf, forwardedTo, requestReceived } from './lib/partner-delivery.ts'
import { scratchSchema } from './lib/scratch-schema.ts'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const RECORDS = 5000
/** A variable, so that the type checker does not look for the plain-JavaScript tool's types. */
const VERIFIER: string = '../tools/verify-disclosure.mjs'
/** The check of a report row against its ledger text that the console and the offline verifier share. */
const ROW_CHECK: string = '../gateway/console/disclosures.mjs'

/** An entry/exit batch from CBSA to CBP. */
function batchEnvelope(cbsa: ReturnType<typeof client>, batchRef: string, records: unknown[]): Record<string, unknown> {
  return cbsa.envelope(entryExitBatch(batchRef, records))
}

/** A privacy officer's disclosure report from an injected gateway (of `country`): the identifier and any paging in `body`. */
async function reporter(gw: Awaited<ReturnType<typeof injectGateway>>, country: 'CA' | 'US' = 'CA') {
  const officerCert = presenting(readFileSync(join(KEYS_DIR, country, 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const token = (await gw.app.inject({ method: 'POST', url: '/v1/token', headers: officerCert })).json<{ access_token: string }>().access_token
  return (body: Record<string, unknown>) =>
    gw.app.inject({
      method: 'POST',
      url: '/v1/audit/disclosures',
      headers: { ...officerCert, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body)
    })
}

t.test('a 5,000-record batch is one bounded entry, prepared off the event loop', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, pipelineThreads: 1 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const day = { seed: seedHash('batch-audit'), recordedBy: 'CA' as const, date: '2026-11-30', count: RECORDS }
  const envelope = batchEnvelope(
    cbsa,
    'SYN-EE-CA-20261130-00001',
    Array.from({ length: RECORDS }, (_, i) => borderDayRecord(day, i))
  ) as { payload: { records: Array<{ document: { number: string } }> } } & Record<string, unknown>
  const before = { ...gw.app.pipeline.counts }
  t.equal(gw.app.pipeline.started, false, 'no pipeline thread before a message needs one')
  const jws = await cbsa.sign(envelope)
  const res = await cbsa.submit(jws)
  t.equal(res.status, 202)
  t.equal(gw.app.pipeline.counts.worker, before.worker + 1, 'prepared on a worker thread')
  t.equal(gw.app.pipeline.started, true, 'started by the first message that needed it')

  const head = await gw.app.store.auditHead()
  const entry = (await gw.app.store.auditEntry(head!.seq))!.entry
  t.equal(entry.event, 'accepted')
  const size = JSON.stringify(entry).length
  t.ok(size < 300_000, `the entry is ${size} bytes (it was 17.8 MB with a decision per record)`)
  t.ok(entry.fields.length < 50, `${entry.fields.length} field decisions`)
  const surname = entry.fields.filter((f) => f.path === 'records[].traveller.surname')
  t.same(
    surname.map((f) => [f.action, f.count]),
    [['share', RECORDS]],
    'a records[] rule names how many records it applied to'
  )
  t.ok(
    entry.fields.every((f) => !/\[\d+\]/.test(f.path)),
    'no decision per record'
  )
  const documents = new Set(envelope.payload.records.map((r: { document: { number: string } }) => r.document.number))
  t.equal(entry.subjects.length, documents.size, 'every traveller is still named, by keyed digest, for disclosure reports')

  // Sent again, as by an agency whose wait for the answer ran out: answered
  // from its record, not verified, checked and signed again.
  t.equal((await cbsa.submit(jws)).status, 200, 'the same bytes again: a repeat')
  t.equal(gw.app.pipeline.counts.worker, before.worker + 1, 'answered from its record, not prepared again')
  const taken = await client(t, 'IRCC', gw.url).submit(jws)
  t.same(
    [taken.status, taken.json<{ code: string }>().code],
    [403, 'JWS_KEY_NOT_CALLERS'],
    'another system sending those bytes is refused as it always was: the key is not its own'
  )
  t.equal(gw.app.pipeline.counts.worker, before.worker + 2, 'after the whole pipeline')
})

t.test("a traveller's disclosure report names what was done to their own record of a batch, not to the others'", async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const day = { seed: seedHash('batch-report'), recordedBy: 'CA' as const, date: '2026-11-30', count: 2 }
  type Row = { traveller: Record<string, unknown>; document: { number: string; issuingCountry: string }; vehicle?: unknown }
  const [plain, full] = [borderDayRecord(day, 0), borderDayRecord(day, 1)] as unknown as [Row, Row]
  // One record with a vehicle and middle names, one with neither: a vehicle is withheld, middle names shared.
  const { vehicle: _vehicle, ...withoutVehicle } = plain
  const { middleNames: _middleNames, ...traveller } = withoutVehicle.traveller
  const records = [
    { ...withoutVehicle, traveller },
    { ...full, traveller: { ...full.traveller, middleNames: 'Synthetic' }, vehicle: { make: 'Ford' } }
  ]
  t.not(records[0]!.document.number, records[1]!.document.number, 'two travellers')
  const envelope = batchEnvelope(cbsa, 'SYN-EE-CA-20261130-00002', records)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)

  const ask = await reporter(gw)
  const report = async (doc: { number: string; issuingCountry: string }) => {
    const res = await ask({ documentNumber: doc.number, issuingCountry: doc.issuingCountry })
    t.equal(res.statusCode, 200)
    const { subject, disclosures } = res.json<{ subject: string; disclosures: Array<{ event: string; shared: Array<{ path: string }>; withheld: number }> }>()
    return { subject, ...disclosures.find((d) => d.event === 'accepted')! }
  }
  const [bare, fuller] = [await report(records[0]!.document), await report(records[1]!.document)]
  const paths = (d: { shared: Array<{ path: string }> }) => d.shared.map((f) => f.path)
  t.notOk(paths(bare).includes('records[].traveller.middleNames'), 'no middle names shared for a record that had none')
  t.ok(paths(fuller).includes('records[].traveller.middleNames'), "the other traveller's were")
  t.ok(paths(bare).includes('batchRef') && paths(fuller).includes('batchRef'), "the batch's own reference went with each record")
  t.ok(paths(bare).includes('records[].traveller.surname'), 'what both records had is in both reports')
  t.equal(fuller.withheld - bare.withheld, 1, 'the vehicle withheld counts only for the record that had one')

  const entry = (await gw.app.store.searchAudit({ event: 'accepted', messageId: envelope.id as string }, 0, 1))[0]!.entry
  t.equal(entry.subjectFields?.length, 2, 'the entry names one set of fields for each traveller')
  // The offline verifier an oversight body runs reads the entry the same way (docs/privacy-officers.md, "Checking a disclosure report offline").
  const offline: { travellerFields(entry: unknown, subject: string): Array<{ path: string; action: string }> } = await import(VERIFIER)
  for (const d of [bare, fuller]) {
    t.same(
      offline
        .travellerFields(entry, d.subject)
        .filter((f) => f.action !== 'withhold')
        .map((f) => f.path),
      paths(d),
      'the offline verifier finds the same fields in the entry'
    )
  }
})

type BatchRecord = { traveller: Record<string, unknown>; document: { number: string; issuingCountry: string } }
type Disclosure = { event: string; messageId: string; shared: Array<{ path: string }>; withheld: number }

/** Three travellers' records of a border day, without vehicles: A's and B's with middle names, C's without. */
function threeTravellers(seed: string): [BatchRecord, BatchRecord, BatchRecord] {
  const day = { seed: seedHash(seed), recordedBy: 'CA' as const, date: '2026-11-30', count: 3 }
  return [0, 1, 2].map((i) => {
    const { vehicle: _vehicle, ...record } = borderDayRecord(day, i) as unknown as BatchRecord & { vehicle?: unknown }
    const { middleNames: _middleNames, ...traveller } = record.traveller
    return { ...record, traveller: i < 2 ? { ...traveller, middleNames: 'Synthetic' } : traveller }
  }) as [BatchRecord, BatchRecord, BatchRecord]
}

/** A traveller's report from `ask`, as its entries of `event` by message id, each row checked against its ledger text as the console and the offline verifier check it. */
async function reportOf(t: Test, ask: Awaited<ReturnType<typeof reporter>>, event: string, record: BatchRecord): Promise<Map<string, Disclosure>> {
  const res = await ask({ documentNumber: record.document.number, issuingCountry: record.document.issuingCountry })
  t.equal(res.statusCode, 200, 'the report', { body: res.body })
  const { subject, disclosures } = res.json<{ subject: string; disclosures: Array<Disclosure & { ledgerEntry: string }> }>()
  // The console and the offline verifier an oversight body runs read the entry the same way (docs/privacy-officers.md, "Checking a disclosure report offline").
  const check: { rowNotAsItsEntry(row: unknown, subject: string): string | null } = await import(ROW_CHECK)
  for (const d of disclosures)
    t.equal(check.rowNotAsItsEntry(d, subject), null, `the report's ${d.event} ${d.messageId} is its ledger text, as the console reads it`)
  return new Map(disclosures.filter((d) => d.event === event).map((d) => [d.messageId, d]))
}

const pathsOf = (d: Disclosure | undefined) => d?.shared.map((f) => f.path)

for (const ledger of ['sqlite', 'postgres'] as const) {
  t.test(
    `${ledger}: a traveller a correction of a batch leaves out is reported with the batch's own fields of it, not the other travellers' records`,
    async (t) => {
      const postgres = ledger === 'postgres' ? { ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: scratchSchema(t, 't_batchcorr').schema } : {}
      const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, ...postgres }))
      const cbsa = client(t, 'CBSA', gw.url)
      const [a, b, c] = threeTravellers(`batch-correction-${ledger}`)
      const original = batchEnvelope(cbsa, 'SYN-EE-CA-20261130-00003', [a, b, c])
      t.equal((await cbsa.submit(await cbsa.sign(original))).status, 202)
      // One record of it cannot be corrected or retracted alone, as a record or by naming it (docs/integrators.md, "Corrections and retractions").
      const alone = async (fields: Record<string, unknown>) => {
        const res = await cbsa.submit(await cbsa.sign(cbsa.envelope({ ...entryExitBatch('x', []), ...fields })))
        return [res.status, res.json<{ code: string }>().code]
      }
      const asRecord = { kind: 'entry-exit.record', payload: b }
      t.same(await alone({ ...asRecord, supersedes: { id: original.id, action: 'correct', reason: 'wrong-traveller' } }), [422, 'SUPERSEDES_MISMATCH'])
      t.same(await alone({ ...asRecord, payload: {}, supersedes: { id: original.id, action: 'retract', reason: 'wrong-traveller' } }), [
        422,
        'SUPERSEDES_MISMATCH'
      ])
      const named = { id: original.id, action: 'retract', reason: 'wrong-traveller', record: 1 }
      t.same(await alone({ payload: {}, supersedes: named }), [422, 'SCHEMA_INVALID'], 'a supersedes names no record of a message')
      // B's record was about someone else: the whole batch again without it.
      // A's and C's records are decided otherwise (C has no middle names).
      const first = cbsa.envelope({
        ...entryExitBatch('SYN-EE-CA-20261130-00003', [a, c]),
        supersedes: { id: original.id, action: 'correct', reason: 'wrong-traveller' }
      })
      t.equal((await cbsa.submit(await cbsa.sign(first))).status, 202)
      // Then C's too: A's record alone, which is decided alike with itself.
      const second = cbsa.envelope({
        ...entryExitBatch('SYN-EE-CA-20261130-00003', [a]),
        supersedes: { id: first.id, action: 'correct', reason: 'wrong-traveller' }
      })
      t.equal((await cbsa.submit(await cbsa.sign(second))).status, 202)

      const ask = await reporter(gw)
      const [ofA, ofB, ofC] = [await reportOf(t, ask, 'accepted', a), await reportOf(t, ask, 'accepted', b), await reportOf(t, ask, 'accepted', c)]
      const [O, F, S] = [String(original.id), String(first.id), String(second.id)]
      t.ok(pathsOf(ofB.get(O))?.includes('records[].traveller.middleNames'), "B's own record in the original, middle names and all")
      t.same(pathsOf(ofB.get(F)), ['batchRef'], 'the correction that left B out names, of B, only the batch reference it went with')
      t.equal(ofB.get(F)?.withheld, 0, "and none of the other records' withheld fields")
      t.same(pathsOf(ofB.get(S)), ['batchRef'], 'so does its correction, which names B through it')
      t.same(pathsOf(ofC.get(S)), ['batchRef'], 'and C, whom that one left out')
      t.notOk(pathsOf(ofC.get(F))?.includes('records[].traveller.middleNames'), "C's own record in the first correction had no middle names")
      t.ok(pathsOf(ofC.get(F))?.includes('records[].traveller.surname'), 'but a surname')
      t.ok(pathsOf(ofA.get(S))?.includes('records[].traveller.middleNames'), "A's own record is in every correction, whole")
      t.same(pathsOf(ofA.get(S)), pathsOf(ofA.get(O)), 'as in the original')
    }
  )
}

t.test("at the receiving gateway too, a traveller a correction of a batch leaves out is reported with the batch's own fields of it", async (t) => {
  const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
  const [a, b] = threeTravellers('batch-correction-received')
  const exchange = async (jws: string) => (await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: asPartnerOf('US') })).statusCode
  const original = await forwardedTo('US', { message: entryExitBatch('SYN-EE-CA-20261130-00004', [a, b]) })
  t.equal(await exchange(original.jws), 200)
  const correction = await forwardedTo('US', {
    message: entryExitBatch('SYN-EE-CA-20261130-00004', [a]),
    envelope: { supersedes: { id: original.id, action: 'correct', reason: 'wrong-traveller' } }
  })
  t.equal(await exchange(correction.jws), 200)
  const ask = await reporter(gw, 'US')
  const [ofA, ofB] = [await reportOf(t, ask, 'received', a), await reportOf(t, ask, 'received', b)]
  t.ok(pathsOf(ofB.get(original.id))?.includes('records[].traveller.surname'), "B's own record as received")
  t.same(pathsOf(ofB.get(correction.id)), ['batchRef'], 'the correction names, of B, only the batch reference')
  t.ok(pathsOf(ofA.get(correction.id))?.includes('records[].traveller.middleNames'), "and of A, A's record")
})

t.test("a traveller's disclosure report over many large entries comes in pages bounded in bytes, each with its proofs, and counts them all", async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const subject = gw.app.policyBook.digest(documentSubject('CAN', 'RP0000042'))
  // A frequent traveller, in 30 batches of 5,000 travellers each: ~220 kB an entry, 6.6 MB of entries in all.
  const others = Array.from({ length: RECORDS - 1 }, (_, i) => `subject-digest-${String(i).padStart(28, '0')}`)
  for (let i = 0; i < 30; i++) {
    const at = new Date(Date.now() - (i < 20 ? 60 : 1) * 86_400_000).toISOString()
    await gw.app.store.appendAudit(
      auditEntry({
        event: 'accepted',
        direction: 'outbound',
        messageId: `m-${i}`,
        envelope: { to: { country: 'US', agency: 'CBP' } },
        subjects: [...others, subject],
        at
      })
    )
  }
  const disclosures = await reporter(gw)
  const report = (body: Record<string, unknown>) => disclosures({ documentNumber: 'RP0000042', issuingCountry: 'CAN', ...body })
  interface Page {
    subject: string
    disclosures: Array<{ seq: number; event: string }>
    nextCursor: string | null
    totals: { entries: number; sent: number; received: number; lastMonth: { sent: number; received: number; to: string[] } }
  }
  const seen: number[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const res = await report(cursor === undefined ? {} : { cursor })
    t.equal(res.statusCode, 200)
    const page = res.json<Page>()
    pages++
    t.ok(res.body.length <= 2 * PAGE_MAX_BYTES + 1_000_000, `page ${pages}: ${page.disclosures.length} entries, ${res.body.length} bytes`)
    if (pages === 1) {
      t.equal(page.totals.entries, 30, 'the totals count every entry, not only this page')
      t.same(page.totals.lastMonth, { sent: 10, received: 0, to: ['US/CBP'] }, 'and those of the last 30 days, with where they went')
      t.equal(page.totals.sent, 30)
    }
    seen.push(...page.disclosures.filter((d) => d.event === 'accepted').map((d) => d.seq))
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined && pages < 20)
  t.ok(pages > 1, `${pages} pages`)
  t.same(
    seen,
    Array.from({ length: 30 }, (_, i) => i + 1),
    'every entry once, in order'
  )
  const short = (await report({ limit: 5 })).json<Page>()
  t.equal(short.disclosures.length, 5, 'a limit of 5')
  t.type(short.nextCursor, 'string')
  const refused = await report({ cursor: 'not-a-cursor' })
  t.equal(refused.statusCode, 400)
  t.equal(refused.json<{ code: string }>().code, 'REQUEST_INVALID')
})

t.test("a report's pages and totals are of the ledger at its first page: each page's own audit entry waits for the next report", async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const subject = gw.app.policyBook.digest(documentSubject('CAN', 'RP0000043'))
  for (let i = 0; i < 2; i++) {
    await gw.app.store.appendAudit(
      auditEntry({ event: 'accepted', direction: 'outbound', messageId: `m-${i}`, envelope: { to: { country: 'US', agency: 'CBP' } }, subjects: [subject] })
    )
  }
  const disclosures = await reporter(gw)
  const report = async (body: Record<string, unknown>) => {
    const res = await disclosures({ documentNumber: 'RP0000043', issuingCountry: 'CAN', ...body })
    t.equal(res.statusCode, 200, 'a page of the report', { body: res.body })
    return res.json<{ disclosures: Array<{ seq: number; event: string }>; nextCursor: string | null; totals: { entries: number } }>()
  }
  const pages: string[] = []
  let cursor: string | undefined
  do {
    const page = await report({ limit: 1, ...(cursor === undefined ? {} : { cursor }) })
    pages.push(`${page.disclosures.map((d) => `${d.seq} ${d.event}`).join(', ')}; ${page.totals.entries} in all`)
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined && pages.length < 6)
  t.same(pages, ['1 accepted; 2 in all', '2 accepted; 2 in all'], 'two entries, one a page: two pages, and the same totals on each')
  const next = await report({})
  t.same(
    next.disclosures.map((d) => d.event),
    ['accepted', 'accepted', 'disclosure-report', 'disclosure-report'],
    'the next report shows the pages asked for before'
  )
  const forged = Buffer.from('seq:3;upto:2').toString('base64url')
  const refused = await disclosures({ documentNumber: 'RP0000043', issuingCountry: 'CAN', cursor: forged })
  t.same(
    [refused.statusCode, refused.json<{ code: string }>().code],
    [400, 'REQUEST_INVALID'],
    'a cursor past the seq it reads up to is none this gateway gave'
  )
})

t.test('a page of large entries stops at its byte budget and the cursor goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-page-'))
  const store = new SqliteStore(join(dir, 'ledger.sqlite'))
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const subjects = Array.from({ length: RECORDS }, (_, i) => `subject-digest-${String(i).padStart(28, '0')}`)
  for (let i = 0; i < 30; i++) await store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: `m-${i}`, subjects }))

  const seen: number[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await auditPage(store, {}, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) })
    const bytes = page.entries.reduce((n, e) => n + JSON.stringify(e.entry).length, 0)
    t.ok(bytes <= PAGE_MAX_BYTES, `page ${++pages}: ${page.entries.length} entries, ${bytes} bytes`)
    seen.push(...page.entries.map((e) => e.seq))
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  t.ok(pages > 1, 'more than one page for 30 entries of ~220 kB under limit=1000')
  t.same(
    seen,
    Array.from({ length: 30 }, (_, i) => i + 1),
    'every entry once, in order'
  )
})

t.test('a traveller named by neither a document nor a membership (a protected person matched by prints) is found by name and date of birth', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const ircc = client(t, 'IRCC', gw.url)
  const example = listExamples('biometric.match-response').find((e) => e.name === 'valid-asylum-match-protected-person')!.envelope
  const { id: _id, createdAt: _createdAt, from: _from, ...rest } = structuredClone(example) as Record<string, unknown>
  // The answer to the partner's match request (gateway/intake/correlation.ts).
  const request = await requestReceived(gw.app, 'CA', String(rest.purpose))
  const envelope = ircc.envelope({ ...rest, correlationId: request.id })
  t.equal((await ircc.submit(await ircc.sign(envelope))).status, 202, 'her identity is shared with the partner')
  const accepted = (await gw.app.store.searchAudit({ event: 'accepted', messageId: envelope.id as string }, 0, 1))[0]!.entry
  t.equal(accepted.subjects.length, 1, 'the ledger names her, by a keyed digest of her surname and date of birth')

  const ask = await reporter(gw)
  // As she gives them: in another case, with an accent, spaced.
  const res = await ask({ surname: 'Habibí', dateOfBirth: '1995-01-23' })
  t.equal(res.statusCode, 200, res.body)
  const report = res.json<{ subject: string; disclosures: Array<{ event: string; messageId: string }> }>()
  t.ok(
    report.disclosures.some((d) => d.event === 'accepted' && d.messageId === envelope.id),
    'her disclosure report finds the match response'
  )
  t.equal(report.subject, accepted.subjects[0])
  t.same((await ask({ surname: 'Habibi', dateOfBirth: '1995-01-24' })).json<{ disclosures: unknown[] }>().disclosures, [], 'another date of birth, nothing')
  t.equal((await ask({ surname: 'Habibi' })).statusCode, 400, 'a surname alone names no one')
})
