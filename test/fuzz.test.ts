// The fuzzer's properties (fuzz/, npm run fuzz) with far fewer inputs: a
// fixed seed, a real gateway pair over mutual TLS, and each invariant asserted
// on its own so that a failure names the invariant and its counterexamples.
// First, without the gateways, that the generators mean what they claim: an
// envelope called invalid is invalid for an independent reading of the
// schemas, and one called valid is valid.
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import ajvFormats from 'ajv-formats'
import fc from 'fast-check'
import { allSchemas, envelopeSchema, kindSchemas, type Kind } from '../schemas/index.ts'
import { fuzzCase } from '../fuzz/arbitraries/index.ts'
import { badEnvelopeEdit, validEnvelopeVariations } from '../fuzz/arbitraries/envelope.ts'
import { OWN_SIGNING } from '../fuzz/arbitraries/jws.ts'
import { validHttp } from '../fuzz/arbitraries/http.ts'
import { runCampaign } from '../fuzz/campaign.ts'
import type { EncodingEdit, EnvelopeEdit, SubmitCase } from '../fuzz/case.ts'
import { CANONICAL_UUID, FRESH_WINDOW, isContractInstant, isIssuedCursor, issuedCursor } from '../fuzz/contract.ts'
import { loadIdentities } from '../fuzz/identities.ts'
import { BAD_ID_FORMS } from '../fuzz/arbitraries/values.ts'
import { respell } from '../fuzz/spellings.ts'
import { materialize, type MaterializeContext } from '../fuzz/materialize.ts'
import { INVARIANTS, checkAnswer } from '../fuzz/oracle.ts'
import { sampleCase } from '../fuzz/seeds.ts'
import { SUBMISSION_TEMPLATES } from '../fuzz/templates.ts'

const SEED = 20261201

/** A submission of a template, from its own sender, signed with its own key, with these edits and no others. */
function selfCheck(template: number, edits: { envelope?: EnvelopeEdit[]; encoding?: EncodingEdit[] }): SubmitCase {
  return {
    kind: 'submit',
    endpoint: 'messages',
    family: 'self-check',
    body: { template, envelope: edits.envelope ?? [], text: [], header: [], signing: OWN_SIGNING, encoding: edits.encoding ?? [] },
    http: validHttp('messages', SUBMISSION_TEMPLATES[template % SUBMISSION_TEMPLATES.length]!.sender)
  }
}

/** An envelope as the gateway would read it: the JWS payload of a materialised submission, parsed. */
function envelopeOf(edits: EnvelopeEdit[], template: number, ctx: MaterializeContext): Record<string, unknown> {
  const jws = String(materialize(selfCheck(template, { envelope: edits }), ctx).body)
  return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

t.test('the generators mean what they say (no gateway involved)', async (t) => {
  // A second, independent reading of the schemas: types, required members,
  // closed objects and lengths are not in question between validators.
  const ajv = new Ajv2020({ strict: false, allErrors: false })
  ajvFormats.default(ajv)
  for (const schema of allSchemas) ajv.addSchema(schema as object)
  const envelope = ajv.getSchema(String((envelopeSchema as { $id: string }).$id))!
  const valid = (value: Record<string, unknown>): boolean =>
    envelope(value) && ajv.getSchema(String((kindSchemas[value.kind as Kind] as { $id: string }).$id))!(value.payload) === true
  const ctx: MaterializeContext = {
    identities: loadIdentities(),
    pools: { submissions: [], exchanges: [] },
    token: () => undefined,
    now: () => Date.now(),
    host: '127.0.0.1:1'
  }

  await t.test('known-valid envelopes are valid, with a canonical id and a fresh createdAt in the profile', async (t) => {
    const samples = fc.sample(fc.tuple(validEnvelopeVariations('messages'), fc.nat(100)), { seed: SEED, numRuns: 300 })
    const wrong = samples
      .map(([edits, template]) => envelopeOf(edits, template, ctx))
      .filter((e) => {
        const age = (Date.now() - Date.parse(String(e.createdAt))) / 1000
        return (
          !valid(e) ||
          !CANONICAL_UUID.test(String(e.id)) ||
          !isContractInstant(String(e.createdAt)) ||
          age > FRESH_WINDOW.pastSeconds + 5 ||
          age < -FRESH_WINDOW.futureSeconds - 5
        )
      })
    t.same(
      wrong.map((e) => ({ id: e.id, createdAt: e.createdAt })),
      [],
      'every known-valid envelope is valid'
    )
  })

  await t.test('structural mutations (types, lengths, members) are invalid for any validator', async (t) => {
    const structural = badEnvelopeEdit('messages').filter(
      (e) => e.op === 'retype' || e.op === 'huge' || e.op === 'delete-required' || (e.op === 'member' && e.tag === 'extra-member')
    )
    const samples = fc.sample(fc.tuple(structural, fc.nat(100)), { seed: SEED, numRuns: 400 })
    const accepted = samples.filter(([edit, template]) => valid(envelopeOf([edit], template, ctx))).map(([edit]) => edit)
    t.same(accepted, [], 'no structural mutation leaves the envelope valid')
  })

  await t.test('every bad spelling of an id is another text than the id, whatever letters it has', async (t) => {
    // fast-check's uuids include ids of digits alone, which have no upper case.
    for (const id of ['00000000-0000-4000-8000-000000000000', '12345678-9012-4345-8678-901234567890', 'abcdef01-2345-4678-9abc-def012345678'])
      for (const form of BAD_ID_FORMS) t.not(respell(id, form), id, `${form} of ${id}`)
  })

  await t.test('a bad encoding is inside the serialisation: whitespace around it is not bad, the gateway trims it', async (t) => {
    const edges: string[] = []
    // Every place in the header and in the signature, and past them, as the generator's positions wrap.
    const places = Array.from({ length: 201 }, (_, at) => at)
    for (const part of [0, 2])
      for (const text of [' ', '\n', '\t', '\r\n'])
        for (const at of places) {
          const body = String(materialize(selfCheck(0, { encoding: [{ op: 'insert', part, at, text, tag: 'x', effect: 'bad' }] }), ctx).body)
          if (body.trim() !== body) edges.push(`${JSON.stringify(text)} at ${at} of part ${part}`)
        }
    t.same(edges, [], 'no insertion lands before the first character or after the last')
  })

  await t.test('the contract helpers', async (t) => {
    t.ok(isContractInstant('2026-12-01T18:45:12Z') && isContractInstant('2026-12-01T13:45:12.123456789-05:00'))
    for (const bad of ['2026-12-01t18:45:12Z', '2026-12-01T18:45:12+08', '2016-12-31T23:59:60Z', '2026-02-30T00:00:00Z', '2026-12-01 18:45:12Z'])
      t.notOk(isContractInstant(bad), bad)
    t.ok(isIssuedCursor(issuedCursor(42)))
    for (const bad of ['A', 'IA', 'c2VxOjF', issuedCursor(42).toUpperCase()]) t.notOk(isIssuedCursor(bad), bad)
  })

  await t.test('the oracle flags what it must (a blind oracle would pass every gateway)', async (t) => {
    const invalid = sampleCase(fuzzCase(), SEED, 0)
    const req = { identity: 'CBSA' as const, method: 'POST', path: '/v1/messages', headers: {} }
    const answer = (status: number, type: string, body: unknown) => ({
      status,
      headers: { 'content-type': type },
      body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
    })
    const problem = (status: number, code: string) =>
      answer(status, 'application/problem+json', { type: 'x', title: 'x', status, detail: 'x', instance: '/', code })
    const invariants = (c: typeof invalid, a: ReturnType<typeof answer>) =>
      checkAnswer(c, req, a)
        .map((v) => v.invariant)
        .sort()
    const submit: SubmitCase = {
      kind: 'submit',
      endpoint: 'messages',
      family: 'x',
      body: { template: 0, envelope: [], text: [], header: [], signing: OWN_SIGNING, encoding: [{ op: 'replace', body: 'x', tag: 'x', effect: 'bad' }] },
      http: validHttp('messages', 'CBSA')
    }
    t.same(invariants(submit, problem(400, 'JWS_INVALID')), [], 'a refusal with a known code is fine')
    t.same(invariants(submit, answer(400, 'text/plain', 'Bad Request')), ['problem-document'], 'a bare 400')
    t.same(invariants(submit, problem(400, 'NOT_A_CODE')), ['problem-document'], 'an unknown code')
    t.same(invariants(submit, problem(500, 'INTERNAL')), ['no-5xx'], 'a 500')
    t.same(invariants(submit, answer(202, 'application/json', {})), ['wrongly-accepted'], 'an invalid input accepted')
    const valid: SubmitCase = { ...submit, body: { ...submit.body, encoding: [] } }
    t.same(invariants(valid, problem(422, 'SCHEMA_INVALID')), ['valid-refused'], 'a known-valid input refused')
    const wrongCaller: SubmitCase = { ...submit, http: { ...submit.http, auth: 'none', authFails: true, effect: 'bad', tags: ['token:none'] } }
    t.same(invariants(wrongCaller, problem(400, 'JWS_INVALID')), ['auth-first'], 'a missing token answered about the body')
    t.same(invariants(wrongCaller, problem(401, 'UNAUTHENTICATED')), [], 'a missing token answered 401')
  })

  await t.test('inputs are reproducible from the seed and their index alone', async (t) => {
    const arbitrary = fuzzCase()
    t.same(sampleCase(arbitrary, SEED, 1234), sampleCase(arbitrary, SEED, 1234))
    t.not(JSON.stringify(sampleCase(arbitrary, SEED, 1234)), JSON.stringify(sampleCase(arbitrary, SEED, 1235)))
  })
})

t.test('fuzzing a running gateway pair', async (t) => {
  const result = await runCampaign({ runs: 1500, seed: SEED, concurrency: 16, shrinkMs: 800, maxShrunk: 8, settleMs: 15_000 })
  const { stats } = result
  t.comment(`${stats.inputs} inputs in ${(result.elapsedMs / 1000).toFixed(1)} s; statuses ${JSON.stringify(stats.statuses)}`)

  t.ok(
    Object.values(stats.byEndpoint).every((n) => n > 50),
    `every endpoint was exercised: ${JSON.stringify(stats.byEndpoint)}`
  )
  t.ok(stats.byVerdict.valid > 50 && stats.byVerdict.invalid > 1000, `both streams ran: ${JSON.stringify(stats.byVerdict)}`)
  t.ok(result.counts.validSent > 20, `${result.counts.validSent} known-valid messages were accepted`)
  t.ok((result.ledgers.find((l) => l.gateway === 'CA')?.byEvent.refused ?? 0) > 500, 'refusals of identified callers were audited')

  // One assertion per invariant, naming each kind of violation with its minimal counterexample.
  for (const invariant of INVARIANTS) {
    const groups = result.groups.filter((g) => g.invariant === invariant)
    const described = groups.slice(0, 8).map((g) => {
      const example = g.shrunk === undefined ? '' : `\n      ${g.shrunk.request.split('\n')[0]}\n      -> ${g.shrunk.answer.slice(0, 200)}`
      return `${g.endpoint} · ${g.tag} · ${g.count}× · ${g.detail.split('\n')[0]}${example}`
    })
    t.equal(stats.violations[invariant], 0, `invariant ${invariant}${described.length === 0 ? '' : `:\n    ${described.join('\n    ')}`}`)
  }
})
