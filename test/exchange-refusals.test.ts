// POST /v1/exchange, the partner gateway's door: pinned certificate, the
// partner's key, replay protection with the same receipt for a retry, and a
// payload no richer than the sender's policy allows.
import t from 'tap'
import { createPrivateKey, randomBytes } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { CompactSign, compactVerify, createLocalJWKSet } from 'jose'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import type { Envelope } from '../gateway/pipeline/envelope.ts'
import { sha256 } from '../gateway/lib/digest.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, jwks, KEYS_DIR, startGateway, testConfig } from './helper.ts'

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

t.test('the exchange endpoint', async (t) => {
  const us = await startGateway(t, testConfig('US', { runWorkers: false }))
  // The CA gateway's own TLS identity, trusting the US root.
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

  const unknownKey = await post(await signAsCaGateway(forwarded(), 'ca-cbsa-not-a-gateway-key'))
  t.equal(JSON.parse(unknownKey.body).code, 'JWS_KID_UNKNOWN', "only the partner gateway's keys are accepted")

  const cbp = client(t, 'CBP', us.url)
  const asAgency = await cbp.call('POST', '/v1/exchange', jws, { 'content-type': 'application/jose' })
  t.equal(asAgency.status, 403, 'an agency certificate is not the pinned partner certificate')
  t.equal(JSON.parse(asAgency.body).code, 'FORBIDDEN')

  const audit = (await us.app.store.auditEntries(0, 1000)).map((e) => e.entry)
  t.equal(audit.filter((e) => e.event === 'received').length, 1, 'one reception audited')
  t.same(
    audit
      .filter((e) => e.event === 'refused')
      .map((e) => e.code)
      .sort(),
    ['JWS_KID_UNKNOWN', 'POLICY_DENIED', 'REPLAYED', 'SCHEMA_INVALID'],
    'each partner refusal audited'
  )
  const received = audit.find((e) => e.event === 'received')!
  t.ok(received.fields.length > 0, 'with a decision per field')
  t.notOk(JSON.stringify(audit).includes((message.payload as { traveller: { surname: string } }).traveller.surname), 'and no personal value in the ledger')
})
