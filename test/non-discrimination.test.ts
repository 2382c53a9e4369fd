// Non-discrimination (P6): what is shared about a person never depends on
// their nationality. For every kind and purpose, arbitrary valid records (the
// schemas' examples with other names, dates, document numbers and subject
// categories) are sent twice, differing ONLY in their nationality-type fields
// (citizenship, birth country, issuing country: every code of the ICAO list);
// the decisions and the shared fields must be the same both times. Rules may
// turn on subject category where the law draws that line, and then they name
// the law: the second test finds every such rule by its behaviour.
import t from 'tap'
import fc from 'fast-check'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { COMMON_SCHEMA_ID, KINDS, commonSchema, kindSchemas, listExamples, type Kind } from '../schemas/index.ts'
import { policies } from '../policies/index.ts'
import { leafDefinitions } from '../policies/lib/schema-paths.ts'
import { exclusionFor } from '../policies/lib/engine.ts'
import type { Direction } from '../policies/lib/types.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import { MessageValidator } from '../gateway/pipeline/validate-message.ts'
import type { Envelope } from '../gateway/pipeline/envelope.ts'

const SEED = 20120628 // the joint statement of privacy principles, 28 June 2012
const RUNS_PER_KIND = 200

const book = new PolicyBook(randomBytes(32), randomBytes(32))
const validator = new MessageValidator()

const def = (name: string): string => `${COMMON_SCHEMA_ID}#/$defs/${name}`
const ICAO_CODES = (commonSchema.$defs as Record<string, { enum: string[] }>).icaoCode.enum
const SUBJECT_CATEGORIES = (commonSchema.$defs as Record<string, { enum: string[] }>).subjectCategory.enum
const AGENCY_COUNTRY: Readonly<Record<string, string>> = { CBSA: 'CA', IRCC: 'CA', RCMP: 'CA', CBP: 'US', USCIS: 'US', 'DHS-OBIM': 'US', DOS: 'US' }

type FieldType = 'nationality' | 'name' | 'date' | 'documentNumber' | 'subjectCategory'

/** The type of each leaf, found from the schema's own definitions, so a field added later is covered without a list. */
function fieldTypes(kind: Kind): Map<string, FieldType> {
  const types = new Map<string, FieldType>()
  for (const [path, refs] of leafDefinitions(kindSchemas[kind])) {
    if (refs.includes(def('icaoCode'))) types.set(path, 'nationality')
    else if (refs.includes(def('personName'))) types.set(path, 'name')
    else if (refs.includes(def('date'))) types.set(path, 'date')
    else if (refs.includes(def('documentNumber'))) types.set(path, 'documentNumber')
    else if (refs.includes(def('subjectCategory'))) types.set(path, 'subjectCategory')
  }
  return types
}

type Key = string | number
interface Leaf {
  readonly at: readonly Key[]
  /** `records[].traveller.citizenship` */
  readonly pattern: string
}

function leavesOf(value: unknown, at: Key[] = [], pattern = ''): Leaf[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => leavesOf(item, [...at, i], `${pattern}[]`))
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => leavesOf(v, [...at, k], pattern === '' ? k : `${pattern}.${k}`))
  }
  return [{ at, pattern }]
}

function setAt(root: unknown, at: readonly Key[], value: unknown): void {
  let node = root as Record<Key, unknown>
  for (const key of at.slice(0, -1)) node = node[key] as Record<Key, unknown>
  node[at[at.length - 1]!] = value
}

const nameArb = fc.stringMatching(/^[A-Z][A-Z' -]{0,30}[A-Z]$/)
const dateArb = fc
  .date({ min: new Date('1920-01-01T00:00:00Z'), max: new Date('2035-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10))
const documentNumberArb = fc.stringMatching(/^[A-Z0-9]{1,9}$/)
const codeArb = fc.constantFrom(...ICAO_CODES)

const VARIED: Record<Exclude<FieldType, 'nationality'>, fc.Arbitrary<string>> = {
  name: nameArb,
  date: dateArb,
  documentNumber: documentNumberArb,
  subjectCategory: fc.constantFrom(...SUBJECT_CATEGORIES)
}

interface Case {
  /** A valid record: an example with other names, dates, document numbers and categories. */
  readonly base: Envelope
  /** Where its nationality-type fields are. */
  readonly nationalityLeaves: readonly Leaf[]
  /** Two assignments of codes to those fields. */
  readonly a: readonly string[]
  readonly b: readonly string[]
}

/**
 * Codes for the nationality leaves: one each, except that the items of one
 * array (a list of citizenships) get distinct codes, as the schema requires.
 */
function nationalityArb(leaves: readonly Leaf[]): fc.Arbitrary<string[]> {
  const groups = new Map<string, number[]>()
  leaves.forEach((leaf, i) => {
    const key = leaf.pattern.endsWith('[]') ? JSON.stringify(leaf.at.slice(0, -1)) : `#${i}`
    groups.set(key, [...(groups.get(key) ?? []), i])
  })
  const members = [...groups.values()]
  return fc.tuple(...members.map((m) => fc.uniqueArray(codeArb, { minLength: m.length, maxLength: m.length }))).map((codes) => {
    const out = new Array<string>(leaves.length)
    members.forEach((m, g) =>
      m.forEach((leafIndex, j) => {
        out[leafIndex] = codes[g]![j]!
      })
    )
    return out
  })
}

function caseArb(kind: Kind): fc.Arbitrary<Case> {
  const types = fieldTypes(kind)
  const examples = listExamples(kind)
    .filter((e) => e.valid)
    .map((e) => e.envelope as Envelope)
  return fc.constantFrom(...examples).chain((example) => {
    const leaves = leavesOf(example.payload, ['payload'])
    const varied = leaves.filter((l) => types.has(l.pattern) && types.get(l.pattern) !== 'nationality')
    const nationalityLeaves = leaves.filter((l) => types.get(l.pattern) === 'nationality')
    const values = fc.tuple(...varied.map((l) => VARIED[types.get(l.pattern) as Exclude<FieldType, 'nationality'>]))
    return fc.record({ values, a: nationalityArb(nationalityLeaves), b: nationalityArb(nationalityLeaves) }).map(({ values: v, a, b }) => {
      const base = structuredClone(example)
      varied.forEach((leaf, i) => setAt(base, leaf.at, v[i]))
      return { base, nationalityLeaves, a, b }
    })
  })
}

function withNationalities(c: Case, codes: readonly string[]): Envelope {
  const envelope = structuredClone(c.base)
  c.nationalityLeaves.forEach((leaf, i) => setAt(envelope, leaf.at, codes[i]))
  return envelope
}

function under(envelope: Envelope, purpose: string): Envelope {
  const p = policies[envelope.kind as Kind].purposes[purpose]!
  const agency = p.outbound!.recipients.find((a) => AGENCY_COUNTRY[a] === envelope.to.country)!
  return {
    ...envelope,
    purpose,
    legalAuthority: p.legalAuthoritiesByCountry[envelope.from.country][0]!,
    agreementRef: p.agreementRefs[0]!,
    to: { ...envelope.to, agency }
  }
}

/**
 * What the policy does with the envelope, both ways, with the values of
 * nationality-type fields masked: the decisions (path, action, rule), the
 * shared payload, or the refusal.
 */
function outcome(envelope: Envelope, nationalityPatterns: ReadonlySet<string>): unknown {
  const mask = (payload: Record<string, unknown>): unknown => {
    const copy = structuredClone(payload)
    for (const leaf of leavesOf(copy)) if (nationalityPatterns.has(leaf.pattern)) setAt(copy, leaf.at, '<nationality>')
    return copy
  }
  const result: Record<string, unknown> = {}
  let payload = envelope.payload
  for (const direction of ['outbound', 'inbound'] as Direction[]) {
    try {
      const minimised = book.apply(book.select(envelope, direction), payload)
      result[direction] = {
        decisions: minimised.decisions.map((d) => `${d.path} ${d.action} ${d.rule} ${d.principle}`),
        shared: mask(minimised.payload)
      }
      payload = minimised.payload
    } catch (err) {
      result[direction] = { refused: (err as { code?: string }).code }
      break
    }
  }
  return result
}

t.test('nationality fields are found from the schemas', async (t) => {
  const found = Object.fromEntries(KINDS.map((kind) => [kind, [...fieldTypes(kind)].filter(([, type]) => type === 'nationality').map(([path]) => path)]))
  t.same(found, {
    'biometric.match-request': [],
    'biometric.match-response': ['subject.document.issuingCountry', 'subject.identity.birthCountry', 'subject.identity.citizenship[]'],
    'traveller.designation': ['document.issuingCountry', 'traveller.citizenship'],
    'traveller.designation-batch': ['designations[].document.issuingCountry', 'designations[].traveller.citizenship'],
    'entry-exit.record': ['document.issuingCountry', 'traveller.citizenship'],
    'entry-exit.batch': ['records[].document.issuingCountry', 'records[].traveller.citizenship']
  })
  t.ok(ICAO_CODES.length > 250 && ICAO_CODES.includes('XXA') && ICAO_CODES.includes('D'), `${ICAO_CODES.length} codes, ICAO extras included`)
})

for (const kind of KINDS) {
  t.test(`${kind}: changing only nationality never changes what is shared, for any purpose`, async (t) => {
    const nationalityPatterns = new Set([...fieldTypes(kind)].filter(([, type]) => type === 'nationality').map(([path]) => path))
    const purposes = Object.keys(policies[kind].purposes)
    let compared = 0
    const property = fc.property(caseArb(kind), (c) => {
      for (const purpose of purposes) {
        const a = under(withNationalities(c, c.a), purpose)
        const b = under(withNationalities(c, c.b), purpose)
        // Arbitrary, but valid: the gateway would accept both.
        validator.envelope(a)
        validator.envelope(b)
        assert.deepStrictEqual(outcome(b, nationalityPatterns), outcome(a, nationalityPatterns), `${purpose}: ${c.a.join(',')} vs ${c.b.join(',')}`)
        compared++
      }
    })
    try {
      fc.assert(property, { seed: SEED, numRuns: RUNS_PER_KIND })
      t.pass(`${RUNS_PER_KIND} arbitrary records, ${compared} pairs compared under ${purposes.length} purposes`)
    } catch (err) {
      // fast-check's report: the shrunk counterexample and the seed to replay it.
      t.fail((err as Error).message)
    }
  })
}

t.test('every code of the list, in every nationality field of every example, is treated alike', async (t) => {
  for (const kind of KINDS) {
    const types = fieldTypes(kind)
    const nationalityPatterns = new Set([...types].filter(([, type]) => type === 'nationality').map(([path]) => path))
    let compared = 0
    const differing: string[] = []
    for (const example of listExamples(kind).filter((e) => e.valid)) {
      const envelope = example.envelope as Envelope
      const leaves = leavesOf(envelope.payload, ['payload']).filter((l) => nationalityPatterns.has(l.pattern))
      for (const purpose of Object.keys(policies[kind].purposes)) {
        const sent = under(envelope, purpose)
        const expected = JSON.stringify(outcome(sent, nationalityPatterns))
        for (const leaf of leaves) {
          for (const code of ICAO_CODES) {
            const changed = structuredClone(sent)
            setAt(changed, leaf.at, code)
            compared++
            if (JSON.stringify(outcome(changed, nationalityPatterns)) !== expected) differing.push(`${example.name} ${purpose} ${leaf.pattern}=${code}`)
          }
        }
      }
    }
    t.same(differing, [], `${kind}: ${compared} single-code changes, none changes a decision or a shared field`)
  }
})

t.test('a rule that turns on subject category names the law that requires it', async (t) => {
  const turning = new Set<string>()
  for (const kind of KINDS) {
    const types = fieldTypes(kind)
    for (const example of listExamples(kind).filter((e) => e.valid)) {
      const envelope = example.envelope as Envelope
      const categoryLeaves = leavesOf(envelope.payload).filter((l) => types.get(l.pattern) === 'subjectCategory')
      if (categoryLeaves.length === 0) continue
      for (const purpose of Object.keys(policies[kind].purposes)) {
        // A designation is sent only for the purpose it is for (the designation-type exclusions).
        if (exclusionFor(policies[kind].purposes[purpose]!.outbound!, envelope.payload)?.rule.endsWith('-designation-type')) continue
        // rule id -> the actions it took, across every category.
        const actions = new Map<string, Set<string>>()
        for (const category of SUBJECT_CATEGORIES) {
          const payload = structuredClone(envelope.payload)
          for (const leaf of categoryLeaves) setAt(payload, leaf.at, category)
          const sent = under({ ...envelope, payload }, purpose)
          for (const d of book.apply(book.select(sent, 'outbound'), sent.payload).decisions) {
            actions.set(d.rule, (actions.get(d.rule) ?? new Set()).add(d.action))
          }
        }
        const fields = policies[kind].purposes[purpose]!.outbound!.fields
        for (const [ruleId, seen] of actions) {
          if (seen.size < 2) continue
          turning.add(`${kind} ${ruleId}`)
          const rule = Object.values(fields).find((r) => r.rule === ruleId)
          t.ok(
            rule?.condition !== undefined && (rule.legalBasis ?? []).length > 0,
            `${kind} ${purpose} ${ruleId} turns on subject category and names its legal basis: ${(rule?.legalBasis ?? []).join(', ')}`
          )
        }
      }
    }
  }
  // Today that is the biometric response's disclosure of identity, document and history.
  t.ok(turning.size > 0 && [...turning].every((r) => r.startsWith('biometric.match-response ')), [...turning].join('\n'))
})
