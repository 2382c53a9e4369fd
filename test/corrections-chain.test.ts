// A correction or retraction whose named link never reached the partner
// (docs/integrators.md, "Corrections and retractions"): O was delivered, its
// correction C was withdrawn before delivery (the partner unreachable), and
// the next link N supersedes C. The partner never had C: N must reach its
// agency naming O, the record it holds, and its gateway link O to N;
// otherwise a retraction of a record about the wrong traveller leaves it at
// the receiving agency, with no way left to the sender to take it back (P8).
// When C was delivered, N names C as before. The sending gateway forwards
// the links before C (`handling.earlierLinks`), and the receiving one links
// to the nearest it holds; a partner that forwards none is taken as before.
import t, { type Test } from 'tap'
import type { AgencyClient } from '../sandbox/agency-client.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { join } from 'node:path'
import { verifyCompactJws } from '../gateway/jws/verify-compact.ts'
import { ENVELOPE_TYP } from '../gateway/pipeline/envelope.ts'
import { gatewayOwner, loadTrustStore } from '../gateway/trust/trust-store.ts'
import { client, eventually, injectGateway, KEYS_DIR, startExchange, testConfig, type Exchange } from './helper.ts'
import { agencyWebhook, asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'
import { refusingProxy, type RefusingProxy } from './lib/refusing-proxy.ts'

const CBP = { country: 'US', agency: 'CBP' } as const

interface Status {
  readonly status: string
  readonly attempts: readonly unknown[]
  readonly mayHaveArrived?: boolean
}

async function statusOf(client: AgencyClient, id: string): Promise<Status> {
  return (await client.status(id)).json<Status>()
}

/** The original's envelope again, as a new message of the same record: what a correction or retraction carries. */
function sameRecord(envelope: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, createdAt: _createdAt, from: _from, ...rest } = envelope
  return rest
}

/** An exchange whose CA gateway reaches the US one through a proxy that can refuse it; CA retries slowly, so that a test acts between attempts. */
async function exchangeBehindProxy(t: Test): Promise<{ ex: Exchange; proxy: RefusingProxy }> {
  const proxy = await refusingProxy(t)
  const ex = await startExchange(t, (c) => (c === 'CA' ? { partnerUrl: proxy.url, deliveryBackoffMs: 2000, deliveryAttempts: 10 } : {}), { CA: 0, US: 0 })
  proxy.forwardTo(Number(new URL(ex.us.url).port))
  return { ex, proxy }
}

/** O, submitted by CBSA and delivered to CBP. */
async function deliveredOriginal(t: Test, ex: Exchange): Promise<{ original: Record<string, unknown>; O: string }> {
  const cbsa = ex.clients.CBSA
  const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
  const O = String(original.id)
  t.equal((await cbsa.submit(await cbsa.sign(original))).status, 202, 'O accepted')
  await eventually(async () => ((await statusOf(cbsa, O)).status === 'delivered' ? true : undefined), 15_000, 'O delivered')
  return { original, O }
}

async function submitted(t: Test, cbsa: AgencyClient, envelope: Record<string, unknown>, what: string): Promise<string> {
  const res = await cbsa.submit(await cbsa.sign(envelope))
  t.equal(res.status, 202, `${what} accepted`, { body: res.body })
  return String(envelope.id)
}

for (const action of ['retract', 'correct'] as const) {
  t.test(
    `a ${action === 'retract' ? 'retraction' : 'correction'} of a withdrawn correction reaches the partner's agency naming the delivered original`,
    async (t) => {
      const { ex, proxy } = await exchangeBehindProxy(t)
      const cbsa = ex.clients.CBSA
      const { original, O } = await deliveredOriginal(t, ex)

      // The partner becomes unreachable: C's first attempt fails without reaching it, and N withdraws C.
      proxy.refuse(true)
      const C = await submitted(t, cbsa, cbsa.envelope({ ...sameRecord(original), supersedes: { id: O, action: 'correct', reason: 'data-error' } }), 'C')
      await eventually(async () => ((await statusOf(cbsa, C)).attempts.length > 0 ? true : undefined), 15_000, "C's first attempt")
      const link = { action, reason: action === 'retract' ? 'wrong-traveller' : 'data-error' }
      const next = { ...sameRecord(original), ...(action === 'retract' ? { payload: {} } : {}) }
      const N = await submitted(t, cbsa, cbsa.envelope({ ...next, supersedes: { id: C, ...link } }), 'N')
      const again = await cbsa.submit(await cbsa.sign(cbsa.envelope({ ...sameRecord(original), payload: {}, supersedes: { id: O, action: 'retract' } })))
      t.equal(again.json<{ code: string }>().code, 'SUPERSEDES_CONFLICT', 'O itself can no longer be superseded: C is its latest word')
      const withdrawn = await statusOf(cbsa, C)
      t.match(withdrawn, { status: 'withdrawn', mayHaveArrived: false }, 'C never left')
      proxy.refuse(false)

      const pushed = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === N), 30_000, 'CBP receives N')
      t.equal(
        ex.mocks.CBP.received.find((m) => m.id === C),
        undefined,
        'CBP never received C'
      )
      t.same(pushed.supersedes, { id: O, ...link }, 'N reaches CBP naming O, the record CBP holds')
      t.equal((await ex.us.app.store.findMessage('inbound', C))?.status, undefined, 'the partner gateway never had C')
      t.same((await ex.us.app.store.findMessage('inbound', O))?.supersededBy, { id: N, ...link }, 'the partner gateway links O to N')
      t.match((await ex.us.app.store.findMessage('inbound', N))?.supersedes, { id: O, action }, "and N's record names O")
      t.same((await ex.ca.app.store.findMessage('outbound', N))?.supersedes?.id, C, "the sending gateway's record of N still names C, as its agency sent it")
    }
  )
}

t.test('a retraction of a delivered correction names that correction, as before', async (t) => {
  const { ex } = await exchangeBehindProxy(t)
  const cbsa = ex.clients.CBSA
  const { original, O } = await deliveredOriginal(t, ex)
  const C = await submitted(t, cbsa, cbsa.envelope({ ...sameRecord(original), supersedes: { id: O, action: 'correct', reason: 'data-error' } }), 'C')
  await eventually(async () => ((await statusOf(cbsa, C)).status === 'delivered' ? true : undefined), 15_000, 'C delivered')
  const R = await submitted(
    t,
    cbsa,
    cbsa.envelope({ ...sameRecord(original), payload: {}, supersedes: { id: C, action: 'retract', reason: 'wrong-traveller' } }),
    'R'
  )

  const pushed = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === R), 15_000, 'CBP receives R')
  t.same(pushed.supersedes, { id: C, action: 'retract', reason: 'wrong-traveller' }, 'R reaches CBP naming C')
  t.same(
    (await ex.us.app.store.findMessage('inbound', C))?.supersededBy,
    { id: R, action: 'retract', reason: 'wrong-traveller' },
    'the partner gateway links C to R'
  )
  t.same((await ex.us.app.store.findMessage('inbound', O))?.supersededBy, { id: C, action: 'correct', reason: 'data-error' }, 'and O to C')
})

t.test('the receiving gateway links to the nearest link it holds of the one named and the earlier links forwarded', async (t) => {
  const webhook = await agencyWebhook(t, 'CA')
  const gw = await injectGateway(t, testConfig('CA', { webhooks: { 'CA/CBSA/pik-primary': webhook.url } }))
  const exchange = async (jws: string) => {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: asPartnerOf('CA') })
    return { status: res.statusCode, code: res.statusCode === 200 ? undefined : (res.json().code as string) }
  }
  const received = async (opts: Parameters<typeof forwardedTo>[1] = {}) => {
    const sent = await forwardedTo('CA', opts)
    t.same(await exchange(sent.jws), { status: 200, code: undefined }, `${sent.id} received`)
    return sent.id
  }
  /** What the agency was pushed of `id`: the envelope its gateway signed. */
  const pushed = (id: string) =>
    eventually(
      () => {
        for (const push of webhook.pushes) {
          const envelope = JSON.parse(Buffer.from(push.body.split('.')[1]!, 'base64url').toString()) as Record<string, any>
          if (envelope.id === id) return envelope
        }
        return undefined
      },
      15_000,
      `the push of ${id}`
    )
  const retracting = (id: string, earlierLinks?: string[]) => ({
    envelope: { supersedes: { id, action: 'retract', reason: 'wrong-traveller' }, payload: {} },
    ...(earlierLinks === undefined ? {} : { handling: (h: Record<string, unknown>) => ({ ...h, earlierLinks }) })
  })
  const unsent = () => crypto.randomUUID()

  // The one named is held: linked to it, whatever came before.
  const O1 = await received()
  const C1 = await received({ envelope: { supersedes: { id: O1, action: 'correct', reason: 'data-error' } } })
  const worked = gw.app.pipeline.counts.inline
  const R1 = await received(retracting(C1, [O1]))
  t.equal(gw.app.pipeline.counts.inline, worked + 1, 'prepared, and not signed again')
  t.equal((await gw.app.store.findMessage('inbound', C1))?.supersededBy?.id, R1, 'a correction held is what the retraction supersedes')
  t.equal((await pushed(R1)).supersedes.id, C1, 'and what the push names')

  // Not held: the nearest earlier link held, and the push names it, with none of the links.
  const O2 = await received()
  const before = gw.app.pipeline.counts.inline
  const R2 = await received(retracting(unsent(), [unsent(), O2]))
  t.equal(gw.app.pipeline.counts.inline, before + 2, 'prepared, then its push signed again')
  t.same(
    (await gw.app.store.findMessage('inbound', O2))?.supersededBy,
    { id: R2, action: 'retract', reason: 'wrong-traveller' },
    'the nearest held is superseded'
  )
  const push = await pushed(R2)
  t.same(push.supersedes, { id: O2, action: 'retract', reason: 'wrong-traveller' }, 'and named to the agency')
  t.equal(push.handling.earlierLinks, undefined, 'the links are for the gateway: the push names the one linked')
  t.equal((await gw.app.store.findMessage('inbound', R2))?.supersedes?.id, O2, "and the retraction's record names it")

  // A partner that forwards no earlier links (one that predates them): as before, linked to the one named.
  const O3 = await received()
  const C3 = unsent()
  const R3 = await received(retracting(C3))
  t.equal((await gw.app.store.findMessage('inbound', R3))?.supersedes?.id, C3, 'a partner that forwards no links: linked to the one named')
  t.equal((await gw.app.store.findMessage('inbound', O3))?.supersededBy, undefined, 'and nothing else')
  t.equal((await pushed(R3)).supersedes.id, C3, 'pushed as routed')

  // Earlier links out of the contract are refused, and nothing is kept.
  for (const [links, what] of [
    [[], 'none'],
    [['not-an-id'], 'one that is not an id'],
    [[O2, O2], 'one twice'],
    [Array.from({ length: 33 }, unsent), 'more than 32']
  ] as const) {
    const bad = await forwardedTo('CA', retracting(unsent(), [...links]))
    t.same(await exchange(bad.jws), { status: 422, code: 'SCHEMA_INVALID' }, `earlier links: ${what}`)
    t.equal(await gw.app.store.findMessage('inbound', bad.id), undefined, 'not kept')
  }
})

t.test('the sending gateway signs the links before an original not yet delivered into what it forwards, on a worker thread for a large one', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, pipelineThreads: 1, pipelineWorkerMinBytes: 256 }))
  const cbsa = client(t, 'CBSA', gw.url)
  // The partner's trust in this gateway's key: what it verifies a forwarded envelope with.
  const partner = loadTrustStore(join(KEYS_DIR, 'US', 'trust.json')).partner
  const forwarded = async (id: string) => {
    const pending = await gw.app.store.messageToDeliver('outbound', id)
    const verified = await verifyCompactJws(gw.app.sealer.unseal(pending!.sealed, id), { keys: partner.keys, owner: gatewayOwner('CA'), typ: ENVELOPE_TYP })
    return JSON.parse(Buffer.from(verified.payload).toString()) as { supersedes?: { id: string }; handling: { earlierLinks?: string[] } }
  }

  const original = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
  const O = await submitted(t, cbsa, original, 'O')
  const C = await submitted(t, cbsa, cbsa.envelope({ ...sameRecord(original), supersedes: { id: O, action: 'correct', reason: 'data-error' } }), 'C')
  t.equal((await forwarded(C)).handling.earlierLinks, undefined, 'a correction of the first message: nothing before it')
  const worked = gw.app.pipeline.counts.worker
  const R = await submitted(t, cbsa, cbsa.envelope({ ...sameRecord(original), payload: {}, supersedes: { id: C, action: 'retract' } }), 'R')
  t.equal(gw.app.pipeline.counts.worker, worked + 2, 'prepared, then signed again, on the worker thread')
  const sent = await forwarded(R)
  t.equal(sent.supersedes?.id, C, 'R names C, as its agency sent it')
  t.same(sent.handling.earlierLinks, [O], 'with O, the link before C, signed by this gateway')
})
