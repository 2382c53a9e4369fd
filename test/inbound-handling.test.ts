// P11 (and P10, P5): the receiving side enforces the handling a record
// travels with. What the receiving gateway pushes to its agency carries, for
// each limit, the stricter of the partner's handling and its own inbound
// policy's: a partner that sent looser limits (by a fault, or by intent)
// does not loosen them for the agency.
import t from 'tap'
import { Sealer } from '../gateway/lib/seal.ts'
import { injectGateway, testConfig } from './helper.ts'
import { asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'

const config = testConfig('CA', { runWorkers: false, webhooks: { 'CA/CBSA/pik-primary': 'https://127.0.0.1:1' } })
const gw = await injectGateway(t, config)
const asPartner = asPartnerOf('CA')

/** An entry record from CBP, forwarded by the U.S. gateway as it would, with its handling changed by `loosen`. */
const forwarded = (loosen: (h: Record<string, unknown>) => Record<string, unknown>) => forwardedTo('CA', { handling: loosen })

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

// The push is signed by this gateway: what its handling says of the partner's
// policy (`policy`, the sender's `kind/purpose/outbound`) and of who forwarded
// the record (`forwardedBy`) is vouched for to the agency, so it is held to
// the message as `policyVersion` is, not passed on as the partner wrote it.
t.test("a handling that names another policy than the message's, or another forwarder than the partner, is refused and nothing is kept", async (t) => {
  const cases: Array<[string, (h: Record<string, unknown>) => Record<string, unknown>, number, string]> = [
    ['the policy of another purpose', (h) => ({ ...h, policy: 'entry-exit.record/removal-enforcement/outbound' }), 403, 'POLICY_DENIED'],
    ['the policy of another kind', (h) => ({ ...h, policy: 'traveller.designation/trusted-traveller-vetting/outbound' }), 403, 'POLICY_DENIED'],
    ["the sender's inbound policy", (h) => ({ ...h, policy: String(h.policy).replace(/outbound$/, 'inbound') }), 403, 'POLICY_DENIED'],
    ['forwarded by the receiving country', (h) => ({ ...h, forwardedBy: 'CA' }), 403, 'FORBIDDEN']
  ]
  for (const [what, change, status, code] of cases) {
    const sent = await forwarded(change)
    const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartner })
    t.same([res.statusCode, res.statusCode < 400 ? 'a receipt' : res.json().code], [status, code], `${what}: ${status} ${code}`)
    t.equal(await gw.app.store.findMessage('inbound', sent.id), undefined, `${what}: nothing kept`)
    t.equal(await gw.app.store.outboxItem('inbound', sent.id), undefined, `${what}: nothing to push`)
  }
})
