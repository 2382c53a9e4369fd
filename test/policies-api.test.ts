// Transparency (P7) and the dry run: GET /v1/policies publishes the policy
// modules as they are applied (the version hash is the one delivered messages
// carry), to any registered caller and nobody else, without leaking code;
// POST /v1/policies/dry-run answers what the gateway would share, and why,
// under the same checks and refusal codes as POST /v1/messages, writing nothing.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import type { FastifyInstance } from 'fastify'
import { KINDS, type Kind } from '../schemas/index.ts'
import { policies } from '../policies/index.ts'
import { kindLeafPaths } from '../policies/lib/schema-paths.ts'
import type { PolicyCatalogue, PublishedKind } from '../policies/catalogue.ts'
import type { Envelope } from '../gateway/pipeline/envelope.ts'
import { entryExitBatch, SAMPLE_ROUTES, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { borderDayRecord, seedHash } from '../sandbox/synthetic-travellers.ts'
import type { AgencyClient, HttpResult } from '../sandbox/agency-client.ts'
import {
  client,
  eventually,
  injectGateway,
  KEYS_DIR,
  sampleOnRoute,
  type SentSample,
  startExchange,
  startGateway,
  testConfig,
  SYSTEMS,
  type SystemName
} from './helper.ts'

const { Agent, request } = undiciModule()
type Agent = InstanceType<typeof Agent>

interface Response {
  readonly status: number
  readonly headers: Record<string, unknown>
  readonly body: string
}

/** A TLS client with the given certificate (or none), trusting the CA gateway's root. */
function agentFor(t: { teardown(fn: () => unknown): void }, cert?: { cert: string; key: string }): Agent {
  const agent = new Agent({ connect: { ca: readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem'), 'utf8'), ...cert } })
  t.teardown(() => agent.close())
  return agent
}

async function get(agent: Agent, url: string, headers: Record<string, string> = {}): Promise<Response> {
  const res = await request(url, { method: 'GET', headers, dispatcher: agent })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

const read = (dir: string) => ({ cert: readFileSync(join(dir, 'client.crt.pem'), 'utf8'), key: readFileSync(join(dir, 'client.key.pem'), 'utf8') })
const PRIVACY_OFFICER = read(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1'))
const PARTNER_GATEWAY = {
  cert: readFileSync(join(KEYS_DIR, 'US', 'gateway.crt.pem'), 'utf8'),
  key: readFileSync(join(KEYS_DIR, 'US', 'gateway.key.pem'), 'utf8')
}

function systemName(country: string, agency: string): SystemName {
  return (Object.keys(SYSTEMS) as SystemName[]).find((n) => SYSTEMS[n].country === country && SYSTEMS[n].agency === agency)!
}

function problemCode(res: { status: number; body: string }): string {
  return (JSON.parse(res.body) as { code: string }).code
}

t.test('the catalogue names the version hash that delivered messages carry, on both sides', async (t) => {
  const ex = await startExchange(t, {}, { CA: 0, US: 0 })
  const catalogues: Record<'CA' | 'US', PolicyCatalogue> = {
    CA: (await ex.clients.CBSA.call('GET', '/v1/policies')).json<PolicyCatalogue>(),
    US: (await ex.clients.CBP.call('GET', '/v1/policies')).json<PolicyCatalogue>()
  }
  t.same(catalogues.US, catalogues.CA, 'both gateways publish the same rules')
  const versionOf = (kind: string): string | undefined => catalogues.CA.kinds.find((k) => k.kind === kind)?.policyVersion

  const sent: Array<SentSample & { kind: Kind; from: AgencyClient; to: SystemName }> = []
  for (const route of SAMPLE_ROUTES) {
    const from = ex.clients[systemName(route.from.country, route.from.agency)]
    const envelope = from.envelope(await sampleOnRoute(ex, route, sent))
    t.equal((await from.submit(await from.sign(envelope))).status, 202, `${route.kind} ${route.from.country}→${route.to.country} accepted`)
    sent.push({ route, envelope, id: String(envelope.id), kind: route.kind, from, to: systemName(route.to.country, route.to.agency) })
  }
  for (const { id, kind, from, to } of sent) {
    const status = await eventually(
      async () => {
        const s = (await from.status(id)).json<{ status: string; policyVersion: string; receipt: { policyVersion: string } | null }>()
        return s.status === 'delivered' ? s : undefined
      },
      15_000,
      `delivery of ${kind} ${id}`
    )
    t.equal(status.policyVersion, versionOf(kind), `${kind}: the sender's record names the published version`)
    t.equal(status.receipt?.policyVersion, versionOf(kind), `${kind}: so does the partner's signed receipt`)
    const received = await eventually(() => ex.mocks[to].received.find((m) => m.id === id), 15_000, `push of ${id}`)
    t.equal(received.policyVersion, versionOf(kind), `${kind}: and the handling block the receiving agency gets`)
  }
})

t.test('GET /v1/policies', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const res = await cbsa.call('GET', '/v1/policies')
  t.equal(res.status, 200, 'an agency system reads it over mTLS, no token needed')
  t.match(String(res.headers['content-type']), /^application\/json/)
  const catalogue = res.json<PolicyCatalogue>()

  await t.test('every kind, with its version hash, purposes, authorities and limits', async (t) => {
    t.same(
      catalogue.kinds.map((k) => k.kind),
      [...KINDS]
    )
    for (const published of catalogue.kinds) {
      const kind = published.kind
      const module = policies[kind]
      t.equal(published.policyVersion, gw.app.policyBook.version(kind), `${kind}: the engine's version hash`)
      t.equal(published.version, module.version, `${kind}: the module's label`)
      t.same(
        published.purposes.map((p) => p.purpose),
        Object.keys(module.purposes),
        `${kind}: every purpose`
      )
      for (const purpose of published.purposes) {
        const source = module.purposes[purpose.purpose]!
        t.same(purpose.legalAuthorities, source.legalAuthorities, `${kind} ${purpose.purpose}: legal authorities (P1)`)
        t.same(purpose.legalAuthoritiesByCountry, source.legalAuthoritiesByCountry, `${kind} ${purpose.purpose}: what each sending country may cite (P1)`)
        for (const direction of ['outbound', 'inbound'] as const) {
          const rules = source[direction]!
          const out = purpose[direction]!
          t.match(
            out,
            {
              recipients: [...rules.recipients],
              retentionDays: rules.retentionDays,
              onwardTransfer: false,
              humanReviewRequired: true
            },
            `${kind} ${purpose.purpose} ${direction}: recipients and the limits that travel`
          )
          t.same(
            out.exclusions,
            (rules.exclusions ?? []).map(({ rule, principle, why }) => ({ rule, principle, why })),
            'exclusions, as rule, principle and why'
          )
          for (const field of out.fields) {
            const rule = rules.fields[field.path]!
            const expected: Record<string, unknown> = { path: field.path, action: rule.action, rule: rule.rule, principle: rule.principle, why: rule.why }
            if (rule.generaliser !== undefined) expected.generaliser = rule.generaliser
            if (rule.condition !== undefined) expected.condition = rule.condition
            if (rule.legalBasis !== undefined) expected.legalBasis = [...rule.legalBasis]
            t.same(field, expected, `${kind} ${purpose.purpose} ${direction} ${field.path}`, { diagnostic: false })
          }
        }
      }
    }
  })

  await t.test('every leaf path of every schema is in the field catalogue, and has a rule in every direction', async (t) => {
    for (const published of catalogue.kinds) {
      const leaves = kindLeafPaths(published.kind)
      t.same(published.fields, [...leaves], `${published.kind}: ${leaves.length} fields`)
      for (const purpose of published.purposes) {
        for (const direction of ['outbound', 'inbound'] as const) {
          const paths = purpose[direction]!.fields.map((f) => f.path)
          t.same(paths, [...leaves], `${published.kind} ${purpose.purpose} ${direction}: one rule per field, in catalogue order`)
        }
      }
    }
  })

  await t.test('the principles are published with it', async (t) => {
    t.same(
      catalogue.principles.map((p) => p.id),
      ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7', 'P8', 'P9', 'P10', 'P11', 'P12']
    )
    t.ok(catalogue.principles.every((p) => p.title.length > 0 && p.gatewayDoes.length > 0))
  })

  await t.test('no function source leaks', async (t) => {
    t.notMatch(res.body, /=>|function|return |objectAt|payload\.|\bwhen\b"|"excludes"/, 'nothing that looks like code')
    for (const kind of KINDS) {
      for (const purpose of Object.values(policies[kind].purposes)) {
        for (const rules of [purpose.outbound!, purpose.inbound!]) {
          for (const rule of Object.values(rules.fields))
            if (rule.when) t.notOk(res.body.includes(rule.when.toString()), `${rule.rule}: condition published as text only`)
          for (const exclusion of rules.exclusions ?? []) t.notOk(res.body.includes(exclusion.excludes.toString()), `${exclusion.rule}: as text only`)
        }
      }
    }
  })

  await t.test('GET /v1/policies/{kind} gives one kind', async (t) => {
    for (const kind of KINDS) {
      const one = await cbsa.call('GET', `/v1/policies/${kind}`)
      t.equal(one.status, 200)
      const { principles, ...published } = one.json<PublishedKind & { principles: unknown }>()
      t.same(
        published,
        catalogue.kinds.find((k) => k.kind === kind),
        `${kind}: as in the whole catalogue`
      )
      t.same(principles, catalogue.principles, `${kind}: with the principles its rules cite`)
    }
    const unknown = await cbsa.call('GET', '/v1/policies/passenger.name-record')
    t.equal(unknown.status, 404)
    t.equal(problemCode(unknown), 'NOT_FOUND')
    const proto = await cbsa.call('GET', '/v1/policies/constructor')
    t.equal(proto.status, 404, 'a kind named like an Object.prototype member is just unknown')
  })

  await t.test('built once: the same bytes, with an entity tag for revalidation', async (t) => {
    const again = await cbsa.call('GET', '/v1/policies')
    t.equal(again.body, res.body)
    t.ok(res.headers.etag, 'an ETag')
    const notModified = await cbsa.call('GET', '/v1/policies', undefined, { 'if-none-match': String(res.headers.etag) })
    t.equal(notModified.status, 304)
    t.equal(notModified.body, '')
  })

  await t.test('any registered caller may read it: agency, privacy officer, partner gateway', async (t) => {
    for (const [who, cert] of [
      ['privacy officer', PRIVACY_OFFICER],
      ['partner gateway', PARTNER_GATEWAY]
    ] as const) {
      const agent = agentFor(t, cert)
      const whole = await get(agent, `${gw.url}/v1/policies`)
      t.equal(whole.status, 200, `${who}: the catalogue`)
      t.equal(whole.body, res.body)
      t.equal((await get(agent, `${gw.url}/v1/policies/entry-exit.record`)).status, 200, `${who}: one kind`)
    }
  })

  await t.test('without a registered client certificate: UNAUTHENTICATED', async (t) => {
    const anonymous = agentFor(t)
    for (const path of ['/v1/policies', '/v1/policies/entry-exit.record']) {
      const refused = await get(anonymous, `${gw.url}${path}`)
      t.equal(refused.status, 401, `${path}: 401`)
      t.match(String(refused.headers['content-type']), /^application\/problem\+json/)
      t.equal(problemCode(refused), 'UNAUTHENTICATED')
    }
    // A certificate that chains to a trusted root but is not registered here:
    // the partner country's agency system.
    const foreign = agentFor(t, read(join(KEYS_DIR, 'US', 'agencies', 'CBP-ades')))
    const refused = await get(foreign, `${gw.url}/v1/policies`)
    t.equal(refused.status, 401)
    t.equal(problemCode(refused), 'UNAUTHENTICATED')
  })
})

t.test('POST /v1/policies/dry-run', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const ircc = client(t, 'IRCC', gw.url)
  const catalogue = (await cbsa.call('GET', '/v1/policies')).json<PolicyCatalogue>()
  const dryRun = async (who: AgencyClient, jws: string, contentType = 'application/jose'): Promise<HttpResult> =>
    who.call('POST', '/v1/policies/dry-run', jws, { 'content-type': contentType, authorization: `Bearer ${await who.token()}` })
  const entryExit = (overrides: Record<string, unknown> = {}): Record<string, unknown> =>
    cbsa.envelope({ ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }), ...overrides })

  interface DryRun {
    id: string
    kind: string
    purpose: string
    policy: { id: string; version: string }
    handling: { retentionDays: number; onwardTransfer: boolean; humanReviewRequired: boolean }
    decisions: Array<{ path: string; action: string; rule: string; principle: string; why: string; condition?: string }>
    shared: Record<string, unknown>
  }

  const snapshot = async (app: FastifyInstance) => ({
    audit: (await app.store.auditEntries(0, 100_000)).length,
    outbox: (await app.store.pendingOutbox(new Date(Date.now() + 86_400_000).toISOString(), 1000)).length,
    outboundJobs: await app.queues.queue('outbound').getJobCounts(),
    inboundJobs: await app.queues.queue('inbound').getJobCounts()
  })
  const before = await snapshot(gw.app)
  const triedIds: string[] = []
  const tried: string[] = []

  await t.test('answers the decisions, their reasons and the payload that would be sent', async (t) => {
    const envelope = entryExit()
    const jws = await cbsa.sign(envelope)
    tried.push(jws)
    triedIds.push(String(envelope.id))
    const res = await dryRun(cbsa, jws)
    t.equal(res.status, 200, res.body)
    const body = res.json<DryRun>()
    const published = catalogue.kinds.find((k) => k.kind === 'entry-exit.record')!
    const rules = published.purposes.find((p) => p.purpose === envelope.purpose)!.outbound!
    t.match(body, {
      id: envelope.id,
      kind: 'entry-exit.record',
      purpose: envelope.purpose,
      policy: { id: `entry-exit.record/${String(envelope.purpose)}/outbound`, version: published.policyVersion },
      handling: { retentionDays: rules.retentionDays, onwardTransfer: false, humanReviewRequired: true }
    })
    const plate = body.decisions.find((d) => d.path === 'vehicle.licencePlate')
    const published_plate = rules.fields.find((f) => f.path === 'vehicle.licencePlate')!
    t.same(
      plate,
      { path: 'vehicle.licencePlate', action: 'withhold', rule: published_plate.rule, principle: 'P2', why: published_plate.why },
      'the licence plate is withheld, and the answer says by which rule and why'
    )
    t.ok(
      body.decisions.every((d) => !('digest' in d)),
      'no value digests: they are for the ledger only'
    )
    t.ok(
      body.decisions.every((d) => d.why.length > 0 && /^P\d+$/.test(d.principle)),
      'every decision has its reason and principle'
    )
    t.ok(
      body.decisions
        .filter((d) => d.path.startsWith('traveller.') && d.action === 'share')
        .every((d) => d.condition === published.purposes[0]!.outbound!.fields.find((f) => f.path === 'traveller.surname')!.condition),
      'conditions come as their published text'
    )
    for (const field of ['vehicle', 'photoRef', 'coTravellers', 'address', 'inspectionNotes', 'source'])
      t.notOk(field in body.shared, `${field} would not be shared`)
    const expected = gw.app.policyBook.apply(gw.app.policyBook.select(envelope as unknown as Envelope, 'outbound'), envelope.payload as Record<string, unknown>)
    t.same(body.shared, expected.payload, 'exactly the payload /v1/messages would send')
    t.same(
      body.decisions.map((d) => `${d.path} ${d.action} ${d.rule}`),
      expected.decisions.map((d) => `${d.path} ${d.action} ${d.rule}`)
    )
  })

  await t.test('shows generalised fields and category conditions', async (t) => {
    const residency = entryExit({ purpose: 'residency-determination', legalAuthority: 'IRPA-28', to: { country: 'US', agency: 'USCIS' } })
    const jws = await cbsa.sign(residency)
    tried.push(jws)
    triedIds.push(String(residency.id))
    const body = (await dryRun(cbsa, jws)).json<DryRun>()
    t.match(
      body.decisions.find((d) => d.path === 'crossing.dateTime'),
      { action: 'generalise' }
    )
    t.match((body.shared.crossing as Record<string, unknown>).dateTime, /^\d{4}-\d{2}-\d{2}$/, 'residency counts days: the date only')

    const response = ircc.envelope({ ...sampleEnvelope('biometric.match-response', 'CA', { country: 'US', agency: 'USCIS' }) })
    const payload = response.payload as Record<string, unknown>
    payload.subject = { ...(payload.subject as object), subjectCategory: 'us-lawful-permanent-resident' }
    const responseJws = await ircc.sign(response)
    tried.push(responseJws)
    triedIds.push(String(response.id))
    const answer = await dryRun(ircc, responseJws)
    t.equal(answer.status, 200, answer.body)
    const decisions = answer.json<DryRun>().decisions.filter((d) => d.path.startsWith('subject.identity.'))
    t.ok(
      decisions.length > 0 && decisions.every((d) => d.action === 'withhold' && d.condition?.includes('CA-US-Visa-Immigration-Info-Sharing-Agreement-2012')),
      'identity about a U.S. permanent resident is withheld, and the condition cites the agreement'
    )
    t.notOk('identity' in (answer.json<DryRun>().shared.subject as object))
  })

  await t.test('an air exit record: POLICY_DENIED, as /v1/messages would answer', async (t) => {
    const base = entryExit()
    const air: Record<string, unknown> = {
      ...base,
      payload: {
        ...(base.payload as object),
        recordType: 'exit',
        crossing: { ...((base.payload as Record<string, unknown>).crossing as object), travelMode: 'air' }
      }
    }
    const jws = await cbsa.sign(air)
    tried.push(jws)
    triedIds.push(String(air.id))
    const res = await dryRun(cbsa, jws)
    t.equal(res.status, 403)
    t.equal(problemCode(res), 'POLICY_DENIED')
    t.match(JSON.parse(res.body).detail, /air-exit/)
  })

  await t.test('only agency systems with a bound token', async (t) => {
    const jws = await cbsa.sign(entryExit())
    const noToken = await cbsa.call('POST', '/v1/policies/dry-run', jws, { 'content-type': 'application/jose' })
    t.equal(noToken.status, 401)
    t.equal(problemCode(noToken), 'UNAUTHENTICATED')
    const stolen = await ircc.call('POST', '/v1/policies/dry-run', jws, { 'content-type': 'application/jose', authorization: `Bearer ${await cbsa.token()}` })
    t.equal(problemCode(stolen), 'TOKEN_CERT_MISMATCH')
    const officer = await request(`${gw.url}/v1/policies/dry-run`, {
      method: 'POST',
      body: jws,
      headers: { 'content-type': 'application/jose' },
      dispatcher: agentFor(t, PRIVACY_OFFICER)
    })
    t.equal(officer.statusCode, 403)
    t.equal(problemCode({ status: officer.statusCode, body: await officer.body.text() }), 'FORBIDDEN')
    const anonymous = await request(`${gw.url}/v1/policies/dry-run`, {
      method: 'POST',
      body: jws,
      headers: { 'content-type': 'application/jose' },
      dispatcher: agentFor(t)
    })
    t.equal(anonymous.statusCode, 401)
    await anonymous.body.text()
    const json = await dryRun(cbsa, JSON.stringify(entryExit()), 'application/json')
    t.equal(json.status, 415)
    t.equal(problemCode(json), 'UNSUPPORTED_MEDIA_TYPE')
  })

  await t.test('wrote nothing: no message, no outbox item, no job, no audit entry', async (t) => {
    t.same(await snapshot(gw.app), before, 'ledger, outbox and queues as they were')
    for (const id of triedIds) t.equal(await gw.app.store.findMessage('outbound', id), undefined, `no message ${id}`)
    // The same bytes are a first submission for /v1/messages, not a repeat.
    const res = await cbsa.submit(tried[0]!)
    t.equal(res.status, 202, 'the dry-run message is then accepted as new')
  })

  await t.test('refuses with the same codes as /v1/messages', async (t) => {
    const stale = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const cases: Array<[string, AgencyClient, () => Promise<string>]> = [
      ['a legal authority the policy does not accept', cbsa, () => cbsa.sign(entryExit({ legalAuthority: 'PATRIOT-Act-215' }))],
      ['a recipient outside the policy', cbsa, () => cbsa.sign(entryExit({ to: { country: 'US', agency: 'DOS' } }))],
      [
        'a kind the system may not send',
        cbsa,
        () => cbsa.sign(cbsa.envelope(sampleEnvelope('biometric.match-request', 'CA', { country: 'US', agency: 'USCIS' })))
      ],
      ['another sender', cbsa, async () => cbsa.sign({ ...entryExit(), from: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' } })],
      ['a recipient in its own country (the envelope schema refuses it)', cbsa, () => cbsa.sign(entryExit({ to: { country: 'CA', agency: 'IRCC' } }))],
      ['an old message', cbsa, () => cbsa.sign(entryExit({ createdAt: stale }))],
      ['a schema violation', cbsa, () => cbsa.sign(entryExit({ payload: { recordType: 'entry' } }))],
      ["a signature by another system's key", cbsa, () => ircc.sign(entryExit())],
      ['not a JWS', cbsa, async () => 'not-a-jws']
    ]
    for (const [what, who, make] of cases) {
      const jws = await make()
      const dry = await dryRun(who, jws)
      const real = await who.submit(jws)
      t.ok(dry.status >= 400, `${what}: refused (${dry.status} ${problemCode(dry)})`)
      t.same([dry.status, problemCode(dry)], [real.status, problemCode(real)], `${what}: same status and code`)
    }
  })
})

t.test('a large dry run is prepared on a pipeline thread, as a large submission is, not on the event loop', async (t) => {
  // A 5,000-record batch held the event loop for 300 to 450 ms in a dry run
  // (a body of escaped member names, for 600 ms) while every other
  // request, and the partner's deliveries, waited behind it.
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, pipelineThreads: 1 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const day = { seed: seedHash('dry-run-thread'), recordedBy: 'CA' as const, date: '2026-11-30', count: 5000 }
  const envelope = cbsa.envelope(
    entryExitBatch(
      'SYN-EE-CA-20261130-00001',
      Array.from({ length: 5000 }, (_, i) => borderDayRecord(day, i))
    )
  )
  const jws = await cbsa.sign(envelope)
  const dryRun = (body: string) =>
    cbsa.token().then((token) => cbsa.call('POST', '/v1/policies/dry-run', body, { 'content-type': 'application/jose', authorization: `Bearer ${token}` }))
  const before = gw.app.pipeline.counts.worker
  const res = await dryRun(jws)
  t.equal(res.status, 200, res.body.slice(0, 200))
  t.equal(gw.app.pipeline.counts.worker, before + 1, 'prepared on a pipeline thread')
  const answer = res.json<{ id: string; policy: { id: string }; decisions: unknown[]; shared: { records: unknown[] } }>()
  t.equal(answer.id, envelope.id)
  t.equal(answer.policy.id, 'entry-exit.batch/entry-exit-verification/outbound')
  t.equal(answer.shared.records.length, 5000, 'what would be shared, every record')
  t.ok(answer.decisions.length > 0, 'and why')
  // A refusal on the thread is the refusal it was on the event loop.
  const tampered = `${jws.slice(0, jws.lastIndexOf('.'))}.${'A'.repeat(86)}`
  const refused = await dryRun(tampered)
  t.same([refused.status, refused.json<{ code: string }>().code], [400, 'JWS_SIGNATURE_INVALID'], 'a refusal keeps its code')
  t.equal(gw.app.pipeline.counts.worker, before + 2)
  t.equal(await gw.app.store.findMessage('outbound', String(envelope.id)), undefined, 'a dry run keeps nothing')
})
