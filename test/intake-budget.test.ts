// The intake byte budget (gateway/plugins/intake-budget.ts): request bodies
// past INTAKE_BUDGET_BYTES wait, unread, until the ones before them are
// answered; a request that goes away while it waits leaves the queue. Seen
// over real TLS sockets, with bodies sent in parts, and in /metrics.
import t from 'tap'
import { readFileSync } from 'node:fs'
import type { ClientRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { ByteBudget } from '../gateway/lib/byte-budget.ts'
import { bodyBytes } from '../gateway/plugins/intake-budget.ts'
import type { FastifyRequest } from 'fastify'
import { client, eventually, KEYS_DIR, startGateway, testConfig, tokenOnceListening } from './helper.ts'

t.test('a take that is abandoned while it waits leaves the queue, and what waited behind it goes', async (t) => {
  const budget = new ByteBudget(100)
  const first = await budget.take(80)
  const gone = new AbortController()
  const abandoned = budget.take(50, { signal: gone.signal })
  const behind = budget.take(20)
  t.equal(budget.waiting, 2)
  gone.abort(new Error('went away'))
  await t.rejects(abandoned, { message: 'went away' })
  const release = await behind
  t.equal(budget.inHand, 100, 'the 20 behind it fit beside the 80 and went')
  t.equal(budget.waiting, 0)
  await t.rejects(budget.take(1, { signal: AbortSignal.abort(new Error('already')) }), { message: 'already' }, 'a signal already aborted takes nothing')
  release()
  first()
  t.equal(budget.inHand, 0)
})

t.test('tryTake admits at once only what take would admit without waiting, and takes nothing otherwise', async (t) => {
  const budget = new ByteBudget(100)
  const first = budget.tryTake(80)
  t.type(first, 'function', 'room: admitted at once')
  t.equal(budget.inHand, 80)
  t.equal(budget.tryTake(30), undefined, 'no room: nothing taken')
  t.equal(budget.inHand, 80)
  t.equal(budget.waiting, 0, 'and nothing queued')
  const waits = budget.take(30)
  t.equal(budget.tryTake(10), undefined, 'room, but a take waits before it: it does not overtake')
  first!()
  const second = await waits
  t.equal(budget.inHand, 30)
  second()
  const alone = budget.tryTake(500)
  t.type(alone, 'function', 'larger than the whole budget, with nothing in hand: it goes alone')
  alone!()
  alone!()
  t.equal(budget.inHand, 0, 'each release counts once')
})

t.test('what a body counts for', async (t) => {
  const asRequest = (headers: Record<string, string>) => ({ headers }) as unknown as FastifyRequest
  t.equal(bodyBytes(asRequest({ 'content-length': '5000' }), 8192), 5000, 'its declared length')
  t.equal(bodyBytes(asRequest({ 'content-length': '9000' }), 8192), 0, 'nothing past the limit: it is refused unread')
  t.equal(bodyBytes(asRequest({ 'transfer-encoding': 'chunked' }), 8192), 8192, 'the whole limit, sent in chunks with no length')
  t.equal(bodyBytes(asRequest({}), 8192), 0, 'nothing, with no body')
})

/** Waits until `holds` is true. */
function until(holds: () => boolean, what: string): Promise<true> {
  return eventually(() => (holds() ? true : undefined), 15_000, what)
}

const BUDGET = 65_536
const BODY = 50_000

/**
 * A POST of BODY bytes over its own TLS connection: by an agency system
 * (CBSA, with the access token `sender`) to /v1/messages, or by the partner
 * gateway (US; `sender` is 'partner') to /v1/exchange. `send` more of it,
 * `answer` when it is answered.
 */
function postInParts(url: string, sender: string) {
  const by = sender === 'partner' ? 'partner' : { agencyToken: sender }
  const dir = by === 'partner' ? join(KEYS_DIR, 'US') : join(KEYS_DIR, 'CA', 'agencies', 'CBSA-pik-primary')
  const { port } = new URL(url)
  let sent = 0
  const req: ClientRequest = httpsRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: by === 'partner' ? '/v1/exchange' : '/v1/messages',
    headers: {
      'content-type': 'application/jose',
      'content-length': String(BODY),
      ...(by === 'partner' ? {} : { authorization: `Bearer ${by.agencyToken}` })
    },
    cert: readFileSync(join(dir, by === 'partner' ? 'gateway.crt.pem' : 'client.crt.pem')),
    key: readFileSync(join(dir, by === 'partner' ? 'gateway.key.pem' : 'client.key.pem')),
    ca: readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem')),
    agent: false
  })
  let answered = false
  const answer = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume()
      answered = true
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
  })
  return {
    send(bytes: number): void {
      req.write('x'.repeat(bytes))
      sent += bytes
      if (sent >= BODY) req.end()
    },
    rest(): void {
      this.send(BODY - sent)
    },
    get answered(): boolean {
      return answered
    },
    answer,
    destroy: (): void => {
      answer.catch(() => {})
      req.destroy()
    }
  }
}

t.test('a caller refused by its headers takes none of the budget', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { intakeBudgetBytes: BUDGET }))
  const token = await tokenOnceListening(client(t, 'CBSA', gw.url))
  const holder = postInParts(gw.url, token)
  holder.send(1_000)
  await until(() => gw.app.intakeBudget.inHand === BODY, 'a body holds most of the budget')
  const refused = postInParts(gw.url, 'not-a-token')
  refused.rest()
  t.equal(await refused.answer, 401, 'refused at once: it did not wait for room')
  t.equal(gw.app.intakeBudget.waiting, 0)
  holder.rest()
  t.equal(await holder.answer, 400)
})

t.test('bodies past the budget wait unread until the ones before them are answered; one that goes away leaves the queue', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { intakeBudgetBytes: BUDGET }))
  const budget = gw.app.intakeBudget
  // Only a caller that passed every onRequest check (its role, its token) takes any of the budget.
  const token = await tokenOnceListening(client(t, 'CBSA', gw.url))

  const first = postInParts(gw.url, token)
  first.send(1_000)
  await until(() => budget.inHand === BODY, 'the first is admitted as soon as its headers are in')

  const leaving = postInParts(gw.url, token)
  leaving.rest()
  const second = postInParts(gw.url, token)
  second.rest()
  await until(() => budget.waiting === 2, 'the two behind it wait: together they would pass the budget')
  t.equal(budget.inHand, BODY, 'and hold none of it')

  leaving.destroy()
  await until(() => budget.waiting === 1, 'one that goes away while it waits leaves the queue')

  first.rest()
  t.equal(await first.answer, 400, 'the first is read and answered (not a JWS: refused once read)')
  t.equal(await second.answer, 400, 'then the one that waited is read and answered')
  await until(() => budget.inHand === 0 && budget.waiting === 0, 'and every byte is given back')
})

t.test('bodies that fit together are read together', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { intakeBudgetBytes: 4 * BODY }))
  const budget = gw.app.intakeBudget
  const token = await tokenOnceListening(client(t, 'CBSA', gw.url))
  const posts = [postInParts(gw.url, token), postInParts(gw.url, token), postInParts(gw.url, token)]
  for (const post of posts) post.send(1_000)
  await until(() => budget.inHand === 3 * BODY, 'all three are admitted at once')
  t.equal(budget.waiting, 0)
  for (const post of posts) post.rest()
  t.same(await Promise.all(posts.map((post) => post.answer)), [400, 400, 400])
  await until(() => budget.inHand === 0, 'every byte given back')
})

t.test("an agency's body holding the budget does not hold up the partner gateway's deliveries: they have room of their own", async (t) => {
  // One agency that sends its body slowly would otherwise hold every body
  // behind it, the partner's deliveries too, for the whole request time: past
  // the partner's DELIVERY_TIMEOUT_MS, so that it sends again and at last
  // dead-letters what this gateway would have taken (docs/operators.md, "Sizing").
  const gw = await startGateway(t, testConfig('CA', { intakeBudgetBytes: BUDGET }))
  const token = await tokenOnceListening(client(t, 'CBSA', gw.url))
  const holder = postInParts(gw.url, token)
  holder.send(1_000)
  await until(() => gw.app.intakeBudget.inHand === BODY, "an agency's body holds most of the agencies' room")

  const delivery = postInParts(gw.url, 'partner')
  delivery.rest()
  const first = await Promise.race([
    delivery.answer.then((status) => `answered ${status}`),
    until(() => gw.app.intakeBudget.waiting > 0, 'a wait').then(() => 'waited behind the agency')
  ])
  t.equal(first, 'answered 400', "the partner's delivery is read and answered (not a JWS: refused once read) while the agency's body is still arriving")
  t.equal(gw.app.partnerIntakeBudget.inHand, 0, "and gives back the partner's room")
  holder.rest()
  t.equal(await holder.answer, 400)
  await until(() => gw.app.intakeBudget.inHand === 0, 'every byte given back')
})

t.test('a request that waits for room longer than a request may take is answered 408, and leaves the queue', async (t) => {
  // Its body has arrived whole, into the socket: Node's request timeout no
  // longer watches it, so the wait keeps its own deadline (docs/operators.md,
  // INTAKE_BUDGET_BYTES).
  const gw = await startGateway(t, testConfig('CA', { intakeBudgetBytes: BUDGET }), { httpTimeouts: { roomWaitMs: 300 } })
  const token = await tokenOnceListening(client(t, 'CBSA', gw.url))
  const holder = postInParts(gw.url, token)
  holder.send(1_000)
  await until(() => gw.app.intakeBudget.inHand === BODY, 'a body holds most of the budget')
  const waiter = postInParts(gw.url, token)
  waiter.rest()
  t.equal(await waiter.answer, 408, 'answered 408 REQUEST_TIMEOUT once its wait passed the limit')
  t.equal(gw.app.intakeBudget.waiting, 0, 'and no longer waits')
  t.equal(gw.app.intakeBudget.inHand, BODY, 'having taken none of the room')
  holder.rest()
  t.equal(await holder.answer, 400, 'the body that held the room is read and answered as ever')
})
