// Every refusal of POST /v1/messages answers its own stable code in an RFC
// 9457 problem document, is audited when the caller is known, and changes
// nothing else: no message, no outbox item, no job.
import t from 'tap'
import { CompactSign } from 'jose'
import { randomUUID, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sha256 } from '../gateway/lib/digest.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { citableBy } from '../policies/authorities.ts'
import { listExamples } from '../schemas/index.ts'
import { loadAgencyCredentials, type AgencyClient } from '../sandbox/agency-client.ts'
import { client, InjectedAgencyClient, injectGateway, KEYS_DIR, testConfig } from './helper.ts'
import { asPartnerOf, forwardedTo, requestReceived } from './lib/partner-delivery.ts'

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

t.test('refusals', async (t) => {
  // No workers: an accepted message stays accepted, so its status can be compared.
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const ircc = client(t, 'IRCC', gw.url)
  const entryExit = (overrides: Record<string, unknown> = {}): Record<string, unknown> =>
    cbsa.envelope({ ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }), ...overrides })

  async function expectProblem(
    res: { status: number; headers: Record<string, unknown>; body: string },
    status: number,
    code: string,
    what: string
  ): Promise<void> {
    t.equal(res.status, status, `${what}: status ${status}`)
    t.match(String(res.headers['content-type']), /^application\/problem\+json/, `${what}: a problem document`)
    const problem = JSON.parse(res.body) as Record<string, unknown>
    t.equal(problem.code, code, `${what}: code ${code}`)
    t.equal(problem.status, status)
    t.type(problem.detail, 'string')
  }

  async function submitAs(who: AgencyClient, body: string, contentType = 'application/jose') {
    return who.submit(body, contentType)
  }

  const auditBefore = (await gw.app.store.auditEntries(0, 100_000)).length

  await t.test('no client certificate: UNAUTHENTICATED', async () => {
    // An injected request that presents none, as a TLS client without one.
    const res = await gw.app.inject({ method: 'POST', url: '/v1/token' })
    await expectProblem({ status: res.statusCode, headers: res.headers, body: res.body }, 401, 'UNAUTHENTICATED', 'no certificate')
  })

  await t.test("a certificate from the partner country's agency CA is not an agency of this gateway", async (t) => {
    // A CBP certificate: it chains to a root the CA gateway trusts (the partner's), but names no agency of it.
    const cbpCreds = { ...loadAgencyCredentials(KEYS_DIR, 'US', 'CBP', 'ades'), ca: readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem'), 'utf8') }
    const cbp = new InjectedAgencyClient(cbpCreds, gw.app, gw.url)
    t.teardown(() => cbp.close())
    const res = await cbp.call('POST', '/v1/token')
    await expectProblem(res, 401, 'UNAUTHENTICATED', 'foreign agency certificate')
  })

  await t.test('no token: UNAUTHENTICATED', async () => {
    const res = await cbsa.call('POST', '/v1/messages', await cbsa.sign(entryExit()), { 'content-type': 'application/jose' })
    await expectProblem(res, 401, 'UNAUTHENTICATED', 'no token')
  })

  await t.test('a token presented over another certificate: TOKEN_CERT_MISMATCH', async () => {
    const token = await cbsa.token()
    const res = await ircc.call('POST', '/v1/messages', await ircc.sign(entryExit()), { 'content-type': 'application/jose', authorization: `Bearer ${token}` })
    await expectProblem(res, 401, 'TOKEN_CERT_MISMATCH', 'stolen token')
  })

  await t.test('a forged token: UNAUTHENTICATED', async () => {
    const token = await cbsa.token()
    const [h, p] = token.split('.')
    const res = await cbsa.call('POST', '/v1/messages', 'x.y.z', { 'content-type': 'application/jose', authorization: `Bearer ${h}.${p}.AAAA` })
    await expectProblem(res, 401, 'UNAUTHENTICATED', 'forged token')
  })

  await t.test('wrong media type: UNSUPPORTED_MEDIA_TYPE', async () => {
    await expectProblem(await submitAs(cbsa, JSON.stringify(entryExit()), 'application/json'), 415, 'UNSUPPORTED_MEDIA_TYPE', 'json body')
    await expectProblem(await submitAs(cbsa, 'a=b', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE', 'form body')
    // The witness's routes read plain text (signed notes); no other route does.
    const jws = await cbsa.sign(cbsa.envelope(entryExit()))
    await expectProblem(await submitAs(cbsa, jws, 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE', 'a JWS sent as text/plain')
    // Nor as a JSON string, here with one character escaped: it would pass for the JWS, and not be the bytes received.
    const quoted = JSON.stringify(jws).replace(jws[5]!, `\\u00${jws.charCodeAt(5).toString(16)}`)
    await expectProblem(await submitAs(cbsa, quoted, 'application/json'), 415, 'UNSUPPORTED_MEDIA_TYPE', 'a JWS sent as a JSON string')
    // Labelled JSON, it is not read as JSON at all: a route that takes a JWS says so, and quotes nothing of the body.
    const labelled = await submitAs(cbsa, jws, 'application/json; charset=utf-8')
    await expectProblem(labelled, 415, 'UNSUPPORTED_MEDIA_TYPE', 'a JWS labelled application/json')
    t.notMatch(labelled.body, jws.slice(0, 10), 'the body is not quoted back')
    // With no label at all (curl -H 'content-type:', a client that sets none),
    // the refusal says what to send, as it does for a wrong label.
    const auth = { authorization: `Bearer ${await cbsa.token()}` }
    for (const route of ['/v1/messages', '/v1/policies/dry-run']) {
      const unlabelled = await cbsa.call('POST', route, jws, auth)
      await expectProblem(unlabelled, 415, 'UNSUPPORTED_MEDIA_TYPE', `a JWS with no Content-Type to ${route}`)
      t.match(JSON.parse(unlabelled.body).detail, `POST ${route} takes application/jose`, `${route}: the detail names the media type to send`)
    }
  })

  await t.test("a refusal's instance names the route, not the path the client wrote", async () => {
    const written = '/v1/messages/NGUYEN-THI-LAN-1992-10-05-passport-C4471862'
    const res = await cbsa.call('GET', written, undefined, { authorization: `Bearer ${await cbsa.token()}` })
    await expectProblem(res, 400, 'REQUEST_INVALID', 'an id that is no id')
    t.equal(JSON.parse(res.body).instance, '/v1/messages/{id}', 'the route, by its pattern')
    const unrouted = await cbsa.call('GET', `/v2/${'NGUYEN-THI-LAN-'.repeat(6)}passport-C4471862`)
    await expectProblem(unrouted, 404, 'NOT_FOUND', 'no route')
    t.notMatch(unrouted.body, /C4471862/, 'of a path that reached no route, no more than any refusal quotes')
  })

  await t.test('a JSON body that does not parse: BODY_INVALID, quoting none of it', async () => {
    const res = await cbsa.call('POST', '/v1/token', 'NGUYEN THI LAN 1992-10-05', { 'content-type': 'application/json' })
    await expectProblem(res, 400, 'BODY_INVALID', 'not JSON')
    t.notMatch(res.body, /NGUYEN/, 'what was sent is not quoted back')
  })

  await t.test('a body over the limit: PAYLOAD_TOO_LARGE', async () => {
    const res = await submitAs(cbsa, 'a'.repeat(8 * 1024 * 1024 + 10))
    await expectProblem(res, 413, 'PAYLOAD_TOO_LARGE', 'large body')
    // The limit is the operator's (BODY_LIMIT_BYTES): the refusal says what it is, so that a batch can be cut to fit.
    t.equal(JSON.parse(res.body).detail, `The body is larger than the ${8 * 1024 * 1024} bytes allowed`, 'the detail names the limit')
  })

  await t.test('broken JWS: JWS_INVALID', async () => {
    await expectProblem(await submitAs(cbsa, 'not a jws'), 400, 'JWS_INVALID', 'garbage')
    await expectProblem(await submitAs(cbsa, `${b64('{')}.${b64('{}')}.AAAA`), 400, 'JWS_INVALID', 'header not JSON')
  })

  await t.test('alg none and HMAC: JWS_ALG_NOT_ALLOWED', async () => {
    const payload = b64(entryExit())
    await expectProblem(
      await submitAs(cbsa, `${b64({ alg: 'none', kid: cbsa.creds.kid })}.${payload}.`),
      400,
      'JWS_ALG_NOT_ALLOWED',
      'alg none as RFC 7515 writes it, with an empty signature'
    )
    const empty = await submitAs(cbsa, `${(await cbsa.sign(cbsa.envelope(entryExit()))).split('.').slice(0, 2).join('.')}.`)
    await expectProblem(empty, 400, 'JWS_SIGNATURE_INVALID', 'an allowed alg with an empty signature')
    t.match(JSON.parse(empty.body).detail, /empty/, 'the detail says the signature is empty')
    await expectProblem(await submitAs(cbsa, `${b64({ alg: 'none', kid: cbsa.creds.kid })}.${payload}.AAAA`), 400, 'JWS_ALG_NOT_ALLOWED', 'alg none')
    const hs = await new CompactSign(new TextEncoder().encode(JSON.stringify(entryExit())))
      .setProtectedHeader({ alg: 'HS256', kid: cbsa.creds.kid })
      .sign(new Uint8Array(32))
    await expectProblem(await submitAs(cbsa, hs), 400, 'JWS_ALG_NOT_ALLOWED', 'HS256')
    t.match(JSON.parse((await submitAs(cbsa, hs)).body).detail, /ES256.+EdDSA/, 'HS256: the detail names the algorithms allowed')
  })

  // An allowed algorithm, but not the one the key is registered for: the
  // detail must not say the algorithm is not allowed and then list it as allowed.
  await t.test("an alg other than the key's: JWS_ALG_NOT_ALLOWED, naming the key's", async () => {
    const [, payload, signature] = (await cbsa.sign(cbsa.envelope(entryExit()))).split('.')
    const res = await submitAs(cbsa, `${b64({ alg: 'EdDSA', kid: cbsa.creds.kid, typ: 'btb-envelope+jws' })}.${payload}.${signature}`)
    await expectProblem(res, 400, 'JWS_ALG_NOT_ALLOWED', 'EdDSA over an ES256 key')
    const { detail } = JSON.parse(res.body) as { detail: string }
    t.match(detail, `is registered for ES256`, 'the detail names the algorithm of the key')
    t.notMatch(detail, /allowed: ES256, EdDSA/, 'and does not list EdDSA as allowed')
  })

  await t.test('unknown kid: JWS_KID_UNKNOWN', async () => {
    await expectProblem(await submitAs(cbsa, await cbsa.sign(entryExit(), { kid: 'no-such-key' })), 400, 'JWS_KID_UNKNOWN', 'unknown kid')
  })

  await t.test("a JWS signed by another agency's key over this agency's certificate: JWS_KEY_NOT_CALLERS", async () => {
    const signedByIrcc = await ircc.sign(entryExit())
    const res = await submitAs(cbsa, signedByIrcc)
    await expectProblem(res, 403, 'JWS_KEY_NOT_CALLERS', 'IRCC key over CBSA certificate')
    // A certificate and a key of two systems mixed up: the refusal names the system the certificate is, so the sender sees which to change.
    t.match(JSON.parse(res.body).detail, 'CA/CBSA/pik-primary', 'the detail names the calling system, by its certificate')
  })

  await t.test('a tampered payload: JWS_SIGNATURE_INVALID', async () => {
    const [h, , s] = (await cbsa.sign(entryExit())).split('.')
    await expectProblem(await submitAs(cbsa, `${h}.${b64(entryExit({ purpose: 'removal-enforcement' }))}.${s}`), 400, 'JWS_SIGNATURE_INVALID', 'tampered')
  })

  // The commonest mistake with openssl (docs/integrators.md, "With curl and
  // openssl", step 10): an ES256 signature left in DER. The refusal must say
  // so, or the sender hunts for a wrong key or a changed byte.
  await t.test('an ES256 signature in DER: JWS_SIGNATURE_INVALID, saying so', async () => {
    const input = `${b64({ alg: 'ES256', kid: cbsa.creds.kid, typ: 'btb-envelope+jws' })}.${b64(cbsa.envelope(entryExit()))}`
    const der = sign('sha256', Buffer.from(input), cbsa.creds.signingKey)
    const res = await submitAs(cbsa, `${input}.${der.toString('base64url')}`)
    await expectProblem(res, 400, 'JWS_SIGNATURE_INVALID', 'a DER signature')
    t.match(JSON.parse(res.body).detail, `${der.length} bytes`, 'the detail gives the length sent')
    t.match(JSON.parse(res.body).detail, /64 bytes.*not DER/, 'and what ES256 takes')
  })

  await t.test('a signed payload with __proto__ or not JSON: PAYLOAD_UNSAFE', async () => {
    const text = JSON.stringify(entryExit()).replace('{', '{"__proto__":{"polluted":true},')
    const jws = await new CompactSign(new TextEncoder().encode(text))
      .setProtectedHeader({ alg: cbsa.creds.alg, kid: cbsa.creds.kid, typ: 'btb-envelope+jws' })
      .sign(cbsa.creds.signingKey)
    await expectProblem(await submitAs(cbsa, jws), 400, 'PAYLOAD_UNSAFE', '__proto__')
    const notJson = await new CompactSign(new TextEncoder().encode('{"id": '))
      .setProtectedHeader({ alg: cbsa.creds.alg, kid: cbsa.creds.kid, typ: 'btb-envelope+jws' })
      .sign(cbsa.creds.signingKey)
    await expectProblem(await submitAs(cbsa, notJson), 400, 'PAYLOAD_UNSAFE', 'truncated JSON')
  })

  await t.test('schema violations: SCHEMA_INVALID and KIND_UNKNOWN', async () => {
    await expectProblem(await submitAs(cbsa, await cbsa.sign(entryExit({ extra: 1 }))), 422, 'SCHEMA_INVALID', 'extra envelope property')
    const bad = entryExit()
    ;(bad.payload as Record<string, unknown>).recordType = 'sideways'
    await expectProblem(await submitAs(cbsa, await cbsa.sign(bad)), 422, 'SCHEMA_INVALID', 'bad payload value')
    await expectProblem(await submitAs(cbsa, await cbsa.sign(entryExit({ kind: 'tax.record' }))), 422, 'KIND_UNKNOWN', 'unknown kind')
    await expectProblem(await submitAs(cbsa, await cbsa.sign(entryExit({ createdAt: 12 }))), 422, 'SCHEMA_INVALID', 'createdAt not a string')
    // A designation that names its traveller by neither a document nor a membership id: no disclosure report could find it.
    const anonymous = cbsa.envelope(sampleEnvelope('traveller.designation', 'CA', { country: 'US', agency: 'CBP' }))
    const { programme: _programme, membershipId: _membershipId, document: _document, ...unnamed } = anonymous.payload as Record<string, unknown>
    anonymous.payload = { ...unnamed, designationType: 'work-permit' }
    const refusedDesignation = await submitAs(cbsa, await cbsa.sign(anonymous))
    await expectProblem(refusedDesignation, 422, 'SCHEMA_INVALID', 'a designation naming no traveller')
    t.match(JSON.parse(refusedDesignation.body).detail, /must have required property 'document'/, 'the detail names what is missing')
  })

  await t.test('stale and future-dated messages: MESSAGE_EXPIRED, MESSAGE_FUTURE_DATED', async () => {
    const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const old = await submitAs(cbsa, await cbsa.sign(entryExit({ createdAt: iso(Date.now() - 3600_000) })))
    await expectProblem(old, 400, 'MESSAGE_EXPIRED', 'an hour old')
    const ahead = await submitAs(cbsa, await cbsa.sign(entryExit({ createdAt: iso(Date.now() + 3600_000) })))
    await expectProblem(ahead, 400, 'MESSAGE_FUTURE_DATED', 'an hour ahead')
    // A sender whose clock is off can only tell by how much from the gateway's own, and the window around it.
    const instant = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/.source
    t.match(
      JSON.parse(old.body).detail,
      new RegExp(`older than the accepted window: at most 900 s behind this gateway's clock, ${instant}$`),
      'expired: the window and the clock'
    )
    t.match(JSON.parse(ahead.body).detail, new RegExp(`at most 300 s ahead of this gateway's clock, ${instant}$`), 'future-dated: the skew and the clock')
  })

  await t.test('sender, recipient, kind and purpose checks', async () => {
    const spoofed = entryExit()
    spoofed.from = { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' }
    const mismatch = await submitAs(cbsa, await cbsa.sign(spoofed))
    await expectProblem(mismatch, 403, 'SENDER_MISMATCH', 'from another system')
    t.match(JSON.parse(mismatch.body).detail, 'CA/CBSA/pik-primary', 'the detail names the calling system, by its certificate')
    const ownCountry = await submitAs(cbsa, await cbsa.sign(entryExit({ to: { country: 'CA', agency: 'CBSA' } })))
    await expectProblem(ownCountry, 422, 'SCHEMA_INVALID', 'to its own country (not cross-border)')
    // The value the schema wants is the contract's, never the sender's data: the detail says it, so the sender need not search schemas/ for it.
    t.equal(
      JSON.parse(ownCountry.body).detail,
      'The message does not match its schema: /to/country must be equal to constant ("US")',
      'the detail names the value wanted'
    )
    const noSuchAgency = await submitAs(cbsa, await cbsa.sign(entryExit({ to: { country: 'US', agency: 'FBI' } })))
    await expectProblem(noSuchAgency, 422, 'SCHEMA_INVALID', 'to an agency the contract does not know')
    t.match(
      JSON.parse(noSuchAgency.body).detail,
      /^The message does not match its schema: \/to\/agency must be equal to one of the allowed values \(.*"CBP".*\)$/,
      'the detail lists the values allowed'
    )
    await expectProblem(
      await submitAs(cbsa, await cbsa.sign(entryExit({ to: { country: 'US', agency: 'DOS' } }))),
      403,
      'POLICY_DENIED',
      'to an agency the policy does not name'
    )
    const bio = cbsa.envelope(sampleEnvelope('biometric.match-request', 'CA', { country: 'US', agency: 'USCIS' }))
    const wrongKind = await submitAs(cbsa, await cbsa.sign(bio))
    await expectProblem(wrongKind, 403, 'KIND_NOT_ALLOWED', 'CBSA sending biometrics')
    // What the system is registered for is its own to know (its token lists it): the refusal says it, as the fix.
    t.match(JSON.parse(wrongKind.body).detail, /; it may send entry-exit\.record, .*traveller\.designation/, 'the detail lists the kinds it may send')
    const wrongPurpose = await submitAs(cbsa, await cbsa.sign(entryExit({ purpose: 'asylum-claim' })))
    await expectProblem(wrongPurpose, 403, 'PURPOSE_NOT_ALLOWED', 'a purpose the token does not carry')
    t.match(JSON.parse(wrongPurpose.body).detail, /; it may send for entry-exit-verification, /, 'the detail lists the purposes it may send for')
    await expectProblem(
      await submitAs(cbsa, await cbsa.sign(entryExit({ legalAuthority: 'Some-Other-Act-1' }))),
      403,
      'LEGAL_AUTHORITY_MISMATCH',
      'an unknown legal authority'
    )
    await expectProblem(
      await submitAs(cbsa, await cbsa.sign(entryExit({ legalAuthority: 'INA-215' }))),
      403,
      'LEGAL_AUTHORITY_MISMATCH',
      'a U.S. statute cited by a Canadian sender'
    )
  })

  await t.test('an agency system cannot call the partner endpoint: FORBIDDEN', async () => {
    await expectProblem(
      await cbsa.call('POST', '/v1/exchange', await cbsa.sign(entryExit()), { 'content-type': 'application/jose' }),
      403,
      'FORBIDDEN',
      'agency on /v1/exchange'
    )
  })

  await t.test('random bodies never cause a 5xx', async (t) => {
    for (let i = 0; i < 60; i++) {
      const bytes = Buffer.from(Array.from({ length: 1 + ((i * 37) % 300) }, (_, j) => (i * 131 + j * 17) % 256))
      const body =
        i % 3 === 0 ? bytes.toString('base64url') : i % 3 === 1 ? `${bytes.toString('base64url')}.${bytes.toString('base64url')}.x` : bytes.toString('latin1')
      const res = await submitAs(cbsa, body)
      if (res.status >= 500 || res.status < 400) t.fail(`body ${i} answered ${res.status}`)
    }
    t.pass('60 malformed bodies answered 4xx')
  })

  await t.test('refusals changed nothing but the ledger, and each was audited with its code', async (t) => {
    const entries = (await gw.app.store.auditEntries(0, 100_000)).slice(auditBefore)
    t.ok(entries.length >= 20, `${entries.length} refusals audited`)
    t.ok(
      entries.every((e) => e.entry.event === 'refused' && e.entry.code !== null),
      'every entry is a refusal with a code'
    )
    const codes = new Set(entries.map((e) => e.entry.code))
    for (const code of [
      'UNAUTHENTICATED',
      'TOKEN_CERT_MISMATCH',
      'JWS_KEY_NOT_CALLERS',
      'SCHEMA_INVALID',
      'POLICY_DENIED',
      'LEGAL_AUTHORITY_MISMATCH',
      'PAYLOAD_UNSAFE',
      'PAYLOAD_TOO_LARGE'
    ]) {
      t.ok(codes.has(code), `a ${code} refusal is in the ledger`)
    }
    t.equal(entries.filter((e) => e.entry.caller === null).length, 0, 'only identified callers are audited')
    t.same(await gw.app.store.pendingOutbox(new Date(Date.now() + 60_000).toISOString(), 10), [], 'no outbox item was written')
    t.equal(await gw.app.queues.queue('outbound').count(), 0, 'no job was queued')
  })

  await t.test('the same id: 200 for the same envelope, signed again or not; 409 ID_CONFLICT for another', async (t) => {
    const envelope = entryExit()
    const jws = await cbsa.sign(envelope)
    const first = await submitAs(cbsa, jws)
    t.equal(first.status, 202)
    const again = await submitAs(cbsa, jws)
    t.equal(again.status, 200, 'a repeat of the same bytes')
    t.same(again.json(), first.json(), 'answers the same status')
    // An agency that signs at each attempt sends other bytes: ES256 signs with a fresh random number every time.
    const signedAgain = await cbsa.sign(envelope)
    t.not(signedAgain, jws, 'the same envelope signed again is other bytes')
    t.equal(signedAgain.split('.')[1], jws.split('.')[1], 'with the same payload')
    const resent = await submitAs(cbsa, signedAgain)
    t.equal(resent.status, 200, 'the same envelope signed again is a repeat')
    t.same(resent.json(), first.json(), 'answered with the same status')
    // What finds it is keyed (the audit key), as every digest the gateway keeps
    // of what an agency wrote: a plain hash of the payload would let whoever
    // reads the table try values (a date of birth) until one matched.
    const kept = await gw.app.store.findMessage('outbound', String(envelope.id))
    t.not(kept?.payloadDigest, sha256(jws.split('.')[1]!), "the payload's digest kept is not its plain SHA-256")
    t.equal(kept?.payloadDigest, gw.app.policyBook.digest(jws.split('.')[1]!), 'it is keyed with the audit key')
    const accepted = (await gw.app.store.searchAudit({ messageId: String(envelope.id), event: 'accepted' }, 0, 10)).length
    t.equal(accepted, 1, 'accepted and audited once')
    t.equal(await gw.app.queues.queue('outbound').count(), 1, 'queued once')
    await expectProblem(await submitAs(cbsa, await cbsa.sign({ ...envelope, purpose: 'residency-determination' })), 409, 'ID_CONFLICT', 'same id, other bytes')
    const status = await cbsa.status(String(envelope.id))
    t.equal(status.status, 200)
    t.equal(status.json().id, envelope.id)
    const foreign = await ircc.status(String(envelope.id))
    t.equal(foreign.status, 404, 'another system cannot read its status')
  })
})

t.test('an air exit record is refused whole, never sent with its fields emptied', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const payload = envelope.payload as { recordType: string; crossing: { travelMode: string } }
  payload.recordType = 'exit'
  payload.crossing.travelMode = 'air'
  const res = await cbsa.submit(await cbsa.sign(envelope))
  t.equal(res.status, 403)
  t.equal(res.json().code, 'POLICY_DENIED')
  t.match(res.json().detail, /air exit/)
  t.equal(await gw.app.store.findMessage('outbound', String(envelope.id)), undefined, 'nothing was accepted')

  const batch = cbsa.envelope(sampleEnvelope('entry-exit.batch', 'CA', { country: 'US', agency: 'CBP' }))
  const records = (batch.payload as { records: Array<{ recordType: string; crossing: { travelMode: string } }> }).records
  records[0]!.recordType = 'exit'
  records[0]!.crossing.travelMode = 'air'
  const batchRes = await cbsa.submit(await cbsa.sign(batch))
  t.equal(batchRes.status, 403, 'a batch holding one is refused too')
  t.equal(batchRes.json().code, 'POLICY_DENIED')
})

t.test("a refused envelope's entry names it only in the contract's forms: free text the sender wrote never reaches the ledger", async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const personal = [
    'TREMBLAY JEAN 1980-01-02',
    'Tremblay, Jean; passport AB123456',
    'Jean Tremblay AB123456',
    'tremblay-jean-ab123456',
    'TREMBLAY-Jean-1984-03-07',
    'C4471862',
    'nguyen-1992-10-05'
  ]
  const cbsaFrom = { country: 'CA', agency: 'CBSA', system: 'pik-primary' }
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an id that is a name', { id: personal[0] }, 'SCHEMA_INVALID'],
    ['a legal authority that is a name', { legalAuthority: personal[1] }, 'LEGAL_AUTHORITY_MISMATCH'],
    ['an agreement reference that is a name', { agreementRef: personal[2], kind: 'no.such-kind' }, 'KIND_UNKNOWN'],
    ['a purpose that is a name', { purpose: personal[3] }, 'PURPOSE_NOT_ALLOWED'],
    // Each in the form the old check took (words joined by hyphens or dots; a party's letters and digits).
    ['an agreement reference in the form of one, that is a name and a birth date', { agreementRef: personal[4] }, 'AGREEMENT_MISMATCH'],
    ['a recipient agency that is a document number', { to: { country: 'US', agency: personal[5] } }, 'SCHEMA_INVALID'],
    ['a sending system that is a name and a birth date', { from: { ...cbsaFrom, system: personal[6] } }, 'SENDER_MISMATCH']
  ]
  const before = (await gw.app.store.auditHead())?.seq ?? 0
  for (const [what, overrides, code] of cases) {
    const envelope = { ...cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' })), ...overrides }
    const res = await cbsa.submit(await cbsa.sign(envelope))
    t.equal(res.json().code, code, `${what}: refused (${code})`)
  }
  const entries = (await gw.app.store.auditEntries(before, 100)).map((e) => e.entry)
  t.equal(entries.length, cases.length, 'each refusal audited')
  t.same(
    entries.map((e) => e.code),
    cases.map(([, , code]) => code)
  )
  const text = JSON.stringify(entries)
  for (const value of personal) t.notOk(text.includes(value), `the ledger holds no "${value}"`)
  t.ok(
    entries.every((e) => e.kind === null || e.kind === 'entry-exit.record'),
    'a kind is kept when it is one of the contract'
  )
})

// What a gateway forwards must fit the partner's body limit, the same
// BODY_LIMIT_BYTES: a submission that fits it, minimised and signed for the
// partner, may not (the handling is added; a pseudonym may be longer than
// its value). Accepted, it could only be refused by the partner and
// dead-lettered: it is refused here, before anything is written.
t.test('a submission whose form for the partner would exceed the body limit: 413 FORWARD_TOO_LARGE, nothing accepted', async (t) => {
  const signer = client(t, 'CBSA', 'inject://signing-only')
  const designation = signer.envelope(sampleEnvelope('traveller.designation', 'CA', { country: 'US', agency: 'CBP' }))
  const jws = await signer.sign(designation)
  // The limit is the submission's own size: it fits, and what the partner would get does not.
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, bodyLimitBytes: jws.length }))
  const cbsa = client(t, 'CBSA', gw.url)
  const before = (await gw.app.store.auditHead())?.seq ?? 0
  for (const attempt of ['first', 'sent again']) {
    const res = await cbsa.submit(jws)
    t.equal(res.status, 413, `${attempt}: 413`)
    t.equal(res.json().code, 'FORWARD_TOO_LARGE', `${attempt}: FORWARD_TOO_LARGE`)
    t.match(res.json().detail, new RegExp(`${jws.length} bytes`), `${attempt}: the detail names the limit`)
  }
  t.equal(await gw.app.store.findMessage('outbound', String(designation.id)), undefined, 'nothing was accepted')
  t.equal(await gw.app.store.outboxItem('outbound', String(designation.id)), undefined, 'nothing is in the outbox')
  t.same(
    (await gw.app.store.auditEntries(before, 100)).map((e) => [e.entry.event, e.entry.code]),
    [
      ['refused', 'FORWARD_TOO_LARGE'],
      ['refused', 'FORWARD_TOO_LARGE']
    ],
    'each refusal audited'
  )
})

t.test('a match response that answers no match request its agency was sent: 422 ANSWERS_NO_REQUEST, audited, nothing kept', async (t) => {
  // Without the link it would carry a matched person's identity to the
  // partner unasked (gateway/intake/correlation.ts).
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const ircc = client(t, 'IRCC', gw.url)
  const asked = await requestReceived(gw.app, 'CA', 'immigration-examination')
  const other = await requestReceived(gw.app, 'CA', 'asylum-claim')
  const answer = (overrides: Record<string, unknown>) =>
    ircc.envelope({ ...sampleEnvelope('biometric.match-response', 'CA', { country: 'US', agency: 'USCIS' }), purpose: asked.purpose, ...overrides })
  const refusals: Array<[Record<string, unknown>, string]> = [
    [{ correlationId: null }, 'no correlationId'],
    [{ correlationId: randomUUID() }, 'a correlationId that names nothing'],
    [{ correlationId: other.id }, 'a request of another purpose'],
    [{ correlationId: asked.id, to: { country: 'US', agency: 'CBP' } }, 'sent to an agency that did not ask']
  ]
  for (const [overrides, what] of refusals) {
    const envelope = answer(overrides)
    const res = await ircc.submit(await ircc.sign(envelope))
    t.same([res.status, res.json<{ code: string }>().code], [422, 'ANSWERS_NO_REQUEST'], what)
    t.equal(await gw.app.store.findMessage('outbound', String(envelope.id)), undefined, `${what}: nothing kept`)
    const refused = (await gw.app.store.searchAudit({ messageId: String(envelope.id) }, 0, 10)).map((e) => [e.entry.event, e.entry.code])
    t.same(refused, [['refused', 'ANSWERS_NO_REQUEST']], `${what}: audited as refused`)
  }
  // A retraction carries no query, and a request retracted asks nothing any more.
  const retracted = await requestReceived(gw.app, 'CA', 'immigration-examination')
  const retraction = await forwardedTo('CA', {
    message: {
      ...sampleEnvelope('biometric.match-request', 'US', { country: 'CA', agency: 'IRCC' }),
      purpose: 'immigration-examination',
      legalAuthority: citableBy('US', 'biometric.match-request', 'immigration-examination')[0],
      payload: {}
    },
    envelope: {
      from: { country: 'US', agency: 'USCIS', system: 'ident-gateway' },
      supersedes: { id: retracted.id, action: 'retract', reason: 'wrong-traveller' }
    }
  })
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: retraction.jws, headers: asPartnerOf('CA') })).statusCode, 200)
  for (const [correlationId, what] of [
    [retraction.id, "an answer to the partner's retraction"],
    [retracted.id, 'an answer to a request the partner retracted']
  ] as const) {
    const res = await ircc.submit(await ircc.sign(answer({ correlationId })))
    t.same([res.status, res.json<{ code: string }>().code], [422, 'ANSWERS_NO_REQUEST'], what)
  }
  const envelope = answer({ correlationId: asked.id })
  t.equal((await ircc.submit(await ircc.sign(envelope))).status, 202, 'the answer to the request USCIS sent IRCC is taken')
  // Its correction answers the same request: another is refused.
  const { id, createdAt: _createdAt, from: _from, ...rest } = envelope
  const correction = (correlationId: string) => ircc.envelope({ ...rest, correlationId, supersedes: { id, action: 'correct', reason: 'data-error' } })
  const another = await requestReceived(gw.app, 'CA', asked.purpose)
  const elsewhere = await ircc.submit(await ircc.sign(correction(another.id)))
  t.same([elsewhere.status, elsewhere.json<{ code: string }>().code], [422, 'ANSWERS_NO_REQUEST'], 'a correction naming another request, of the same purpose')
  t.equal((await ircc.submit(await ircc.sign(correction(asked.id)))).status, 202, 'a correction naming the same request is taken')
})

t.test('a match response sent again after the request it answers was retracted: the same status, never ANSWERS_NO_REQUEST', async (t) => {
  // A retrying client must never be told its message failed (docs/integrators.md,
  // "Step by step"): the request is checked when the answer first comes, and
  // a repeat is answered as one whatever has happened to the request since.
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const ircc = client(t, 'IRCC', gw.url)
  const asked = await requestReceived(gw.app, 'CA', 'immigration-examination')
  const envelope = ircc.envelope({
    ...sampleEnvelope('biometric.match-response', 'CA', { country: 'US', agency: 'USCIS' }),
    purpose: asked.purpose,
    correlationId: asked.id
  })
  const jws = await ircc.sign(envelope)
  t.equal((await ircc.submit(jws)).status, 202, 'the answer is taken')
  const retraction = await forwardedTo('CA', {
    message: {
      ...sampleEnvelope('biometric.match-request', 'US', { country: 'CA', agency: 'IRCC' }),
      purpose: asked.purpose,
      legalAuthority: citableBy('US', 'biometric.match-request', asked.purpose)[0],
      payload: {}
    },
    envelope: {
      from: { country: 'US', agency: 'USCIS', system: 'ident-gateway' },
      supersedes: { id: asked.id, action: 'retract', reason: 'sent-in-error' }
    }
  })
  t.equal(
    (await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: retraction.jws, headers: asPartnerOf('CA') })).statusCode,
    200,
    'USCIS retracts its request'
  )
  const again = await ircc.submit(jws)
  t.same([again.status, again.json<{ id: string }>().id], [200, envelope.id], 'the same bytes again: 200 and its status')
  const signedAgain = await ircc.submit(await ircc.sign(envelope))
  t.same([signedAgain.status, signedAgain.json<{ id: string }>().id], [200, envelope.id], 'the same envelope signed again: 200 and its status')
})

t.test(
  'a query, an answer and a membership can each be retracted: an exclusion never refuses a retraction, whose payload discloses nothing (P8)',
  async (t) => {
    const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
    const ircc = client(t, 'IRCC', gw.url)
    const cbsa = client(t, 'CBSA', gw.url)
    const retract = async (who: AgencyClient, sent: Record<string, unknown>, what: string) => {
      t.equal((await who.submit(await who.sign(sent))).status, 202, `${what}: sent`)
      const { id, payload: _payload, createdAt: _createdAt, from: _from, ...rest } = sent
      const retraction = who.envelope({ ...rest, payload: {}, supersedes: { id, action: 'retract', reason: 'wrong-traveller' } })
      const res = await who.submit(await who.sign(retraction))
      t.equal(res.status, 202, `${what}: its retraction is taken (${res.body.slice(0, 120)})`)
    }
    const asylum = sampleEnvelope('biometric.match-request', 'CA', { country: 'US', agency: 'USCIS' })
    await retract(
      ircc,
      ircc.envelope({
        ...asylum,
        purpose: 'asylum-claim',
        legalAuthority: citableBy('CA', 'biometric.match-request', 'asylum-claim')[0],
        payload: { ...(asylum.payload as Record<string, unknown>), encounterType: 'asylum-claim' }
      }),
      'an asylum-claim match request'
    )
    const asked = await requestReceived(gw.app, 'CA', 'immigration-examination')
    await retract(
      ircc,
      ircc.envelope({
        ...sampleEnvelope('biometric.match-response', 'CA', { country: 'US', agency: 'USCIS' }),
        purpose: asked.purpose,
        correlationId: asked.id
      }),
      'a match response'
    )
    const membership = listExamples('traveller.designation').find((e) => e.name === 'valid-nexus-approved-ca-to-us')!.envelope as Record<string, unknown>
    const { id: _id, createdAt: _createdAt, from: _from, ...designation } = structuredClone(membership)
    await retract(cbsa, cbsa.envelope(designation), 'a trusted-traveller membership')
  }
)
