// Dead letters for operators: real dead letters (a partner gateway or an
// agency webhook that does not answer), listed and inspected as metadata only,
// resent from the outbox once the far end is back, or discarded for good;
// every resend and discard audited; refusals that change nothing; the CLI.
import t from 'tap'
import { looksLikeJws } from './lib/looks-like-jws.ts'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Worker } from 'bullmq'
import { QUEUE_NAMES, redisOptions } from '../gateway/queue/delivery-queues.ts'
import { join } from 'node:path'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import type { FastifyInstance } from 'fastify'
import { problemCode } from '../gateway/lib/problem-code.ts'
import { countDeadLetters, failureReason } from '../gateway/queue/dead-letters.ts'
import { startMockAgency, type MockAgency } from '../sandbox/mock-agency.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import type { AgencyClient } from '../sandbox/agency-client.ts'
import {
  client,
  eventually,
  freePort,
  identityAgent,
  injectGateway,
  jwks,
  KEYS_DIR,
  REDIS_URL,
  runScript,
  startGateway,
  testConfig,
  type ScriptRun,
  UNREACHABLE_URL
} from './helper.ts'

const { request } = undiciModule()

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

// The tests are independent (each its own gateways, free ports, Redis prefix and ledger) and spend their time waiting on deliveries: side by side.
t.jobs = 3

const DEAD_LETTERS = '/v1/operations/dead-letters'
/** Every property an operator sees of a dead letter in a list: nothing else may appear. */
const METADATA = [
  'id',
  'queue',
  'direction',
  'kind',
  'purpose',
  'from',
  'to',
  'attempts',
  'acceptedAt',
  'firstFailureAt',
  'lastFailureAt',
  'deadLetteredAt',
  'lastError',
  'policyVersion',
  'digest'
]

interface Answer {
  status: number
  text: string
  json: any
}

/** An HTTPS caller with the given identity's certificate, fetching its bound token first. */
function caller(t: Test, baseUrl: string, country: 'CA' | 'US', who: string, withToken = true) {
  const agent = identityAgent(t, country, who)
  let token: string | undefined
  const send = async (method: 'GET' | 'POST', path: string, body?: unknown, auth = withToken): Promise<Answer> => {
    const headers: Record<string, string> = {}
    if (auth) {
      token ??= (await send('POST', '/v1/token', undefined, false)).json.access_token as string
      headers.authorization = `Bearer ${token}`
    }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await request(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: agent })
    const text = await res.body.text()
    return { status: res.statusCode, text, json: text === '' ? undefined : JSON.parse(text) }
  }
  return send
}

const operator = (t: Test, baseUrl: string, country: 'CA' | 'US' = 'CA') => caller(t, baseUrl, country, 'operators/ops-1')

/** The traveller's and document's values in a sample message: none may reach an operator. */
function personalValues(envelope: Record<string, unknown>): string[] {
  const payload = envelope.payload as { traveller: Record<string, unknown>; document: Record<string, unknown> }
  return [...Object.values(payload.traveller), ...Object.values(payload.document)].filter((v): v is string => typeof v === 'string')
}

function assertNoPersonalData(t: Test, text: string, envelope: Record<string, unknown>, what: string): void {
  const values = personalValues(envelope)
  t.ok(values.length >= 6, 'the sample carries personal values to look for')
  const leaked = values.filter((v) => text.includes(JSON.stringify(v)) || (v.length >= 4 && text.includes(v)))
  t.same(leaked, [], `${what}: no traveller or document value`)
  t.notOk(/"(payload|envelope|jws|sealed|traveller|document)"/.test(text), `${what}: no payload, envelope or JWS field`)
  t.notOk(looksLikeJws(text), `${what}: nothing that looks like a JWS`)
}

function entryRecord(agency: AgencyClient): Record<string, unknown> {
  return agency.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
}

async function statusOf(agency: AgencyClient, id: string): Promise<any> {
  return (await agency.status(id)).json()
}

async function untilStatus(agency: AgencyClient, id: string, status: string): Promise<any> {
  return eventually(
    async () => {
      const s = await statusOf(agency, id)
      return s.status === status ? s : undefined
    },
    15_000,
    `${id} ${status}`
  )
}

/** The partner side, started late on a port the CA gateway already points at: a US gateway and a mock CBP behind it. */
async function startPartner(t: Test, usPort: number, caUrl: string): Promise<{ app: FastifyInstance; cbp: MockAgency }> {
  const cbp = await startMockAgency({
    client: client(t, 'CBP', `https://127.0.0.1:${usPort}`),
    port: 0,
    gatewayJwks: jwks('US'),
    partnerJwks: jwks('CA'),
    matchRate: 0
  })
  t.teardown(() => cbp.close())
  const us = await startGateway(t, testConfig('US', { port: usPort, partnerUrl: caUrl, webhooks: { 'US/CBP/ades': cbp.url } }))
  return { app: us.app, cbp }
}

async function auditOf(app: FastifyInstance, event: 'dead-letter-resent' | 'dead-letter-discarded') {
  return (await app.store.searchAudit({ event }, 0, 100)).map((e) => e.entry)
}

t.test('an operator lists and inspects dead letters, resends one once the partner is back and discards another', async (t) => {
  const usPort = await freePort()
  const ca = await startGateway(t, testConfig('CA', { partnerUrl: `https://127.0.0.1:${usPort}`, deliveryAttempts: 2, deliveryBackoffMs: 10 }))
  const cbsa = client(t, 'CBSA', ca.url)
  const envelopes = [entryRecord(cbsa), entryRecord(cbsa)]
  for (const e of envelopes) t.equal((await cbsa.submit(await cbsa.sign(e))).status, 202)
  const [resent, discarded] = envelopes.map((e) => String(e.id)) as [string, string]
  for (const id of [resent, discarded]) await untilStatus(cbsa, id, 'dead-lettered')
  const op = operator(t, ca.url)
  t.same(await countDeadLetters(ca.app.store), { total: 2, byQueue: { 'partner-delivery': 2, 'agency-push': 0 } }, 'counted for the alert gauge')

  await t.test('the list shows metadata only', async (t) => {
    const list = await op('GET', DEAD_LETTERS)
    t.equal(list.status, 200)
    t.same(list.json.deadLetters.map((d: any) => d.id).sort(), [resent, discarded].sort())
    t.equal(list.json.nextCursor, null)
    const one = list.json.deadLetters.find((d: any) => d.id === resent)
    t.match(one, {
      queue: 'partner-delivery',
      direction: 'outbound',
      kind: 'entry-exit.record',
      purpose: 'entry-exit-verification',
      from: 'CA/CBSA/pik-primary',
      to: 'US/CBP',
      attempts: 2,
      lastError: { code: 'ECONNREFUSED', status: null }
    })
    t.match(one.policyVersion, /^sha256:/)
    t.match(one.digest, /^[A-Za-z0-9_-]{43}$/)
    t.ok(Date.parse(one.firstFailureAt) <= Date.parse(one.lastFailureAt), 'first and last failure times')
    t.same(Object.keys(one).sort(), [...METADATA].sort(), 'no property beyond the metadata')
    for (const e of envelopes) assertNoPersonalData(t, list.text, e, 'the list')
  })

  await t.test('pages with a cursor, and filters by queue', async (t) => {
    const first = await op('GET', `${DEAD_LETTERS}?limit=1`)
    t.equal(first.json.deadLetters.length, 1)
    t.type(first.json.nextCursor, 'string')
    const second = await op('GET', `${DEAD_LETTERS}?limit=1&cursor=${first.json.nextCursor}`)
    t.equal(second.json.deadLetters.length, 1)
    t.equal(second.json.nextCursor, null, 'the last page says so')
    t.same([first.json.deadLetters[0].id, second.json.deadLetters[0].id].sort(), [resent, discarded].sort(), 'two pages of one are the whole list')
    t.same((await op('GET', `${DEAD_LETTERS}?queue=agency-push`)).json.deadLetters, [], 'nothing in the agency-push queue')
    t.equal((await op('GET', `${DEAD_LETTERS}?queue=partner-delivery`)).json.deadLetters.length, 2)
  })

  await t.test('one dead letter: every failed attempt, reduced to its code', async (t) => {
    const one = await op('GET', `${DEAD_LETTERS}/${resent}`)
    t.equal(one.status, 200)
    t.equal(one.json.id, resent)
    t.same(
      one.json.failures.map((f: any) => f.code),
      ['ECONNREFUSED', 'ECONNREFUSED']
    )
    t.notOk(one.text.includes('127.0.0.1'), 'not the raw error text (it names the address it tried)')
    assertNoPersonalData(t, one.text, envelopes[0]!, 'the detail')
  })

  const partner = await startPartner(t, usPort, ca.url)
  t.equal(await ca.app.relay.runOnce(0), 0, 'the partner is back, yet the relay leaves dead letters alone')

  await t.test("resend: queued from the outbox, delivered with the partner's receipt, gone from the list", async (t) => {
    const res = await op('POST', `${DEAD_LETTERS}/${resent}/resend`, { reason: 'partner gateway back after maintenance' })
    t.equal(res.status, 202)
    t.match(res.json, { id: resent, queue: 'partner-delivery', outcome: 'requeued', status: 'accepted', changed: true, statusUrl: `/v1/messages/${resent}` })
    const status = await untilStatus(cbsa, resent, 'delivered')
    t.equal(status.receipt.messageId, resent, "the partner's signed receipt")
    t.type(status.receipt.jws, 'string')
    t.match(
      status.attempts.map((a: { error: string }) => a.error),
      [/ECONNREFUSED/, /ECONNREFUSED/],
      'its failed attempts before the resend stay on its status, and none after it'
    )
    await eventually(() => (partner.cbp.received.some((m) => m.id === resent) ? true : undefined), 15_000, 'the push to CBP')
    t.same(
      (await op('GET', DEAD_LETTERS)).json.deadLetters.map((d: any) => d.id),
      [discarded],
      'gone from the list'
    )
    const gone = await op('GET', `${DEAD_LETTERS}/${resent}`)
    t.equal(gone.status, 404)
    t.equal(gone.json.code, 'DEAD_LETTER_NOT_FOUND')

    const again = await op('POST', `${DEAD_LETTERS}/${resent}/resend`, {})
    t.equal(again.status, 200)
    t.match(again.json, { outcome: 'already-delivered', changed: false, status: 'delivered' }, 'a repeat says so and does nothing')
    const audit = await auditOf(ca.app, 'dead-letter-resent')
    t.equal(audit.length, 1, 'one audit entry: the repeat changed nothing')
    t.match(audit[0], {
      caller: 'CA/operator/ops-1',
      messageId: resent,
      direction: 'outbound',
      reason: 'partner gateway back after maintenance',
      counts: { attempts: 2 },
      kind: 'entry-exit.record',
      from: 'CA/CBSA/pik-primary',
      to: 'US/CBP'
    })
  })

  await t.test('discard: gone from the list and from the outbox, never re-driven, audited with its reason', async (t) => {
    const res = await op('POST', `${DEAD_LETTERS}/${discarded}/discard`, { reason: 'resubmitted by CBSA under a new id' })
    t.equal(res.status, 200)
    t.match(res.json, { id: discarded, outcome: 'discarded', status: 'discarded', changed: true })
    t.same((await op('GET', DEAD_LETTERS)).json.deadLetters, [], 'the list is empty')
    t.same(await countDeadLetters(ca.app.store), { total: 0, byQueue: { 'partner-delivery': 0, 'agency-push': 0 } })
    t.equal(await ca.app.store.outboxItem('outbound', discarded), undefined, 'its sealed copy is deleted')
    t.equal((await statusOf(cbsa, discarded)).status, 'discarded', 'the sending agency sees it was discarded')
    t.equal(await ca.app.relay.runOnce(0), 0, 'the relay has nothing to re-drive')
    t.equal(await ca.app.queues.queue('outbound').getJob(discarded), undefined, 'and nothing is queued')
    t.equal(await partner.app.store.findMessage('inbound', discarded), undefined, 'the partner never received it')

    const again = await op('POST', `${DEAD_LETTERS}/${discarded}/discard`, { reason: 'again' })
    t.match(again.json, { outcome: 'already-discarded', changed: false })
    const resend = await op('POST', `${DEAD_LETTERS}/${discarded}/resend`, {})
    t.equal(resend.status, 409, 'a discarded message cannot be resent')
    t.equal(resend.json.code, 'DEAD_LETTER_CONFLICT')
    const audit = await auditOf(ca.app, 'dead-letter-discarded')
    t.equal(audit.length, 1)
    t.match(audit[0], { caller: 'CA/operator/ops-1', messageId: discarded, reason: 'resubmitted by CBSA under a new id' })
    const ledger = (await ca.app.store.auditEntries(0, 1000)).map((e) => JSON.stringify(e.entry)).join('\n')
    for (const e of envelopes) assertNoPersonalData(t, ledger, e, 'the ledger')
  })
})

t.test('a message whose worker died with it in hand twice is dead-lettered, not queued again for ever', async (t) => {
  const config = testConfig('CA', { partnerUrl: UNREACHABLE_URL, runWorkers: false })
  const first = await startGateway(t, config)
  const cbsa = client(t, 'CBSA', first.url)
  const envelope = entryRecord(cbsa)
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)

  // A worker that takes the job and never finishes it, as one killed with it
  // in hand: its lock lapses, and BullMQ's stalled check (run by this worker
  // too) puts the job back. Twice: BullMQ then fails it without running the
  // gateway's processor.
  const connection = { ...redisOptions(REDIS_URL), maxRetriesPerRequest: null }
  const dying = new Worker(QUEUE_NAMES.outbound, null, { connection, prefix: config.queuePrefix, autorun: false, lockDuration: 300, stalledInterval: 100 })
  t.teardown(() => dying.close())
  let stalls = 0
  dying.on('stalled', (jobId) => {
    if (jobId === id) stalls++
  })
  await dying.startStalledCheckTimer()
  for (let held = 1; held <= 2; held++) {
    t.equal((await eventually(() => dying.getNextJob(randomUUID()), 15_000, 'the job to take'))?.id, id, `the job taken (${held})`)
    await eventually(() => (stalls >= held ? true : undefined), 15_000, `the job to stall (${held})`)
  }
  await dying.close()
  await first.app.close()

  const restarted = await startGateway(t, { ...config, runWorkers: true })
  const dead = await untilStatus(client(t, 'CBSA', restarted.url), id, 'dead-lettered')
  t.match(dead.attempts.at(-1)?.error, /stalled more than allowable limit/, 'the stall is the reason recorded')
  t.equal(await restarted.app.relay.runOnce(0), 0, 'the relay does not queue it again')
  const listed = (await operator(t, restarted.url)(`GET`, `${DEAD_LETTERS}/${id}`)).json
  t.same(listed.lastError, { code: 'WORKER_STALLED', status: null }, 'an operator sees why, as a code')
})

t.test(
  'a correction that commits while the last attempt at its original fails leaves no dead letter: the original is withdrawn, its sealed copy deleted',
  async (t) => {
    const gw = await injectGateway(t, testConfig('CA', { partnerUrl: UNREACHABLE_URL, deliveryAttempts: 1 }))
    const cbsa = client(t, 'CBSA', gw.url)
    const original = entryRecord(cbsa)
    const O = String(original.id)
    const { id: _id, createdAt: _createdAt, from: _from, ...record } = original
    const correction = cbsa.envelope({ ...record, supersedes: { id: O, action: 'correct', reason: 'data-error' } })
    // The correction commits after this attempt read its message and before its dead-letter write: as at another
    // instance, whose cancel of the job finds it held here, and whose withdrawal finds the message not yet dead-lettered.
    const store = gw.app.store
    const markDeadLettered = store.markDeadLettered.bind(store)
    let corrected: Promise<number> | undefined
    // The original's only: the correction's own delivery fails too, and may end after this test has.
    store.markDeadLettered = async (...args) => {
      if (args[1] !== O) return markDeadLettered(...args)
      corrected ??= cbsa.sign(correction).then(async (jws) => (await cbsa.submit(jws)).status)
      t.equal(await corrected, 202, 'the correction is accepted meanwhile')
      return markDeadLettered(...args)
    }
    t.equal((await cbsa.submit(await cbsa.sign(original))).status, 202)
    const withdrawn = await untilStatus(cbsa, O, 'withdrawn')
    t.equal(withdrawn.supersededBy?.id, String(correction.id), 'withdrawn by its correction')
    t.equal(await store.outboxItem('outbound', O), undefined, 'its sealed copy is deleted')
    const events = (await store.searchAudit({ messageId: O, direction: 'outbound' }, 0, 100)).map((e) => e.entry.event)
    t.same(events.slice(-1), ['withdrawn'], 'the ledger ends with its withdrawal', { events })
  }
)

t.test("a resend made between the dead letter and the removal of its failed job queues it at once, not at the relay's next pass", async (t) => {
  const usPort = await freePort()
  // RELAY_INTERVAL_MS stays at the tests' minute, past the wait below: only a real add delivers it in time.
  const ca = await startGateway(t, testConfig('CA', { partnerUrl: `https://127.0.0.1:${usPort}`, deliveryAttempts: 1, deliveryBackoffMs: 10 }))
  const cbsa = client(t, 'CBSA', ca.url)
  const envelope = entryRecord(cbsa)
  const id = String(envelope.id)
  const op = operator(t, ca.url)
  const queue = ca.app.queues.queue('outbound')
  // The operator resends once the dead letter is recorded, while its worker
  // still holds the failed job: BullMQ removes it only once this returns.
  const store = ca.app.store
  const markDeadLettered = store.markDeadLettered.bind(store)
  let resent: Promise<{ answer: Answer; state: string; partner: Awaited<ReturnType<typeof startPartner>> }> | undefined
  store.markDeadLettered = async (...args) => {
    const moved = await markDeadLettered(...args)
    if (args[1] !== id) return moved
    resent ??= (async () => {
      const partner = await startPartner(t, usPort, ca.url)
      const answer = await op('POST', `${DEAD_LETTERS}/${id}/resend`, { reason: 'partner gateway back' })
      return { answer, state: await queue.getJobState(id), partner }
    })()
    await resent
    return moved
  }
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const { answer, state, partner } = await eventually(() => resent, 15_000, 'the resend')
  t.equal(answer.status, 202)
  t.match(answer.json, { outcome: 'requeued', status: 'accepted', changed: true })
  t.equal(state, 'active', 'the resend came while the failed job was still held: its add was a no-op')
  const status = await untilStatus(cbsa, id, 'delivered')
  t.equal(status.receipt.messageId, id, "delivered, with the partner's receipt")
  await eventually(() => (partner.cbp.received.some((m) => m.id === id) ? true : undefined), 15_000, 'the push to CBP')
})

t.test('refusals: other roles, unknown ids, bad input; none changes anything', async (t) => {
  const ca = await startGateway(t, testConfig('CA', { partnerUrl: UNREACHABLE_URL, deliveryAttempts: 1, deliveryBackoffMs: 10 }))
  const cbsa = client(t, 'CBSA', ca.url)
  const envelope = entryRecord(cbsa)
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  await untilStatus(cbsa, id, 'dead-lettered')
  const op = operator(t, ca.url)
  const head = await ca.app.store.auditHead()

  const agencyToken = `Bearer ${await cbsa.token()}`
  for (const [method, path] of [
    ['GET', DEAD_LETTERS],
    ['POST', `${DEAD_LETTERS}/${id}/resend`],
    ['POST', `${DEAD_LETTERS}/${id}/discard`]
  ] as const) {
    const res = await cbsa.call(method, path, method === 'POST' ? '{"reason":"mine"}' : undefined, {
      authorization: agencyToken,
      'content-type': 'application/json'
    })
    t.equal(res.status, 403, `an agency: ${method} ${path}`)
    t.equal(res.json().code, 'FORBIDDEN')
  }
  const officer = caller(t, ca.url, 'CA', 'privacy-officers/po-1')
  const asOfficer = await officer('POST', `${DEAD_LETTERS}/${id}/discard`, { reason: 'officer' })
  t.equal(asOfficer.status, 403, 'a privacy officer')
  t.equal(asOfficer.json.code, 'FORBIDDEN')
  const noToken = await caller(t, ca.url, 'CA', 'operators/ops-1', false)('GET', DEAD_LETTERS)
  t.equal(noToken.status, 401, 'an operator without a token')
  t.equal(noToken.json.code, 'UNAUTHENTICATED')

  const unknown = randomUUID()
  for (const [method, path, body] of [
    ['GET', `${DEAD_LETTERS}/${unknown}`, undefined],
    ['POST', `${DEAD_LETTERS}/${unknown}/resend`, {}],
    ['POST', `${DEAD_LETTERS}/${unknown}/discard`, { reason: 'no such message' }]
  ] as const) {
    const res = await op(method, path, body)
    t.equal(res.status, 404, `unknown id: ${method} ${path}`)
    t.equal(res.json.code, 'DEAD_LETTER_NOT_FOUND')
  }

  for (const [what, method, path, body] of [
    ['a discard without a reason', 'POST', `${DEAD_LETTERS}/${id}/discard`, {}],
    ['a discard without a body', 'POST', `${DEAD_LETTERS}/${id}/discard`, undefined],
    ['a blank reason', 'POST', `${DEAD_LETTERS}/${id}/discard`, { reason: '   ' }],
    ['a reason of several lines', 'POST', `${DEAD_LETTERS}/${id}/discard`, { reason: 'one\ntwo' }],
    ['a reason that is not text', 'POST', `${DEAD_LETTERS}/${id}/discard`, { reason: 42 }],
    ['an id that is not a message id', 'POST', `${DEAD_LETTERS}/not-a-uuid/resend`, {}],
    ['an unknown queue', 'GET', `${DEAD_LETTERS}?queue=elsewhere`, undefined],
    ['a limit of 0', 'GET', `${DEAD_LETTERS}?limit=0`, undefined],
    ['a cursor the gateway never gave', 'GET', `${DEAD_LETTERS}?cursor=bm90LWEtY3Vyc29y`, undefined]
  ] as const) {
    const res = await op(method, path, body)
    t.equal(res.status, 400, what)
    t.equal(res.json.code, 'REQUEST_INVALID', `${what}: REQUEST_INVALID`)
  }

  t.same(await ca.app.store.auditHead(), head, 'no refusal wrote to the ledger')
  t.equal((await ca.app.store.findMessage('outbound', id))?.status, 'dead-lettered', 'the dead letter is still there')
  t.ok(await ca.app.store.outboxItem('outbound', id), 'with its sealed copy')

  await t.test('a resend needs no body, and gives the message a fresh set of attempts', async (t) => {
    const res = await op('POST', `${DEAD_LETTERS}/${id}/resend`)
    t.equal(res.status, 202)
    t.equal(res.json.outcome, 'requeued')
    // The partner is still down: it dead-letters again after one attempt of its own (one is
    // the setting), not at once for the one before the resend, which stays on its record.
    await untilStatus(cbsa, id, 'dead-lettered')
    const one = await op('GET', `${DEAD_LETTERS}/${id}`)
    t.equal(one.json.attempts, 2, 'one attempt more: a fresh set, with the one before it still counted')
    t.same(
      one.json.failures.map((f: any) => f.code),
      ['ECONNREFUSED', 'ECONNREFUSED']
    )
    const resent = await auditOf(ca.app, 'dead-letter-resent')
    t.equal(resent.length, 1)
    t.equal(resent[0]!.reason, undefined, 'no reason given, none invented')
  })
})

t.test('an agency webhook that was down: the push is resent from the agency-push queue', async (t) => {
  const ports = { CA: await freePort(), US: await freePort(), webhook: await freePort() }
  const base = { CA: `https://127.0.0.1:${ports.CA}`, US: `https://127.0.0.1:${ports.US}` }
  await startGateway(t, testConfig('CA', { port: ports.CA, partnerUrl: base.US }))
  const us = await startGateway(
    t,
    testConfig('US', {
      port: ports.US,
      partnerUrl: base.CA,
      deliveryAttempts: 2,
      deliveryBackoffMs: 10,
      webhooks: { 'US/CBP/ades': `https://127.0.0.1:${ports.webhook}/v1/inbox` }
    })
  )
  const cbsa = client(t, 'CBSA', base.CA)
  const envelope = entryRecord(cbsa)
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  await untilStatus(cbsa, id, 'delivered')
  await eventually(
    async () => ((await us.app.store.findMessage('inbound', id))?.status === 'dead-lettered' ? true : undefined),
    15_000,
    'the push dead-lettered'
  )

  const op = operator(t, base.US, 'US')
  const list = await op('GET', `${DEAD_LETTERS}?queue=agency-push`)
  t.equal(list.json.deadLetters.length, 1)
  t.match(list.json.deadLetters[0], {
    id,
    queue: 'agency-push',
    direction: 'inbound',
    from: 'CA/CBSA/pik-primary',
    to: 'US/CBP/ades',
    attempts: 2,
    lastError: { code: 'ECONNREFUSED' }
  })
  assertNoPersonalData(t, list.text, envelope, 'the inbound dead letter')
  t.same((await op('GET', `${DEAD_LETTERS}?queue=partner-delivery`)).json.deadLetters, [])

  const cbp = await startMockAgency({ client: client(t, 'CBP', base.US), port: ports.webhook, gatewayJwks: jwks('US'), partnerJwks: jwks('CA'), matchRate: 0 })
  t.teardown(() => cbp.close())
  const res = await op('POST', `${DEAD_LETTERS}/${id}/resend?queue=agency-push`, { reason: 'CBP webhook restored' })
  t.equal(res.status, 202)
  t.equal(res.json.queue, 'agency-push')
  const received = await eventually(() => cbp.received.find((m) => m.id === id), 15_000, 'the push to CBP')
  t.equal(received.from, 'CA/CBSA/pik-primary')
  await eventually(async () => ((await us.app.store.findMessage('inbound', id))?.status === 'delivered' ? true : undefined), 15_000, 'delivered')
  t.same((await op('GET', DEAD_LETTERS)).json.deadLetters, [], 'gone from the list')
  t.match((await auditOf(us.app, 'dead-letter-resent'))[0], {
    caller: 'US/operator/ops-1',
    messageId: id,
    direction: 'inbound',
    reason: 'CBP webhook restored'
  })
})

/** Runs the CLI as an operator would, from the repository, with its sandbox defaults for the certificate. */
function cli(args: string[]): Promise<ScriptRun> {
  return runScript(['gateway/cli/dead-letters.ts', ...args])
}

t.test('the CLI lists, shows and resends over mTLS, and fails clearly', async (t) => {
  const usPort = await freePort()
  const ca = await startGateway(t, testConfig('CA', { partnerUrl: `https://127.0.0.1:${usPort}`, deliveryAttempts: 1, deliveryBackoffMs: 10 }))
  const cbsa = client(t, 'CBSA', ca.url)
  const envelope = entryRecord(cbsa)
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  await untilStatus(cbsa, id, 'dead-lettered')
  const gateway = ['--gateway', ca.url]
  const agencyCert = join(KEYS_DIR, 'CA', 'agencies', 'CBSA-pik-primary')
  // Independent reads and refusals, run side by side: each is a process start and a TLS handshake.
  const [list, json, show, unknown, noReason, asAgency, down] = await Promise.all([
    cli(['list', ...gateway]),
    cli(['list', '--json', ...gateway]),
    cli(['show', id, ...gateway]),
    cli(['show', randomUUID(), ...gateway]),
    cli(['discard', id, ...gateway]),
    cli(['list', ...gateway, '--cert', join(agencyCert, 'client.crt.pem'), '--key', join(agencyCert, 'client.key.pem')]),
    cli(['list', '--gateway', `https://127.0.0.1:${usPort}`])
  ])
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, /^ID\s+QUEUE\s+KIND\s+PURPOSE\s+FROM\s+TO\s+ATTEMPTS\s+DEAD-LETTERED\s+LAST ERROR$/m, 'a table with a header')
  const row = list.stdout.split('\n').find((l) => l.startsWith(id))
  t.ok(row, 'a row for the dead letter')
  t.match(row, /partner-delivery\s+entry-exit\.record\s+entry-exit-verification\s+CA\/CBSA\/pik-primary\s+US\/CBP\s+1\s+.*ECONNREFUSED/)
  t.match(list.stdout, /1 dead letter\./)
  assertNoPersonalData(t, list.stdout, envelope, 'the CLI list')

  t.equal(json.code, 0)
  t.same(
    JSON.parse(json.stdout).deadLetters.map((d: any) => d.id),
    [id],
    '--json prints the answer'
  )

  t.equal(show.code, 0, show.stderr)
  t.match(show.stdout, new RegExp(`Message:\\s+${id}`))
  t.match(show.stdout, /Failed attempts:\n\s+1\. \S+ \S+\s+ECONNREFUSED/)

  t.equal(unknown.code, 1, 'a refusal exits non-zero')
  t.match(unknown.stderr, /refused: DEAD_LETTER_NOT_FOUND \(HTTP 404\)/, 'naming the problem code')
  t.equal(noReason.code, 2, 'a discard without --reason is a usage error')
  t.match(noReason.stderr, /--reason/)
  // Mistakes on the command line are usage errors (exit 2), not a gateway that cannot be reached (1), which a script would retry.
  const [badGateway, badQueue] = await Promise.all([cli(['list', '--gateway', 'not-a-url']), cli(['list', '--queue', 'bogus', ...gateway])])
  t.equal(badGateway.code, 2, '--gateway that is not a URL')
  t.match(badGateway.stderr, /--gateway must be an https:\/\/ URL/)
  t.equal(badQueue.code, 2, '--queue that is no queue')
  t.match(badQueue.stderr, /--queue must be one of partner-delivery, agency-push/)
  t.equal(asAgency.code, 1)
  t.match(asAgency.stderr, /FORBIDDEN \(HTTP 403\)/)
  t.equal(down.code, 1)
  t.match(down.stderr, /cannot reach https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/)
  t.equal((await ca.app.store.findMessage('outbound', id))?.status, 'dead-lettered', 'none of that changed anything')

  await startPartner(t, usPort, ca.url)
  const resend = await cli(['resend', id, '--reason', 'partner back', ...gateway])
  t.equal(resend.code, 0, resend.stderr)
  t.match(resend.stdout, new RegExp(`${id} \\(partner-delivery\\): requeued`))
  t.equal((await untilStatus(cbsa, id, 'delivered')).receipt.messageId, id, "delivered, with the partner's receipt")
  const [empty, repeat] = await Promise.all([cli(['list', ...gateway]), cli(['resend', id, ...gateway])])
  t.equal(empty.code, 0)
  t.match(empty.stdout, /^No dead letters\.$/m)
  t.equal(repeat.code, 0, 'a repeat is not a failure')
  t.match(repeat.stdout, /already-delivered/)
})

t.test('failure reasons keep codes and statuses, never free text', async (t) => {
  t.same(failureReason('connect ECONNREFUSED 127.0.0.1:4431'), { code: 'ECONNREFUSED', status: null })
  t.same(failureReason('refused with 403 POLICY_DENIED'), { code: 'POLICY_DENIED', status: 403 })
  t.same(failureReason('partner answered 503 UNKNOWN'), { code: 'HTTP_503', status: 503 })
  t.same(failureReason('agency answered 500 Dear NGUYEN THI, your record'), { code: 'HTTP_500', status: 500 }, 'a code that is not a code is dropped')
  t.same(failureReason('refused with 400 nguyen_thi'), { code: 'HTTP_400', status: 400 })
  t.same(failureReason('Headers Timeout Error'), { code: 'TIMEOUT', status: null })
  t.same(failureReason('the server certificate is not the pinned one'), { code: 'PARTNER_CERT_NOT_PINNED', status: null })
  t.same(failureReason('US/CBP/ades has no webhook'), { code: 'NO_WEBHOOK', status: null })
  t.same(failureReason('job stalled more than allowable limit'), { code: 'WORKER_STALLED', status: null })
  t.same(failureReason('Response content exceeded max size'), { code: 'RESPONSE_TOO_LARGE', status: null })
  t.same(failureReason('The operation was aborted due to timeout'), { code: 'TIMEOUT', status: null })
  // What a refused attempt's ledger entry takes of a peer's problem document: a code, never its free text.
  t.equal(problemCode('{"code":"POLICY_DENIED","detail":"…"}'), 'POLICY_DENIED')
  t.equal(problemCode('{"code":"no record of Jean Tremblay"}'), 'UNKNOWN')
  t.equal(problemCode('{"code":"NGUYEN"}'), 'UNKNOWN', "a surname in capitals is not a code, though it has a code's form")
  t.equal(problemCode('{"code":"C4471862"}'), 'UNKNOWN', 'nor is a document number')
  t.equal(problemCode('{"code":"SERVICE_UNAVAILABLE"}'), 'SERVICE_UNAVAILABLE', 'a code of the contract is')
  t.equal(problemCode(`{"code":"${'A'.repeat(100)}"}`), 'UNKNOWN', 'nor one longer than a code')
  t.equal(problemCode('<html>'), 'UNKNOWN')
  t.same(failureReason('something about NGUYEN 1992-10-05'), { code: 'DELIVERY_FAILED', status: null })
})

t.test("the sandbox's mock agency refuses a push that does not verify, and asks for one it could not check to be sent again", async (t) => {
  // Its gateway cannot be reached: a push signed with a kid it does not know cannot be checked now.
  const cbp = await startMockAgency({ client: client(t, 'CBP', UNREACHABLE_URL), port: 0, gatewayJwks: jwks('US'), partnerJwks: jwks('CA'), matchRate: 0 })
  t.teardown(() => cbp.close())
  const { Agent } = undiciModule()
  // The US gateway's certificate: the agency takes pushes from its own gateway.
  const agent = new Agent({
    connect: {
      cert: readFileSync(join(KEYS_DIR, 'US', 'gateway.crt.pem')),
      key: readFileSync(join(KEYS_DIR, 'US', 'gateway.key.pem')),
      ca: readFileSync(join(KEYS_DIR, 'US', 'ca.crt.pem'))
    }
  })
  t.teardown(() => agent.close())
  const push = async (jws: string) => {
    const res = await request(cbp.url, {
      method: 'POST',
      body: jws,
      headers: { 'content-type': 'application/jose', 'idempotency-key': randomUUID() },
      dispatcher: agent
    })
    return { status: res.statusCode, code: (JSON.parse(await res.body.text()) as { code: string }).code }
  }
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  t.same(
    await push(`${b64({ alg: 'ES256', kid: 'a-kid-from-a-rotation' })}.${b64({})}.${'A'.repeat(86)}`),
    { status: 503, code: 'SERVICE_UNAVAILABLE' },
    'a kid it cannot look up now: 503, pushed again later'
  )
  const kid = jwks('US').keys[0].kid as string
  t.same(
    await push(`${b64({ alg: 'ES256', kid })}.${b64({})}.${'A'.repeat(86)}`),
    { status: 400, code: 'JWS_INVALID' },
    'a known kid, a signature that does not verify: 400, for good'
  )
})
