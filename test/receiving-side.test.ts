// The receiving gateway, from what the partner sends to what its agency has:
// an agency's 2xx is its answer, whatever body follows it; a resent dead
// letter keeps the attempts that may have reached the agency, so a later
// withdrawal still says so; and corrections that would loop back to
// themselves are refused, where each would wait for or withdraw another and
// none would reach the agency. A kind is pushed only to a system registered
// for it: none, and the partner's delivery is refused.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { MessageRecord } from '../gateway/store/records.ts'
import { DeadLetters } from '../gateway/queue/dead-letters.ts'
import { RESPONSE_MAX_BYTES } from '../gateway/delivery/tls-client.ts'
import { RETRY_AFTER_MAX_MS, retryAfterMs } from '../gateway/delivery/retry-after.ts'
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { copyKeys, eventually, injectGateway, testConfig } from './helper.ts'
import { runKeys } from './lib/run-keys.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { agencyWebhook, asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'

// Each test has its own gateway, Redis prefix and ledger, and waits on deliveries: side by side.
t.jobs = 3

const CBSA = 'CA/CBSA/pik-primary'

/** The gateway's record of inbound message `id`, once `ready` holds of it. */
function inboundRecord(gw: { app: FastifyInstance }, id: string, ready: (r: MessageRecord) => boolean, what: string, ms = 15_000): Promise<MessageRecord> {
  return eventually(
    async () => {
      const r = await gw.app.store.findMessage('inbound', id)
      return r !== undefined && ready(r) ? r : undefined
    },
    ms,
    what
  )
}

t.test("an agency's 2xx with a body too long to read is delivered, once: not a failed push, not pushed again", async (t) => {
  const tooLong = 'x'.repeat(RESPONSE_MAX_BYTES + 10)
  const webhook = await agencyWebhook(t, 'CA', (res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end(tooLong))
  const gw = await injectGateway(t, testConfig('CA', { webhooks: { [CBSA]: webhook.url }, deliveryAttempts: 2, deliveryBackoffMs: 10 }))
  const sent = await forwardedTo('CA')
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('CA') })).statusCode, 200)
  const record = await inboundRecord(gw, sent.id, (r) => r.status !== 'accepted', 'an outcome')
  t.equal(record?.status, 'delivered', 'the agency answered 200: delivered')
  t.same(record?.attempts, [], 'no attempt counted as failed')
  t.equal(webhook.pushes.length, 1, 'pushed once')
})

t.test(
  'a push is typed as a push, the envelope the partner forwarded inside it as an envelope: the same key signs both, and neither passes for the other',
  async (t) => {
    const webhook = await agencyWebhook(t, 'CA')
    const gw = await injectGateway(t, testConfig('CA', { webhooks: { [CBSA]: webhook.url } }))
    const sent = await forwardedTo('CA')
    t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('CA') })).statusCode, 200)
    const push = await eventually(() => webhook.pushes[0]?.body, 15_000, 'the push')
    const header = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString('utf8')) as { typ: string }
    const delivered = JSON.parse(Buffer.from(push.split('.')[1]!, 'base64url').toString('utf8')) as { receivedFrom: { jws: string } }
    t.equal(header(push).typ, 'btb-push+jws', 'the push')
    t.equal(header(delivered.receivedFrom.jws).typ, 'btb-envelope+jws', 'the envelope forwarded by the partner, inside it')
  }
)

t.test("a partner's retry after this gateway dropped the key it signed with gets its receipt again; other bytes under that key are refused", async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, trustFile }))
  const sent = await forwardedTo('CA')
  const exchange = (jws: string) => gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: asPartnerOf('CA') })
  const first = await exchange(sent.jws)
  t.equal(first.statusCode, 200, 'received')
  // The end of a rotation's overlap: the key the partner signed with leaves this gateway's trust.
  const trust = JSON.parse(readFileSync(trustFile, 'utf8'))
  const { kid } = trust.partner.keys[0]
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
  trust.partner.keys = [{ kid: 'us-gateway-next', alg: 'ES256', jwk: { ...jwk, kid: 'us-gateway-next', alg: 'ES256', use: 'sig' } }]
  writeFileSync(trustFile, JSON.stringify(trust, null, 2))
  t.equal((await gw.app.reloadTrust('test')).ok, true, `${kid} dropped`)
  const again = await exchange(sent.jws)
  t.same([again.statusCode, again.body], [200, first.body], 'the same bytes again: the same receipt, not a refusal')
  const other = await exchange((await forwardedTo('CA')).jws)
  t.equal(other.statusCode, 400, 'a message not received before, signed with the dropped key, is refused')
  const [header, payload, signature] = sent.jws.split('.') as [string, string, string]
  const changed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  changed.purpose = 'removal-enforcement'
  const forged = await exchange(`${header}.${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${signature}`)
  t.same([forged.statusCode, forged.json().code], [other.statusCode, other.json().code], 'and other bytes under the same id are refused as any other would be')
})

t.test('a large delivery the partner sends again, exactly as before, is answered from its record before the inbound work is done again', async (t) => {
  // The partner sends again when its wait for the receipt ran out
  // (DELIVERY_TIMEOUT_MS) while this gateway worked on a large batch: doing
  // that work again for each retry would make every retry time out too, and
  // the partner dead-letter a message this gateway has (docs/operators.md, "Sizing").
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, pipelineWorkerMinBytes: 1_024 }))
  const sent = await forwardedTo('CA')
  t.ok(sent.jws.length >= 1_024, 'a delivery at least PIPELINE_WORKER_MIN_BYTES: a large one, here')
  const exchange = (jws: string) => gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: asPartnerOf('CA') })
  const prepared = () => gw.app.pipeline.counts.inline + gw.app.pipeline.counts.worker
  const first = await exchange(sent.jws)
  t.equal(first.statusCode, 200, 'received')
  const before = prepared()
  const again = await exchange(` ${sent.jws}\n`)
  t.same([again.statusCode, again.body], [200, first.body], 'the same bytes again (whitespace around them set aside): the same receipt')
  t.equal(prepared(), before, 'without verifying, checking and signing it again')
  const [header, payload, signature] = sent.jws.split('.') as [string, string, string]
  const changed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  changed.purpose = 'removal-enforcement'
  const other = await exchange(`${header}.${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${signature}`)
  t.equal(other.statusCode, 400, 'other bytes under its id go through the whole pipeline, and are refused as they always were')
  t.equal(prepared(), before + 1, 'prepared once more')
})

t.test("an agency's 429 or 503 with Retry-After is not pushed to again before then, and spends one attempt", async (t) => {
  const at: number[] = []
  const webhook = await agencyWebhook(t, 'CA', (res, n) => {
    at.push(performance.now())
    if (n === 1) res.writeHead(429, { 'retry-after': '2', 'content-type': 'application/problem+json' }).end('{"code":"SLOW_DOWN"}')
    else res.writeHead(204).end()
  })
  const gw = await injectGateway(t, testConfig('CA', { webhooks: { [CBSA]: webhook.url }, deliveryBackoffMs: 10 }))
  const sent = await forwardedTo('CA')
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('CA') })).statusCode, 200)
  const record = await inboundRecord(gw, sent.id, (r) => r.status === 'delivered', 'the push delivered')
  t.equal(webhook.pushes.length, 2, 'pushed twice: the 429, then the 204')
  t.ok(at[1]! - at[0]! >= 1_900, `pushed again ${Math.round(at[1]! - at[0]!)} ms after the 429, not after the 10 ms backoff`)
  t.equal(record.attempts.length, 1, 'the 429 is one failed attempt')
  const now = Date.parse('2026-12-07T12:00:00Z')
  t.same(
    [
      retryAfterMs(429, '5', now),
      retryAfterMs(503, 'Mon, 07 Dec 2026 12:00:03 GMT', now),
      retryAfterMs(503, 'Mon, 07 Dec 2026 11:00:00 GMT', now),
      retryAfterMs(429, '99999999', now),
      retryAfterMs(500, '5', now),
      retryAfterMs(429, 'soon', now),
      retryAfterMs(429, undefined, now)
    ],
    [5_000, 3_000, 0, RETRY_AFTER_MAX_MS, undefined, undefined, undefined],
    'delay-seconds and HTTP-dates, capped at an hour, from a 429 or a 503 only'
  )
})

t.test('a resent dead letter keeps its attempts: withdrawn by a correction later, its entry still counts those that may have arrived', async (t) => {
  // Two 503s (each may have reached the agency), then, resent, a 429 (which did not).
  const webhook = await agencyWebhook(t, 'CA', (res, n) => void res.writeHead(n <= 2 ? 503 : 429).end())
  // The backoff leaves the correction below time to arrive while the resent push waits for its next try.
  const gw = await injectGateway(t, testConfig('CA', { webhooks: { [CBSA]: webhook.url }, deliveryAttempts: 2, deliveryBackoffMs: 3_000 }))
  const original = await forwardedTo('CA')
  const id = original.id
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: original.jws, headers: asPartnerOf('CA') })).statusCode, 200)
  await inboundRecord(gw, id, (r) => r.status === 'dead-lettered', 'dead-lettered', 20_000)
  // BullMQ removes the failed job just after the dead letter is recorded: a resend before that adds nothing.
  await eventually(async () => ((await gw.app.queues.queue('inbound').getJob(id)) === undefined ? true : undefined), 10_000, 'the job removed')
  const resent = await new DeadLetters(gw.app.store, gw.app.queues).resend(id, { operator: 'CA/operator/ops-1', reason: 'webhook restored' })
  t.equal(resent.outcome, 'requeued')
  const afterResend = await inboundRecord(gw, id, (r) => r.attempts.length === 3, 'the resent push refused')
  t.equal(afterResend.status, 'accepted', 'waiting for its next try')
  t.match(
    afterResend.attempts.map((a) => a.error),
    [/503/, /503/, /429/],
    'the attempts before the resend are still on the record'
  )
  const correction = await forwardedTo('CA', { envelope: { supersedes: { id, action: 'correct', reason: 'data-error' } } })
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: correction.jws, headers: asPartnerOf('CA') })).statusCode, 200)
  t.equal((await gw.app.store.findMessage('inbound', id))?.status, 'withdrawn', 'the original is withdrawn')
  const [withdrawal] = (await gw.app.store.searchAudit({ messageId: id, event: 'withdrawn' }, 0, 10)).map((e) => e.entry)
  t.same(withdrawal?.counts, { uncertainAttempts: 2 }, 'its entry counts the two 503s, from before the resend, as ones that may have arrived')
})

t.test('a correction that would loop back to itself is refused SUPERSEDES_CONFLICT, and nothing of it is kept', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const exchange = async (jws: string) => {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: asPartnerOf('CA') })
    return { status: res.statusCode, code: res.statusCode === 200 ? undefined : (res.json().code as string) }
  }
  const refused = async (id: string) => (await gw.app.store.searchAudit({ messageId: id, event: 'refused' }, 0, 10)).map((e) => e.entry.code)

  const self = crypto.randomUUID()
  const naming = await forwardedTo('CA', { envelope: { id: self, supersedes: { id: self, action: 'correct', reason: 'data-error' } } })
  t.same(await exchange(naming.jws), { status: 409, code: 'SUPERSEDES_CONFLICT' }, 'a message that supersedes itself')
  t.equal(await gw.app.store.findMessage('inbound', self), undefined, 'is not kept')
  t.same(await refused(self), ['SUPERSEDES_CONFLICT'], 'and its refusal is audited')

  // B corrects A, which has not arrived (its sender may have withdrawn it): taken. A, arriving, may not correct B.
  const [a, b] = [crypto.randomUUID(), crypto.randomUUID()]
  const bCorrectsA = await forwardedTo('CA', { envelope: { id: b, supersedes: { id: a, action: 'correct', reason: 'data-error' } } })
  t.same(await exchange(bCorrectsA.jws), { status: 200, code: undefined }, 'a correction of a message not received is taken')
  const aCorrectsB = await forwardedTo('CA', { envelope: { id: a, supersedes: { id: b, action: 'correct', reason: 'data-error' } } })
  t.same(await exchange(aCorrectsB.jws), { status: 409, code: 'SUPERSEDES_CONFLICT' }, 'its original, correcting it back, is refused')
  t.equal(await gw.app.store.findMessage('inbound', a), undefined, 'and not kept')
  // Three: C corrects E (not received), D corrects C, then E would correct D.
  const [c, d, e] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()]
  const link = (id: string, of: string) => forwardedTo('CA', { envelope: { id, supersedes: { id: of, action: 'correct', reason: 'data-error' } } })
  t.equal((await exchange((await link(c, e)).jws)).status, 200)
  t.equal((await exchange((await link(d, c)).jws)).status, 200)
  t.same(await exchange((await link(e, d)).jws), { status: 409, code: 'SUPERSEDES_CONFLICT' }, 'a loop through three is refused as well')

  const late = await forwardedTo('CA', { envelope: { id: a } })
  t.same(await exchange(late.jws), { status: 200, code: undefined }, 'A itself, superseding nothing, is taken')
  t.equal((await gw.app.store.findMessage('inbound', a))?.supersededBy?.id, b, 'and known as corrected by B')
})

// The partner names its own systems, and this gateway has no list of them: a
// partner at fault could send one named for a traveller, which passes the
// schema's form. The ledger cannot be rid of a value, so an inbound entry
// names the partner's sender by country and agency only.
t.test("a partner's sending system never reaches this ledger: inbound entries name its country and agency", async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const from = { country: 'US', agency: 'CBP', system: 'tremblay-1984-03-07' }
  const original = await forwardedTo('CA', { envelope: { from } })
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: original.jws, headers: asPartnerOf('CA') })).statusCode, 200)
  const correction = await forwardedTo('CA', { envelope: { from, supersedes: { id: original.id, action: 'correct', reason: 'data-error' } } })
  t.equal((await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: correction.jws, headers: asPartnerOf('CA') })).statusCode, 200)
  t.equal((await gw.app.store.findMessage('inbound', original.id))?.status, 'withdrawn', 'the original, not yet pushed, is withdrawn by its correction')
  const entries = (await gw.app.store.auditEntries(0, 100)).map((e) => e.entry)
  t.same(
    entries.map((e) => [e.event, e.from]),
    [
      ['received', 'US/CBP'],
      ['received', 'US/CBP'],
      ['withdrawn', 'US/CBP']
    ],
    'each entry names the sender by country and agency'
  )
  t.notOk(JSON.stringify(entries).includes('tremblay'), 'and the system the partner named is nowhere in the ledger')
  t.equal((await gw.app.store.findMessage('inbound', original.id))?.sender, 'US/CBP/tremblay-1984-03-07', "the message's record, purged with it, keeps it")
})

// A system's `kinds` are those it may send and receive (docs/operators.md,
// "Keys and trust CLI"): another system of the same agency is no stand-in for
// the one registered for a kind. Revoke that one (compromised, say) and the
// kind has nowhere to go until a system is issued for it.
t.test("a kind is pushed only to a system registered for it: with none, the partner's delivery is refused 422 RECIPIENT_INVALID, nothing kept", async (t) => {
  const trustFile = join(copyKeys(t), 'CA', 'trust.json')
  const issued = await runKeys(
    'issue-agency',
    '--trust',
    trustFile,
    '--agency',
    'CBSA',
    '--system',
    'nexus-kiosk',
    '--kinds',
    'traveller.designation',
    '--purposes',
    'trusted-traveller-vetting',
    '--webhook',
    'https://127.0.0.1:1/v1/inbox'
  )
  t.equal(issued.code, 0, issued.stderr)
  const revoked = await runKeys('revoke', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')
  t.equal(revoked.code, 0, revoked.stderr)
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, trustFile }))

  const record = await forwardedTo('CA')
  const refused = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: record.jws, headers: asPartnerOf('CA') })
  t.equal(refused.statusCode, 422, 'an entry record for CBSA, whose system for entry records is revoked, is refused')
  t.equal(JSON.parse(refused.body).code, 'RECIPIENT_INVALID')
  t.equal(await gw.app.store.findMessage('inbound', record.id), undefined, 'and not kept, to be pushed to a system not registered for it')

  const designation = await forwardedTo('CA', { message: sampleEnvelope('traveller.designation', 'US', { country: 'CA', agency: 'CBSA' }) })
  const taken = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: designation.jws, headers: asPartnerOf('CA') })
  t.equal(taken.statusCode, 200, 'a designation for CBSA is received')
  t.equal(
    (await gw.app.store.findMessage('inbound', designation.id))?.recipient,
    'CA/CBSA/nexus-kiosk',
    'a designation goes to the system registered for designations'
  )
})
