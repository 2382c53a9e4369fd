// Attacks on who may ask what (OWASP API Security Top 10, 2023: API1 object
// level, API2 authentication, API5 function level): every endpoint answers
// 401 or 403 before it looks at the input; no caller reads another's objects
// or another role's endpoints; every query parameter is held to its schema;
// and a refusal never echoes more than a short piece of what was sent.
import t, { type Test } from 'tap'
import { X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { issueClient, loadIssuer } from '../gateway/trust/pki.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, copyKeys, eventually, KEYS_DIR, startGateway, testConfig } from './helper.ts'

const { Agent, request } = undiciModule()

interface Answer {
  status: number
  type: string
  body: string
  json(): Record<string, any>
}

/** A caller with some certificate (or none), with or without a token. */
function caller(t: Test, baseUrl: string, dir: string | null) {
  const tls = dir === null ? {} : { cert: readFileSync(join(dir, 'client.crt.pem')), key: readFileSync(join(dir, 'client.key.pem')) }
  const agent = new Agent({ connect: { ...tls, ca: readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem')) } })
  t.teardown(() => agent.close())
  let token: string | undefined
  const call = async (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await request(`${baseUrl}${path}`, {
      method: method as 'GET',
      body,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      dispatcher: agent
    })
    const text = await res.body.text()
    return { status: res.statusCode, type: String(res.headers['content-type']), body: text, json: () => JSON.parse(text) }
  }
  return {
    call,
    async login(): Promise<void> {
      const res = await call('POST', '/v1/token')
      if (res.status !== 200) throw new Error(`no token: ${res.body}`)
      token = res.json().access_token
    }
  }
}

function expectProblem(t: Test, res: Answer, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: ${status}`)
  t.match(res.type, /^application\/problem\+json/, `${what}: a problem document`)
  t.equal(res.json().code, code, `${what}: ${code}`)
}

const CA = join(KEYS_DIR, 'CA')
const OFFICER = join(CA, 'privacy-officers', 'po-1')
const OPERATOR = join(CA, 'operators', 'ops-1')
const CBSA = join(CA, 'agencies', 'CBSA-pik-primary')

t.test('authentication comes before the input is looked at', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const anonymous = caller(t, gw.url, null)
  const garbage: Array<[string, string, string | Buffer | undefined, Record<string, string>]> = [
    ['POST', '/v1/messages', 'hello', { 'content-type': 'text/plain' }],
    ['POST', '/v1/messages', 'not a jws', { 'content-type': 'application/jose' }],
    ['POST', '/v1/messages', '', { 'content-type': 'application/jose' }],
    ['POST', '/v1/messages', Buffer.alloc(9 * 1024 * 1024, 0x61), { 'content-type': 'application/jose' }],
    ['POST', '/v1/exchange', '{', { 'content-type': 'application/json' }],
    ['POST', '/v1/witness/add-checkpoint', 'x', { 'content-type': 'text/plain' }],
    ['GET', '/v1/witness/checkpoint', undefined, {}],
    ['GET', '/v1/audit/entries?limit=Infinity', undefined, {}],
    ['GET', '/v1/audit/entries/abc', undefined, {}],
    ['POST', '/v1/audit/disclosures', '{"__proto__":{}}', { 'content-type': 'application/json' }],
    ['GET', '/v1/messages/NOT-AN-ID?x=1', undefined, {}],
    ['GET', '/v1/operations/dead-letters?limit=-1', undefined, {}],
    ['POST', '/v1/policies/dry-run', '[', { 'content-type': 'application/xml' }],
    ['GET', '/v1/policies?x=1', undefined, {}],
    ['POST', '/v1/token', 'grant_type=password', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['POST', '/v1/token', '{', { 'content-type': 'application/json' }],
    ['GET', '/metrics?x=1', undefined, {}]
  ]
  for (const [method, path, body, headers] of garbage) {
    expectProblem(
      t,
      await anonymous.call(method, path, body, headers),
      401,
      'UNAUTHENTICATED',
      `no certificate: ${method} ${path} ${headers['content-type'] ?? ''}`
    )
  }

  // A registered certificate of the wrong role is refused for its role, not for its input.
  const cbsa = caller(t, gw.url, CBSA)
  await cbsa.login()
  expectProblem(
    t,
    await cbsa.call('POST', '/v1/exchange', 'x', { 'content-type': 'text/plain' }),
    403,
    'FORBIDDEN',
    'an agency on /v1/exchange, wrong media type'
  )
  expectProblem(t, await cbsa.call('GET', '/v1/audit/entries?limit=Infinity'), 403, 'FORBIDDEN', 'an agency on the audit API, bad query')
  expectProblem(t, await cbsa.call('GET', '/v1/operations/dead-letters?limit=1e309'), 403, 'FORBIDDEN', 'an agency on operations, bad query')
  const cbsaNoToken = caller(t, gw.url, CBSA)
  expectProblem(t, await cbsaNoToken.call('POST', '/v1/messages', 'x', { 'content-type': 'text/plain' }), 401, 'UNAUTHENTICATED', 'no token, wrong media type')
})

t.test('a certificate that expires while its connection is kept alive is refused from the request after its notAfter', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const gw = await startGateway(t, testConfig('CA', { trustFile, runWorkers: false }))
  // An operator's certificate valid for a few seconds more, issued and
  // registered once the gateway runs (a busy machine starts one slowly):
  // TLS takes it at the handshake.
  const issuer = await loadIssuer(join(dir, 'CA', 'ca.crt.pem'), join(dir, 'CA', 'ca.key.pem'))
  const certSubject = { O: 'CA Gateway Operations', OU: 'operator', CN: 'ops-brief.operations.ca' }
  const shortLived = await issueClient(issuer, { subject: { C: 'CA', ...certSubject }, days: 8 / 86_400 })
  const file = JSON.parse(readFileSync(trustFile, 'utf8'))
  file.operators = [...(file.operators ?? []), { name: 'ops-brief', certSubject, certSha256: shortLived.sha256 }]
  writeFileSync(trustFile, JSON.stringify(file, null, 2))
  t.match(await gw.app.reloadTrust('test'), { ok: true })
  const notAfter = Date.parse(new X509Certificate(shortLived.certPem).validTo)

  let handshakes = 0
  gw.app.server.on('secureConnection', () => handshakes++)
  const agent = new Agent({ connections: 1, connect: { cert: shortLived.certPem, key: shortLived.keyPem, ca: readFileSync(join(dir, 'CA', 'ca.crt.pem')) } })
  t.teardown(() => agent.close())
  const token = async () => {
    const res = await request(`${gw.url}/v1/token`, { method: 'POST', dispatcher: agent })
    const text = await res.body.text()
    return { status: res.statusCode, at: Date.now(), json: () => JSON.parse(text) }
  }
  t.equal((await token()).status, 200, 'taken before its notAfter')
  const refused = await eventually(
    async () => {
      const res = await token()
      return res.status === 200 ? undefined : res
    },
    30_000,
    'the certificate to expire'
  )
  t.equal(refused.status, 401)
  t.equal(refused.json().code, 'UNAUTHENTICATED')
  t.match(refused.json().detail, /expired at/, 'saying why')
  t.ok(refused.at >= notAfter, 'not before its notAfter')
  t.equal(handshakes, 1, 'on the connection opened while it was valid')
})

t.test("no caller reads another's objects or another role's endpoints", async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const ircc = client(t, 'IRCC', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  t.equal((await cbsa.status(String(envelope.id))).status, 200, 'the sender reads its own message')
  expectProblem(t, asAnswer(await ircc.status(String(envelope.id))), 404, 'NOT_FOUND', 'another agency reads it: as if it did not exist')

  const officer = caller(t, gw.url, OFFICER)
  await officer.login()
  const operator = caller(t, gw.url, OPERATOR)
  await operator.login()
  expectProblem(t, await officer.call('GET', `/v1/messages/${String(envelope.id)}`), 403, 'FORBIDDEN', "a privacy officer on an agency's message")
  expectProblem(t, await officer.call('GET', '/v1/operations/dead-letters'), 403, 'FORBIDDEN', 'a privacy officer on operations')
  expectProblem(t, await operator.call('GET', '/v1/audit/entries'), 403, 'FORBIDDEN', 'an operator on the audit API')
  expectProblem(
    t,
    await operator.call('POST', '/v1/messages', await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))), {
      'content-type': 'application/jose'
    }),
    403,
    'FORBIDDEN',
    'an operator submitting'
  )
  expectProblem(
    t,
    asAnswer(await cbsa.call('GET', '/v1/audit/entries', undefined, { authorization: `Bearer ${await cbsa.token()}` })),
    403,
    'FORBIDDEN',
    'an agency on the audit API'
  )
})

t.test('every query parameter is validated strictly', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const officer = caller(t, gw.url, OFFICER)
  await officer.login()
  const operator = caller(t, gw.url, OPERATOR)
  await operator.login()
  t.equal((await officer.call('GET', '/v1/audit/entries?limit=10')).status, 200, 'a plain limit')
  for (const limit of ['Infinity', '-Infinity', '1e309', '1e3', '0x10', '%205', '5%20', '1.0', '007', '', '0', '1001', '-1', 'NaN']) {
    expectProblem(t, await officer.call('GET', `/v1/audit/entries?limit=${limit}`), 400, 'REQUEST_INVALID', `limit=${limit}`)
  }
  expectProblem(t, await officer.call('GET', '/v1/audit/entries?limit=1&limit=2'), 400, 'REQUEST_INVALID', 'limit twice')
  expectProblem(t, await officer.call('GET', '/v1/audit/entries?secret=1'), 400, 'REQUEST_INVALID', 'an unknown parameter')
  // A name no entry can hold is refused, not answered with nothing, which reads as "no such entries".
  expectProblem(t, await officer.call('GET', '/v1/audit/entries?agency=cbsa'), 400, 'REQUEST_INVALID', 'an agency not in the code list (upper case)')
  expectProblem(t, await officer.call('GET', '/v1/audit/entries?event=bogus'), 400, 'REQUEST_INVALID', 'an event the ledger does not write')
  t.equal((await officer.call('GET', '/v1/audit/entries?agency=DHS-OBIM&event=dead-letter-resent')).status, 200, 'any agency and event of the lists')
  expectProblem(t, await officer.call('GET', '/v1/audit/entries?from=2016-12-31T23:59:60Z'), 400, 'REQUEST_INVALID', 'a leap second in from')
  expectProblem(
    t,
    await officer.call('GET', `/v1/audit/entries?messageId=${crypto.randomUUID().toUpperCase()}`),
    400,
    'REQUEST_INVALID',
    'a messageId in upper case'
  )
  expectProblem(t, await officer.call('GET', '/v1/audit/entries/1e3'), 400, 'REQUEST_INVALID', 'an entry number in exponent form')
  expectProblem(t, await officer.call('GET', '/v1/audit/export?format=xml'), 400, 'REQUEST_INVALID', 'an unknown export format')
  expectProblem(t, await officer.call('GET', '/v1/audit/verification?full=true'), 400, 'REQUEST_INVALID', 'a parameter on a route that takes none')
  expectProblem(t, await operator.call('GET', '/v1/operations/dead-letters?limit=Infinity'), 400, 'REQUEST_INVALID', 'dead letters limit=Infinity')
  expectProblem(t, await operator.call('GET', '/v1/operations/dead-letters/NOT-A-UUID'), 400, 'REQUEST_INVALID', 'a dead letter id that is not a UUID')
  const json = { 'content-type': 'application/json' }
  expectProblem(
    t,
    await officer.call('POST', '/v1/audit/disclosures', JSON.stringify({ documentNumber: 'ZZ1234567', issuingCountry: 'CAN', extra: 1 }), json),
    400,
    'REQUEST_INVALID',
    'an unknown member of a JSON body is refused, not dropped'
  )
  expectProblem(
    t,
    await officer.call('POST', '/v1/audit/disclosures', JSON.stringify({ documentNumber: 1, issuingCountry: 'VNM' }), json),
    400,
    'REQUEST_INVALID',
    'a number where the schema says string is not coerced'
  )
  expectProblem(
    t,
    await officer.call('POST', '/v1/audit/disclosures', JSON.stringify({ membershipId: ['1'] }), json),
    400,
    'REQUEST_INVALID',
    'an array where the schema says string is not unwrapped'
  )
  expectProblem(
    t,
    await officer.call('POST', '/v1/audit/legal-holds', JSON.stringify({ ref: 'HOLD-1', reason: 'r', messageId: crypto.randomUUID().toUpperCase() }), json),
    400,
    'REQUEST_INVALID',
    'a legal hold on an upper-case message id'
  )
  expectProblem(
    t,
    await officer.call('POST', '/v1/audit/legal-holds', JSON.stringify({ ref: 'HOLD-2', reason: 'r', messageId: `urn:uuid:${crypto.randomUUID()}` }), json),
    400,
    'REQUEST_INVALID',
    'a legal hold on a urn:uuid: id'
  )
  expectProblem(t, await officer.call('GET', '/v1/audit/export?cursor=A'), 400, 'REQUEST_INVALID', 'the export has no pages: a cursor is refused, not ignored')
  expectProblem(t, await officer.call('GET', '/v1/audit/export?limit=5'), 400, 'REQUEST_INVALID', 'nor a limit')
  const b64 = (text: string): string => Buffer.from(text).toString('base64url')
  for (const cursor of ['A', b64(' '), b64('0'), b64('seq:'), b64('seq: 1'), b64('seq:01'), b64('seq:1e3'), b64('seq:-1'), 'c2VxOjF']) {
    expectProblem(t, await officer.call('GET', `/v1/audit/entries?cursor=${cursor}`), 400, 'REQUEST_INVALID', `a cursor the gateway never gave: ${cursor}`)
  }
  t.equal((await officer.call('GET', `/v1/audit/entries?cursor=${b64('seq:1')}`)).status, 200, 'the cursor the gateway gives is taken')
  // A NUL (PostgreSQL's text refuses it: the query failed, a 500) or any control character, wherever text reaches a query or the ledger.
  for (const name of ['kind', 'purpose', 'agency', 'event', 'code', 'fieldPath', 'policyVersion']) {
    expectProblem(t, await officer.call('GET', `/v1/audit/entries?${name}=a%00b`), 400, 'REQUEST_INVALID', `a NUL in ${name}`)
    expectProblem(t, await officer.call('GET', `/v1/audit/export?${name}=a%0Ab`), 400, 'REQUEST_INVALID', `a line break in ${name}, exported`)
  }
  expectProblem(
    t,
    await officer.call('POST', '/v1/audit/legal-holds', JSON.stringify({ ref: 'HOLD-3', reason: 'a\u0000b', messageId: crypto.randomUUID() }), json),
    400,
    'REQUEST_INVALID',
    "a NUL in a hold's reason"
  )
  expectProblem(
    t,
    await operator.call('POST', `/v1/operations/dead-letters/${crypto.randomUUID()}/discard`, JSON.stringify({ reason: '\u0000' }), json),
    400,
    'REQUEST_INVALID',
    "a reason that is only a NUL, for a dead letter's discard"
  )
  for (const cursor of [b64('["2026-12-01T00:00:00.000Z","outbound","a\u0000b"]'), b64(`["x\u0000","outbound","${crypto.randomUUID()}"]`)]) {
    expectProblem(t, await operator.call('GET', `/v1/operations/dead-letters?cursor=${cursor}`), 400, 'REQUEST_INVALID', 'a dead-letter cursor holding a NUL')
  }
  const given = b64(JSON.stringify(['2026-12-01T00:00:00.000Z', 'outbound', crypto.randomUUID()]))
  t.equal(
    (await operator.call('GET', `/v1/operations/dead-letters?cursor=${given}`)).status,
    200,
    'a dead-letter cursor in the form the gateway gives is taken'
  )
})

t.test('a refusal echoes no more than a short piece of the input', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const base = sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' })
  const huge = 'K'.repeat(1024 * 1024)
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a 1 MB kind', { ...base, kind: huge }, 'KIND_UNKNOWN'],
    ['a 64 KB member name', { ...base, [huge.slice(0, 65536)]: 1 }, 'SCHEMA_INVALID'],
    ['a 1 MB purpose', { ...base, purpose: huge }, 'SCHEMA_INVALID']
  ]
  for (const [what, envelope, code] of cases) {
    const res = await cbsa.submit(await cbsa.sign(cbsa.envelope(envelope)))
    t.equal(res.json().code, code, `${what}: ${code}`)
    t.ok(res.body.length < 2048, `${what}: the problem document is ${res.body.length} bytes`)
  }
  const alg = await cbsa.call(
    'POST',
    '/v1/messages',
    `${Buffer.from(JSON.stringify({ alg: huge, kid: 'k', typ: 'btb-envelope+jws' })).toString('base64url')}.e30.AAAA`,
    { 'content-type': 'application/jose', authorization: `Bearer ${await cbsa.token()}` }
  )
  t.equal(alg.json().code, 'JWS_INVALID', 'a header that long is refused before it is read')
  t.ok(alg.body.length < 2048, `a 1 MB alg: the problem document is ${alg.body.length} bytes`)
  const longPath = await cbsa.call('GET', `/v1/messages/${crypto.randomUUID()}?${'q'.repeat(8000)}=1`, undefined, {
    authorization: `Bearer ${await cbsa.token()}`
  })
  t.equal(longPath.json().code, 'REQUEST_INVALID')
  t.ok(longPath.body.length < 2048, `an 8 KB query string: the problem document is ${longPath.body.length} bytes`)
})

function asAnswer(res: { status: number; headers: Record<string, unknown>; body: string }): Answer {
  return { status: res.status, type: String(res.headers['content-type']), body: res.body, json: () => JSON.parse(res.body) }
}
