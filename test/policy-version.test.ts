// A policy's version (policies/lib/engine.ts, policyVersion) changes whenever
// what it lets through could: not only its rules as data, but the text of the
// module and of every policy module it imports, the sets its conditions
// consult and the helpers they call among them (policies/lib/policy-sources.ts).
// Before, a set of disclosable subject categories widened, or what counts as
// an air exit changed, left the version, and so both gateways' check of it
// and every ledger entry naming it, as they were; and the received schema
// (policies/lib/received-schema.ts), what the receiving gateway takes of a
// partner under the policy, could change with the version as it was; and so
// could the kind's JSON Schema, and those it refers to, what the rules apply
// to (policies/lib/policy-sources.ts, kindSchemaSources).
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { policies } from '../policies/index.ts'
import { policyVersion } from '../policies/lib/engine.ts'
import { ENGINE_MODULE, kindSchemaSources, kindSchemaText, policyModule, policySources, sourcesText, versionEntries } from '../policies/lib/policy-sources.ts'

const POLICIES = resolve(import.meta.dirname, '..', 'policies')

t.test("a kind's sources are its module, every policy module it imports, and the engine", async (t) => {
  const paths = (kind: string) => policySources([policyModule(kind), ENGINE_MODULE]).map((f) => f.path)
  t.ok(paths('entry-exit.batch').includes('entry-exit.record.policy.ts'), "a batch's policy is made of the record's (its air-exit rule among it)")
  t.ok(paths('traveller.designation-batch').includes('traveller.designation.policy.ts'))
  for (const kind of Object.keys(policies)) {
    t.ok(paths(kind).includes(`${kind}.policy.ts`) && paths(kind).includes('lib/engine.ts'), `${kind}: its module and the engine`)
    t.notOk(
      paths(kind).some((p) => p.startsWith('..')),
      `${kind}: nothing outside policies/`
    )
  }
})

t.test('a change to a set a condition consults, or to a helper it calls, changes the sources of the kinds that use it, and only those', async (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'btb-policies-'))
  t.teardown(() => rmSync(copy, { recursive: true, force: true }))
  cpSync(POLICIES, copy, { recursive: true })
  const text = (kind: string) => sourcesText([join(copy, `${kind}.policy.ts`), join(copy, 'lib', 'engine.ts')], copy)
  const before = Object.fromEntries(Object.keys(policies).map((kind) => [kind, text(kind)]))

  const response = join(copy, 'biometric.match-response.policy.ts')
  // The set of categories it discloses is the engine's (its generaliser keeps them), part of every policy's sources: the condition is the match response's own.
  const widened = readFileSync(response, 'utf8').replace("payload.result === 'MATCH' && typeof category", "payload.result !== 'ERROR' && typeof category")
  t.not(widened, readFileSync(response, 'utf8'), 'the copy discloses identity on more results')
  writeFileSync(response, widened)
  t.not(text('biometric.match-response'), before['biometric.match-response'], 'the match response policy is another now')
  t.equal(text('entry-exit.record'), before['entry-exit.record'], 'the entry/exit policy is not')

  const record = join(copy, 'entry-exit.record.policy.ts')
  writeFileSync(record, readFileSync(record, 'utf8').replace("travelMode === 'air'", "travelMode === 'air-taxi'"))
  t.not(text('entry-exit.batch'), before['entry-exit.batch'], "what counts as an air exit changes the batch's policy, which imports it")
  t.equal(text('traveller.designation'), before['traveller.designation'])

  writeFileSync(record, readFileSync(record, 'utf8').replaceAll('\n', '\r\n'))
  const crlf = text('entry-exit.record')
  writeFileSync(record, readFileSync(record, 'utf8').replaceAll('\r\n', '\n'))
  t.equal(crlf, text('entry-exit.record'), "a checkout's line endings do not count")
})

/**
 * A copy of policies/ and schemas/ to edit, and each kind's version as a
 * gateway built from the copy would name it: computed in a process of its
 * own, since versions are computed once per process from the files next to
 * the module.
 */
function copiedSources(t: Test, prefix: string): { copy: string; versions: () => Record<string, string> } {
  const copy = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(copy, { recursive: true, force: true }))
  cpSync(POLICIES, join(copy, 'policies'), { recursive: true })
  cpSync(resolve(POLICIES, '..', 'schemas'), join(copy, 'schemas'), { recursive: true })
  const versions = (): Record<string, string> => {
    const script = `const { policies } = await import(${JSON.stringify(join(copy, 'policies', 'index.ts'))})
      const { policyVersion } = await import(${JSON.stringify(join(copy, 'policies', 'lib', 'engine.ts'))})
      process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(policies).map(([kind, p]) => [kind, policyVersion(p)]))))`
    return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }))
  }
  return { copy, versions }
}

t.test("a change to what the receiving side accepts (policies/lib/received-schema.ts) changes every kind's version", async (t) => {
  // Versions are computed once per process from the files next to the
  // module: each copy's in a process of its own, as a gateway built from it would.
  const { copy, versions } = copiedSources(t, 'btb-received-')
  const before = versions()
  t.same(Object.keys(before).sort(), Object.keys(policies).sort(), 'every kind has a version')

  const received = join(copy, 'policies', 'lib', 'received-schema.ts')
  // The receiving side would take a batch of no record, a match request of no print.
  const widened = readFileSync(received, 'utf8').replace("{ type: 'array', items, minItems: 1 }", "{ type: 'array', items, minItems: 0 }")
  t.not(widened, readFileSync(received, 'utf8'), 'the copy accepts an empty list')
  writeFileSync(received, widened)
  const after = versions()
  for (const kind of Object.keys(policies)) t.not(after[kind], before[kind], `${kind}: another version`)
})

t.test("a change to a kind's schema, or to one it refers to, changes the version of the kinds that use it, and only those", async (t) => {
  // What the rules apply to is part of what they are: a field the kind's
  // schema lets longer, or a code it admits, changes what the sending side
  // takes and the receiving side accepts, with the $id as it was.
  const { copy, versions } = copiedSources(t, 'btb-schemas-')
  const edit = (file: string, from: string, to: string): void => {
    const text = readFileSync(file, 'utf8')
    t.ok(text.includes(from), `${file} has ${from}`)
    writeFileSync(file, text.replace(from, to))
  }
  const before = versions()

  // The record's port name may be a hundred times longer: the record's schema, which the batch's refers to.
  edit(join(copy, 'schemas', 'kinds', 'entry-exit.record.schema.json'), '"maxLength": 100,', '"maxLength": 10000,')
  const record = versions()
  t.not(record['entry-exit.record'], before['entry-exit.record'], 'the entry/exit record: another version')
  t.not(record['entry-exit.batch'], before['entry-exit.batch'], 'the entry/exit batch, whose records are of that schema: another version')
  for (const kind of ['biometric.match-request', 'biometric.match-response', 'traveller.designation', 'traveller.designation-batch']) {
    t.equal(record[kind], before[kind], `${kind}: the same version (it does not use that schema)`)
  }

  // A name may be a hundred times longer: the common definitions, which every kind refers to.
  edit(join(copy, 'schemas', 'common.schema.json'), '"maxLength": 100,', '"maxLength": 10000,')
  const common = versions()
  for (const kind of Object.keys(policies)) t.not(common[kind], record[kind], `${kind}: another version`)

  // The envelope is no kind's payload, and no policy's subject.
  edit(join(copy, 'schemas', 'envelope.schema.json'), '"$id"', '"$comment": "edited", "$id"')
  t.same(versions(), common, 'an edit to the envelope schema changes no version')
})

t.test('the version is of the rules and of those sources', async (t) => {
  for (const [kind, policy] of Object.entries(policies)) {
    const rulesOnly = `sha256:${createHash('sha256')
      .update(JSON.stringify(policy, (_key, value: unknown) => (typeof value === 'function' ? `fn:${value.toString()}` : value)))
      .digest('base64url')}`
    const expected = `sha256:${createHash('sha256')
      .update(JSON.stringify(policy, (_key, value: unknown) => (typeof value === 'function' ? `fn:${value.toString()}` : value)))
      .update(sourcesText([policyModule(kind), ENGINE_MODULE, join(POLICIES, 'lib', 'received-schema.ts')]))
      .update(kindSchemaText(kind))
      .digest('base64url')}`
    t.not(policyVersion(policy), rulesOnly, `${kind}: not of its rules as data alone`)
    t.equal(policyVersion(policy), expected, `${kind}: of its rules and its sources, the received schema among them, and of its schemas`)
    t.same(versionEntries(kind), [policyModule(kind), ENGINE_MODULE, join(POLICIES, 'lib', 'received-schema.ts')], `${kind}: the files it hashes`)
  }
  const schemaPaths = (kind: string) => kindSchemaSources(kind).map((f) => f.path)
  t.same(
    schemaPaths('entry-exit.record'),
    ['schemas/common.schema.json', 'schemas/kinds/entry-exit.record.schema.json'],
    "a record's schemas: its own and the common definitions"
  )
  t.same(
    schemaPaths('entry-exit.batch'),
    ['schemas/common.schema.json', 'schemas/kinds/entry-exit.batch.schema.json', 'schemas/kinds/entry-exit.record.schema.json'],
    "a batch's: its own, its record's and the common definitions"
  )
  t.same(
    schemaPaths('biometric.match-request'),
    ['schemas/common.schema.json', 'schemas/kinds/biometric.match-request.schema.json'],
    "a match request's: its own and the common definitions (its own $defs are in it)"
  )
})
