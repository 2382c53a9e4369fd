// POST /v1/exchange, the partner gateway's door: pinned certificate, the
// partner's key, replay protection with the same receipt for a retry, and a
// payload no richer than the sender's policy allows.
import t, { type Test } from 'tap'
import { createPrivateKey, randomBytes, randomUUID } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { CompactSign, compactVerify, createLocalJWKSet } from 'jose'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import type { Envelope } from '../gateway/pipeline/envelope.ts'
import { sha256 } from '../gateway/lib/digest.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { citableBy } from '../policies/authorities.ts'
import { client, injectGateway, jwks, KEYS_DIR, startGateway, testConfig } from './helper.ts'
import { asPartnerOf, forwardedTo, requestSent } from './lib/partner-delivery.ts'

const { Agent, request } = undiciModule()

const caDir = join(KEYS_DIR, 'CA')
const caGatewayJwkFile = readdirSync(caDir).find((f) => f.startsWith('gateway.signing.'))!
const caGatewayJwk = JSON.parse(readFileSync(join(caDir, caGatewayJwkFile), 'utf8')) as { kid: string }
const caGatewayKey = createPrivateKey({ key: caGatewayJwk as never, format: 'jwk' })

/** What the CA gateway would send: the envelope minimised by its outbound policy, with handling. */
function forwarded(overrides: Record<string, unknown> = {}, payloadExtra: Record<string, unknown> = {}): Record<string, unknown> {
  const book = new PolicyBook(randomBytes(32), randomBytes(32))
  const envelope = {
    id: crypto.randomUUID(),
    schemaVersion: '1.0',
    createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    from: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
    ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' })
  } as unknown as Envelope
  const policy = book.select(envelope, 'outbound')
  const { payload } = book.apply(policy, envelope.payload)
  return {
    ...envelope,
    payload: { ...payload, ...payloadExtra },
    handling: {
      policy: policy.id,
      policyVersion: policy.version,
      retentionDays: policy.rules.retentionDays,
      onwardTransfer: false,
      humanReviewRequired: true,
      forwardedBy: 'CA',
      forwardedAt: new Date().toISOString(),
      originDigest: sha256('origin')
    },
    ...overrides
  }
}

function signAsCaGateway(value: unknown, kid = caGatewayJwk.kid): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(value))).setProtectedHeader({ alg: 'ES256', kid, typ: 'btb-envelope+jws' }).sign(caGatewayKey)
}

/** A US gateway, and a POST to its /v1/exchange as the CA gateway sends one: its own TLS identity, trusting the US root. */
async function usGateway(t: Test) {
  const us = await startGateway(t, testConfig('US', { runWorkers: false }))
  const agent = new Agent({
    connect: {
      cert: readFileSync(join(caDir, 'gateway.crt.pem'), 'utf8'),
      key: readFileSync(join(caDir, 'gateway.key.pem'), 'utf8'),
      ca: readFileSync(join(KEYS_DIR, 'US', 'ca.crt.pem'), 'utf8')
    }
  })
  t.teardown(() => agent.close())
  const post = async (jws: string) => {
    const res = await request(`${us.url}/v1/exchange`, { method: 'POST', body: jws, headers: { 'content-type': 'application/jose' }, dispatcher: agent })
    return { status: res.statusCode, type: String(res.headers['content-type']), body: await res.body.text() }
  }
  return { us, post }
}

t.test('the exchange endpoint', async (t) => {
  const { us, post } = await usGateway(t)

  const message = forwarded()
  const jws = await signAsCaGateway(message)
  const first = await post(jws)
  t.equal(first.status, 200, first.body)
  t.match(first.type, /^application\/jose/)
  const { payload, protectedHeader } = await compactVerify(first.body, createLocalJWKSet(jwks('US')))
  const receipt = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>
  t.equal(protectedHeader.typ, 'btb-receipt+jws')
  t.equal(receipt.messageId, message.id, 'the receipt names the message')
  t.equal(receipt.digest, sha256(jws), 'and the digest of exactly what was received')
  t.equal(receipt.receiver, 'gateway:US')

  const retry = await post(jws)
  t.equal(retry.status, 200, 'a retry of the same message is not an error')
  t.equal(retry.body, first.body, 'it gets the very same receipt')

  const altered = await post(await signAsCaGateway({ ...message, purpose: 'removal-enforcement' }))
  t.equal(altered.status, 409)
  t.equal(JSON.parse(altered.body).code, 'REPLAYED', 'the same id with other content is a replay')

  const leaky = await post(await signAsCaGateway(forwarded({}, { vehicle: { licencePlate: 'ABC 123' } })))
  t.equal(leaky.status, 422)
  t.equal(JSON.parse(leaky.body).code, 'SCHEMA_INVALID', "a field the sender's policy withholds is refused")

  const otherVersion = forwarded()
  ;(otherVersion.handling as Record<string, unknown>).policyVersion = `sha256:${'A'.repeat(43)}`
  const versioned = await post(await signAsCaGateway(otherVersion))
  t.equal(versioned.status, 403)
  t.equal(JSON.parse(versioned.body).code, 'POLICY_DENIED', 'a policy version this gateway does not hold')

  // Past the time this gateway keeps a message's id (MESSAGE_RETENTION_DAYS), a replay could not be known
  // as one: a forwarded envelope that old is refused, as is one forwarded from the future.
  const forwardedAt = (ms: number) => {
    const m = forwarded()
    ;(m.handling as Record<string, unknown>).forwardedAt = new Date(Date.now() + ms).toISOString()
    return m
  }
  const stale = await post(await signAsCaGateway(forwardedAt(-91 * 86_400_000)))
  t.equal(stale.status, 400, stale.body)
  t.equal(JSON.parse(stale.body).code, 'MESSAGE_EXPIRED', 'forwarded longer ago than the retention this gateway keeps ids for')
  t.match(JSON.parse(stale.body).detail, /handling\.forwardedAt/)
  const ahead = await post(await signAsCaGateway(forwardedAt(3_600_000)))
  t.equal(JSON.parse(ahead.body).code, 'MESSAGE_FUTURE_DATED', 'forwarded an hour from now')
  t.equal(
    (await post(await signAsCaGateway(forwardedAt(-2 * 86_400_000)))).status,
    200,
    'a late delivery within retention (retries, a resent dead letter) is taken'
  )

  const unknownKey = await post(await signAsCaGateway(forwarded(), 'ca-cbsa-not-a-gateway-key'))
  t.equal(JSON.parse(unknownKey.body).code, 'JWS_KID_UNKNOWN', "only the partner gateway's keys are accepted")

  const cbp = client(t, 'CBP', us.url)
  const asAgency = await cbp.call('POST', '/v1/exchange', jws, { 'content-type': 'application/jose' })
  t.equal(asAgency.status, 403, 'an agency certificate is not the pinned partner certificate')
  t.equal(JSON.parse(asAgency.body).code, 'FORBIDDEN')

  const audit = (await us.app.store.auditEntries(0, 1000)).map((e) => e.entry)
  t.equal(audit.filter((e) => e.event === 'received').length, 2, 'two receptions audited: the message and the late one')
  t.same(
    audit
      .filter((e) => e.event === 'refused')
      .map((e) => e.code)
      .sort(),
    ['JWS_KID_UNKNOWN', 'MESSAGE_EXPIRED', 'MESSAGE_FUTURE_DATED', 'POLICY_DENIED', 'REPLAYED', 'SCHEMA_INVALID'],
    'each partner refusal audited'
  )
  const received = audit.find((e) => e.event === 'received' && e.messageId === message.id)!
  t.ok(received.fields.length > 0, 'with a decision per field')
  t.notOk(JSON.stringify(audit).includes((message.payload as { traveller: { surname: string } }).traveller.surname), 'and no personal value in the ledger')
})

t.test("a field the partner should not have sent: the agency's push goes without it, and without the partner's JWS that holds it", async (t) => {
  const { us, post } = await usGateway(t)
  /** The push the US gateway queued for its agency, as the agency would read it. */
  const pushOf = async (id: string): Promise<Record<string, any>> => {
    const item = await us.app.store.outboxItem('inbound', id)
    const jws = us.app.sealer.unseal(item!.sealed, id)
    return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8'))
  }
  // A MATCH about a protected person, as CA's outbound policy lets it through: its subject travels.
  const book = new PolicyBook(randomBytes(32), randomBytes(32))
  const sample = [0, 1, 2]
    .map((pick) => sampleEnvelope('biometric.match-response', 'CA', { country: 'US', agency: 'USCIS' }, pick))
    .find((e) => (e.payload as { result: string }).result === 'MATCH')!
  // The request USCIS sent, which CA's answers name (gateway/intake/correlation.ts).
  const asked = await requestSent(client(t, 'USCIS', us.url), String(sample.purpose))
  const matchOf = (result: 'MATCH' | 'NO_MATCH'): Record<string, unknown> => {
    const envelope = {
      ...sample,
      id: crypto.randomUUID(),
      createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      from: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' },
      correlationId: asked.id
    } as unknown as Envelope
    const policy = book.select(envelope, 'outbound')
    const { payload } = book.apply(policy, envelope.payload)
    return {
      ...envelope,
      payload: { ...payload, result },
      handling: {
        policy: policy.id,
        policyVersion: policy.version,
        retentionDays: policy.rules.retentionDays,
        onwardTransfer: false,
        humanReviewRequired: true,
        forwardedBy: 'CA',
        forwardedAt: new Date().toISOString(),
        originDigest: sha256('origin')
      }
    }
  }

  const honest = matchOf('MATCH')
  const honestJws = await signAsCaGateway(honest)
  t.equal((await post(honestJws)).status, 200)
  const kept = await pushOf(String(honest.id))
  t.ok((kept.payload as Record<string, unknown>).subject, 'a MATCH about a protected person carries its subject')
  t.equal(kept.receivedFrom.jws, honestJws, "and the partner's JWS, to verify its signature, since it holds nothing more")
  t.equal(kept.receivedFrom.digest, sha256(honestJws))

  // The same subject on a NO_MATCH: the inbound policy withholds it (the treaty shares identity only on a match).
  const overshared = matchOf('NO_MATCH')
  const oversharedJws = await signAsCaGateway(overshared)
  t.equal((await post(oversharedJws)).status, 200, 'taken: the answer itself is due to the agency')
  const narrowed = await pushOf(String(overshared.id))
  t.notOk((narrowed.payload as Record<string, unknown>).subject, 'the push carries no subject')
  t.equal(narrowed.receivedFrom.jws, undefined, "nor the partner's JWS, which holds it")
  t.equal(narrowed.receivedFrom.digest, sha256(oversharedJws), 'only its digest, which the receipt names')
  const surname = (overshared.payload as { subject: { identity: { surname: string } } }).subject.identity.surname
  const inner = typeof narrowed.receivedFrom.jws === 'string' ? Buffer.from(narrowed.receivedFrom.jws.split('.')[1], 'base64url').toString('utf8') : ''
  t.notOk(`${JSON.stringify(narrowed)}${inner}`.includes(surname), 'no value of the subject anywhere in the push, a signed text inside it included')
})

t.test("a match response the partner sends that answers no request this gateway's agency sent: 422 ANSWERS_NO_REQUEST, nothing kept", async (t) => {
  // The asking side checks the link again (gateway/intake/correlation.ts): a
  // partner gateway at fault, or hostile, does not push a matched person's
  // identity to an agency that never asked.
  const us = await injectGateway(t, testConfig('US', { runWorkers: false }))
  const asked = await requestSent(client(t, 'USCIS', us.url), 'immigration-examination')
  const answer = (correlationId: string) =>
    forwardedTo('US', {
      message: {
        ...sampleEnvelope('biometric.match-response', 'CA', { country: 'US', agency: 'USCIS' }),
        purpose: asked.purpose,
        correlationId
      },
      envelope: { from: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' } }
    })
  const exchange = (jws: string) => us.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: asPartnerOf('US') })
  const unasked = await answer(randomUUID())
  const res = await exchange(unasked.jws)
  t.same([res.statusCode, res.json<{ code: string }>().code], [422, 'ANSWERS_NO_REQUEST'], 'an answer to no request USCIS sent is refused')
  t.equal(await us.app.store.findMessage('inbound', unasked.id), undefined, 'and nothing of it kept')
  t.equal((await exchange((await answer(asked.id)).jws)).statusCode, 200, 'the answer to the request USCIS sent is received')
})

t.test('a match response the partner sends again after its request was retracted: the same receipt, never ANSWERS_NO_REQUEST', async (t) => {
  // The partner retries a delivery whose answer it did not get; the request
  // was retracted meanwhile. The partner gateway must be given the receipt
  // again (docs/integrators.md, "Step by step"), not a refusal it would
  // dead-letter while this gateway has the answer and pushed it.
  const us = await injectGateway(t, testConfig('US', { runWorkers: false }))
  const uscis = client(t, 'USCIS', us.url)
  const asked = await requestSent(uscis, 'immigration-examination')
  const answer = await forwardedTo('US', {
    message: {
      ...sampleEnvelope('biometric.match-response', 'CA', { country: 'US', agency: 'USCIS' }),
      purpose: asked.purpose,
      correlationId: asked.id
    },
    envelope: { from: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' } }
  })
  const exchange = (jws: string) => us.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: asPartnerOf('US') })
  const first = await exchange(answer.jws)
  t.equal(first.statusCode, 200, 'the answer is received')
  const request = sampleEnvelope('biometric.match-request', 'US', { country: 'CA', agency: 'IRCC' })
  const retraction = uscis.envelope({
    ...request,
    purpose: asked.purpose,
    legalAuthority: citableBy('US', 'biometric.match-request', asked.purpose)[0],
    payload: {},
    supersedes: { id: asked.id, action: 'retract', reason: 'sent-in-error' }
  })
  const retracted = await uscis.submit(await uscis.sign(retraction))
  t.equal(retracted.status, 202, `USCIS retracts its request ${retracted.body.slice(0, 200)}`)
  const again = await exchange(answer.jws)
  t.same([again.statusCode, again.body], [200, first.body], 'the same delivery again: 200 and the same receipt')
})
