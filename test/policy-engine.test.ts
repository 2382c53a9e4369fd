import t from 'tap'
import { applyPolicy, DEFAULT_DENY, policyVersion } from '../policies/lib/engine.ts'
import type { DirectionPolicy, KindPolicy } from '../policies/lib/types.ts'
import { policies } from '../policies/index.ts'

const ctx = {
  digest: (v: string) => `h(${v})`,
  listDigest: () => {
    const values: string[] = []
    return {
      add: (v: string) => {
        values.push(v)
      },
      digest: () => `h[${values.join(',')}]`
    }
  },
  pseudonym: (v: string) => `ps1:${v.length}`
}

const rules: DirectionPolicy = {
  recipients: ['CBP'],
  retentionDays: 30,
  onwardTransfer: false,
  humanReviewRequired: true,
  fields: {
    'traveller.surname': { action: 'share', rule: 'r-surname', principle: 'P2', why: 'matching' },
    'traveller.dateOfBirth': { action: 'generalise', generaliser: 'date-to-year', rule: 'r-dob', principle: 'P2', why: 'coarse' },
    'crossing.dateTime': { action: 'generalise', generaliser: 'datetime-to-hour', rule: 'r-time', principle: 'P2', why: 'coarse' },
    ref: { action: 'pseudonymise', rule: 'r-ref', principle: 'P2', why: 'correlate' },
    'traveller.notes': { action: 'withhold', rule: 'r-notes', principle: 'P2', why: 'never' },
    'items[].code': { action: 'share', rule: 'r-code', principle: 'P4', why: 'codes', when: (p) => p.result === 'MATCH', condition: 'on MATCH' }
  }
}

t.test('each field gets its rule; a field no rule names is withheld by default', async (t) => {
  const payload = {
    ref: 'T-123',
    result: 'MATCH',
    traveller: { surname: 'Tremblay', dateOfBirth: '1984-03-07', notes: 'seen twice', unnamed: 'x' },
    crossing: { dateTime: '2026-11-22T18:04:11Z' },
    items: [{ code: 'A' }, { code: 'B' }]
  }
  const { payload: out, decisions } = applyPolicy(rules, payload, ctx)
  t.same(out, {
    ref: 'ps1:5',
    traveller: { surname: 'Tremblay', dateOfBirth: '1984' },
    crossing: { dateTime: '2026-11-22T18:00:00Z' },
    items: [{ code: 'A' }, { code: 'B' }]
  })
  const byPath = Object.fromEntries(decisions.map((d) => [d.path, d]))
  t.equal(byPath['traveller.unnamed']?.rule, DEFAULT_DENY.rule, 'unnamed: default deny')
  t.equal(byPath['traveller.unnamed']?.action, 'withhold')
  t.equal(byPath.result?.action, 'withhold', 'result is not named either')
  t.equal(byPath['traveller.notes']?.rule, 'r-notes')
  t.same(
    byPath['items[].code'],
    { path: 'items[].code', action: 'share', rule: 'r-code', principle: 'P4', digest: 'h[A,B]', count: 2 },
    'the items of an array are one decision: the rule, how many items, one digest of their values in order'
  )
  t.notOk(
    decisions.some((d) => /\[\d+\]/.test(d.path)),
    'no decision per item'
  )
  t.equal(byPath['traveller.surname']?.digest, 'h(Tremblay)', 'the ledger gets a keyed digest, never the value')
  t.notOk(JSON.stringify(decisions).includes('"Tremblay"'), 'no decision holds a value')
})

t.test('a condition that does not hold withholds under the same rule', async (t) => {
  const { payload: out, decisions } = applyPolicy(rules, { result: 'NO_MATCH', items: [{ code: 'A' }] }, ctx)
  t.same(out, {})
  t.same(
    decisions.find((d) => d.path === 'items[].code'),
    { path: 'items[].code', action: 'withhold', rule: 'r-code', principle: 'P4', digest: 'h[A]', count: 1 }
  )
})

t.test('items an array rule treats differently are counted apart, in the order first met', async (t) => {
  const { decisions } = applyPolicy(
    rules,
    { traveller: { dateOfBirth: '1984-03-07' }, items: [{ code: 'A', x: 1 }, { code: 'B' }, { code: 'C', x: 2 }] },
    { ...ctx }
  )
  t.same(
    decisions.map((d) => [d.path, d.action, d.rule, d.count ?? null, d.digest]),
    [
      ['traveller.dateOfBirth', 'generalise', 'r-dob', null, 'h(1984-03-07)'],
      ['items[].code', 'withhold', 'r-code', 3, 'h[A,B,C]'],
      ['items[].x', 'withhold', DEFAULT_DENY.rule, 2, 'h[1,2]']
    ]
  )
})

t.test('a value that cannot be generalised is withheld, not shared in full', async (t) => {
  const { payload: out, decisions } = applyPolicy(rules, { traveller: { dateOfBirth: 'unknown' } }, ctx)
  t.same(out, {})
  t.equal(decisions[0]?.action, 'withhold')
})

t.test('a policy version changes when any rule changes', async (t) => {
  const cites = { legalAuthorities: ['A'], legalAuthoritiesByCountry: { CA: ['A'], US: [] }, agreementRefs: ['R'] }
  const base: KindPolicy = { kind: 'x', version: '1', purposes: { p: { ...cites, outbound: rules } } }
  const changed: KindPolicy = { ...base, purposes: { p: { ...cites, outbound: { ...rules, retentionDays: 31 } } } }
  t.match(policyVersion(base), /^sha256:[A-Za-z0-9_-]{43}$/)
  t.equal(policyVersion(base), policyVersion({ ...base }), 'the same rules give the same version')
  const fewer: KindPolicy = { ...base, purposes: { p: { ...cites, outbound: { ...rules, fields: {} } } } }
  t.not(policyVersion(base), policyVersion(fewer), 'dropping rules changes it')
  t.not(policyVersion(base), policyVersion(changed))
  const otherCountry: KindPolicy = { ...base, purposes: { p: { ...cites, legalAuthoritiesByCountry: { CA: [], US: ['A'] }, outbound: rules } } }
  t.not(policyVersion(base), policyVersion(otherCountry), 'so does which country may cite an authority')
  const otherArrangement: KindPolicy = { ...base, purposes: { p: { ...cites, agreementRefs: ['S'], outbound: rules } } }
  t.not(policyVersion(base), policyVersion(otherArrangement), 'and the arrangement it falls under')
  for (const p of Object.values(policies)) t.match(policyVersion(p), /^sha256:/, `${p.kind} has a version hash`)
})
