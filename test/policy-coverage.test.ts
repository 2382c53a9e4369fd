// The policy modules against the schemas (docs/architecture.md,
// "Privacy principles in code"): every field of a kind's
// schema has a rule in every (purpose, direction), no rule names a field that
// does not exist, and the rules say what a privacy officer would expect.
import t from 'tap'
import { KINDS, listExamples } from '../schemas/index.ts'
import type { Kind } from '../schemas/index.ts'
import { policies } from '../policies/index.ts'
import { PRINCIPLE_IDS, isPrinciple, principles } from '../policies/principles.ts'
import { createResolver, kindLeafPaths, leafPaths } from '../policies/lib/schema-paths.ts'
import type { Direction, DirectionPolicy, FieldRule, KindPolicy } from '../policies/lib/types.ts'

const DIRECTIONS: readonly Direction[] = ['outbound', 'inbound']

// Fixed by the agency registry.
const PURPOSES: Readonly<Record<Kind, readonly string[]>> = {
  'biometric.match-request': ['immigration-examination', 'asylum-claim'],
  'biometric.match-response': ['immigration-examination', 'asylum-claim'],
  'traveller.designation': ['trusted-traveller-vetting', 'business-traveller-facilitation'],
  'traveller.designation-batch': ['trusted-traveller-vetting', 'business-traveller-facilitation'],
  'entry-exit.record': ['entry-exit-verification', 'residency-determination', 'removal-enforcement'],
  'entry-exit.batch': ['entry-exit-verification', 'residency-determination', 'removal-enforcement']
}

const AGENCIES = new Set(['CBSA', 'IRCC', 'RCMP', 'CBP', 'USCIS', 'DHS-OBIM', 'DOS'])
const GENERALISERS = new Set(['date-to-year', 'date-to-year-month', 'datetime-to-date', 'datetime-to-hour', 'subject-category-to-disclosable'])

interface Located {
  readonly kind: Kind
  readonly purpose: string
  readonly direction: Direction
  readonly policy: DirectionPolicy
}

function directionPolicies(kind: Kind): Located[] {
  const out: Located[] = []
  for (const [purpose, purposePolicy] of Object.entries(policies[kind].purposes)) {
    for (const direction of DIRECTIONS) {
      const policy = purposePolicy[direction]
      if (policy !== undefined) out.push({ kind, purpose, direction, policy })
    }
  }
  return out
}

function allRules(kind: Kind): Array<Located & { path: string; rule: FieldRule }> {
  return directionPolicies(kind).flatMap((located) => Object.entries(located.policy.fields).map(([path, rule]) => ({ ...located, path, rule })))
}

const label = (l: Located): string => `${l.kind} ${l.purpose} ${l.direction}`

t.test('leafPaths reads the notation of types.ts', async (t) => {
  const base = 'https://example.test/s'
  const defs = {
    $id: 'https://example.test/defs',
    $defs: { name: { type: 'string' }, pair: { type: 'object', properties: { a: { type: 'string' }, b: { $ref: '#/$defs/name' } } } }
  }
  const schema = {
    $id: base,
    type: 'object',
    properties: {
      ref: { type: 'string' },
      traveller: { type: 'object', properties: { surname: { $ref: 'https://example.test/defs#/$defs/name' } } },
      fingerprints: { type: 'array', items: { type: 'object', properties: { position: { type: 'integer' } } } },
      conditions: { type: 'array', items: { type: 'string' } },
      pairs: { type: 'array', items: { $ref: 'defs#/$defs/pair' } },
      when: { anyOf: [{ type: 'string', format: 'date' }, { type: 'null' }] },
      subject: { type: 'object', properties: { category: { type: 'string' } } }
    },
    allOf: [
      {
        if: { properties: { ref: { const: 'x' } } },
        then: { properties: { subject: true, extra: { type: 'boolean' } } },
        else: { properties: { subject: false, gone: false } }
      }
    ]
  }
  const resolve = createResolver([schema, defs])
  t.same(leafPaths(schema, resolve), [
    'conditions[]',
    'extra',
    'fingerprints[].position',
    'pairs[].a',
    'pairs[].b',
    'ref',
    'subject.category',
    'traveller.surname',
    'when'
  ])
  t.throws(() => leafPaths({ $id: base, properties: { x: { $ref: '#/$defs/missing' } } }, resolve), /unresolvable/)
})

t.test('every kind has a policy module, and every module its fixed purposes', async (t) => {
  t.same(Object.keys(policies).sort(), [...KINDS].sort())
  for (const kind of KINDS) {
    const policy: KindPolicy = policies[kind]
    t.equal(policy.kind, kind, `${kind}: module names its kind`)
    t.match(policy.version, /^\d+\.\d+\.\d+$/, `${kind}: version label`)
    t.same(Object.keys(policy.purposes).sort(), [...PURPOSES[kind]].sort(), `${kind}: purposes`)
    for (const [purpose, purposePolicy] of Object.entries(policy.purposes)) {
      t.ok(purposePolicy.legalAuthorities.length > 0, `${kind} ${purpose}: names its legal authorities (P1)`)
      for (const direction of DIRECTIONS) t.ok(purposePolicy[direction], `${kind} ${purpose}: has ${direction} rules`)
    }
  }
})

t.test('every schema field is named in every (purpose, direction), and nothing else is', async (t) => {
  for (const kind of KINDS) {
    const leaves = kindLeafPaths(kind)
    t.ok(leaves.length > 0, `${kind}: ${leaves.length} leaf paths`)
    for (const located of directionPolicies(kind)) {
      const named = Object.keys(located.policy.fields).sort()
      const missing = leaves.filter((path) => !named.includes(path))
      const unknown = named.filter((path) => !leaves.includes(path))
      t.same(missing, [], `${label(located)}: no schema field left unnamed`)
      t.same(unknown, [], `${label(located)}: no rule for a field the schema does not have`)
    }
  }
})

t.test('rule ids are unique within each module', async (t) => {
  for (const kind of KINDS) {
    const ids = allRules(kind).map(({ rule }) => rule.rule)
    const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i)
    t.same(duplicates, [], `${kind}: ${ids.length} rule ids, none repeated`)
    t.ok(
      ids.every((id) => /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(id)),
      `${kind}: ids are kebab-case`
    )
  }
})

t.test('every rule is well formed', async (t) => {
  for (const kind of KINDS) {
    const bad: string[] = []
    for (const { purpose, direction, path, rule } of allRules(kind)) {
      const where = `${kind} ${purpose} ${direction} ${path}`
      if (!isPrinciple(rule.principle)) bad.push(`${where}: unknown principle ${String(rule.principle)}`)
      if (rule.why.trim().length < 10) bad.push(`${where}: says why in a sentence`)
      if (rule.action === 'generalise' && (rule.generaliser === undefined || !GENERALISERS.has(rule.generaliser))) {
        bad.push(`${where}: generalise without a generaliser`)
      }
      if (rule.action !== 'generalise' && rule.generaliser !== undefined) bad.push(`${where}: generaliser on a ${rule.action} rule`)
      if ((rule.when === undefined) !== (rule.condition === undefined)) bad.push(`${where}: when and condition go together (P7)`)
      if (rule.action === 'withhold' && rule.when !== undefined) bad.push(`${where}: a condition on a withhold rule means nothing`)
    }
    t.same(bad, [], `${kind}: every rule cites a principle, says why, and is complete`)
  }
})

t.test('every direction policy states its limits', async (t) => {
  for (const kind of KINDS) {
    for (const located of directionPolicies(kind)) {
      const { policy } = located
      t.ok(policy.recipients.length > 0 && policy.recipients.every((a) => AGENCIES.has(a)), `${label(located)}: known recipients`)
      t.ok(Number.isInteger(policy.retentionDays) && policy.retentionDays >= 0, `${label(located)}: retention in days (P5)`)
      t.equal(policy.onwardTransfer, false, `${label(located)}: no onward transfer (P11)`)
      t.equal(policy.humanReviewRequired, true, `${label(located)}: no adverse decision by automation alone (P10)`)
    }
  }
  const request = policies['biometric.match-request'].purposes
  for (const purposePolicy of Object.values(request)) {
    t.equal(purposePolicy.inbound?.retentionDays, 0, 'a biometric query is deleted once matched (P5)')
  }
})

t.test('the twelve principles', async (t) => {
  t.equal(PRINCIPLE_IDS.length, 12)
  for (const id of PRINCIPLE_IDS) {
    t.equal(principles[id].id, id)
    t.ok(principles[id].title.length > 0 && principles[id].gatewayDoes.length > 0, `${id} has a title and says what the gateway does`)
  }
  t.notOk(isPrinciple('P13'))
})

t.test('fields that must never travel are withheld by every policy', async (t) => {
  const never: Readonly<Record<Kind, readonly string[]>> = {
    'biometric.match-request': ['capturedAt'],
    'biometric.match-response': ['subject.officerNotes', 'subject.matchScore', 'error.message'],
    'traveller.designation': ['riskAssessment.reasons[]'],
    'traveller.designation-batch': ['designations[].riskAssessment.reasons[]'],
    'entry-exit.record': ['vehicle.licencePlate', 'vehicle.make', 'photoRef', 'coTravellers[]', 'address', 'inspectionNotes', 'source'],
    'entry-exit.batch': [
      'records[].vehicle.licencePlate',
      'records[].vehicle.make',
      'records[].photoRef',
      'records[].coTravellers[]',
      'records[].address',
      'records[].inspectionNotes',
      'records[].source'
    ]
  }
  for (const kind of KINDS) {
    for (const located of directionPolicies(kind)) {
      for (const path of never[kind]) {
        t.equal(located.policy.fields[path]?.action, 'withhold', `${label(located)}: ${path} withheld`)
      }
    }
  }
  for (const located of directionPolicies('biometric.match-request')) {
    const released = Object.entries(located.policy.fields)
      .filter(([, rule]) => rule.action !== 'withhold')
      .map(([path]) => path)
    t.ok(
      released.every((path) => path.startsWith('fingerprints[].') || path === 'encounterType' || path === 'transactionRef'),
      `${label(located)}: a query carries fingerprints, the encounter type and a reference only`
    )
    if (located.direction === 'outbound') {
      t.equal(located.policy.fields.transactionRef?.action, 'pseudonymise', 'the case reference leaves only as a pseudonym')
    }
  }
})

t.test('rules never branch on nationality (P6)', async (t) => {
  for (const kind of KINDS) {
    for (const { path, rule, purpose, direction } of allRules(kind)) {
      if (rule.when === undefined) continue
      t.notMatch(rule.when.toString(), /citizenship|nationality|birthCountry|issuingCountry/, `${kind} ${purpose} ${direction} ${path}`)
    }
  }
})

t.test('a match discloses identity only for third-country nationals and protected persons', async (t) => {
  const example = listExamples('biometric.match-response').find((e) => e.name === 'valid-match-third-country-national')
  const base = (example!.envelope as { payload: Record<string, unknown> }).payload
  const withCategory = (result: string, subjectCategory: string): Record<string, unknown> => ({
    ...base,
    result,
    subject: { ...(base.subject as object), subjectCategory }
  })
  const identityPaths = [
    'subject.identity.surname',
    'subject.identity.dateOfBirth',
    'subject.identity.citizenship[]',
    'subject.document.number',
    'subject.immigrationHistory[].category'
  ]
  for (const located of directionPolicies('biometric.match-response')) {
    for (const path of identityPaths) {
      const rule = located.policy.fields[path]
      if (rule?.when === undefined) {
        t.fail(`${label(located)}: ${path} has no condition`)
        continue
      }
      const when = rule.when
      t.ok(when(withCategory('MATCH', 'third-country-national')), `${label(located)}: ${path} shared for a TCN on MATCH`)
      t.ok(when(withCategory('MATCH', 'protected-person')), `${label(located)}: ${path} shared for a protected person on MATCH`)
      for (const category of ['ca-citizen', 'us-citizen', 'ca-permanent-resident', 'us-lawful-permanent-resident', 'registered-indian']) {
        t.notOk(when(withCategory('MATCH', category)), `${label(located)}: ${path} withheld for ${category}, whichever way it goes`)
      }
      t.notOk(when({ ...base, result: 'NO_MATCH' }), `${label(located)}: ${path} withheld without a MATCH`)
    }
    t.equal(located.policy.fields.humanReviewRequired?.action, 'share', `${label(located)}: humanReviewRequired travels (P10)`)
  }
})

t.test('air exit records are never exchanged, alone or in a batch', async (t) => {
  const example = listExamples('entry-exit.record').find((e) => e.valid)
  const land = (example!.envelope as { payload: Record<string, unknown> }).payload
  const air = { ...land, recordType: 'exit', crossing: { ...(land.crossing as object), travelMode: 'air' } }
  for (const kind of ['entry-exit.record', 'entry-exit.batch'] as const) {
    const landOnly = kind === 'entry-exit.record' ? land : { batchRef: 'B-0001', records: [land, land] }
    const holdingAir = kind === 'entry-exit.record' ? air : { batchRef: 'B-0001', records: [land, air] }
    for (const located of directionPolicies(kind)) {
      const shared = Object.entries(located.policy.fields).filter(([, rule]) => rule.action !== 'withhold')
      t.ok(
        shared.every(([, rule]) => rule.when === undefined || rule.when(landOnly) === true),
        `${label(located)}: a land entry is shared`
      )
      const recordRules = shared.filter(([path]) => path !== 'batchRef')
      t.ok(
        recordRules.every(([, rule]) => rule.when !== undefined && rule.when(holdingAir) === false),
        `${label(located)}: nothing of a payload holding an air exit record is shared`
      )
      // The same condition judges one record alone, should the engine apply it per item.
      t.ok(recordRules.every(([, rule]) => rule.when?.(air) === false && rule.when?.(land) === true))
    }
  }
})

t.test('generalised and pseudonymised fields', async (t) => {
  const actionOf = (kind: Kind, purpose: string, direction: Direction, path: string): FieldRule | undefined =>
    policies[kind].purposes[purpose]?.[direction]?.fields[path]
  const residency = actionOf('entry-exit.record', 'residency-determination', 'outbound', 'crossing.dateTime')
  t.equal(residency?.action, 'generalise')
  t.equal(residency?.generaliser, 'datetime-to-date', 'residency counts days')
  t.equal(actionOf('entry-exit.record', 'removal-enforcement', 'outbound', 'crossing.dateTime')?.action, 'share')
  t.equal(actionOf('entry-exit.batch', 'residency-determination', 'outbound', 'records[].crossing.dateTime')?.generaliser, 'datetime-to-date')
  for (const purpose of PURPOSES['traveller.designation']) {
    const assessed = actionOf('traveller.designation', purpose, 'outbound', 'riskAssessment.assessedOn')
    t.equal(assessed?.generaliser, 'date-to-year-month', `${purpose}: assessment date leaves as a month`)
  }
  t.equal(actionOf('traveller.designation', 'business-traveller-facilitation', 'outbound', 'permitReference')?.action, 'pseudonymise')
  // A value generalised or pseudonymised on the way out arrives in that form:
  // the receiving side takes it as it is (generalising again would fail, and
  // pseudonymising again would break correlation).
  for (const kind of KINDS) {
    for (const [purpose, purposePolicy] of Object.entries(policies[kind].purposes)) {
      for (const [path, rule] of Object.entries(purposePolicy.outbound?.fields ?? {})) {
        if (rule.action !== 'generalise' && rule.action !== 'pseudonymise') continue
        t.equal(purposePolicy.inbound?.fields[path]?.action, 'share', `${kind} ${purpose}: ${path} arrives ${rule.action}d and is taken as is`)
      }
    }
  }
})

t.test('every valid example is one its policy accepts', async (t) => {
  for (const kind of KINDS) {
    for (const example of listExamples(kind).filter((e) => e.valid)) {
      const envelope = example.envelope as { purpose: string; legalAuthority: string; from: { country: 'CA' | 'US' }; to: { agency: string } }
      const purposePolicy = policies[kind].purposes[envelope.purpose]
      t.ok(purposePolicy, `${kind} ${example.name}: purpose ${envelope.purpose} is in the policy`)
      t.ok(
        purposePolicy?.legalAuthoritiesByCountry[envelope.from.country].includes(envelope.legalAuthority),
        `${example.name}: ${envelope.legalAuthority} is accepted from ${envelope.from.country}`
      )
      t.ok(purposePolicy?.outbound?.recipients.includes(envelope.to.agency), `${example.name}: ${envelope.to.agency} may receive it`)
      t.ok(purposePolicy?.inbound?.recipients.includes(envelope.to.agency), `${example.name}: ${envelope.to.agency} may be delivered it`)
    }
  }
})
