// The privacy officer's API over a live exchange: search, one entry, a
// traveller's disclosure report, streamed exports, verification, legal holds,
// and the partner's countersignature on a checkpoint.
import t from 'tap'
import { ledgerOrigin } from '../gateway/audit/checkpoint.ts'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { eventually, identityAgent, injectGateway, KEYS_DIR, presenting, startExchange, testConfig } from './helper.ts'

const { request } = undiciModule()

t.test('a privacy officer reads, searches, exports and verifies the ledger', async (t) => {
  const ex = await startExchange(t)
  const agent = identityAgent(t, 'CA', 'privacy-officers/po-1')
  const call = async (method: 'GET' | 'HEAD' | 'POST' | 'DELETE', path: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await request(`${ex.ca.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: agent })
    return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() }
  }
  const token = JSON.parse((await call('POST', '/v1/token')).text).access_token as string

  const cbsa = ex.clients.CBSA
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const doc = (envelope.payload as { document: { number: string; issuingCountry: string } }).document
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  await eventually(
    async () => ((await cbsa.status(String(envelope.id))).json<{ status: string }>().status === 'delivered' ? true : undefined),
    15_000,
    'delivery'
  )
  t.equal((await cbsa.submit(await cbsa.sign({ ...envelope, id: crypto.randomUUID(), purpose: 'asylum-claim' }))).status, 403)

  await t.test('agency tokens and agency certificates are refused', async (t) => {
    const res = await cbsa.call('GET', '/v1/audit/entries', undefined, { authorization: `Bearer ${await cbsa.token()}` })
    t.equal(res.status, 403)
    t.equal(res.json().code, 'FORBIDDEN')
    t.equal((await call('GET', '/v1/audit/entries')).status, 401, 'no token')
  })

  await t.test('search with filters and stable cursors', async (t) => {
    const all = JSON.parse((await call('GET', '/v1/audit/entries?limit=1000', token)).text)
    t.ok(all.entries.length >= 3)
    const refused = JSON.parse((await call('GET', '/v1/audit/entries?event=refused', token)).text)
    t.same(
      refused.entries.map((e: any) => e.entry.code),
      ['PURPOSE_NOT_ALLOWED']
    )
    const byField = JSON.parse((await call('GET', `/v1/audit/entries?fieldPath=traveller.surname&messageId=${envelope.id}`, token)).text)
    t.same(
      byField.entries.map((e: any) => e.entry.event),
      ['accepted'],
      'the acceptance decided traveller.surname'
    )
    const seen: number[] = []
    let cursor = ''
    for (;;) {
      const page = JSON.parse((await call('GET', `/v1/audit/entries?limit=1${cursor}`, token)).text)
      seen.push(...page.entries.map((e: any) => e.seq))
      if (page.nextCursor === null) break
      cursor = `&cursor=${page.nextCursor}`
    }
    t.same(
      seen,
      all.entries.map((e: any) => e.seq),
      'pages of one add up to the whole, in order'
    )
    t.equal((await call('GET', '/v1/audit/entries?limit=0', token)).status, 400, 'a bad query is REQUEST_INVALID')
    const one = JSON.parse((await call('GET', `/v1/audit/entries/${all.entries[0].seq}`, token)).text)
    t.equal(one.seq, all.entries[0].seq)
    t.type(one.hash, 'string')
  })

  await t.test("a traveller's disclosure report, from the document they show", async (t) => {
    const report = JSON.parse((await call('POST', '/v1/audit/disclosures', token, { documentNumber: doc.number, issuingCountry: doc.issuingCountry })).text)
    const accepted = report.disclosures.find((d: any) => d.messageId === envelope.id && d.event === 'accepted')
    t.ok(accepted, 'the disclosure is found')
    t.equal(accepted.to, 'US/CBP')
    t.equal(accepted.purpose, 'entry-exit-verification')
    t.ok(
      accepted.shared.some((f: any) => f.path === 'traveller.surname'),
      'names the fields shared'
    )
    t.notOk(
      accepted.shared.some((f: any) => f.path.startsWith('vehicle')),
      'not the ones withheld'
    )
    // One identifier, whole: half of a second one is not dropped in silence, and a page holds the documented 500 at most.
    const mixed = await call('POST', '/v1/audit/disclosures', token, { membershipId: '100000001', documentNumber: doc.number })
    t.same([mixed.status, JSON.parse(mixed.text).code], [400, 'REQUEST_INVALID'], 'a membership with half a document is refused')
    const over = await call('POST', '/v1/audit/disclosures', token, { documentNumber: doc.number, issuingCountry: doc.issuingCountry, limit: 501 })
    t.same([over.status, JSON.parse(over.text).code], [400, 'REQUEST_INVALID'], 'a page of more than 500 entries is refused')
    const nobody = JSON.parse((await call('POST', '/v1/audit/disclosures', token, { documentNumber: 'X0000000', issuingCountry: 'CAN' })).text)
    t.same(nobody.disclosures, [])
    const ledger = (await ex.ca.app.store.auditEntries(0, 1000)).map((e) => JSON.stringify(e.entry)).join('\n')
    t.notOk(ledger.includes(doc.number), 'the ledger never holds the document number')
  })

  await t.test('exports stream as NDJSON and CSV', async (t) => {
    const nd = await call('GET', '/v1/audit/export?format=ndjson', token)
    t.match(nd.type, /application\/x-ndjson/)
    const lines = nd.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    t.ok(lines.length >= 3)
    const csv = await call('GET', '/v1/audit/export?format=csv&event=accepted', token)
    t.match(csv.type, /text\/csv/)
    const rows = csv.text.trim().split('\r\n')
    t.match(rows[0], /^seq,at,event,.*,fields,reason,hash,prevHash$/, "every column, including the operator's reason for a dead-letter action")
    t.ok(rows.slice(1).every((r) => r.split(',')[2] === 'accepted'))
    // What a purge removed, as NDJSON has it.
    await ex.ca.app.store.appendAudit(auditEntry({ event: 'purged', counts: { retentionDays: 90, messages: 7, outbox: 2 } }))
    const purged = (await call('GET', '/v1/audit/export?format=csv&event=purged', token)).text.trim().split('\r\n')
    const counts = purged[0]!.split(',').indexOf('counts')
    t.equal(purged.at(-1)!.split(',')[counts], 'retentionDays=90 messages=7 outbox=2', 'a purge row says what it removed')
    // Bounds finer than the ledger's milliseconds: an entry at .999 is at or after .9985, and before .9995.
    await ex.ca.app.store.appendAudit(auditEntry({ event: 'purged', at: '2026-01-01T23:59:59.999Z', counts: { retentionDays: 90, messages: 0, outbox: 0 } }))
    const between = JSON.parse((await call('GET', '/v1/audit/entries?event=purged&from=2026-01-01T23:59:59.9985Z&to=2026-01-01T23:59:59.9995Z', token)).text)
    t.same(
      between.entries.map((e: { entry: { at: string } }) => e.entry.at),
      ['2026-01-01T23:59:59.999Z'],
      'a bound with more than three decimals is not cut to the millisecond before it'
    )
  })

  await t.test('verification against the partner, and a checkpoint the partner witnessed', async (t) => {
    const cp = await ex.ca.app.checkpointer.checkpointNow()
    t.ok(cp, 'a checkpoint was made')
    const latest = await eventually(
      async () => {
        const c = await ex.ca.app.store.latestCheckpoint()
        return c?.cosignature ? c : undefined
      },
      10_000,
      'the cosignature'
    )
    t.equal(latest.size, cp!.size)
    const kept = await ex.us.app.store.witnessedCheckpoints(ledgerOrigin('CA'), 0, 10)
    t.equal(kept[kept.length - 1]?.size, cp!.size, 'the partner, its witness, keeps it (after the one the disclosure report had made)')
    const verification = JSON.parse((await call('GET', '/v1/audit/verification', token)).text)
    t.equal(verification.ok, true, JSON.stringify(verification.firstBad))
    t.same(verification.latestCheckpoint, { size: cp!.size, root: cp!.root, at: cp!.at, cosigned: true, cosignedAt: latest.cosignedAt })
    t.match(verification.cosigned, { size: cp!.size, fromPartner: true }, "checked against the partner's own copy, fetched from it")
    t.same(verification.conflicts, [])
    const witness = JSON.parse((await call('GET', '/v1/audit/witness', token)).text)
    t.match(witness, { latestCosigned: { size: cp!.size, cosigned: true }, partnerLedger: null, conflicts: [] })
    t.match(
      witness.lastVerification,
      { ok: true, entries: verification.entries, by: 'CA/privacy-officer/po-1', firstBad: null },
      'the verification just run is the last one, from its ledger entry'
    )
    const audited = JSON.parse((await call('GET', '/v1/audit/entries?event=ledger-verified', token)).text)
    t.equal(audited.entries.length, 1, 'a verification is audited')
    // One verification at a time: each reads the whole ledger through the
    // ledger's thread, and several at once ran that thread out of memory.
    // Those asked for while one runs share it, each answered and audited.
    const runs = async (): Promise<number> => {
      const metrics = await request(`${ex.ca.url}/metrics`, { dispatcher: identityAgent(t, 'CA', 'operators/ops-1') })
      return Number(/^btb_ledger_verification_seconds_count (\S+)$/m.exec(await metrics.body.text())?.[1])
    }
    t.equal(await runs(), 1, 'the verification above ran once')
    const together = await Promise.all(Array.from({ length: 4 }, () => call('GET', '/v1/audit/verification', token)))
    t.same(
      together.map((r) => [r.status, JSON.parse(r.text).ok]),
      Array.from({ length: 4 }, () => [200, true]),
      'four asked for at once: each answered'
    )
    t.equal(await runs(), 2, 'by one run')
    const verified = JSON.parse((await call('GET', '/v1/audit/entries?event=ledger-verified', token)).text)
    t.equal(verified.entries.length, 5, 'and each audited')
    // HEAD would run the whole verification for no answer, and write its entry, as GET does.
    const head = (await ex.ca.app.store.auditHead())!.seq
    t.equal((await call('HEAD', '/v1/audit/verification', token)).status, 404, 'no HEAD on a verification')
    t.equal((await ex.ca.app.store.auditHead())!.seq, head, 'and nothing written for one')
  })

  await t.test('legal holds', async (t) => {
    const placed = await call('POST', '/v1/audit/legal-holds', token, { ref: 'COMPLAINT-2026-001', reason: 'complaint under review', messageId: envelope.id })
    t.equal(placed.status, 201)
    const holds = JSON.parse((await call('GET', '/v1/audit/legal-holds', token)).text).holds
    t.equal(holds[0].ref, 'COMPLAINT-2026-001')
    const { purgeExpired } = await import('../gateway/queue/retention.ts')
    const counts = await purgeExpired(ex.ca.app.store, 1, Date.now() + 10 * 86_400_000)
    t.equal(counts.messages, 0, 'the held message survives a purge')
    t.ok(await ex.ca.app.store.findMessage('outbound', String(envelope.id)))
    t.equal((await call('DELETE', '/v1/audit/legal-holds/COMPLAINT-2026-001', token)).status, 204)
    const after = await purgeExpired(ex.ca.app.store, 1, Date.now() + 10 * 86_400_000)
    t.ok(after.messages >= 1, 'released, it is purged')
    t.equal(await ex.ca.app.store.findMessage('outbound', String(envelope.id)), undefined)
    const events = (await ex.ca.app.store.auditEntries(0, 10_000)).map((e) => e.entry)
    t.same(
      events.filter((e) => e.event.startsWith('legal-hold')).map((e) => [e.event, e.reference]),
      [
        ['legal-hold-placed', 'COMPLAINT-2026-001'],
        ['legal-hold-released', 'COMPLAINT-2026-001']
      ],
      'placing and releasing a hold are audited'
    )
    t.ok(
      events.some((e) => e.event === 'purged' && (e.counts?.messages ?? 0) >= 1),
      'the purge is audited with its counts'
    )
    t.equal((await call('DELETE', '/v1/audit/legal-holds/COMPLAINT-2026-001', token)).status, 404, 'a hold is released once')
  })
})

t.test('the checkpoint conflicts listed are the latest hundred, not the first', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  for (let i = 0; i < 105; i++) {
    await gw.app.store.appendAudit(auditEntry({ event: 'refused', caller: 'gateway:US', code: 'CHECKPOINT_CONFLICT', reason: `conflict ${i}` }))
  }
  const officer = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const token = JSON.parse((await gw.app.inject({ method: 'POST', url: '/v1/token', headers: officer })).body).access_token as string
  const res = await gw.app.inject({ method: 'GET', url: '/v1/audit/witness', headers: { ...officer, authorization: `Bearer ${token}` } })
  const { conflicts } = JSON.parse(res.body) as { conflicts: Array<{ reason: string }> }
  t.equal(conflicts.length, 100)
  t.equal(conflicts.at(-1)?.reason, 'conflict 104', 'the newest is listed')
  t.equal(conflicts[0]?.reason, 'conflict 5', 'the five oldest are not')
})
