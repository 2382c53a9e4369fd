// GET /metrics for operators: message outcomes counted from the ledger,
// queue depths and dead letters read at scrape time, delivery latency,
// certificate expiry, process metrics; an operator's certificate and nothing
// else; no personal data in any label.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, eventually, identityAgent, KEYS_DIR, startExchange, startGateway, testConfig, UNREACHABLE_URL } from './helper.ts'

const { Agent, request } = undiciModule()

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A Prometheus scraper with a client certificate (an operator's, unless another directory is named). */
function scraper(t: Teardown, country: 'CA' | 'US', baseUrl: string, identity = 'operators/ops-1') {
  const agent = identityAgent(t, country, identity)
  return async () => {
    const res = await request(`${baseUrl}/metrics`, { dispatcher: agent })
    return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() }
  }
}

/** The value of one sample, its labels matched exactly; undefined when there is no such sample. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const have = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!] as const).sort(([a], [b]) => a.localeCompare(b))
    if (JSON.stringify(have) === JSON.stringify(want)) return Number(m[3])
  }
  return undefined
}

const ENTRY = { kind: 'entry-exit.record', purpose: 'entry-exit-verification' }

t.test('an operator scrapes message outcomes, delivery latency, queue depths and certificate expiry', async (t) => {
  const ex = await startExchange(t)
  // Every read of a message's record, by id: a delivery's labels and latency
  // come from the acceptance the ledger announced, not from a read of it.
  const reads: string[] = []
  for (const store of [ex.ca.app.store, ex.us.app.store]) {
    const findMessage = store.findMessage.bind(store)
    store.findMessage = (direction, id) => {
      reads.push(id)
      return findMessage(direction, id)
    }
  }
  const scrapeCa = scraper(t, 'CA', ex.ca.url)
  const scrapeUs = scraper(t, 'US', ex.us.url)
  const { CBSA: cbsa, CBP: cbp } = ex.clients

  const out = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(out))).status, 202)
  const back = cbp.envelope(sampleEnvelope('entry-exit.record', 'US', { country: 'CA', agency: 'CBSA' }))
  t.equal((await cbp.submit(await cbp.sign(back))).status, 202)
  const refused = await cbsa.submit(await cbsa.sign({ ...out, id: crypto.randomUUID(), purpose: 'asylum-claim' }))
  t.equal(refused.json().code, 'PURPOSE_NOT_ALLOWED')
  await eventually(() => (ex.mocks.CBP.received.some((m) => m.id === out.id) ? true : undefined), 15_000, 'delivery to CBP')
  await eventually(() => (ex.mocks.CBSA.received.some((m) => m.id === back.id) ? true : undefined), 15_000, 'delivery to CBSA')
  const BACK = { kind: String(back.kind), purpose: String(back.purpose) }

  // The delivered counters move once the ledger has the receipt; the scrape may come first.
  const ca = await eventually(
    async () => {
      const res = await scrapeCa()
      return sample(res.text, 'btb_messages_total', { direction: 'inbound', outcome: 'delivered', ...BACK, code: '' }) === 1 &&
        sample(res.text, 'btb_messages_total', { direction: 'outbound', outcome: 'delivered', ...ENTRY, code: '' }) === 1
        ? res
        : undefined
    },
    15_000,
    'both deliveries counted on the CA gateway'
  )
  t.equal(ca.status, 200)
  t.match(ca.type, /^text\/plain; version=0\.0\.4/)
  t.equal(sample(ca.text, 'btb_messages_total', { direction: 'outbound', outcome: 'accepted', ...ENTRY, code: '' }), 1)
  t.equal(
    sample(ca.text, 'btb_messages_total', {
      direction: 'outbound',
      outcome: 'refused',
      kind: 'entry-exit.record',
      purpose: 'asylum-claim',
      code: 'PURPOSE_NOT_ALLOWED'
    }),
    1,
    'a refusal, with its code'
  )
  t.equal(sample(ca.text, 'btb_messages_total', { direction: 'inbound', outcome: 'received', ...BACK, code: '' }), 1)
  t.equal(sample(ca.text, 'btb_audit_entries_total', { event: 'accepted' }), 1)

  t.equal(sample(ca.text, 'btb_delivery_latency_seconds_count', { direction: 'outbound' }), 1, 'one delivery timed, acceptance to receipt')
  const latency = sample(ca.text, 'btb_delivery_latency_seconds_sum', { direction: 'outbound' })!
  const entries = (await ex.ca.app.store.auditEntries(0, 1000)).filter((e) => e.entry.messageId === out.id).map((e) => e.entry)
  const at = (event: string) => Date.parse(entries.find((e) => e.event === event)!.at)
  t.equal(latency, (at('delivered') - at('accepted')) / 1000, 'from the acceptance entry to the delivery entry')
  t.equal(sample(ca.text, 'btb_delivery_latency_seconds_bucket', { direction: 'outbound', le: '+Inf' }), 1)

  // What each admitted message waited for, its commit and then its queue add: the submission
  // accepted (outbound) and the partner's delivery received (inbound); the refusal admitted nothing.
  for (const direction of ['outbound', 'inbound']) {
    for (const stage of ['ledger', 'queue']) {
      t.equal(sample(ca.text, 'btb_intake_wait_seconds_count', { direction, stage }), 1, `${direction}: one wait for the ${stage}`)
      const waited = sample(ca.text, 'btb_intake_wait_seconds_sum', { direction, stage })!
      t.ok(waited > 0 && waited < 15, `${direction} ${stage}: ${waited} s`)
      t.equal(sample(ca.text, 'btb_intake_wait_seconds_bucket', { direction, stage, le: '+Inf' }), 1)
    }
  }

  for (const state of ['waiting', 'active', 'delayed']) {
    t.equal(sample(ca.text, 'btb_queue_jobs', { queue: 'partner-delivery', state }), 0, `partner-delivery ${state}: all delivered`)
  }
  t.equal(sample(ca.text, 'btb_dead_letters', { queue: 'partner-delivery' }), 0)
  t.equal(sample(ca.text, 'btb_dead_letters', { queue: 'agency-push' }), 0)
  t.equal(sample(ca.text, 'btb_delivery_budget_bytes', { state: 'in_hand' }), 0, 'every delivery over: no bytes in hand')
  t.equal(sample(ca.text, 'btb_delivery_budget_bytes', { state: 'limit' }), ex.ca.app.deliveryBudget.limit, 'against the configured budget')
  t.equal(sample(ca.text, 'btb_delivery_budget_waiting', {}), 0)
  t.equal(sample(ca.text, 'btb_intake_budget_bytes', { state: 'in_hand' }), 0, 'every request answered: no body in hand')
  t.equal(sample(ca.text, 'btb_intake_budget_bytes', { state: 'limit' }), ex.ca.app.intakeBudget.limit, 'against the configured intake budget')
  t.equal(sample(ca.text, 'btb_intake_budget_waiting', {}), 0)

  const days = (pem: string) => (new X509Certificate(readFileSync(join(KEYS_DIR, pem))).validToDate.getTime() - Date.now()) / 86_400_000
  const gatewayDays = sample(ca.text, 'btb_certificate_expiry_days', { certificate: 'gateway', system: '' })!
  t.ok(Math.abs(gatewayDays - days('CA/gateway.crt.pem')) < 0.01, `the gateway certificate expires in ${gatewayDays.toFixed(1)} days`)
  t.ok(gatewayDays > 30, 'the example certificates are far from expiry')
  t.ok(Math.abs(sample(ca.text, 'btb_certificate_expiry_days', { certificate: 'agency-ca', system: '' })! - days('CA/ca.crt.pem')) < 0.01)
  t.ok(Math.abs(sample(ca.text, 'btb_certificate_expiry_days', { certificate: 'partner-ca', system: '' })! - days('US/ca.crt.pem')) < 0.01)
  t.ok(
    Math.abs(
      sample(ca.text, 'btb_certificate_expiry_days', { certificate: 'agency-system', system: 'CA/CBSA/pik-primary' })! -
        days('CA/agencies/CBSA-pik-primary/client.crt.pem')
    ) < 0.01,
    "an agency system's certificate, as it presented it"
  )
  t.ok(
    Math.abs(sample(ca.text, 'btb_certificate_expiry_days', { certificate: 'partner-gateway', system: 'gateway:US' })! - days('US/gateway.crt.pem')) < 0.01,
    "the partner gateway's certificate, as it presented it"
  )

  t.ok(sample(ca.text, 'process_cpu_user_seconds_total')! > 0, 'process metrics')
  t.not(sample(ca.text, 'nodejs_eventloop_lag_seconds'), undefined)

  const doc = out.payload as { document: { number: string }; traveller: { surname: string } }
  for (const personal of [String(out.id), String(back.id), doc.document.number, doc.traveller.surname]) {
    t.notOk(ca.text.includes(personal), 'no message id, document number or name in any label')
  }

  const us = await eventually(
    async () => {
      const res = await scrapeUs()
      return sample(res.text, 'btb_messages_total', { direction: 'inbound', outcome: 'delivered', ...ENTRY, code: '' }) === 1 ? res : undefined
    },
    15_000,
    'the US gateway to count its push to CBP'
  )
  t.equal(sample(us.text, 'btb_messages_total', { direction: 'inbound', outcome: 'received', ...ENTRY, code: '' }), 1)
  t.equal(sample(us.text, 'btb_delivery_latency_seconds_count', { direction: 'inbound' }), 1, "receipt to the agency's 2xx, timed")
  t.same(
    reads.filter((id) => id === out.id || id === back.id),
    [],
    'no delivery read its message back for its labels'
  )
  t.equal(
    sample(us.text, 'btb_messages_total', {
      direction: 'outbound',
      outcome: 'refused',
      kind: 'entry-exit.record',
      purpose: 'asylum-claim',
      code: 'PURPOSE_NOT_ALLOWED'
    }),
    undefined,
    'each gateway counts its own decisions'
  )

  await t.test('only an operator certificate may scrape', async (t) => {
    const agency = await cbsa.call('GET', '/metrics')
    t.equal(agency.status, 403)
    t.equal(agency.json().code, 'FORBIDDEN')
    t.match(String(agency.headers['content-type']), /^application\/problem\+json/)
    const withToken = await cbsa.call('GET', '/metrics', undefined, { authorization: `Bearer ${await cbsa.token()}` })
    t.equal(withToken.status, 403, 'an agency token does not help')
    const officer = await scraper(t, 'CA', ex.ca.url, 'privacy-officers/po-1')()
    t.equal(officer.status, 403)
    t.equal(JSON.parse(officer.text).code, 'FORBIDDEN')
    const noCert = new Agent({ connect: { ca: readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem')) } })
    t.teardown(() => noCert.close())
    const anonymous = await request(`${ex.ca.url}/metrics`, { dispatcher: noCert })
    t.equal(anonymous.statusCode, 401)
    t.equal(((await anonymous.body.json()) as { code: string }).code, 'UNAUTHENTICATED')
  })
})

t.test('the queue-depth gauge counts the jobs waiting in Redis', async (t) => {
  // No workers: what is queued stays queued.
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: UNREACHABLE_URL }))
  const cbsa = client(t, 'CBSA', gw.url)
  for (let i = 0; i < 3; i++) {
    t.equal((await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))).status, 202)
  }
  const { text } = await scraper(t, 'CA', gw.url)()
  t.equal(sample(text, 'btb_queue_jobs', { queue: 'partner-delivery', state: 'waiting' }), 3)
  t.equal(sample(text, 'btb_queue_jobs', { queue: 'agency-push', state: 'waiting' }), 0)
  t.equal(sample(text, 'btb_messages_total', { direction: 'outbound', outcome: 'accepted', ...ENTRY, code: '' }), 3)
})

t.test('the dead-letter gauge rises when a delivery is dead-lettered', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { partnerUrl: UNREACHABLE_URL, deliveryAttempts: 2, deliveryBackoffMs: 10 }))
  const scrape = scraper(t, 'CA', gw.url)
  t.equal(sample((await scrape()).text, 'btb_dead_letters', { queue: 'partner-delivery' }), 0, 'none to begin with')
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  const text = await eventually(
    async () => {
      const { text } = await scrape()
      return sample(text, 'btb_dead_letters', { queue: 'partner-delivery' }) === 1 ? text : undefined
    },
    15_000,
    'the dead letter on the gauge'
  )
  t.pass('btb_dead_letters{queue="partner-delivery"} is 1')
  t.equal(sample(text, 'btb_dead_letters', { queue: 'agency-push' }), 0)
  // A job that failed for good leaves Redis (its dead letter is the ledger's): a
  // `failed` state of btb_queue_jobs would say 0 beside this 1, always.
  t.equal(sample(text, 'btb_queue_jobs', { queue: 'partner-delivery', state: 'failed' }), undefined, 'no failed jobs series: they are the dead letters')
  await eventually(
    async () => {
      const { text } = await scrape()
      return sample(text, 'btb_messages_total', { direction: 'outbound', outcome: 'dead-lettered', ...ENTRY, code: '' }) === 1 ? true : undefined
    },
    5_000,
    'the dead-lettered outcome counted'
  )
  t.equal(
    sample(text, 'btb_messages_total', { direction: 'outbound', outcome: 'delivery-failed', ...ENTRY, code: '' }),
    1,
    "the first attempt failed, counted with the message's kind"
  )
  t.equal(sample(text, 'btb_delivery_latency_seconds_count', { direction: 'outbound' }), 0, 'nothing delivered, nothing timed')
})
