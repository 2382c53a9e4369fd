// P11 (and P10, P5): the receiving side enforces the handling a record
// travels with. What the receiving gateway pushes to its agency carries, for
// each limit, the stricter of the partner's handling and its own inbound
// policy's: a partner that sent looser limits (by a fault, or by intent)
// does not loosen them for the agency.
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { signCompactJws } from '../gateway/jws/sign-compact.ts'
import { Sealer } from '../gateway/lib/seal.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import { ENVELOPE_TYP, handlingFor } from '../gateway/pipeline/envelope.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'

const config = testConfig('CA', { runWorkers: false, webhooks: { 'CA/CBSA/pik-primary': 'https://127.0.0.1:1' } })
const gw = await injectGateway(t, config)
const us = loadTrustStore(join(KEYS_DIR, 'US', 'trust.json'))
const asPartner = { 'content-type': 'application/jose', ...presenting(readFileSync(join(KEYS_DIR, 'US', 'gateway.crt.pem'), 'utf8')) }

/** An entry record from CBP, forwarded by the U.S. gateway as it would, with its handling changed by `loosen`. */
async function forwarded(loosen: (h: Record<string, unknown>) => Record<string, unknown>) {
  const envelope: Record<string, unknown> = {
    ...sampleEnvelope('entry-exit.record', 'US', { country: 'CA', agency: 'CBSA' }),
    id: randomUUID(),
    from: { country: 'US', agency: 'CBP', system: 'ades' },
    createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  }
  const book = new PolicyBook(randomBytes(32), randomBytes(32))
  const policy = book.select(envelope as never, 'outbound')
  envelope.payload = book.apply(policy, envelope.payload as never).payload
  const honest = handlingFor(policy, { forwardedBy: 'US', forwardedAt: new Date().toISOString(), originDigest: 'A'.repeat(43) })
  envelope.handling = loosen({ ...honest })
  return { id: String(envelope.id), envelope, jws: await signCompactJws(JSON.stringify(envelope), us.signingKey, ENVELOPE_TYP) }
}

/** The handling of what the gateway will push to CBSA, from its sealed copy. */
async function pushedHandling(id: string): Promise<Record<string, unknown>> {
  const item = await gw.app.store.outboxItem('inbound', id)
  const push = new Sealer(config.sealKey).unseal(item!.sealed, id)
  return JSON.parse(Buffer.from(push.split('.')[1]!, 'base64url').toString()).handling
}

t.test("a partner's looser handling is pushed at the receiving side's own limits", async (t) => {
  const sent = await forwarded((h) => ({ ...h, retentionDays: 36_500, onwardTransfer: true, humanReviewRequired: false }))
  const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartner })
  t.equal(res.statusCode, 200, 'received')
  const own = gw.app.policyBook.select(sent.envelope as never, 'inbound').rules
  const handling = await pushedHandling(sent.id)
  t.equal(handling.retentionDays, Math.min(36_500, own.retentionDays), 'kept no longer than the inbound policy says')
  t.equal(handling.onwardTransfer, false, 'no onward transfer unless both sides allow it')
  t.equal(handling.humanReviewRequired, own.humanReviewRequired || false, 'human review if either side asks for it')
  t.equal(handling.policyVersion, (sent.envelope.handling as Record<string, unknown>).policyVersion, "the policy version is the partner's, as sent")
})

t.test("a partner's stricter handling is pushed as the partner sent it", async (t) => {
  const sent = await forwarded((h) => ({ ...h, retentionDays: 1, onwardTransfer: false, humanReviewRequired: true }))
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartner })).statusCode, 200)
  const handling = await pushedHandling(sent.id)
  t.same([handling.retentionDays, handling.onwardTransfer, handling.humanReviewRequired], [1, false, true])
})
