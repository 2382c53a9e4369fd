// A legal hold (P9) keeps a message's sealed copy as well as its record, on
// SQLite and PostgreSQL, whatever ends the message: an operator's discard of a
// dead letter, or its sender's correction, which withdraws it. Nothing sends
// such a message again, so its sealed copy goes at the first purge after the
// hold is released (P5), whatever its age (docs/privacy-officers.md, "More of
// the API"; docs/operators.md, "Dead letters").
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { purgeExpired } from '../gateway/queue/retention.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'
import { GATEWAY_LEDGERS, type GatewayLedger } from './lib/scratch-schema.ts'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const CBP = { country: 'US', agency: 'CBP' } as const
const RETENTION_DAYS = 30

/** A caller presenting the certificate of `who` (under keys-example/CA), with its bound token. */
async function as(app: FastifyInstance, who: string) {
  const cert = presenting(readFileSync(join(KEYS_DIR, 'CA', who, 'client.crt.pem'), 'utf8'))
  const token = (await app.inject({ method: 'POST', url: '/v1/token', headers: cert })).json<{ access_token: string }>().access_token
  return async (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) =>
    app.inject({
      method,
      url,
      headers: { ...cert, authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) })
    })
}

/** A gateway with one record accepted from CBSA and dead-lettered, and an officer who has placed a hold on it. */
async function heldDeadLetter(t: Test, backend: GatewayLedger, ref: string) {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, messageRetentionDays: RETENTION_DAYS, ...(await backend.config(t)) }))
  const store = gw.app.store
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', CBP))
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202, 'accepted')
  t.ok(
    await store.markDeadLettered(
      'outbound',
      id,
      { at: new Date().toISOString(), error: 'connect ECONNREFUSED' },
      auditEntry({ event: 'dead-lettered', direction: 'outbound', messageId: id })
    ),
    'dead-lettered'
  )
  const officer = await as(gw.app, 'privacy-officers/po-1')
  const hold = await officer('POST', '/v1/audit/legal-holds', { ref, complaintRef: 'OPC-2026-0001', reason: 'complaint under review', messageId: id })
  t.equal(hold.statusCode, 201, 'the hold is placed')
  return { gw, store, cbsa, envelope, id, officer }
}

for (const backend of GATEWAY_LEDGERS) {
  t.test(`${backend.name}: an operator discards a held dead letter: nothing sends it, and its sealed copy is kept until the hold is released`, async (t) => {
    const { gw, store, id, officer } = await heldDeadLetter(t, backend, 'HOLD-DISCARD')
    const operator = await as(gw.app, 'operators/ops-1')
    const discard = await operator('POST', `/v1/operations/dead-letters/${id}/discard`, { reason: 'partner says it will not take it' })
    t.equal(discard.statusCode, 200, discard.body)
    t.match(
      discard.json(),
      { id, outcome: 'discarded', status: 'discarded', changed: true, detail: /kept under a legal hold/ },
      'discarded, and told why the copy stays'
    )
    t.notOk(discard.body.includes('HOLD-DISCARD') || discard.body.includes('OPC-2026'), 'the answer names neither the hold nor its complaint')
    t.ok(await store.outboxItem('outbound', id), 'the held sealed copy survives')
    t.match(await store.findMessage('outbound', id), { status: 'discarded' })
    t.notOk(
      (await store.pendingOutbox('2999-01-01T00:00:00Z', 100)).some((p) => p.id === id),
      'the relay never re-drives it'
    )
    const resend = await operator('POST', `/v1/operations/dead-letters/${id}/resend`, { reason: 'try again' })
    t.equal(resend.statusCode, 409, 'nor can an operator resend it')
    t.equal(resend.json().code, 'DEAD_LETTER_CONFLICT')
    const again = await operator('POST', `/v1/operations/dead-letters/${id}/discard`, { reason: 'partner says it will not take it' })
    t.match(again.json(), { outcome: 'already-discarded', changed: false }, 'a repeat changes nothing')

    t.same(await purgeExpired(store, RETENTION_DAYS), { messages: 0, outbox: 0 }, 'the purge leaves it while the hold is active')
    t.ok(await store.outboxItem('outbound', id))
    t.equal((await officer('DELETE', '/v1/audit/legal-holds/HOLD-DISCARD')).statusCode, 204, 'the hold is released')
    t.same(await purgeExpired(store, RETENTION_DAYS), { messages: 0, outbox: 1 }, 'the next purge deletes the sealed copy, young as it is')
    t.equal(await store.outboxItem('outbound', id), undefined)
    t.match(await store.findMessage('outbound', id), { status: 'discarded' }, 'its record is kept for its retention')
  })

  t.test(`${backend.name}: a correction withdraws a held dead letter: its sealed copy is kept until the hold is released`, async (t) => {
    const { store, cbsa, envelope, id, officer } = await heldDeadLetter(t, backend, 'HOLD-WITHDRAW')
    const { id: _id, createdAt: _createdAt, from: _from, ...fields } = envelope
    const correction = cbsa.envelope({ ...fields, supersedes: { id, action: 'correct', reason: 'data-error' } })
    const sent = await cbsa.submit(await cbsa.sign(correction))
    t.equal(sent.status, 202, 'the correction')
    t.match(await store.findMessage('outbound', id), { status: 'withdrawn' }, 'the dead letter is withdrawn')
    t.ok(await store.outboxItem('outbound', id), 'the held sealed copy survives')

    t.same(await purgeExpired(store, RETENTION_DAYS), { messages: 0, outbox: 0 }, 'the purge leaves it while the hold is active')
    t.equal((await officer('DELETE', '/v1/audit/legal-holds/HOLD-WITHDRAW')).statusCode, 204, 'the hold is released')
    t.same(await purgeExpired(store, RETENTION_DAYS), { messages: 0, outbox: 1 }, 'the next purge deletes the sealed copy')
    t.equal(await store.outboxItem('outbound', id), undefined)
    t.ok(await store.outboxItem('outbound', String(correction.id)), 'the correction, still to send, keeps its own')
  })
}
