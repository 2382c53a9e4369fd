// End to end: two gateways, four mock agency systems, real TLS, real Redis,
// real signatures. A message of each kind goes each way and arrives with both
// gateways' signatures verified by the receiving agency.
import t from 'tap'
import { SAMPLE_ROUTES, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { eventually, jwks, sampleOnRoute, type SentSample, startExchange, SYSTEMS, type SystemName } from './helper.ts'

function systemName(country: string, agency: string): SystemName {
  return (Object.keys(SYSTEMS) as SystemName[]).find((n) => SYSTEMS[n].country === country && SYSTEMS[n].agency === agency)!
}

t.test('a message of each kind goes CA→US and US→CA and arrives with both signatures verifiable', async (t) => {
  const ex = await startExchange(t, {}, { CA: 0, US: 1 })
  const sent: SentSample[] = []
  const delivered = (id: string, route: (typeof SAMPLE_ROUTES)[number]) =>
    eventually(
      async () => {
        const s = (await ex.clients[systemName(route.from.country, route.from.agency)].status(id)).json<{
          status: string
          receipt: Record<string, unknown> | null
        }>()
        return s.status === 'delivered' ? s : undefined
      },
      15_000,
      `delivery of ${route.kind} ${id}`
    )
  for (const route of SAMPLE_ROUTES) {
    const client = ex.clients[systemName(route.from.country, route.from.agency)]
    const envelope = client.envelope(await sampleOnRoute(ex, route, sent))
    const res = await client.submit(await client.sign(envelope))
    t.equal(res.status, 202, `${route.kind} ${route.from.country}→${route.to.country} accepted: ${res.body}`)
    const body = res.json<{ id: string; status: string; statusUrl: string }>()
    t.equal(body.id, envelope.id)
    t.equal(body.status, 'accepted')
    t.equal(res.headers.location, `/v1/messages/${String(envelope.id)}`)
    sent.push({ id: String(envelope.id), envelope, route })
  }

  for (const { id, route } of sent) {
    const status = await delivered(id, route)
    t.equal(status.receipt?.messageId, id, 'the receipt names the message')
    t.equal(status.receipt?.receiver, `gateway:${route.to.country}`, 'signed by the receiving gateway')
    t.match(status.receipt?.policyVersion, /^sha256:/)

    const mock = ex.mocks[systemName(route.to.country, route.to.agency)]
    const received = await eventually(() => mock.received.find((m) => m.id === id), 15_000, `push of ${id}`)
    t.equal(received.kind, route.kind)
    t.equal(received.from, `${route.from.country}/${route.from.agency}/${route.from.system}`)
    t.ok(
      jwks(route.from.country).keys.some((k) => k.kid === received.partnerKid),
      'signed by the sending gateway'
    )
    t.ok(
      jwks(route.to.country).keys.some((k) => k.kid === received.gatewayKid),
      'and by the receiving gateway'
    )
  }
})

t.test("a biometric match request is answered through the partner's gateway, linked by correlationId", async (t) => {
  const ex = await startExchange(t, {}, { CA: 0, US: 1 })
  const route = SAMPLE_ROUTES.find((r) => r.kind === 'biometric.match-request' && r.from.country === 'CA')!
  const ircc = ex.clients.IRCC
  const envelope = ircc.envelope(sampleEnvelope(route.kind, 'CA', route.to))
  t.equal((await ircc.submit(await ircc.sign(envelope))).status, 202)
  const answer = await eventually(() => ex.mocks.IRCC.received.find((m) => m.correlationId === envelope.id), 15_000, 'the match response')
  t.equal(answer.kind, 'biometric.match-response')
  t.equal(answer.from, 'US/USCIS/ident-gateway')
  t.equal(answer.payload.result, 'MATCH', 'the US mock answers MATCH at rate 1 here')
  t.equal(answer.payload.humanReviewRequired, true, 'a match always demands human review (P10)')
})

t.test('nothing personal is left in Redis once delivered', async (t) => {
  const ex = await startExchange(t)
  const route = SAMPLE_ROUTES.find((r) => r.kind === 'entry-exit.record' && r.from.country === 'CA')!
  const envelope = ex.clients.CBSA.envelope(sampleEnvelope(route.kind, 'CA', route.to))
  t.equal((await ex.clients.CBSA.submit(await ex.clients.CBSA.sign(envelope))).status, 202)
  await eventually(() => ex.mocks.CBP.received.find((m) => m.id === envelope.id), 15_000, 'the push')
  const { Redis } = await import('ioredis')
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  t.teardown(() => redis.disconnect())
  const surname = JSON.stringify(envelope).match(/"surname":"([^"]+)"/)?.[1]
  t.ok(surname, 'the sample has a surname to look for')
  const keys = await eventually(
    async () => {
      const found: string[] = []
      let cursor = '0'
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', '*', 'COUNT', 1000)
        found.push(...batch)
        cursor = next
      } while (cursor !== '0')
      const jobKeys = found.filter((k) => k.endsWith(`:${String(envelope.id)}`))
      return jobKeys.length === 0 ? found : undefined
    },
    10_000,
    'job removal'
  )
  for (const key of keys) {
    const type = await redis.type(key)
    if (type !== 'string' && type !== 'hash') continue
    const value = type === 'string' ? await redis.get(key) : JSON.stringify(await redis.hgetall(key))
    if (value?.includes(surname!)) t.fail(`Redis key ${key} holds the surname`)
  }
  t.pass('no job of the message and no plain surname remain in Redis')
})
