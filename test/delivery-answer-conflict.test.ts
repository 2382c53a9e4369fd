// The ledger's tamper alarm (docs/architecture.md, "The verifiable ledger") is
// raised by a checkpoint refused as a contradiction, and by nothing else. A
// receiving agency's webhook, or the partner gateway, answering a delivery
// with `409 {"code":"CHECKPOINT_CONFLICT"}` refused a message, not a
// checkpoint: its code is no answer to a delivery, so it is kept as an
// unknown one (the attempt is named by its status), and neither the witness
// report, the verification nor btb_checkpoint_conflicts_total counts it. Nor
// do they count a delivery entry that carries the code all the same (one
// written before this was so).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { deliveryAnswerCode } from '../gateway/delivery/delivery-outcome.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { failureReason } from '../gateway/queue/dead-letters.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, eventually, injectGateway, KEYS_DIR, presenting, standInPartner, testConfig } from './helper.ts'
import { agencyWebhook, asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'

type Gateway = Awaited<ReturnType<typeof injectGateway>>

const ANSWER = JSON.stringify({ code: 'CHECKPOINT_CONFLICT', status: 409, title: 'the ledger was rewritten' })

/** What the alarm shows on each channel: the privacy officer's witness report and the operator's metric. */
async function alarm(gw: Gateway): Promise<{ conflicts: unknown[]; metric: number }> {
  const officer = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const token = (await gw.app.inject({ method: 'POST', url: '/v1/token', headers: officer })).json().access_token as string
  const witness = await gw.app.inject({ method: 'GET', url: '/v1/audit/witness', headers: { ...officer, authorization: `Bearer ${token}` } })
  const operator = presenting(readFileSync(join(KEYS_DIR, 'CA', 'operators', 'ops-1', 'client.crt.pem'), 'utf8'))
  const metrics = await gw.app.inject({ method: 'GET', url: '/metrics', headers: operator })
  return { conflicts: witness.json().conflicts, metric: Number(/^btb_checkpoint_conflicts_total (\S+)$/m.exec(metrics.body)?.[1]) }
}

/** The message's dead-lettered entry, once its last attempt is recorded. */
async function deadLettered(gw: Gateway, messageId: string): Promise<{ code: string | null }> {
  const [entry] = await eventually(
    async () => {
      const found = await gw.app.store.searchAudit({ event: 'dead-lettered', messageId }, 0, 1)
      return found.length > 0 ? found : undefined
    },
    15_000,
    'the dead-lettered entry'
  )
  return entry!.entry
}

t.test("a code no peer answers a delivery with is kept as an unknown one, a delivery's refusal codes as they are", async (t) => {
  for (const code of ['CHECKPOINT_CONFLICT', 'CHECKPOINT_PROOF_INVALID', 'CHECKPOINT_UNSIGNED', 'DEAD_LETTER_CONFLICT', 'GRANT_TYPE_UNSUPPORTED']) {
    t.equal(deliveryAnswerCode(JSON.stringify({ code })), 'UNKNOWN', `${code} is no answer to a delivery`)
  }
  for (const code of ['POLICY_DENIED', 'RECIPIENT_INVALID', 'REPLAYED', 'JWS_SIGNATURE_INVALID', 'PAYLOAD_TOO_LARGE', 'SERVICE_UNAVAILABLE', 'INTERNAL']) {
    t.equal(deliveryAnswerCode(JSON.stringify({ code })), code, `${code} is one (POST /v1/exchange answers it)`)
  }
  t.equal(deliveryAnswerCode('{"code":"NGUYEN"}'), 'UNKNOWN', 'nor is anything outside the contract')
  t.equal(deliveryAnswerCode('<html>'), 'UNKNOWN')
})

t.test("an agency's webhook answering a push 409 CHECKPOINT_CONFLICT raises no checkpoint-conflict alarm", async (t) => {
  const hook = await agencyWebhook(t, 'CA', (res) => void res.writeHead(409, { 'content-type': 'application/problem+json' }).end(ANSWER))
  const gw = await injectGateway(t, testConfig('CA', { webhooks: { 'CA/CBSA/pik-primary': hook.url }, deliveryAttempts: 1 }))
  const sent = await forwardedTo('CA')
  const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('CA') })
  t.equal(res.statusCode, 200, 'received from the partner')

  const entry = await deadLettered(gw, sent.id)
  t.equal(entry.code, 'UNKNOWN', 'the dead letter is recorded with the code of an unknown answer, not CHECKPOINT_CONFLICT')
  const record = await gw.app.store.findMessage('inbound', sent.id)
  t.same(failureReason(record!.attempts.at(-1)!.error), { code: 'HTTP_409', status: 409 }, 'its attempt is named by its status')
  t.same(await alarm(gw), { conflicts: [], metric: 0 }, 'no conflict in GET /v1/audit/witness, and btb_checkpoint_conflicts_total stays 0')
})

t.test('the partner gateway answering a delivery 409 CHECKPOINT_CONFLICT raises none either', async (t) => {
  const partner = await standInPartner(t, (req, res) => {
    req.resume()
    res.writeHead(409, { 'content-type': 'application/problem+json' }).end(ANSWER)
  })
  const gw = await injectGateway(t, testConfig('CA', { partnerUrl: partner.url, deliveryAttempts: 1 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202, 'accepted')

  const entry = await deadLettered(gw, String(envelope.id))
  t.equal(entry.code, 'UNKNOWN', 'the dead letter is recorded with the code of an unknown answer')
  t.same(await alarm(gw), { conflicts: [], metric: 0 }, 'no conflict alarm')
})

t.test('a delivery entry carrying CHECKPOINT_CONFLICT is no alarm; a checkpoint refused as a conflict is', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const messageId = randomUUID()
  for (const event of ['delivery-failed', 'dead-lettered'] as const) {
    await gw.app.store.appendAudit(auditEntry({ event, direction: 'inbound', messageId, code: 'CHECKPOINT_CONFLICT' }))
  }
  t.same(await alarm(gw), { conflicts: [], metric: 0 }, 'written before delivery answers were screened, they count in neither')

  // What the witness writes of a contradicting checkpoint (routes/witness.ts).
  await gw.app.store.appendAudit(auditEntry({ event: 'refused', caller: 'gateway:US', code: 'CHECKPOINT_CONFLICT', reason: 'another root at size 5' }))
  const { conflicts, metric } = await alarm(gw)
  t.match(conflicts, [{ reason: 'another root at size 5' }], 'the conflict is listed')
  t.equal(conflicts.length, 1, 'alone')
  t.equal(metric, 1, 'and counted once')
})
