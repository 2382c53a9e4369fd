// A 5,000-record batch, the largest the contract allows: its ledger entry
// says what each field rule did to how many records, not 5,000 copies; it is
// prepared on a worker thread, off the event loop other requests need; and a
// page of such entries is bounded in bytes, not only in count.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { auditPage, PAGE_MAX_BYTES } from '../gateway/audit/audit-query.ts'
import { borderDayRecord, seedHash } from '../sandbox/synthetic-travellers.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { client, injectGateway, testConfig } from './helper.ts'

const RECORDS = 5000

t.test('a 5,000-record batch is one bounded entry, prepared off the event loop', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, pipelineThreads: 1 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const day = { seed: seedHash('batch-audit'), recordedBy: 'CA' as const, date: '2026-11-30', count: RECORDS }
  const envelope: { payload: { records: Array<{ document: { number: string } }> } } & Record<string, unknown> = cbsa.envelope({
    kind: 'entry-exit.batch',
    purpose: 'entry-exit-verification',
    legalAuthority: 'CustomsAct-92',
    agreementRef: 'CA-US-Entry-Exit-Joint-Statement-2012',
    to: { country: 'US', agency: 'CBP' },
    correlationId: null,
    payload: { batchRef: 'SYN-EE-CA-20261130-00001', records: Array.from({ length: RECORDS }, (_, i) => borderDayRecord(day, i)) }
  }) as never
  const before = { ...gw.app.pipeline.counts }
  t.equal(gw.app.pipeline.started, false, 'no pipeline thread before a message needs one')
  const res = await cbsa.submit(await cbsa.sign(envelope))
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
