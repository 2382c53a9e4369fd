// A batch as the receiving gateway takes it from the partner: what the
// sender's policy can let through, and no less. A batch holds at least one
// record (the kinds' `minItems`), and the policy never forwards an empty
// list, an empty record, or a batch without its list (it refuses one it
// would leave nothing of), so a partner at fault that sends one is refused
// SCHEMA_INVALID, audited, with nothing kept or pushed. And each record of a batch
// names its own traveller in the ledger, for their disclosure report, even
// one the partner sent without a document.
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { borderDayRecord, seedHash } from '../sandbox/synthetic-travellers.ts'
import { entryExitBatch, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import { MessageValidator } from '../gateway/pipeline/validate-message.ts'
import { client, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'
import { asPartnerOf, forwardedTo, requestSent, type Forwarded } from './lib/partner-delivery.ts'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const PSEUDONYM = `ps1:${'A'.repeat(43)}`
const EXAMPLES = join(import.meta.dirname, '..', 'schemas', 'examples')

t.test(
  "a partner's batch with no record, no list of records at all, or a record with nothing in it, is refused SCHEMA_INVALID, audited, and nothing of it is kept",
  async (t) => {
    const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
    const record = borderDayRecord({ seed: seedHash('batch-receiving'), recordedBy: 'CA', date: '2026-11-30', count: 1 }, 0)
    const records = entryExitBatch('SYN-EE-CA-20261130-00005', [record])
    const roster = sampleEnvelope('traveller.designation-batch', 'CA', { country: 'US', agency: 'CBP' })
    // A batch of business-traveller designations, made of the contract's example of one.
    const business = JSON.parse(readFileSync(join(EXAMPLES, 'traveller.designation', 'valid-xpt-after-sales-ca-to-us.json'), 'utf8'))
    const businessBatch = {
      ...sampleEnvelope('traveller.designation', 'CA', { country: 'US', agency: 'CBP' }),
      kind: 'traveller.designation-batch',
      purpose: business.purpose,
      legalAuthority: business.legalAuthority,
      agreementRef: business.agreementRef,
      payload: { batchRef: 'CBSA-XPT-20261122-0001', designations: [business.payload] }
    }
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
      ['no record at all', records, { batchRef: PSEUDONYM, records: [] }],
      ['no list of records at all', records, { batchRef: PSEUDONYM }],
      ['a record with nothing in it', records, { batchRef: PSEUDONYM, records: [{}] }],
      ['a NEXUS roster with no list of designations at all', roster, { batchRef: PSEUDONYM }],
      ['a batch of business-traveller designations with no list of them at all', businessBatch, { batchRef: PSEUDONYM }]
    ]
    for (const [what, message, payload] of cases) await refusedAsMalformed(t, gw, what, await forwardedTo('US', { message, envelope: { payload } }))
  }
)

t.test(
  "a partner's message without a member the sender's policy always forwards (a batch's reference, a match request's transaction reference) is refused SCHEMA_INVALID, audited, and nothing of it is kept",
  async (t) => {
    const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
    const record = borderDayRecord({ seed: seedHash('batch-receiving-ref'), recordedBy: 'CA', date: '2026-11-30', count: 1 }, 0)
    const request = sampleEnvelope('biometric.match-request', 'CA', { country: 'US', agency: 'USCIS' })
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, string]> = [
      ['an entry/exit batch without its batchRef', entryExitBatch('SYN-EE-CA-20261130-00008', [record]), {}, 'batchRef'],
      ['a NEXUS roster without its batchRef', sampleEnvelope('traveller.designation-batch', 'CA', { country: 'US', agency: 'CBP' }), {}, 'batchRef'],
      ['a match request without its transactionRef', request, { from: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' } }, 'transactionRef']
    ]
    for (const [what, message, envelope, member] of cases) {
      // What the partner's policy makes of the message, less the member it always forwards.
      const honest = await forwardedTo('US', { message, envelope })
      const { [member]: forwarded, ...payload } = honest.envelope.payload as Record<string, unknown>
      t.type(forwarded, 'string', `${what}: the sender's policy forwards ${member}`)
      await refusedAsMalformed(t, gw, what, await forwardedTo('US', { message, envelope: { ...envelope, payload } }))
    }
  }
)

t.test(
  "a print of a partner's match request without its template, or a designation without its status, is refused SCHEMA_INVALID, audited, and nothing of it is pushed to the matcher",
  async (t) => {
    const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
    const request = sampleEnvelope('biometric.match-request', 'CA', { country: 'US', agency: 'USCIS' })
    const immigration = { from: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' } }
    const roster = sampleEnvelope('traveller.designation-batch', 'CA', { country: 'US', agency: 'CBP' })
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, string, string]> = [
      ['a match request with a print without its template', request, immigration, 'fingerprints', 'template'],
      ['a NEXUS roster with a designation without its status', roster, {}, 'designations', 'status']
    ]
    for (const [what, message, envelope, list, member] of cases) {
      // What the partner's policy makes of the message, its first item less a member the policy always forwards.
      const honest = (await forwardedTo('US', { message, envelope })).envelope.payload as Record<string, Array<Record<string, unknown>>>
      const [first, ...rest] = honest[list]!
      const { [member]: forwarded, ...item } = first!
      t.ok(forwarded !== undefined, `${what}: the sender's policy forwards ${list}[].${member}`)
      const payload = { ...honest, [list]: [item, ...rest] }
      await refusedAsMalformed(t, gw, what, await forwardedTo('US', { message, envelope: { ...envelope, payload } }))
    }
  }
)

t.test(
  "a partner's designation without its traveller or its risk assessment, objects the kind requires and of which the sender's policy always forwards something, is refused SCHEMA_INVALID, audited, and nothing of it is pushed",
  async (t) => {
    const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
    const to = { country: 'US', agency: 'CBP' } as const
    const designation = sampleEnvelope('traveller.designation', 'CA', to)
    const roster = sampleEnvelope('traveller.designation-batch', 'CA', to)
    // Before, only the fields inside were required, and only when the object came: a designation of no one was taken.
    for (const member of ['traveller', 'riskAssessment']) {
      const honest = (await forwardedTo('US', { message: designation })).envelope.payload as Record<string, unknown>
      t.type(honest[member], 'object', `a designation: the sender's policy forwards its ${member}`)
      const { [member]: _forwarded, ...payload } = honest
      await refusedAsMalformed(t, gw, `a designation without its ${member}`, await forwardedTo('US', { message: designation, envelope: { payload } }))
    }
    const honest = (await forwardedTo('US', { message: roster })).envelope.payload as { designations: Array<Record<string, unknown>> }
    const [first, ...rest] = honest.designations
    const { traveller, ...anonymous } = first!
    t.type(traveller, 'object', "a NEXUS roster: the sender's policy forwards each designation's traveller")
    const payload = { ...honest, designations: [anonymous, ...rest] }
    await refusedAsMalformed(
      t,
      gw,
      'a NEXUS roster with a designation without its traveller',
      await forwardedTo('US', { message: roster, envelope: { payload } })
    )

    // An object the kind does not require may still be left out: a designation without its document is taken.
    const { document, ...undocumented } = (await forwardedTo('US', { message: designation })).envelope.payload as Record<string, unknown>
    t.type(document, 'object', 'the sample designation names a document')
    const sent = await forwardedTo('US', { message: designation, envelope: { payload: undocumented } })
    const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('US') })
    t.equal(res.statusCode, 200, 'a designation without its document is received', { body: res.body })
  }
)

t.test(
  "a partner's match response saying MATCH without its subject, which the kind requires on a match and of which the sender's policy then always forwards the category, is refused SCHEMA_INVALID, audited, and nothing of it is pushed",
  async (t) => {
    const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
    const to = { country: 'US', agency: 'USCIS' } as const
    const sample = [0, 1, 2]
      .map((pick) => sampleEnvelope('biometric.match-response', 'CA', to, pick))
      .find((e) => (e.payload as { result: string }).result === 'MATCH')!
    // The request USCIS sent, which CA's answers name (gateway/intake/correlation.ts).
    const asked = await requestSent(client(t, 'USCIS', gw.url), String(sample.purpose))
    const answer = (payload?: Record<string, unknown>) =>
      forwardedTo('US', {
        message: { ...sample, correlationId: asked.id },
        envelope: { from: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' }, ...(payload === undefined ? {} : { payload }) }
      })
    const exchange = (sent: Forwarded) => gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('US') })
    // Before, the kind's requirement held only under its `if` (result MATCH), which the received schema left out: a match of no one was taken and pushed.
    const { subject, ...subjectless } = (await answer()).envelope.payload as Record<string, unknown>
    t.type(subject, 'object', "a MATCH: the sender's policy forwards its subject")
    await refusedAsMalformed(t, gw, 'a MATCH without its subject', await answer(subjectless))

    const matched = await answer()
    const res = await exchange(matched)
    t.equal(res.statusCode, 200, 'a MATCH with its subject is received', { body: res.body })
    t.ok(await gw.app.store.outboxItem('inbound', matched.id), 'and pushed')
    const unmatched = await answer({ ...subjectless, result: 'NO_MATCH' })
    const none = await exchange(unmatched)
    t.equal(none.statusCode, 200, 'a NO_MATCH without a subject is received', { body: none.body })
    t.ok(await gw.app.store.outboxItem('inbound', unmatched.id), 'and pushed')
  }
)

/** `sent` refused by the receiving gateway as a malformed partner message: audited by its digest, nothing kept under its id, nothing pushed. */
async function refusedAsMalformed(t: Test, gw: Awaited<ReturnType<typeof injectGateway>>, what: string, sent: Forwarded): Promise<void> {
  const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('US') })
  const answer = res.statusCode === 200 ? 'a receipt' : res.json<{ code: string }>().code
  t.same([res.statusCode, answer], [422, 'SCHEMA_INVALID'], `${what}: refused`)
  // A refusal before the envelope validates names no message: it is known by the keyed digest of what was sent.
  const digest = gw.app.policyBook.digest(sent.jws)
  const entries = (await gw.app.store.auditEntries(0, 1000)).map((e) => e.entry)
  const refusals = entries.filter((e) => e.digest === digest).map((e) => [e.event, e.code])
  t.same(refusals, [['refused', 'SCHEMA_INVALID']], `${what}: the refusal audited`)
  t.same(
    entries.filter((e) => e.messageId === sent.id),
    [],
    `${what}: nothing under its id`
  )
  t.equal(await gw.app.store.findMessage('inbound', sent.id), undefined, `${what}: no message kept`)
  t.equal(await gw.app.store.outboxItem('inbound', sent.id), undefined, `${what}: nothing to push`)
}

t.test("a sender's policy that would leave nothing of a batch's records refuses the batch: no batch without them is ever forwarded", async (t) => {
  const book = new PolicyBook(randomBytes(32), randomBytes(32))
  const validator = new MessageValidator()
  const record = borderDayRecord({ seed: seedHash('batch-receiving-air'), recordedBy: 'CA', date: '2026-11-30', count: 1 }, 0) as Record<string, any>
  const airExit = { ...record, recordType: 'exit', crossing: { ...record.crossing, travelMode: 'air' } }
  const batch = validator.envelope({
    ...entryExitBatch('SYN-EE-CA-20261130-00007', [airExit]),
    id: randomUUID(),
    schemaVersion: '1.0',
    from: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
    createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  })
  for (const direction of ['outbound', 'inbound'] as const) {
    const policy = book.select(batch, direction)
    // Its air-exit exclusion refuses this batch first. Without it, the
    // record rules' condition (not an air exit) withholds every field of
    // every record: what is left is a batch of nothing.
    const unexcluded = { ...policy, rules: { ...policy.rules, exclusions: [] } }
    t.throws(() => book.apply(unexcluded, batch.payload), { code: 'POLICY_DENIED', message: /records/ }, `${direction}: refused, naming the list`)
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
