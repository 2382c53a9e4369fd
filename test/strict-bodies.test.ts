// Every JSON body the gateway takes is validated by the app's one Ajv
// configuration (gateway/lib/ajv-options.ts): a member of the wrong type is
// refused, not coerced, and an unknown member is refused, not dropped. One
// case per route with a JSON body, so that a route that built its own
// validator, or coerced, would fail here.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { AJV_OPTIONS } from '../gateway/lib/ajv-options.ts'
import { KEYS_DIR, startGateway, testConfig } from './helper.ts'

const { Agent, request } = undiciModule()

const CA = join(KEYS_DIR, 'CA')

async function login(t: Test, baseUrl: string, dir: string) {
  const agent = new Agent({
    connect: { cert: readFileSync(join(dir, 'client.crt.pem')), key: readFileSync(join(dir, 'client.key.pem')), ca: readFileSync(join(CA, 'ca.crt.pem')) }
  })
  t.teardown(() => agent.close())
  const call = async (method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}) => {
    const res = await request(`${baseUrl}${path}`, { method, body, headers, dispatcher: agent })
    return { status: res.statusCode, json: JSON.parse(await res.body.text()) as Record<string, any> }
  }
  const token = (await call('POST', '/v1/token')).json.access_token as string
  // A string is sent as it is: JSON that JSON.stringify would never write.
  return (path: string, body: unknown) =>
    call('POST', path, typeof body === 'string' ? body : JSON.stringify(body), { authorization: `Bearer ${token}`, 'content-type': 'application/json' })
}

t.test('the app compiles its validators with the shared options', async (t) => {
  t.match(AJV_OPTIONS, { strict: true, coerceTypes: false, removeAdditional: false, useDefaults: false })
})

t.test('no route coerces a body member or drops an unknown one, nor takes an identifier that names no one', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const officer = await login(t, gw.url, join(CA, 'privacy-officers', 'po-1'))
  const operator = await login(t, gw.url, join(CA, 'operators', 'ops-1'))
  const id = randomUUID()
  const cases: Array<[string, typeof officer, string, unknown]> = [
    ['disclosures: a number for a string', officer, '/v1/audit/disclosures', { membershipId: 12345 }],
    ['disclosures: an unknown member', officer, '/v1/audit/disclosures', { membershipId: '12345', extra: true }],
    ['disclosures: a date of birth that is no date', officer, '/v1/audit/disclosures', { surname: 'Tremblay', dateOfBirth: '1984-02-30' }],
    [
      'legal hold: a date of birth that is no date',
      officer,
      '/v1/audit/legal-holds',
      { ref: 'HOLD-41', reason: 'r', surname: 'Tremblay', dateOfBirth: '2023-02-29' }
    ],
    // Identifiers that are nothing once read as the ledger reads them: no message names them, so a report or a hold on them would say nothing.
    ['disclosures: a document number of fillers', officer, '/v1/audit/disclosures', { documentNumber: '<<-', issuingCountry: 'CAN' }],
    ['legal hold: a document of fillers', officer, '/v1/audit/legal-holds', { ref: 'HOLD-44', reason: 'r', documentNumber: '<<<', issuingCountry: '<' }],
    ['legal hold: a surname of a space', officer, '/v1/audit/legal-holds', { ref: 'HOLD-45', reason: 'r', surname: ' ', dateOfBirth: '1984-03-07' }],
    [
      'legal hold: a surname of an accent alone',
      officer,
      '/v1/audit/legal-holds',
      { ref: 'HOLD-46', reason: 'r', surname: '\u0301', dateOfBirth: '1984-03-07' }
    ],
    ['legal hold: a membership of a control character', officer, '/v1/audit/legal-holds', { ref: 'HOLD-47', reason: 'r', membershipId: '\u0000' }],
    ['legal hold: an array for a string', officer, '/v1/audit/legal-holds', { ref: 'HOLD-42', reason: ['r'], messageId: id }],
    ['legal hold: an unknown member', officer, '/v1/audit/legal-holds', { ref: 'HOLD-43', reason: 'r', messageId: id, until: 'never' }],
    ['resend: a number for a reason', operator, `/v1/operations/dead-letters/${id}/resend`, { reason: 42 }],
    ['resend: an unknown member', operator, `/v1/operations/dead-letters/${id}/resend`, { reason: 'back', force: true }],
    ['discard: a boolean for a reason', operator, `/v1/operations/dead-letters/${id}/discard`, { reason: true }],
    ['discard: an unknown member', operator, `/v1/operations/dead-letters/${id}/discard`, { reason: 'gone', queue: 'agency-push' }]
  ]
  const head = await gw.app.store.auditHead()
  for (const [what, post, path, body] of cases) {
    const res = await post(path, body)
    t.equal(res.status, 400, what)
    t.equal(res.json.code, 'REQUEST_INVALID', `${what}: REQUEST_INVALID`)
  }
  t.same(await gw.app.store.auditHead(), head, 'no refused body reached the ledger')
  t.same(await gw.app.store.legalHolds(), [], 'no hold was placed')
})

t.test('a JSON body with a member given twice is refused BODY_INVALID, quoting none of it, and changes nothing', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const officer = await login(t, gw.url, join(CA, 'privacy-officers', 'po-1'))
  const cases: Array<[string, string, string]> = [
    [
      'a disclosure report on one document or another',
      '/v1/audit/disclosures',
      '{"documentNumber":"C4471862","issuingCountry":"VNM","documentNumber":"AB123456"}'
    ],
    [
      'a hold on one traveller or another',
      '/v1/audit/legal-holds',
      '{"ref":"HOLD-44","reason":"court order","membershipId":"TREMBLAY","membershipId":"NGUYEN"}'
    ],
    ['a name given twice, deeper in', '/v1/audit/disclosures', '{"documentNumber":"C4471862","issuingCountry":"VNM","x":{"Tremblay":1,"Tremblay":2}}']
  ]
  const head = await gw.app.store.auditHead()
  for (const [what, path, body] of cases) {
    const res = await officer(path, body)
    t.equal(res.status, 400, what)
    t.equal(res.json.code, 'BODY_INVALID', `${what}: BODY_INVALID`)
    t.match(res.json.detail, /given twice/, `${what}: the detail says why`)
    for (const quoted of ['C4471862', 'AB123456', 'TREMBLAY', 'NGUYEN', 'Tremblay', 'documentNumber', 'membershipId'])
      t.notOk(String(res.json.detail).includes(quoted), `${what}: the detail quotes no "${quoted}"`)
  }
  t.same(await gw.app.store.auditHead(), head, 'nothing reached the ledger')
  t.same(await gw.app.store.legalHolds(), [], 'no hold was placed')
})
