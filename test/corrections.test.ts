// Corrections and retractions (P4 data quality, P8 individual access and
// rectification; docs/integrators.md, "Corrections and retractions"): an
// agency system supersedes a message it sent earlier with a correction (a
// full record of the same kind) or a retraction (no record at all). It is
// checked like any message, linked to the original on both sides, pushed to
// the system that received the original, and a retraction of a message not
// yet delivered stops it. Both ledgers name the superseded message by id, and
// the privacy officer's disclosure report shows the original and what
// corrected it.
import t from 'tap'
import { errors } from 'undici'
import { randomBytes, randomUUID } from 'node:crypto'
import { QueueEvents, Worker } from 'bullmq'
import pg from 'pg'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import type { FastifyInstance } from 'fastify'
import type { GatewayConfig } from '../gateway/config.ts'
import { QUEUE_NAMES, redisOptions } from '../gateway/queue/delivery-queues.ts'
import type { AuditEntry } from '../gateway/store/records.ts'
import type { AgencyClient } from '../sandbox/agency-client.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { failureReason, mayHaveArrived } from '../gateway/queue/dead-letters.ts'
import { purgeExpired } from '../gateway/queue/retention.ts'
import { deliveryBackoff } from '../gateway/delivery/retry-after.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  client,
  eventually,
  injectGateway,
  KEYS_DIR,
  PG_URL,
  presenting,
  REDIS_URL,
  standInPartner,
  startExchange,
  startGateway,
  testConfig,
  identityAgent
} from './helper.ts'

const { request } = undiciModule()

type Test = Parameters<Parameters<typeof t.test>[0]>[0]
type Ledger = 'sqlite' | 'postgres'
type Country = 'CA' | 'US'

const LEDGERS: readonly Ledger[] = ['sqlite', 'postgres']
const CBP = { country: 'US', agency: 'CBP' } as const

/** Each gateway's ledger: its own SQLite file, or a PostgreSQL schema of its own (dropped afterwards). */
async function ledgerConfig(t: Test, ledger: Ledger): Promise<(country: Country) => Partial<GatewayConfig>> {
  if (ledger === 'sqlite') return () => ({})
  const pool = new pg.Pool({ connectionString: PG_URL, max: 1 })
  const schemas = { CA: `t_corr_ca_${randomBytes(4).toString('hex')}`, US: `t_corr_us_${randomBytes(4).toString('hex')}` }
  t.teardown(async () => {
    for (const schema of Object.values(schemas)) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  })
  return (country) => ({ ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schemas[country] })
}

/** The fields of a message that a later one about the same record repeats: all but its id and time. */
function sameRecord(envelope: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, createdAt: _createdAt, from: _from, ...rest } = envelope
  return rest
}

async function send(c: AgencyClient, envelope: Record<string, unknown>): Promise<{ status: number; code?: string; body: Record<string, any> }> {
  const res = await c.submit(await c.sign(envelope))
  const body = res.json<Record<string, any>>()
  return { status: res.status, code: body.code as string | undefined, body }
}

async function statusOf(c: AgencyClient, id: string): Promise<Record<string, any>> {
  return (await c.status(id)).json<Record<string, any>>()
}

async function ledger(app: FastifyInstance): Promise<AuditEntry[]> {
  return (await app.store.auditEntries(0, 100_000)).map((e) => e.entry)
}

interface Disclosure {
  seq: number
  event: string
  messageId: string | null
  shared: Array<{ path: string }>
  supersedes?: { messageId: string; action: string; reason?: string }
  supersededBy?: { messageId: string; action: string; reason?: string; seq: number; withdrawn: boolean; mayHaveArrived: boolean }
}

/** A privacy officer of `country`, asking for a traveller's disclosure report (docs/privacy-officers.md). */
async function disclosures(t: Test, url: string, country: Country, document: { number: string; issuingCountry: string }): Promise<Disclosure[]> {
  const agent = identityAgent(t, country, 'privacy-officers/po-1')
  const token = ((await (await request(`${url}/v1/token`, { method: 'POST', dispatcher: agent })).body.json()) as { access_token: string }).access_token
  const res = await request(`${url}/v1/audit/disclosures`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ documentNumber: document.number, issuingCountry: document.issuingCountry }),
    dispatcher: agent
  })
  const text = await res.body.text()
  t.equal(res.statusCode, 200, 'the disclosure report', { body: text })
  return (JSON.parse(text) as { disclosures: Disclosure[] }).disclosures
}

/** A privacy officer of CA calling an injected gateway (docs/privacy-officers.md, "The audit API"). */
async function injectedOfficer(app: FastifyInstance) {
  const cert = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const token = (await app.inject({ method: 'POST', url: '/v1/token', headers: cert })).json<{ access_token: string }>().access_token
  return async (method: 'POST' | 'DELETE', url: string, body?: unknown) =>
    app.inject({
      method,
      url,
      headers: { ...cert, authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) })
    })
}

const documentOf = (envelope: Record<string, unknown>) => (envelope.payload as { document: { number: string; issuingCountry: string } }).document

for (const store of LEDGERS) {
  t.test(`${store}: a correction follows the original to the system that received it, and both ledgers link them`, async (t) => {
    const ex = await startExchange(t, await ledgerConfig(t, store))
    const cbsa = ex.clients.CBSA
    const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
    const O = String(original.id)
    t.equal((await send(cbsa, original)).status, 202)
    await eventually(() => ex.mocks.CBP.received.find((m) => m.id === O), 15_000, 'the original at CBP')

    const payload = structuredClone(original.payload) as { traveller: Record<string, unknown> }
    payload.traveller.givenNames = 'THI HOA'
    const supersedes = { id: O, action: 'correct', reason: 'data-error' }
    const correction = cbsa.envelope({ ...sameRecord(original), payload, supersedes })
    const S = String(correction.id)
    const accepted = await send(cbsa, correction)
    t.equal(accepted.status, 202, 'the correction is accepted', { body: accepted.body })
    t.same(accepted.body.supersedes, supersedes, 'its status names what it supersedes')

    const pushed = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === S), 15_000, 'the correction at CBP')
    t.same(pushed.supersedes, supersedes, 'CBP is told which message the correction replaces')
    t.equal((pushed.payload.traveller as { givenNames: string }).givenNames, 'THI HOA', 'and gets the corrected record')
    t.notOk('vehicle' in pushed.payload, 'minimised by the same policy as any message')

    const first = await eventually(
      async () => {
        const s = await statusOf(cbsa, O)
        return s.supersededBy === null ? undefined : s
      },
      5000,
      "the original's status"
    )
    t.equal(first.status, 'delivered', 'the original stays delivered')
    t.same(first.supersededBy, { id: S, action: 'correct', reason: 'data-error' }, 'and names its correction')
    t.same((await statusOf(cbsa, S)).supersededBy, null)

    const received = await ex.us.app.store.findMessage('inbound', O)
    const receivedCorrection = await ex.us.app.store.findMessage('inbound', S)
    t.same(received?.supersededBy, { id: S, action: 'correct', reason: 'data-error' }, "the partner's record of the original knows its correction")
    t.same(receivedCorrection?.supersedes, supersedes, "and the correction's record knows the original by id")
    t.equal(receivedCorrection?.recipient, received?.recipient, 'pushed to the system that received the original')

    for (const [app, event] of [
      [ex.ca.app, 'accepted'],
      [ex.us.app, 'received']
    ] as const) {
      const entries = await ledger(app)
      const ofOriginal = entries.find((e) => e.messageId === O && e.event === event)!
      const ofCorrection = entries.find((e) => e.messageId === S && e.event === event)!
      t.same(ofCorrection.supersedes, supersedes, `the ${event} entry names the superseded message by id`)
      t.ok(
        ofOriginal.subjects.length > 0 && ofOriginal.subjects.every((s) => ofCorrection.subjects.includes(s)),
        "and the original's travellers, so that a report on them finds the correction"
      )
      t.notOk(JSON.stringify(entries).includes('THI HOA'), 'never a value')
    }

    for (const [gw, country, event] of [
      [ex.ca, 'CA', 'accepted'],
      [ex.us, 'US', 'received']
    ] as const) {
      const report = await disclosures(t, gw.url, country, documentOf(original))
      const ofOriginal = report.find((d) => d.messageId === O && d.event === event)
      const ofCorrection = report.find((d) => d.messageId === S && d.event === event)
      if (!t.ok(ofOriginal && ofCorrection, `${country}: the report shows the original and its correction`)) continue
      t.same(
        ofOriginal!.supersededBy,
        { messageId: S, action: 'correct', reason: 'data-error', seq: ofCorrection!.seq, withdrawn: false, mayHaveArrived: false },
        `${country}: the original, corrected`
      )
      t.same(ofCorrection!.supersedes, { messageId: O, action: 'correct', reason: 'data-error' }, `${country}: the correction, naming the original`)
      t.ok(
        ofCorrection!.shared.some((f) => f.path === 'traveller.givenNames'),
        `${country}: and what the correction disclosed`
      )
    }
  })

  t.test(`${store}: a retraction stops a message not yet delivered; the partner's agency gets the retraction, never the original`, async (t) => {
    const config = await ledgerConfig(t, store)
    // The CA gateway takes messages in but delivers nothing until a second process on its ledger runs workers.
    const ex = await startExchange(t, (country) => ({ ...config(country), ...(country === 'CA' ? { runWorkers: false } : {}) }))
    const cbsa = ex.clients.CBSA
    const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
    const O = String(original.id)
    t.equal((await send(cbsa, original)).status, 202)
    const supersedes = { id: O, action: 'retract', reason: 'wrong-traveller' }
    const retraction = cbsa.envelope({ ...sameRecord(original), payload: {}, supersedes })
    const R = String(retraction.id)
    const accepted = await send(cbsa, retraction)
    t.equal(accepted.status, 202, 'the retraction is accepted', { body: accepted.body })

    const stopped = await statusOf(cbsa, O)
    t.equal(stopped.status, 'withdrawn', 'the original is withdrawn at once')
    t.same(stopped.supersededBy, { id: R, action: 'retract', reason: 'wrong-traveller' })
    t.equal(await ex.ca.app.store.outboxItem('outbound', O), undefined, 'its sealed copy is gone')
    t.equal(await ex.ca.app.queues.queue('outbound').getJob(O), undefined, 'and its job')

    const ca = await startGateway(t, { ...ex.ca.config, port: 0, runWorkers: true })
    const delivered = await eventually(
      async () => {
        const s = await statusOf(cbsa, R)
        return s.status === 'delivered' ? s : undefined
      },
      15_000,
      'the retraction delivered'
    )
    t.equal(delivered.receipt.messageId, R)
    const pushed = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === R), 15_000, 'the retraction at CBP')
    t.same(pushed.payload, {}, 'a retraction carries no traveller data')
    t.same(pushed.supersedes, supersedes)
    t.equal(await ca.app.relay.runOnce(0), 0, 'nothing is left for the relay to send')
    t.notOk(
      ex.mocks.CBP.received.some((m) => m.id === O),
      'CBP never received the original'
    )
    t.equal(await ex.us.app.store.findMessage('inbound', O), undefined, 'nor did the partner gateway')
    t.same((await ex.us.app.store.findMessage('inbound', R))?.supersedes, supersedes, 'which still records what the retraction names')

    const entries = await ledger(ex.ca.app)
    t.same(
      entries.filter((e) => e.messageId === O).map((e) => e.event),
      ['accepted', 'withdrawn'],
      'the ledger records the original withdrawn, never delivered'
    )
    t.same(entries.find((e) => e.messageId === R && e.event === 'accepted')?.supersedes, supersedes)
    t.same((await ledger(ex.us.app)).find((e) => e.messageId === R && e.event === 'received')?.supersedes, supersedes, "and so does the partner's")

    const report = await disclosures(t, ex.ca.url, 'CA', documentOf(original))
    const ofOriginal = report.find((d) => d.messageId === O && d.event === 'accepted')
    const ofRetraction = report.find((d) => d.messageId === R && d.event === 'accepted')
    if (t.ok(ofOriginal && ofRetraction, 'the report shows the original and its retraction')) {
      t.same(ofOriginal!.supersededBy, {
        messageId: R,
        action: 'retract',
        reason: 'wrong-traveller',
        seq: ofRetraction!.seq,
        withdrawn: true,
        mayHaveArrived: false
      })
      t.same(ofRetraction!.supersedes, { messageId: O, action: 'retract', reason: 'wrong-traveller' })
      t.same(ofRetraction!.shared, [], 'a retraction discloses nothing')
    }
  })

  t.test(`${store}: at the receiving gateway, a retraction stops a push not yet made: the agency gets the retraction alone`, async (t) => {
    const config = await ledgerConfig(t, store)
    // The U.S. gateway takes deliveries in but pushes nothing until a second process on its ledger runs workers.
    const ex = await startExchange(t, (country) => ({ ...config(country), ...(country === 'US' ? { runWorkers: false } : {}) }))
    const cbsa = ex.clients.CBSA
    const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
    const O = String(original.id)
    t.equal((await send(cbsa, original)).status, 202)
    await eventually(async () => ((await statusOf(cbsa, O)).status === 'delivered' ? true : undefined), 15_000, 'the original at the partner gateway')
    const supersedes = { id: O, action: 'retract', reason: 'duplicate' }
    const retraction = cbsa.envelope({ ...sameRecord(original), payload: {}, supersedes })
    const R = String(retraction.id)
    t.equal((await send(cbsa, retraction)).status, 202)
    await eventually(async () => ((await statusOf(cbsa, R)).status === 'delivered' ? true : undefined), 15_000, 'the retraction at the partner gateway')

    const stopped = await ex.us.app.store.findMessage('inbound', O)
    t.equal(stopped?.status, 'withdrawn', "the original's push is withdrawn")
    t.same(stopped?.supersededBy, { id: R, action: 'retract', reason: 'duplicate' })
    t.equal(await ex.us.app.store.outboxItem('inbound', O), undefined, 'its sealed push is gone')
    t.equal((await statusOf(cbsa, O)).status, 'delivered', 'while the sender still says the partner gateway received it')

    const us = await startGateway(t, { ...ex.us.config, port: 0, runWorkers: true })
    const pushed = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === R), 15_000, 'the retraction at CBP')
    t.same(pushed.supersedes, supersedes)
    await eventually(async () => ((await us.app.store.findMessage('inbound', R))?.status === 'delivered' ? true : undefined), 15_000, 'the push recorded')
    t.equal(await us.app.relay.runOnce(0), 0, 'nothing is left for the relay to push')
    t.notOk(
      ex.mocks.CBP.received.some((m) => m.id === O),
      'CBP never received the original'
    )
    t.same(
      (await ledger(ex.us.app)).filter((e) => e.messageId === O).map((e) => e.event),
      ['received', 'withdrawn'],
      "the partner's ledger records the original received, then withdrawn"
    )
    const report = await disclosures(t, ex.us.url, 'US', documentOf(original))
    const ofOriginal = report.find((d) => d.messageId === O && d.event === 'received')
    const ofRetraction = report.find((d) => d.messageId === R && d.event === 'received')
    if (t.ok(ofOriginal && ofRetraction, "the partner's report shows the original and its retraction")) {
      t.same(ofOriginal!.supersededBy, { messageId: R, action: 'retract', reason: 'duplicate', seq: ofRetraction!.seq, withdrawn: true, mayHaveArrived: false })
    }
  })

  t.test(`${store}: corrections of the document number itself: a report and a hold by any of the numbers reach every message of the chain`, async (t) => {
    const config = await ledgerConfig(t, store)
    const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, ...config('CA') }))
    const cbsa = client(t, 'CBSA', gw.url)
    const officer = await injectedOfficer(gw.app)
    const delivered = (id: string) =>
      gw.app.store.markDelivered('outbound', id, 'receipt', auditEntry({ event: 'delivered', direction: 'outbound', messageId: id }))
    // O under AA…, corrected by C to BB…, corrected in turn by W to CC…; X, another traveller's, goes at the purge.
    const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
    const { issuingCountry } = documentOf(original)
    const chain: string[] = []
    let previous: Record<string, unknown> | undefined
    for (const number of ['AA1111111', 'BB2222222', 'CC3333333']) {
      const payload = structuredClone(original.payload) as { document: { number: string } }
      payload.document.number = number
      const envelope =
        previous === undefined
          ? { ...original, payload }
          : cbsa.envelope({ ...sameRecord(original), payload, supersedes: { id: String(previous.id), action: 'correct', reason: 'data-error' } })
      t.equal((await send(cbsa, envelope)).status, 202, `${number} accepted`)
      t.ok(await delivered(String(envelope.id)))
      chain.push(String(envelope.id))
      previous = envelope
    }
    const other = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
    t.equal((await send(cbsa, other)).status, 202)
    t.ok(await delivered(String(other.id)))
    const [O, C, W] = chain as [string, string, string]
    const named = (ids: Array<string | null>) => ids.map((id) => ({ [O]: 'O', [C]: 'C', [W]: 'W' })[id ?? ''] ?? id)

    for (const number of ['AA1111111', 'BB2222222', 'CC3333333']) {
      const report = await officer('POST', '/v1/audit/disclosures', { documentNumber: number, issuingCountry })
      const accepted = report.json().disclosures.filter((d: Disclosure) => d.event === 'accepted')
      t.same(named(accepted.map((d: Disclosure) => d.messageId)), ['O', 'C', 'W'], `the report by ${number} shows the original and both corrections`)
      t.same(
        accepted.map((d: Disclosure) => d.supersededBy?.messageId ?? null),
        [C, W, null],
        `by ${number}: each linked to what corrected it`
      )
    }

    const hold = await officer('POST', '/v1/audit/legal-holds', { ref: 'HOLD-CC', reason: 'complaint', documentNumber: 'CC3333333', issuingCountry })
    t.equal(hold.statusCode, 201, 'a hold by the last number', { body: hold.body })
    const byId = await officer('POST', '/v1/audit/legal-holds', { ref: 'HOLD-O', reason: 'litigation', messageId: O })
    t.equal(byId.statusCode, 201, 'and one on the original by its id', { body: byId.body })
    const covering = (await officer('POST', '/v1/audit/disclosures', { documentNumber: 'CC3333333', issuingCountry })).json().holds
    t.same(
      covering.map((h: { ref: string }) => h.ref).sort(),
      ['HOLD-CC', 'HOLD-O'],
      'the report by the last number lists the hold on the original it corrects'
    )
    t.equal((await officer('DELETE', '/v1/audit/legal-holds/HOLD-O')).statusCode, 204)
    const later = Date.now() + 10 * 86_400_000
    t.same(await purgeExpired(gw.app.store, 1, later), { messages: 1, outbox: 0 }, "only the other traveller's message goes")
    for (const [name, id] of [
      ['O', O],
      ['C', C],
      ['W', W]
    ] as const)
      t.ok(await gw.app.store.findMessage('outbound', id), `${name} is held by the hold on the last number`)
    t.equal((await officer('DELETE', '/v1/audit/legal-holds/HOLD-CC')).statusCode, 204)
    t.same(await purgeExpired(gw.app.store, 1, later), { messages: 3, outbox: 0 }, 'released: the chain goes')
    // The ledger is kept whole: the report by the last number still shows the
    // original through its corrections, and so the released hold on it.
    const afterPurge = (await officer('POST', '/v1/audit/disclosures', { documentNumber: 'CC3333333', issuingCountry })).json()
    t.same(
      named(afterPurge.disclosures.filter((d: Disclosure) => d.event === 'accepted').map((d: Disclosure) => d.messageId)),
      ['O', 'C', 'W'],
      'after the purge, the report by the last number still shows the whole chain'
    )
    t.same(
      afterPurge.holds.map((h: { ref: string; releasedAt: string | null }) => [h.ref, h.releasedAt === null]).sort(),
      [
        ['HOLD-CC', false],
        ['HOLD-O', false]
      ],
      'and both holds, released, the one on the original included'
    )
  })

  t.test(`${store}: supersessions the gateway refuses, each with its code, audited, changing nothing`, async (t) => {
    const config = await ledgerConfig(t, store)
    const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, ...config('CA') }))
    const cbsa = client(t, 'CBSA', gw.url)
    const ircc = client(t, 'IRCC', gw.url)
    const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
    const O = String(original.id)
    t.equal((await send(cbsa, original)).status, 202)
    const base = sameRecord(original)

    // The last: an action the contract does not name is not named in the ledger either (only the contract's forms are).
    const cases: Array<[string, AgencyClient, Record<string, unknown>, number, string]> = [
      ['an original this gateway never took', cbsa, { ...base, supersedes: { id: randomUUID(), action: 'correct' } }, 422, 'SUPERSEDES_UNKNOWN'],
      [
        "another system's message",
        ircc,
        { ...sampleEnvelope('biometric.match-request', 'CA', { country: 'US', agency: 'USCIS' }), supersedes: { id: O, action: 'correct' } },
        403,
        'SUPERSEDES_NOT_YOURS'
      ],
      ['another purpose', cbsa, { ...base, purpose: 'removal-enforcement', supersedes: { id: O, action: 'correct' } }, 422, 'SUPERSEDES_MISMATCH'],
      ['another kind', cbsa, { ...sampleEnvelope('entry-exit.batch', 'CA', CBP), supersedes: { id: O, action: 'correct' } }, 422, 'SUPERSEDES_MISMATCH'],
      ['a retraction that carries a record', cbsa, { ...base, supersedes: { id: O, action: 'retract' } }, 422, 'SCHEMA_INVALID'],
      ['an action the contract does not name', cbsa, { ...base, supersedes: { id: O, action: 'delete' } }, 422, 'SCHEMA_INVALID']
    ]
    for (const [what, c, fields, status, code] of cases) {
      const envelope = c.envelope(fields)
      const res = await send(c, envelope)
      t.equal(res.status, status, `${what}: ${status}`)
      t.equal(res.code, code, `${what}: ${code}`)
      t.equal(await gw.app.store.findMessage('outbound', String(envelope.id)), undefined, `${what}: nothing stored`)
      const refused = (await ledger(gw.app)).find((e) => e.messageId === envelope.id)
      t.equal(refused?.event, 'refused', `${what}: audited`)
      t.equal(refused?.code, code)
      const named =
        code === 'SCHEMA_INVALID' && (fields.supersedes as { action: string }).action === 'delete' ? undefined : (fields.supersedes as { id: string }).id
      t.equal(refused?.supersedes?.id, named, `${what}: the entry names the message it would have superseded, in the contract's form only`)
    }
    // The dry run shows what a retraction would disclose (nothing), and changes nothing either.
    const dryRun = await cbsa.call(
      'POST',
      '/v1/policies/dry-run',
      await cbsa.sign(cbsa.envelope({ ...base, payload: {}, supersedes: { id: O, action: 'retract' } })),
      {
        'content-type': 'application/jose',
        authorization: `Bearer ${await cbsa.token()}`
      }
    )
    t.equal(dryRun.status, 200, 'a retraction can be dry-run')
    t.same(dryRun.json<{ decisions: unknown[]; shared: unknown }>().decisions, [], 'it discloses nothing')
    const untouched = await statusOf(cbsa, O)
    t.equal(untouched.status, 'accepted', 'the original is as it was')
    t.same(untouched.supersededBy, null)
    t.ok(await gw.app.store.outboxItem('outbound', O), 'and still waits in the outbox')

    // Two supersessions of one original at once: one wins, the other is refused and leaves nothing behind.
    const retraction = cbsa.envelope({ ...base, payload: {}, supersedes: { id: O, action: 'retract' } })
    const correction = cbsa.envelope({ ...base, supersedes: { id: O, action: 'correct' } })
    const retractionJws = await cbsa.sign(retraction)
    const [a, b] = await Promise.all([cbsa.submit(retractionJws), cbsa.submit(await cbsa.sign(correction))])
    t.same([a.status, b.status].sort(), [202, 409], 'one accepted, one refused')
    const [winner, loser] = a.status === 202 ? [retraction, correction] : [correction, retraction]
    t.equal((a.status === 409 ? a : b).json<{ code: string }>().code, 'SUPERSEDES_CONFLICT')
    t.equal(await gw.app.store.findMessage('outbound', String(loser.id)), undefined, 'the loser is not stored')
    t.equal((await statusOf(cbsa, O)).supersededBy.id, winner.id, 'the original names the winner')
    t.equal((await statusOf(cbsa, O)).status, 'withdrawn', 'and, not yet delivered, is withdrawn')
    t.same(
      (await ledger(gw.app)).filter((e) => e.messageId === O).map((e) => e.event),
      ['accepted', 'withdrawn'],
      'withdrawn once'
    )
    if (winner === retraction) t.equal((await cbsa.submit(retractionJws)).status, 200, 'a repeat of the winner is answered as a repeat')
    const late = await send(cbsa, cbsa.envelope({ ...base, supersedes: { id: O, action: 'correct' } }))
    t.equal(late.status, 409, 'a later one is refused too')
    t.equal(late.code, 'SUPERSEDES_CONFLICT')
    if (winner === retraction) {
      const after = await send(cbsa, cbsa.envelope({ ...base, supersedes: { id: String(retraction.id), action: 'correct' } }))
      t.equal(after.code, 'SUPERSEDES_CONFLICT', 'a retraction is final: it cannot be corrected')
    } else {
      const again = await send(cbsa, cbsa.envelope({ ...base, supersedes: { id: String(correction.id), action: 'correct' } }))
      t.equal(again.status, 202, 'a correction can be corrected in turn')
    }
  })
}

t.test(
  'a correction, and a correction of it, wait for an attempt already under way at the first original, which is then withdrawn: only the last arrives',
  async (t) => {
    const ex = await startExchange(t, (country) => (country === 'CA' ? { runWorkers: false } : {}))
    const cbsa = ex.clients.CBSA
    const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
    const O = String(original.id)
    t.equal((await send(cbsa, original)).status, 202)

    // An attempt under way: a worker holds the original's job (its lock), as
    // deliver-to-partner.ts does while it posts; what it sends may reach the partner.
    const connection = { ...redisOptions(REDIS_URL), maxRetriesPerRequest: null }
    const holder = new Worker(QUEUE_NAMES.outbound, null, {
      connection,
      prefix: ex.ca.config.queuePrefix,
      autorun: false,
      lockDuration: 120_000,
      settings: { backoffStrategy: deliveryBackoff }
    })
    t.teardown(() => holder.close())
    const token = randomUUID()
    const attempt = await holder.getNextJob(token)
    t.equal(attempt?.id, O, 'the original is being sent')

    const payload = structuredClone(original.payload) as { traveller: Record<string, unknown> }
    payload.traveller.givenNames = 'THI HOA'
    const correction = cbsa.envelope({ ...sameRecord(original), payload, supersedes: { id: O, action: 'correct' } })
    const S = String(correction.id)
    t.equal((await send(cbsa, correction)).status, 202)
    t.equal((await statusOf(cbsa, O)).status, 'accepted', 'an original with an attempt under way is not withdrawn under it')

    const events = new QueueEvents(QUEUE_NAMES.outbound, { connection, prefix: ex.ca.config.queuePrefix })
    t.teardown(() => events.close())
    const putOff = new Map<string, number>()
    events.on('delayed', ({ jobId }) => {
      putOff.set(jobId, (putOff.get(jobId) ?? 0) + 1)
    })
    await events.waitUntilReady()
    const ca = await startGateway(t, { ...ex.ca.config, port: 0, runWorkers: true })
    await eventually(() => (putOff.has(S) ? true : undefined), 15_000, 'the correction to wait for the original')
    t.equal((await statusOf(cbsa, S)).status, 'accepted', 'the correction waits while the original may still arrive first')
    t.same((await statusOf(cbsa, S)).attempts, [], 'without spending an attempt')

    // A correction of the correction: the waiting correction is stopped and
    // withdrawn, and the new one waits for the first original in turn, past
    // the withdrawn link between them.
    const recorrection = cbsa.envelope({ ...sameRecord(original), payload, supersedes: { id: S, action: 'correct' } })
    const W = String(recorrection.id)
    t.equal((await send(cbsa, recorrection)).status, 202)
    await eventually(async () => ((await statusOf(cbsa, S)).status === 'withdrawn' ? true : undefined), 15_000, 'the first correction withdrawn')
    // Twice more: one event may be of a wait that began before the withdrawal.
    const before = putOff.get(W) ?? 0
    await eventually(() => ((putOff.get(W) ?? 0) >= before + 2 ? true : undefined), 15_000, 'the second correction to wait for the first original')
    t.equal((await statusOf(cbsa, W)).status, 'accepted', 'it waits while the first original may still arrive first')
    t.same((await statusOf(cbsa, W)).attempts, [], 'without spending an attempt')

    // The attempt fails: its retry finds the original superseded and withdraws it.
    await attempt!.moveToFailed(new Error('the attempt under way failed'), token)
    await eventually(async () => ((await statusOf(cbsa, W)).status === 'delivered' ? true : undefined), 15_000, 'the last correction delivered')
    await eventually(() => ex.mocks.CBP.received.find((m) => m.id === W), 15_000, 'the last correction at CBP')
    t.equal((await statusOf(cbsa, O)).status, 'withdrawn', 'the original is withdrawn')
    t.equal(await ca.app.relay.runOnce(0), 0, 'nothing is left for the relay to send')
    t.notOk(
      ex.mocks.CBP.received.some((m) => m.id === O || m.id === S),
      'CBP never received the original, nor the first correction'
    )
    t.same(
      (await ledger(ex.ca.app)).filter((e) => e.messageId === O).map((e) => e.event),
      ['accepted', 'withdrawn']
    )
  }
)

t.test('an original withdrawn after a failed attempt that may have reached the partner says so: in its status, its ledger entry and the report', async (t) => {
  // A partner (or a proxy before it) that answers 502: whether it kept the message, the sender cannot know.
  const partner = await standInPartner(t, (req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(502, { 'content-type': 'application/problem+json' })
      res.end('{"code":"BAD_GATEWAY"}')
    })
  })
  const ex = await startExchange(t, (country) => (country === 'CA' ? { partnerUrl: partner.url, deliveryBackoffMs: 60_000 } : {}))
  const cbsa = ex.clients.CBSA
  const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
  const O = String(original.id)
  t.equal((await send(cbsa, original)).status, 202)
  await eventually(async () => ((await statusOf(cbsa, O)).attempts.length === 1 ? true : undefined), 15_000, 'a failed attempt: 502')
  const retraction = cbsa.envelope({ ...sameRecord(original), payload: {}, supersedes: { id: O, action: 'retract', reason: 'wrong-traveller' } })
  const R = String(retraction.id)
  t.equal((await send(cbsa, retraction)).status, 202)
  const stopped = await eventually(
    async () => {
      const s = await statusOf(cbsa, O)
      return s.status === 'withdrawn' ? s : undefined
    },
    15_000,
    'the original withdrawn'
  )
  t.equal(stopped.mayHaveArrived, true, 'its status says the failed attempt may have reached the partner')
  const entry = (await ledger(ex.ca.app)).find((e) => e.messageId === O && e.event === 'withdrawn')
  t.same(entry?.counts, { uncertainAttempts: 1 }, 'so does its ledger entry')
  const report = await disclosures(t, ex.ca.url, 'CA', documentOf(original))
  t.match(
    report.find((d) => d.messageId === O && d.event === 'accepted')?.supersededBy,
    { messageId: R, withdrawn: true, mayHaveArrived: true },
    'and the disclosure report: not "stopped before it left"'
  )

  // Which failures may have reached the far side: all but no connection and a refusal.
  t.equal(mayHaveArrived('connect ECONNREFUSED 127.0.0.1:1'), false)
  t.equal(mayHaveArrived('refused with 403 POLICY_DENIED'), false)
  t.equal(mayHaveArrived('partner answered 503 UNKNOWN'), true)
  t.equal(mayHaveArrived('Headers Timeout Error'), true)
  t.equal(mayHaveArrived('other side closed'), true)
  // As recorded: the message of undici's own errors, which do not all name their code.
  const neverConnected = new errors.ConnectTimeoutError('Connect Timeout Error (attempted address: 10.0.0.1:443, timeout: 10000ms)').message
  t.same(failureReason(neverConnected), { code: 'UND_ERR_CONNECT_TIMEOUT', status: null }, "undici's connect timeout is named as such")
  t.equal(mayHaveArrived(neverConnected), false, 'a connection never made carried nothing')
  t.equal(mayHaveArrived(new errors.HeadersTimeoutError().message), true, 'a request sent and unanswered may have arrived')
  t.equal(mayHaveArrived(new errors.BodyTimeoutError().message), true)
})
