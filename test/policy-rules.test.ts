// Every limit of the domain (DOMAIN.md) as a rule the engine enforces, proved
// on the schemas' own realistic examples through the same PolicyBook the
// gateway uses: select by (kind, purpose, direction, recipient), then apply.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { KINDS, listExamples, type Kind } from '../schemas/index.ts'
import { policies } from '../policies/index.ts'
import type { Direction, DirectionPolicy } from '../policies/lib/types.ts'
import { exclusionFor, type MinimisedPayload } from '../policies/lib/engine.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import { MessageValidator } from '../gateway/pipeline/validate-message.ts'
import type { Envelope, ForwardedEnvelope } from '../gateway/pipeline/envelope.ts'
import { SAMPLE_ROUTES, sampleAnswer, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, injectGateway, testConfig, SYSTEMS, type SystemName } from './helper.ts'
import { requestReceived } from './lib/partner-delivery.ts'

const book = new PolicyBook(randomBytes(32), randomBytes(32))
const validator = new MessageValidator()

const AGENCY_COUNTRY: Readonly<Record<string, 'CA' | 'US'>> = {
  CBSA: 'CA',
  IRCC: 'CA',
  RCMP: 'CA',
  CBP: 'US',
  USCIS: 'US',
  'DHS-OBIM': 'US',
  DOS: 'US'
}
const CATEGORIES = [
  'third-country-national',
  'protected-person',
  'ca-citizen',
  'us-citizen',
  'ca-permanent-resident',
  'us-lawful-permanent-resident',
  'registered-indian'
] as const
const NOT_DISCLOSABLE = ['ca-citizen', 'ca-permanent-resident', 'us-citizen', 'us-lawful-permanent-resident', 'registered-indian'] as const

function example(kind: Kind, name: string): Envelope {
  const found = listExamples(kind).find((e) => e.name === name)
  if (found === undefined) throw new Error(`no example ${kind}/${name}`)
  return structuredClone(found.envelope) as Envelope
}

function validExamples(kind: Kind): Array<{ name: string; envelope: Envelope }> {
  return listExamples(kind)
    .filter((e) => e.valid)
    .map((e) => ({ name: e.name, envelope: structuredClone(e.envelope) as Envelope }))
}

/** The same record sent under another purpose of its kind: the first legal authority its sender may cite, a recipient in the receiving country. */
function under(envelope: Envelope, purpose: string): Envelope {
  const purposePolicy = policies[envelope.kind as Kind].purposes[purpose]!
  const agency = purposePolicy.outbound!.recipients.find((a) => AGENCY_COUNTRY[a] === envelope.to.country)!
  return {
    ...envelope,
    purpose,
    legalAuthority: purposePolicy.legalAuthoritiesByCountry[envelope.from.country][0]!,
    agreementRef: purposePolicy.agreementRefs[0]!,
    to: { ...envelope.to, agency }
  }
}

/** Every purpose of the envelope's kind. */
/** The envelope under every purpose of its kind but those its designations are not for (refused, and tested so, on their own). */
function everyPurpose(envelope: Envelope): Envelope[] {
  return (
    Object.keys(policies[envelope.kind as Kind].purposes)
      .map((purpose) => under(envelope, purpose))
      // Not under a purpose the message is not for: a designation of the other
      // type, a visa query under asylum-claim (each refused whole, tested below).
      .filter(
        (sent) => !/-(designation|encounter)-type$/.test(exclusionFor(policies[sent.kind as Kind].purposes[sent.purpose]!.outbound!, sent.payload)?.rule ?? '')
      )
  )
}

function withPayload(envelope: Envelope, payload: Record<string, unknown>): Envelope {
  return { ...envelope, payload }
}

/** What the sending gateway sends, and what the receiving gateway then delivers to its agency. */
function exchange(envelope: Envelope): Record<Direction, MinimisedPayload> {
  const outbound = book.apply(book.select(envelope, 'outbound'), envelope.payload)
  const inbound = book.apply(book.select(envelope, 'inbound'), outbound.payload)
  return { outbound, inbound }
}

/** Concrete leaf paths of a payload, with `[]` for array items: `fingerprints[].position`. */
function sharedPaths(value: unknown, path = ''): Set<string> {
  const out = new Set<string>()
  const walk = (v: unknown, p: string): void => {
    if (Array.isArray(v)) v.forEach((item) => walk(item, `${p}[]`))
    else if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, p === '' ? k : `${p}.${k}`)
    else out.add(p)
  }
  walk(value, path)
  return out
}

function directionPolicies(kind: Kind): Array<{ label: string; purpose: string; direction: Direction; policy: DirectionPolicy }> {
  return Object.entries(policies[kind].purposes).flatMap(([purpose, p]) =>
    (['outbound', 'inbound'] as const).flatMap((direction) => {
      const policy = p[direction]
      return policy === undefined ? [] : [{ label: `${kind} ${purpose} ${direction}`, purpose, direction, policy }]
    })
  )
}

t.test('a biometric match request carries prints, the encounter type and a pseudonymous reference: nothing biographic', async (t) => {
  // An agency system that tries to add a name or a date of birth is refused by the schema.
  for (const name of ['invalid-name-in-request', 'invalid-date-of-birth-in-request']) {
    t.throws(() => validator.envelope(example('biometric.match-request', name)), { code: 'SCHEMA_INVALID' }, `${name}: refused by the schema`)
  }
  // The policy names nothing else.
  const allowed = (path: string): boolean => path.startsWith('fingerprints[].') || path === 'encounterType' || path === 'transactionRef'
  for (const { label, policy } of directionPolicies('biometric.match-request')) {
    const released = Object.entries(policy.fields)
      .filter(([, rule]) => rule.action !== 'withhold')
      .map(([path]) => path)
    t.same(
      released.filter((path) => !allowed(path)),
      [],
      `${label}: releases only print and transaction fields`
    )
  }
  for (const { name, envelope } of validExamples('biometric.match-request')) {
    for (const sent of everyPurpose(envelope)) {
      const { outbound, inbound } = exchange(sent)
      t.same(
        [...sharedPaths(outbound.payload)].filter((p) => !allowed(p)),
        [],
        `${name} ${sent.purpose}: nothing biographic leaves`
      )
      t.notOk('capturedAt' in outbound.payload, `${name}: the capture time stays`)
      t.match(outbound.payload.transactionRef, /^ps1:/, `${name}: the case reference leaves as a pseudonym`)
      t.not(outbound.payload.transactionRef, envelope.payload.transactionRef)
      t.same(inbound.payload, outbound.payload, `${name}: the receiving side delivers what it got`)
    }
  }
  // Even if biographic fields got past the schema, no rule names them: withheld by default.
  const smuggled = example('biometric.match-request', 'valid-visa-application-ca-to-us')
  const payload = { ...smuggled.payload, surname: 'OKONKWO', dateOfBirth: '1988-07-14', traveller: { givenNames: 'CHINEDU' } }
  const { payload: out, decisions } = book.apply(book.select(smuggled, 'outbound'), payload)
  for (const path of ['surname', 'dateOfBirth', 'traveller.givenNames']) {
    t.notOk(sharedPaths(out).has(path), `a smuggled ${path} does not leave`)
    t.match(
      decisions.find((d) => d.path === path),
      { action: 'withhold', rule: 'default-deny', principle: 'P2' }
    )
  }
})

t.test('the biometric query is kept by the matching side only until matched', async (t) => {
  for (const { label, policy } of directionPolicies('biometric.match-request')) {
    t.equal(policy.retentionDays, 0, `${label}: deleted once matched, match or not (P5)`)
  }
})

t.test('a biometric match response discloses identity only on MATCH, and never about citizens or permanent residents of either country', async (t) => {
  const base = example('biometric.match-response', 'valid-match-third-country-national')
  const identityOf = (paths: Set<string>): string[] => [...paths].filter((p) => /^subject\.(identity|document|immigrationHistory)/.test(p))

  for (const category of CATEGORIES) {
    const envelope = withPayload(base, { ...base.payload, subject: { ...(base.payload.subject as object), subjectCategory: category } })
    t.doesNotThrow(() => validator.envelope(envelope), `${category}: a valid response`)
    for (const sent of everyPurpose(envelope)) {
      const { outbound, inbound } = exchange(sent)
      for (const [direction, result] of Object.entries({ outbound, inbound })) {
        const shared = sharedPaths(result.payload)
        const where = `${category} ${sent.purpose} ${direction}`
        t.equal(result.payload.result, 'MATCH', `${where}: the answer travels`)
        // A citizen's, a permanent resident's or a registered Indian's category would say their citizenship or status: all go as one value.
        const shown = (NOT_DISCLOSABLE as readonly string[]).includes(category) ? 'not-disclosable' : category
        t.equal(
          (result.payload.subject as Record<string, unknown>)?.subjectCategory,
          shown,
          `${where}: the category says why identity may be absent, as ${shown}`
        )
        if ((NOT_DISCLOSABLE as readonly string[]).includes(category)) {
          t.same(identityOf(shared), [], `${where}: no identity, document or history`)
        } else {
          t.ok(
            shared.has('subject.identity.surname') && shared.has('subject.document.number') && shared.has('subject.immigrationHistory[].category'),
            `${where}: identity, document and history categories are disclosed`
          )
        }
        t.notOk(shared.has('subject.officerNotes') || shared.has('subject.matchScore'), `${where}: never notes or scores`)
      }
    }
  }

  // The example of a U.S. citizen, as an agency system would send it.
  const citizen = example('biometric.match-response', 'valid-match-us-citizen')
  t.same(identityOf(sharedPaths(exchange(citizen).outbound.payload)), [], 'the U.S. citizen example leaves without identity')

  // NO_MATCH and ERROR carry no subject: the schema refuses one, and no rule would share it.
  t.throws(() => validator.envelope(example('biometric.match-response', 'invalid-subject-without-match')), { code: 'SCHEMA_INVALID' })
  for (const name of ['valid-no-match', 'valid-error-insufficient-quality']) {
    const { outbound } = exchange(example('biometric.match-response', name))
    t.notOk('subject' in outbound.payload, `${name}: no subject`)
    const forced = withPayload(base, { ...base.payload, result: name === 'valid-no-match' ? 'NO_MATCH' : 'ERROR' })
    t.same(
      identityOf(sharedPaths(book.apply(book.select(forced, 'outbound'), forced.payload).payload)),
      [],
      `${name}: a subject sent without a MATCH would be withheld too`
    )
  }

  // The branch is on subject category and cites the law behind it (P6).
  for (const { label, policy } of directionPolicies('biometric.match-response')) {
    const surname = policy.fields['subject.identity.surname']!
    t.ok((surname.legalBasis ?? []).length > 0, `${label}: the category rule names its legal basis`)
    for (const basis of surname.legalBasis ?? []) t.ok(surname.condition?.includes(basis), `${label}: the condition text cites ${basis}`)
  }
})

t.test('a match result always demands human review', async (t) => {
  for (const { label, policy } of directionPolicies('biometric.match-response')) {
    t.equal(policy.humanReviewRequired, true, `${label}: humanReviewRequired (P10)`)
    t.match(policy.fields.humanReviewRequired, { action: 'share', principle: 'P10' }, `${label}: the payload flag is shared`)
    t.equal(policy.fields['subject.matchScore']?.action, 'withhold', `${label}: no score to automate on`)
  }
  t.throws(
    () => validator.envelope(example('biometric.match-response', 'invalid-human-review-not-required')),
    { code: 'SCHEMA_INVALID' },
    'a response saying no review is needed is refused'
  )
  for (const { name, envelope } of validExamples('biometric.match-response')) {
    for (const sent of everyPurpose(envelope)) {
      const { outbound, inbound } = exchange(sent)
      t.equal(outbound.payload.humanReviewRequired, true, `${name} ${sent.purpose}: sent with humanReviewRequired`)
      t.equal(inbound.payload.humanReviewRequired, true, `${name} ${sent.purpose}: delivered with humanReviewRequired`)
    }
  }
})

t.test('a risk assessment travels as pass or fail, with its agency and month, never its reasons', async (t) => {
  const revoked = example('traveller.designation', 'valid-nexus-revoked-us-to-ca')
  t.ok((revoked.payload.riskAssessment as { reasons?: unknown[] }).reasons?.length, 'the example holds reasons')
  for (const { name, envelope } of validExamples('traveller.designation')) {
    for (const sent of everyPurpose(envelope)) {
      const { outbound, inbound } = exchange(sent)
      const assessment = envelope.payload.riskAssessment as Record<string, string>
      for (const [direction, result] of Object.entries({ outbound, inbound })) {
        const where = `${name} ${sent.purpose} ${direction}`
        t.same(
          result.payload.riskAssessment,
          { outcome: assessment.outcome, agency: assessment.agency, assessedOn: assessment.assessedOn!.slice(0, 7) },
          `${where}: outcome, agency and month only`
        )
        const reasons = result.decisions.filter((d) => d.path.startsWith('riskAssessment.reasons'))
        if (direction === 'outbound') {
          const count = reasons.reduce((n, d) => n + (d.count ?? 1), 0)
          t.equal(count, (assessment as { reasons?: unknown[] }).reasons?.length ?? 0, `${where}: every reason decided (one decision counting them)`)
          t.ok(
            reasons.every((d) => d.action === 'withhold' && d.rule.endsWith('-risk-assessment-reasons')),
            `${where}: each withheld by its rule`
          )
        }
      }
    }
  }
})

t.test(
  'an entry/exit record never carries the vehicle, plates, photo, address, notes, co-travellers, how it was collected, a subject category or a port name',
  async (t) => {
    // A subject category and a port's name are not in the agreed set either: the
    // first says who a refugee or a Registered Indian is, the second is free text.
    const never = [
      'vehicle.licencePlate',
      'vehicle.make',
      'photoRef',
      'coTravellers[]',
      'address',
      'inspectionNotes',
      'source',
      'traveller.subjectCategory',
      'crossing.portName'
    ]
    const agreed = [
      'recordType',
      'traveller.surname',
      'traveller.givenNames',
      'traveller.dateOfBirth',
      'traveller.sex',
      'traveller.citizenship',
      'document.type',
      'document.issuingCountry',
      'document.number',
      'crossing.dateTime',
      'crossing.portCode',
      'crossing.travelMode'
    ]
    t.throws(
      () => validator.envelope(example('entry-exit.record', 'invalid-fingerprints-in-record')),
      { code: 'SCHEMA_INVALID' },
      'fingerprints are refused by the schema'
    )
    const land = example('entry-exit.record', 'valid-land-entry-ca-to-us')
    t.ok(
      never.every((path) => path.split('.')[0]!.replace('[]', '') in land.payload),
      'the example holds every one of them'
    )
    for (const kind of ['entry-exit.record', 'entry-exit.batch'] as const) {
      const prefix = kind === 'entry-exit.batch' ? 'records[].' : ''
      for (const { name, envelope } of validExamples(kind)) {
        for (const sent of everyPurpose(envelope)) {
          const { outbound, inbound } = exchange(sent)
          for (const [direction, result] of Object.entries({ outbound, inbound })) {
            const shared = sharedPaths(result.payload)
            t.same(
              never.map((p) => prefix + p).filter((p) => [...shared].some((s) => s === p || s.startsWith(`${p}.`))),
              [],
              `${kind} ${name} ${sent.purpose} ${direction}: none of them`
            )
            t.ok(
              agreed.every((p) => shared.has(prefix + p)),
              `${kind} ${name} ${sent.purpose} ${direction}: the agreed data set travels`
            )
          }
        }
      }
    }
    // The whole record, under the verification purpose, is exactly the agreed set.
    const { outbound } = exchange(land)
    t.same([...sharedPaths(outbound.payload)].sort(), [...agreed, 'traveller.middleNames'].sort())
  }
)

t.test("a retraction's empty payload is never excluded: every kind, purpose and direction can be retracted (P8)", async (t) => {
  for (const [kind, policy] of Object.entries(policies)) {
    for (const [purpose, rules] of Object.entries(policy.purposes)) {
      for (const direction of ['outbound', 'inbound'] as const) {
        const rule = rules[direction]
        if (rule !== undefined) t.equal(exclusionFor(rule, {})?.rule, undefined, `${kind} ${purpose} ${direction}`)
      }
    }
  }
})

t.test('an asylum-claim match request is for a protection claim: a visa, permit or travel-authorisation query under it is refused whole', async (t) => {
  const request = example('biometric.match-request', 'valid-visa-application-ca-to-us')
  for (const [encounterType, refused] of [
    ['visa-application', true],
    ['work-permit', true],
    ['study-permit', true],
    ['travel-authorisation', true],
    ['asylum-claim', false],
    ['port-of-entry-examination', false]
  ] as const) {
    for (const direction of ['outbound', 'inbound'] as const) {
      const policy = policies['biometric.match-request'].purposes['asylum-claim']![direction]!
      t.equal(
        exclusionFor(policy, { ...request.payload, encounterType })?.rule === 'bmq-ac-encounter-type',
        refused,
        `${encounterType} ${direction}: ${refused ? 'refused' : 'taken'}`
      )
    }
    const examination = policies['biometric.match-request'].purposes['immigration-examination']!.outbound!
    t.equal(exclusionFor(examination, { ...request.payload, encounterType }), undefined, `${encounterType}: taken for immigration examination`)
  }
})

t.test("a designation never tells the partner the traveller's subject category (a refugee, a protected person, a Registered Indian)", async (t) => {
  for (const kind of ['traveller.designation', 'traveller.designation-batch'] as const) {
    const prefix = kind === 'traveller.designation-batch' ? 'designations[].' : ''
    for (const { name, envelope } of validExamples(kind)) {
      for (const sent of everyPurpose(envelope)) {
        const { outbound, inbound } = exchange(sent)
        for (const [direction, result] of Object.entries({ outbound, inbound })) {
          t.notOk(sharedPaths(result.payload).has(`${prefix}traveller.subjectCategory`), `${kind} ${name} ${sent.purpose} ${direction}: withheld`)
        }
      }
    }
  }
})

t.test("a batch's own reference leaves as a pseudonym: the sender's free text, which a name and a date of birth fit, never travels", async (t) => {
  for (const kind of ['entry-exit.batch', 'traveller.designation-batch'] as const) {
    for (const { name, envelope } of validExamples(kind)) {
      for (const sent of everyPurpose(envelope)) {
        const { outbound, inbound } = exchange(sent)
        const reference = (sent.payload as { batchRef: string }).batchRef
        const where = `${kind} ${name} ${sent.purpose}`
        t.match(outbound.payload.batchRef, /^ps1:/, `${where}: a pseudonym leaves`)
        t.not(outbound.payload.batchRef, reference, `${where}: not the reference`)
        t.equal(inbound.payload.batchRef, outbound.payload.batchRef, `${where}: and arrives as it left`)
      }
    }
  }
})

t.test(
  'a designation travels only for the purpose it is for: a business designation is no trusted-traveller vetting, nor a membership a business facilitation',
  async (t) => {
    const membership = example('traveller.designation', 'valid-nexus-approved-ca-to-us')
    const permit = example('traveller.designation', 'valid-work-permit-by-document')
    for (const [what, envelope, purpose] of [
      ['a work permit sent for trusted-traveller vetting', permit, 'trusted-traveller-vetting'],
      ['a NEXUS membership sent for business-traveller facilitation', membership, 'business-traveller-facilitation']
    ] as const) {
      const sent = under(envelope, purpose)
      for (const direction of ['outbound', 'inbound'] as const) {
        t.throws(
          () => book.apply(book.select(sent, direction), sent.payload),
          { code: 'POLICY_DENIED', message: /designation-type \(P2\)/ },
          `${what}, ${direction}: POLICY_DENIED, naming the rule`
        )
      }
    }
    const roster = example('traveller.designation-batch', 'valid-nexus-roster-ca-to-us')
    const designations = roster.payload.designations as Array<Record<string, unknown>>
    const mixed = withPayload(roster, { ...roster.payload, designations: [...designations, { ...designations[0], designationType: 'work-permit' }] })
    t.throws(() => exchange(mixed), { code: 'POLICY_DENIED' }, 'one business designation refuses a vetting roster')
    t.doesNotThrow(() => exchange(roster), 'the same roster without it goes')
    t.doesNotThrow(() => exchange(permit), 'a work permit goes for business-traveller facilitation')
  }
)

t.test("a match response whose transactionRef is not the request's pseudonym (the responding agency's own case number) is refused whole", async (t) => {
  const response = example('biometric.match-response', 'valid-match-third-country-national')
  const ownReference = withPayload(response, { ...response.payload, transactionRef: 'IDENT-FIN-2026-0000417' })
  t.doesNotThrow(() => validator.envelope(ownReference), 'a valid response')
  for (const sent of everyPurpose(ownReference)) {
    for (const direction of ['outbound', 'inbound'] as const) {
      t.throws(
        () => book.apply(book.select(sent, direction), sent.payload),
        { code: 'POLICY_DENIED', message: /transaction-ref-not-echoed \(P2\)/ },
        `${sent.purpose} ${direction}: POLICY_DENIED, naming the rule`
      )
    }
  }
  t.match(exchange(response).outbound.payload.transactionRef, /^ps1:/, 'the pseudonym the request arrived with is echoed')
})

t.test('an air exit record is refused whole, alone or in a batch', async (t) => {
  const land = example('entry-exit.record', 'valid-land-entry-ca-to-us')
  const airExit = withPayload(land, { ...land.payload, recordType: 'exit', crossing: { ...(land.payload.crossing as object), travelMode: 'air' } })
  t.doesNotThrow(() => validator.envelope(airExit), 'an air exit record is a valid record')
  for (const sent of everyPurpose(airExit)) {
    for (const direction of ['outbound', 'inbound'] as const) {
      t.throws(
        () => book.apply(book.select(sent, direction), sent.payload),
        { code: 'POLICY_DENIED', message: /air-exit \(P2\)/ },
        `${sent.purpose} ${direction}: POLICY_DENIED, naming the rule`
      )
    }
  }
  const batch = example('entry-exit.batch', 'valid-three-land-entries-ca-to-us')
  const records = batch.payload.records as Array<Record<string, unknown>>
  const mixed = withPayload(batch, { ...batch.payload, records: [...records, airExit.payload] })
  t.doesNotThrow(() => validator.envelope(mixed))
  for (const sent of everyPurpose(mixed)) {
    t.throws(() => exchange(sent), { code: 'POLICY_DENIED' }, `${sent.purpose}: one air exit refuses the batch`)
  }
  t.doesNotThrow(() => exchange(batch), 'the same batch without it goes')
  // Land, rail and marine exits go.
  const rail = example('entry-exit.record', 'valid-rail-exit-removal-us-to-ca')
  t.equal(exchange(rail).outbound.payload.recordType, 'exit', 'a rail exit is shared')
  const marine = withPayload(airExit, { ...airExit.payload, crossing: { ...(airExit.payload.crossing as object), travelMode: 'marine' } })
  t.equal((exchange(marine).outbound.payload.crossing as Record<string, unknown>).travelMode, 'marine', 'a marine exit is shared')
  // An exit record an airline supplied is an air exit, whatever mode it names: its source is withheld, so the partner could not tell.
  const fromAirline = withPayload(marine, { ...marine.payload, source: 'airline-api' })
  t.doesNotThrow(() => validator.envelope(fromAirline), 'a valid record')
  for (const sent of everyPurpose(fromAirline)) {
    t.throws(() => exchange(sent), { code: 'POLICY_DENIED', message: /air-exit \(P2\)/ }, `${sent.purpose}: an airline's exit record is refused`)
  }
})

t.test('onward transfer to a third country is denied by every policy', async (t) => {
  for (const kind of KINDS) {
    for (const { label, policy } of directionPolicies(kind)) t.equal(policy.onwardTransfer, false, `${label}: onwardTransfer false (P11)`)
  }
})

t.test('a purpose no policy names, or a legal authority the sender may not cite for it, is refused', async (t) => {
  const land = example('entry-exit.record', 'valid-land-entry-ca-to-us')
  const refusals: Array<[string, Envelope, string]> = [
    ['an unknown purpose', { ...land, purpose: 'tourism-promotion' }, 'POLICY_DENIED'],
    ['a purpose of another kind', { ...land, purpose: 'asylum-claim' }, 'POLICY_DENIED'],
    ['a purpose named like an Object.prototype member', { ...land, purpose: 'constructor' }, 'POLICY_DENIED'],
    ['an unknown legal authority', { ...land, legalAuthority: 'PATRIOT-Act-215' }, 'LEGAL_AUTHORITY_MISMATCH'],
    ['an authority of another purpose', { ...land, legalAuthority: 'IRPA-48' }, 'LEGAL_AUTHORITY_MISMATCH'],
    ['an authority of another kind', { ...land, legalAuthority: 'IRPR-315.23(1)(a)' }, 'LEGAL_AUTHORITY_MISMATCH'],
    ['an authority of the other country', { ...land, legalAuthority: 'INA-215' }, 'LEGAL_AUTHORITY_MISMATCH'],
    ['an unknown kind', { ...land, kind: 'passenger.name-record' }, 'POLICY_DENIED']
  ]
  for (const [what, envelope, code] of refusals) {
    for (const direction of ['outbound', 'inbound'] as const) {
      t.throws(() => book.select(envelope, direction), { code, statusCode: 403 }, `${what} (${direction}): ${code}`)
    }
  }
  t.doesNotThrow(() => book.select(land, 'outbound'), 'the example itself is accepted')
})

t.test('a recipient outside the policy is refused', async (t) => {
  const cases: Array<[Kind, string, string]> = [
    ['entry-exit.record', 'valid-land-entry-ca-to-us', 'USCIS'],
    ['entry-exit.record', 'valid-land-entry-ca-to-us', 'DOS'],
    ['entry-exit.record', 'valid-land-entry-us-to-ca-residency', 'RCMP'],
    ['biometric.match-request', 'valid-visa-application-ca-to-us', 'CBP'],
    ['biometric.match-response', 'valid-asylum-match-protected-person', 'DHS-OBIM'],
    ['traveller.designation', 'valid-nexus-approved-ca-to-us', 'USCIS'],
    ['entry-exit.batch', 'valid-three-land-entries-ca-to-us', 'DHS-OBIM']
  ]
  for (const [kind, name, agency] of cases) {
    const envelope = example(kind, name)
    t.doesNotThrow(() => book.select(envelope, 'outbound'), `${kind} to ${envelope.to.agency}: accepted`)
    const misdirected = { ...envelope, to: { ...envelope.to, agency } }
    for (const direction of ['outbound', 'inbound'] as const) {
      t.throws(() => book.select(misdirected, direction), { code: 'POLICY_DENIED' }, `${kind} for ${envelope.purpose} to ${agency} (${direction}): refused`)
    }
  }
})

t.test('a field no rule names is withheld, even one named like an Object.prototype member', async (t) => {
  const land = example('entry-exit.record', 'valid-land-entry-ca-to-us')
  const payload = JSON.parse(JSON.stringify(land.payload).replace(/^\{/, '{"__proto__":"x","constructor":"x","toString":"x","valueOf":"x",')) as Record<
    string,
    unknown
  >
  t.ok(Object.hasOwn(payload, '__proto__'), 'an own __proto__ key, as JSON.parse makes it')
  const { payload: out, decisions } = book.apply(book.select(land, 'outbound'), payload)
  for (const key of ['__proto__', 'constructor', 'toString', 'valueOf']) {
    t.notOk(Object.hasOwn(out, key), `${key} does not leave`)
    t.match(
      decisions.find((d) => d.path === key),
      { action: 'withhold', rule: 'default-deny' },
      `${key}: default deny`
    )
  }
})

t.test('retention, onward transfer and human review travel with the record, under the policy version', async (t) => {
  // No workers: what is queued for the partner stays in the outbox to be read.
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const systemFor = (agency: string): SystemName =>
    (Object.keys(SYSTEMS) as SystemName[]).find((n) => SYSTEMS[n].country === 'CA' && SYSTEMS[n].agency === agency)!
  for (const route of SAMPLE_ROUTES.filter((r) => r.from.country === 'CA')) {
    const agency = client(t, systemFor(route.from.agency), gw.url)
    // A match response answers the partner's request (gateway/intake/correlation.ts).
    const sample =
      route.kind === 'biometric.match-response' ? sampleAnswer(route, { ...(await requestReceived(gw.app, 'CA')) }) : sampleEnvelope(route.kind, 'CA', route.to)
    const envelope = agency.envelope(sample)
    const res = await agency.submit(await agency.sign(envelope))
    t.equal(res.status, 202, `${route.kind}: accepted`)
    const id = String(envelope.id)
    const item = await gw.app.store.outboxItem('outbound', id)
    t.ok(item, `${route.kind}: in the outbox`)
    const jws = gw.app.sealer.unseal(item!.sealed, id)
    const forwarded = JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as ForwardedEnvelope
    const policy = policies[route.kind].purposes[String(envelope.purpose)]!.outbound!
    t.match(
      forwarded.handling,
      {
        policy: `${route.kind}/${String(envelope.purpose)}/outbound`,
        policyVersion: gw.app.policyBook.version(route.kind),
        retentionDays: policy.retentionDays,
        onwardTransfer: false,
        humanReviewRequired: true,
        forwardedBy: 'CA'
      },
      `${route.kind}: the limits travel in the signed handling block`
    )
    t.same(
      forwarded.payload,
      gw.app.policyBook.apply(gw.app.policyBook.select(forwarded, 'outbound'), envelope.payload as Record<string, unknown>).payload,
      `${route.kind}: the payload sent is the minimised one`
    )
  }
})

t.test(
  'a pseudonym links a value within its kind, purpose and field only: a partner cannot link a query made for one purpose to one made for another',
  async (t) => {
    // At a port of entry: a query for either purpose.
    const visa = example('biometric.match-request', 'valid-visa-application-ca-to-us')
    const request = withPayload(visa, { ...visa.payload, encounterType: 'port-of-entry-examination' })
    const pseudonymOf = (sent: Envelope, path: (p: Record<string, unknown>) => unknown) => path(book.apply(book.select(sent, 'outbound'), sent.payload).payload)
    const [examination, asylum] = everyPurpose(request).map((sent) => pseudonymOf(sent, (p) => p.transactionRef))
    t.match(examination, /^ps1:/)
    t.equal(
      pseudonymOf(request, (p) => p.transactionRef),
      examination,
      'stable within a purpose: the matcher echoes it'
    )
    t.not(examination, asylum, 'another purpose, another pseudonym for the same case number')

    // The same text as a business traveller's permit reference: another field, another pseudonym.
    const designation = example('traveller.designation', 'valid-work-permit-by-document')
    const permit = withPayload(designation, { ...designation.payload, permitReference: request.payload.transactionRef })
    const single = pseudonymOf(permit, (p) => p.permitReference)
    t.match(single, /^ps1:/)
    t.not(single, examination, 'not linkable to the match request')
    // The same permit in a batch of designations, under the same purpose, is recognised as the same.
    const roster = example('traveller.designation-batch', 'valid-nexus-roster-ca-to-us')
    const batch = {
      ...under(roster, 'business-traveller-facilitation'),
      payload: { batchRef: 'SYN-XPT-CA-20261130-00001', designations: [permit.payload] }
    } as Envelope
    t.equal(
      pseudonymOf(batch, (p) => (p.designations as Array<Record<string, unknown>>)[0]!.permitReference),
      single,
      'a permit in a batch has the pseudonym it has alone'
    )
  }
)

t.test(
  "a condition's holdsWhen (the root values it always holds on, which the receiving side's schema relies on) agrees with its when, on every valid example that has those values",
  async (t) => {
    let declared = 0
    for (const kind of KINDS) {
      const payloads = listExamples(kind)
        .filter((e) => e.valid)
        .map((e) => (e.envelope as { payload: Record<string, unknown> }).payload)
      for (const [purpose, byPurpose] of Object.entries(policies[kind].purposes)) {
        for (const direction of ['outbound', 'inbound'] as const) {
          for (const [field, rule] of Object.entries(byPurpose[direction]?.fields ?? {})) {
            if (rule.holdsWhen === undefined) continue
            declared++
            t.ok(rule.when, `${kind}/${purpose}/${direction} ${field}: holdsWhen beside a condition`)
            const holding = payloads.filter((p) => Object.entries(rule.holdsWhen!).every(([k, v]) => p[k] === v))
            t.ok(holding.length > 0, `${kind}/${purpose}/${direction} ${field}: some valid example has ${JSON.stringify(rule.holdsWhen)}`)
            for (const payload of holding) t.equal(rule.when!(payload), true, `${kind}/${purpose}/${direction} ${field}: its condition holds there`)
            t.equal(rule.when!({ ...rule.holdsWhen }), true, `${kind}/${purpose}/${direction} ${field}: and on those values alone`)
          }
        }
      }
    }
    t.ok(declared > 0, `${declared} rules declare holdsWhen`)
  }
)
