// The delivery workers' byte budget (gateway/lib/byte-budget.ts): a bulk
// load's batches wait for room before they are read, one at a time when each
// is larger than the budget, while single messages go side by side. Seen at a
// stand-in for the partner that holds every delivery open, and in /metrics.
import t from 'tap'
import type { ServerResponse } from 'node:http'
import { ByteBudget } from '../gateway/lib/byte-budget.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { nexusDesignation } from '../sandbox/synthetic-travellers.ts'
import { client, eventually, injectGateway, standInPartner, testConfig } from './helper.ts'

t.test('a byte budget admits in order, lets an oversized item go alone, and takes each release once', async (t) => {
  const budget = new ByteBudget(100)
  const order: string[] = []
  const a = await budget.take(60)
  const noted = (name: string) => (release: () => void) => {
    order.push(name)
    return release
  }
  const b = budget.take(60).then(noted('b'))
  const c = budget.take(10).then(noted('c'))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(order, [], 'b does not fit beside a, and c, though it would, does not overtake b')
  t.equal(budget.waiting, 2)
  a()
  a()
  const releaseB = await b
  const releaseC = await c
  t.same(order, ['b', 'c'], 'once a is given back, b then c')
  t.equal(budget.inHand, 70, 'a second release of a gave back nothing more')
  releaseB()
  releaseC()
  const huge = await budget.take(1000)
  t.equal(budget.inHand, 1000, 'an item larger than the whole budget goes when nothing else is in hand')
  const small = budget.take(1)
  t.equal(budget.waiting, 1, 'and nothing goes beside it')
  huge()
  ;(await small)()
  t.equal(budget.inHand, 0)
  t.throws(() => new ByteBudget(0), RangeError)
})

/** A stand-in for the US gateway (its certificate, so the pin holds) that holds each delivery open until the test answers it. */
async function holdingPartner(t: { teardown(fn: () => unknown): void }) {
  const held: ServerResponse[] = []
  let holding = true
  const answer = (res: ServerResponse): void => {
    res.writeHead(503, { 'content-type': 'application/problem+json' }).end('{"code":"SERVICE_UNAVAILABLE"}')
  }
  const answerAll = (): void => {
    for (const res of held.splice(0)) answer(res)
  }
  const stopHolding = (): void => {
    holding = false
    answerAll()
  }
  // Registered before the server's own teardown, so it runs after it: tap
  // runs teardowns last first, and the held answers must go before the close.
  const { url } = await standInPartner(t, (req, res) => {
    req.resume()
    if (req.url !== '/v1/exchange' || !holding) return answer(res)
    req.on('end', () => held.push(res))
  })
  t.teardown(stopHolding)
  return {
    url,
    held,
    /** Answers the oldest delivery held (503: the gateway tries it again later). */
    answerOne: (): void => answer(held.shift()!),
    stopHolding
  }
}

const BUDGET = 65_536

function batchOf(count: number, first: number): Record<string, unknown> {
  const envelope = sampleEnvelope('traveller.designation-batch', 'CA', { country: 'US', agency: 'CBP' })
  const roster = { seed: 7, assessedBy: 'CBSA' as const, date: '2026-12-01' }
  const payload = envelope.payload as Record<string, unknown>
  payload.designations = Array.from({ length: count }, (_, i) => nexusDesignation(roster, first + i))
  return envelope
}

t.test('batches larger than the budget are delivered one at a time; the others wait before reading theirs', async (t) => {
  const partner = await holdingPartner(t)
  const gw = await injectGateway(t, testConfig('CA', { partnerUrl: partner.url, deliveryBudgetBytes: BUDGET, workerConcurrency: 8 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const waiting = async (): Promise<number> => (await gw.app.metrics.registry.getSingleMetric('btb_delivery_budget_waiting')!.get()).values[0]!.value
  const inHand = async (): Promise<number> =>
    (await gw.app.metrics.registry.getSingleMetric('btb_delivery_budget_bytes')!.get()).values.find((v) => v.labels.state === 'in_hand')!.value

  const ids: string[] = []
  for (const first of [0, 200, 400]) {
    const envelope = cbsa.envelope(batchOf(200, first))
    ids.push(envelope.id as string)
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202, 'a batch of 200 designations is accepted')
  }
  const sealed = (await gw.app.store.pendingOutbox(new Date(Date.now() + 60_000).toISOString(), 10)).length
  t.equal(sealed, 3, 'all three wait in the outbox')

  // Two workers have taken the other batches' jobs and wait for room: from
  // here on, neither can reach the partner until the first is answered.
  await eventually(async () => ((await waiting()) === 2 && partner.held.length === 1 ? true : undefined), 15_000, 'one batch delivered, two waiting')
  t.equal(partner.held.length, 1, 'one batch at the partner, the other two held back by the budget')
  t.ok((await inHand()) > BUDGET, 'the one in hand is larger than the whole budget: it went alone')
  // What a delivery holds is counted: its sealed copy, deflated to a fraction
  // of the batch, and the batch it opens to.
  const copies = await Promise.all(ids.map((id) => gw.app.store.messageToDeliver('outbound', id)))
  const held = copies.map((copy) => copy!.sealed.length + gw.app.sealer.unsealBytes(copy!.sealed, copy!.record.id).length)
  t.ok(held.includes(await inHand()), `the budget counts the sealed copy and what it opens to (${await inHand()} in hand; ${held.join(', ')})`)

  partner.answerOne()
  await eventually(() => (partner.held.length === 1 ? true : undefined), 15_000, 'the next batch delivered')
  t.ok((await waiting()) >= 1, 'and the third still waits')
  t.equal(partner.held.length, 1, 'still one at a time')
  partner.stopHolding()
})

t.test('single messages are not held back by the budget', async (t) => {
  const partner = await holdingPartner(t)
  const gw = await injectGateway(t, testConfig('CA', { partnerUrl: partner.url, deliveryBudgetBytes: BUDGET, workerConcurrency: 8 }))
  const cbsa = client(t, 'CBSA', gw.url)
  for (let i = 0; i < 4; i++) {
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  }
  await eventually(() => (partner.held.length === 4 ? true : undefined), 15_000, 'all four at the partner at once')
  t.equal(partner.held.length, 4, 'four deliveries in hand together')
  partner.stopHolding()
})
