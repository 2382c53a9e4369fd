// A batch as the receiving gateway takes it from the partner: what the
// sender's policy can let through, and no less. A batch holds at least one
// record (the kinds' `minItems`), and the policy never forwards an empty
// list or an empty record, so a partner at fault that sends one is refused
// SCHEMA_INVALID, with nothing kept or pushed. And each record of a batch
// names its own traveller in the ledger, for their disclosure report, even
// one the partner sent without a document.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { borderDayRecord, seedHash } from '../sandbox/synthetic-travellers.ts'
import { entryExitBatch } from '../sandbox/sample-messages.ts'
import { injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'
import { asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'

const PSEUDONYM = `ps1:${'A'.repeat(43)}`

t.test("a partner's batch with no record, or a record with nothing in it, is refused SCHEMA_INVALID and nothing of it is kept", async (t) => {
  const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
  const record = borderDayRecord({ seed: seedHash('batch-receiving'), recordedBy: 'CA', date: '2026-11-30', count: 1 }, 0)
  const cases: Array<[string, Record<string, unknown>]> = [
    ['no record at all', { batchRef: PSEUDONYM, records: [] }],
    ['a record with nothing in it', { batchRef: PSEUDONYM, records: [{}] }]
  ]
  for (const [what, payload] of cases) {
    const sent = await forwardedTo('US', { message: entryExitBatch('SYN-EE-CA-20261130-00005', [record]), envelope: { payload } })
    const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('US') })
    const answer = res.statusCode === 200 ? 'a receipt' : res.json<{ code: string }>().code
    t.same([res.statusCode, answer], [422, 'SCHEMA_INVALID'], `${what}: refused`)
    t.equal(await gw.app.store.findMessage('inbound', sent.id), undefined, `${what}: no message kept`)
    t.equal(await gw.app.store.outboxItem('inbound', sent.id), undefined, `${what}: nothing to push`)
  }
})

t.test("a record of a partner's batch that names its traveller by no document is in their disclosure report, by name and date of birth", async (t) => {
  const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
  type Row = { traveller: { surname: string; dateOfBirth: string }; document?: unknown }
  const day = { seed: seedHash('batch-receiving-identity'), recordedBy: 'CA' as const, date: '2026-11-30', count: 2 }
  const [documented, { document: _document, ...undocumented }] = [borderDayRecord(day, 0), borderDayRecord(day, 1)] as unknown as [Row, Row]
  // A partner at fault: the second record came without its document.
  const sent = await forwardedTo('US', { message: entryExitBatch('SYN-EE-CA-20261130-00006', [documented, undocumented]) })
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('US') })).statusCode, 200, 'received')

  const officer = presenting(readFileSync(join(KEYS_DIR, 'US', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const token = (await gw.app.inject({ method: 'POST', url: '/v1/token', headers: officer })).json<{ access_token: string }>().access_token
  const res = await gw.app.inject({
    method: 'POST',
    url: '/v1/audit/disclosures',
    headers: { ...officer, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ surname: undocumented.traveller.surname, dateOfBirth: undocumented.traveller.dateOfBirth })
  })
  t.equal(res.statusCode, 200, 'the report', { body: res.body })
  const received = res
    .json<{ disclosures: Array<{ event: string; messageId: string; shared: Array<{ path: string }> }> }>()
    .disclosures.find((d) => d.event === 'received')
  t.equal(received?.messageId, sent.id, 'her report finds the batch that disclosed her record')
  const paths = received?.shared.map((f) => f.path) ?? []
  t.ok(paths.includes('records[].traveller.surname'), 'with what was done to her record')
  t.notOk(paths.includes('records[].document.number'), "and not the other record's document")
})
