// The schema compilers shared by the apps of one process
// (gateway/lib/schema-compilers.ts): a route schema is compiled once, however
// many apps are built, and apps configured differently never share.
import t from 'tap'
import { buildSerializer, buildValidator } from '../gateway/lib/schema-compilers.ts'
import { AJV_OPTIONS } from '../gateway/lib/ajv-options.ts'
import { buildApp } from '../gateway/app.ts'
import { loadAgencyCredentials } from '../sandbox/agency-client.ts'
import { dropQueuePrefix, injectedPeerCertificate, KEYS_DIR, presenting, SYSTEMS, testConfig } from './helper.ts'

const body = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false }
const reply = { type: 'object', properties: { ok: { type: 'boolean' } } }
const route = { schema: body, method: 'POST', url: '/x', httpPart: 'body' }

t.test('a second app gets the validator and serialiser the first compiled', async (t) => {
  const options = { customOptions: { ...AJV_OPTIONS } }
  const first = buildValidator({}, options as never)(route as never)
  const second = buildValidator({}, options as never)(route as never)
  t.equal(second, first, 'the same validator function')
  t.notOk(first({ n: '1' }), 'and it still coerces nothing')

  const serialize = buildSerializer({}, {})({ schema: reply, method: 'GET', url: '/x', httpStatus: '200' })
  t.equal(buildSerializer({}, {})({ schema: reply, method: 'GET', url: '/x', httpStatus: '200' }), serialize, 'the same serialiser')
  t.equal(serialize({ ok: true, secret: 'x' }), '{"ok":true}')
})

t.test('different shared schemas or options are compiled apart', async (t) => {
  const strict = buildValidator({}, { customOptions: { ...AJV_OPTIONS } } as never)(route as never)
  const coercing = buildValidator({}, { customOptions: { ...AJV_OPTIONS, coerceTypes: true } } as never)(route as never)
  t.not(coercing, strict)
  t.ok(coercing({ n: '1' }), 'an app that asked for coercion gets it')
  t.notOk(strict({ n: '1' }), 'and the strict one is untouched')

  const plain = buildSerializer({}, {})({ schema: reply, method: 'GET', url: '/x', httpStatus: '200' })
  const other = buildSerializer({ 'urn:other': { $id: 'urn:other', type: 'string' } }, {})({ schema: reply, method: 'GET', url: '/x', httpStatus: '200' })
  t.not(other, plain)
})

t.test('two gateways built in one process answer and refuse through the shared compilers', async (t) => {
  for (const country of ['CA', 'US'] as const) {
    const config = testConfig(country)
    const app = await buildApp(config, { peerCertificate: injectedPeerCertificate })
    t.teardown(async () => {
      await app.close()
      await dropQueuePrefix(config.queuePrefix)
    })
    const system = country === 'CA' ? SYSTEMS.CBSA : SYSTEMS.CBP
    const agency = loadAgencyCredentials(KEYS_DIR, country, system.agency, system.system)
    const res = await app.inject({ method: 'GET', url: '/v1/policies', headers: presenting(agency.cert) })
    t.equal(res.statusCode, 200, `${country}: the published policies, through the shared serialiser`)
    t.ok(Object.keys(res.json<{ kinds: object }>().kinds).length > 0, `${country}: with every kind`)
    const refused = await app.inject({ method: 'GET', url: '/v1/policies?kind=1&kind=2', headers: presenting(agency.cert) })
    t.equal(refused.statusCode, 400, `${country}: and the shared validators still refuse`)
  }
})
