// Attacks on the envelope's identity and time: one message has one id, in one
// spelling, however many times and however concurrently it is sent, across a
// restart; and `createdAt` is read in one RFC 3339 profile, inside exactly
// the window docs/integrators.md states.
import t, { type Test } from 'tap'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { buildApp } from '../gateway/app.ts'
import { parseIJson } from '../gateway/lib/i-json.ts'
import { checkFreshness } from '../gateway/pipeline/check-envelope.ts'
import type { Envelope } from '../gateway/pipeline/envelope.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import type { HttpResult } from '../sandbox/agency-client.ts'
import { client, dropQueuePrefix, injectGateway, testConfig } from './helper.ts'

const WINDOW = { clockSkewSeconds: 300, maxAgeSeconds: 900 }

function expectProblem(t: Test, res: HttpResult, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: ${status}`)
  t.equal(res.json().code, code, `${what}: ${code}`)
}

// One gateway for the tests below that only call routes (with app.inject()): each message has its own id.
const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))

t.test('the freshness window is the one docs/integrators.md gives, edges included', async (t) => {
  const now = Date.parse('2026-12-01T12:00:00Z')
  const at = (offsetSeconds: number): Envelope => ({ createdAt: new Date(now + offsetSeconds * 1000).toISOString() }) as Envelope
  t.doesNotThrow(() => checkFreshness(at(-900), WINDOW, now), 'exactly 15 minutes old is accepted')
  t.throws(() => checkFreshness(at(-900.001), WINDOW, now), { code: 'MESSAGE_EXPIRED' }, 'a millisecond older is refused')
  t.throws(() => checkFreshness(at(-1190), WINDOW, now), { code: 'MESSAGE_EXPIRED' }, '1,190 s old is refused (the skew is not added to the age)')
  t.doesNotThrow(() => checkFreshness(at(300), WINDOW, now), 'exactly 5 minutes ahead is accepted (clock skew)')
  t.throws(() => checkFreshness(at(300.001), WINDOW, now), { code: 'MESSAGE_FUTURE_DATED' }, 'a millisecond further is refused')
  t.throws(
    () => checkFreshness({ createdAt: '2016-12-31T23:59:60Z' } as Envelope, WINDOW, now),
    { code: 'SCHEMA_INVALID' },
    'an instant that does not parse is never let through as NaN'
  )
})

t.test('createdAt: one RFC 3339 profile, one window', async (t) => {
  const cbsa = client(t, 'CBSA', gw.url)
  const base = (): Record<string, unknown> => cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const submitAt = async (createdAt: string): Promise<HttpResult> => cbsa.submit(await cbsa.sign({ ...base(), createdAt }))
  const today = new Date().toISOString().slice(0, 10)
  const iso = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString()

  const spellings = [
    '2016-12-31T23:59:60Z',
    `${today}T23:59:60Z`,
    '2020-01-01T00:00:00+08',
    '2099-01-01T00:00:00+08',
    `${today}t00:00:00z`,
    `${today} 00:00:00Z`,
    `${today}T00:00Z`,
    `${today}T24:00:00Z`,
    `${today}T00:00:00`,
    `${today}T00:00:00+0800`,
    `${today}T00:00:00.1234567890Z`,
    '2026-02-30T00:00:00Z',
    '+002026-01-01T00:00:00Z',
    `${today}T00:00:00Z\n`,
    ` ${today}T00:00:00Z`,
    `${today}T00:00:00+24:00`
  ]
  for (const createdAt of spellings) expectProblem(t, await submitAt(createdAt), 422, 'SCHEMA_INVALID', JSON.stringify(createdAt))

  // Margins of seconds on either side: the edges themselves are tested above, without a clock in between.
  t.equal((await submitAt(iso(-890_000))).status, 202, '890 s old is accepted')
  expectProblem(t, await submitAt(iso(-910_000)), 400, 'MESSAGE_EXPIRED', '910 s old')
  expectProblem(t, await submitAt(iso(-1_190_000)), 400, 'MESSAGE_EXPIRED', '1,190 s old')
  t.equal((await submitAt(iso(290_000))).status, 202, '290 s ahead is within the 5 minutes of clock skew')
  expectProblem(t, await submitAt(iso(310_000)), 400, 'MESSAGE_FUTURE_DATED', '310 s ahead')
  const offset = new Date(Date.now() + 8 * 3600_000).toISOString().replace('Z', '+08:00')
  t.equal((await submitAt(offset)).status, 202, 'a numeric offset names the same instant')
  t.equal((await submitAt(iso(0).replace('Z', '123456Z'))).status, 202, 'a fraction of up to 9 digits')
})

t.test('one message, one id', async (t) => {
  const cbsa = client(t, 'CBSA', gw.url)
  const base = (): Record<string, unknown> => cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))

  await t.test('ids in any spelling but the canonical one are refused', async (t) => {
    const id = crypto.randomUUID()
    const spellings = [
      `urn:uuid:${id}`,
      id.toUpperCase(),
      `{${id}}`,
      id.replaceAll('-', ''),
      ` ${id}`,
      `${id}\n`,
      id.replace('-', '\u2010'),
      id.replace(/[0-9]/, (d) => String.fromCharCode(0xff10 + Number(d))),
      `${id.slice(0, 35)}а`,
      `${id}\u200b`,
      `${id.slice(0, 35)}`
    ]
    for (const spelt of spellings) {
      expectProblem(t, await cbsa.submit(await cbsa.sign({ ...base(), id: spelt })), 422, 'SCHEMA_INVALID', `id ${JSON.stringify(spelt)}`)
    }
    for (const correlationId of [`urn:uuid:${id}`, id.toUpperCase()]) {
      expectProblem(t, await cbsa.submit(await cbsa.sign({ ...base(), correlationId })), 422, 'SCHEMA_INVALID', `correlationId ${correlationId}`)
    }
  })

  await t.test('an accepted id cannot come back as a second message in another spelling', async (t) => {
    const envelope = base()
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
    const upper = { ...envelope, id: String(envelope.id).toUpperCase() }
    expectProblem(t, await cbsa.submit(await cbsa.sign(upper)), 422, 'SCHEMA_INVALID', 'the same id upper-cased')
    expectProblem(t, await cbsa.status(String(envelope.id).toUpperCase()), 400, 'REQUEST_INVALID', 'the status of the upper-cased id')
    t.equal((await cbsa.status(String(envelope.id))).status, 200)
  })

  await t.test('1,000 concurrent copies of one message: one 202, one entry, one job', async (t) => {
    const seqBefore = (await gw.app.store.auditHead())?.seq ?? 0
    const jobsBefore = await gw.app.queues.queue('outbound').count()
    const envelope = base()
    const jws = await cbsa.sign(envelope)
    const answers = await Promise.all(Array.from({ length: 1000 }, () => cbsa.submit(jws)))
    const statuses = answers.map((a) => a.status)
    t.equal(statuses.filter((s) => s === 202).length, 1, 'exactly one 202')
    t.equal(statuses.filter((s) => s === 200).length, 999, 'every other copy is answered 200 with the status')
    const added = await gw.app.store.auditEntries(seqBefore, 100_000)
    t.equal(added.filter((e) => e.entry.event === 'accepted').length, 1, 'one accepted entry in the ledger')
    t.equal(added.length, 1, 'and nothing else')
    t.equal(await gw.app.queues.queue('outbound').count(), jobsBefore + 1, 'one job')
    t.ok(await gw.app.store.outboxItem('outbound', String(envelope.id)), 'one outbox item')

    // The same id with other bytes, concurrently with each other: all refused.
    const others = await Promise.all(Array.from({ length: 50 }, (_, i) => cbsa.sign({ ...envelope, agreementRef: `${String(envelope.agreementRef)}-${i}` })))
    const conflicts = await Promise.all(others.map((jws) => cbsa.submit(jws)))
    t.same([...new Set(conflicts.map((a) => a.json().code))], ['ID_CONFLICT'], 'other bytes under the same id: ID_CONFLICT')
  })

  await t.test('100 concurrent signings of one envelope, each other bytes: one 202, the rest repeats, one entry, one job', async (t) => {
    const seqBefore = (await gw.app.store.auditHead())?.seq ?? 0
    const jobsBefore = await gw.app.queues.queue('outbound').count()
    const envelope = base()
    // An agency that signs at each attempt: ES256 gives other bytes every time.
    const signings = await Promise.all(Array.from({ length: 100 }, () => cbsa.sign(envelope)))
    t.equal(new Set(signings).size, 100, 'a hundred different texts')
    const statuses = (await Promise.all(signings.map((jws) => cbsa.submit(jws)))).map((a) => a.status)
    t.equal(statuses.filter((s) => s === 202).length, 1, 'exactly one 202')
    t.equal(statuses.filter((s) => s === 200).length, 99, 'every other signing is answered 200 with the status')
    const added = await gw.app.store.auditEntries(seqBefore, 100_000)
    t.same(
      added.map((e) => e.entry.event),
      ['accepted'],
      'one accepted entry in the ledger, and nothing else'
    )
    t.equal(await gw.app.queues.queue('outbound').count(), jobsBefore + 1, 'one job')
  })
})

t.test('a copy after a restart is still the same message', async (t) => {
  const config = testConfig('CA', { runWorkers: false })
  t.teardown(async () => {
    await dropQueuePrefix(config.queuePrefix)
    rmSync(join(config.ledgerPath, '..'), { recursive: true, force: true })
  })
  const first = await buildApp(config)
  await first.listen({ host: '127.0.0.1', port: 0 })
  const port = (first.server.address() as { port: number }).port
  const cbsa = client(t, 'CBSA', `https://127.0.0.1:${port}`)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const jws = await cbsa.sign(envelope)
  t.equal((await cbsa.submit(jws)).status, 202)
  await first.close()

  const second = await buildApp({ ...config, port })
  t.teardown(() => second.close())
  await second.listen({ host: '127.0.0.1', port })
  cbsa.forgetToken()
  const again = await cbsa.submit(jws)
  t.equal(again.status, 200, 'the same bytes after a restart: 200 and the status')
  t.equal(again.json().id, envelope.id)
  expectProblem(
    t,
    await cbsa.submit(await cbsa.sign({ ...envelope, purpose: 'entry-exit-verification', agreementRef: 'other' })),
    409,
    'ID_CONFLICT',
    'other bytes after a restart'
  )
  const entries = await second.store.auditEntries(0, 1000)
  t.equal(entries.filter((e) => e.entry.event === 'accepted' && e.entry.messageId === envelope.id).length, 1, 'one accepted entry across both runs')
})

t.test('a large body is not read on the event loop before its signature is checked', async (t) => {
  // A large submission is first looked up as a repeat (intake.ts,
  // sameBytesAgain), on the event loop every other request needs, before its
  // JWS is verified on a pipeline thread. Any agency may send megabytes that
  // are costly to read as JSON (here, 150,000 member names written with
  // escapes, which the I-JSON reader rebuilds by hand): the lookup must cost
  // a small part of a read of it (quiet, about 1.6× the body's digest
  // against a read's 130×). Best of five against the I-JSON read of the same
  // payload in the same process, so that neither the machine's speed nor a
  // moment's load decides it: the lookup awaits the store, which a busy
  // machine delays by tens of milliseconds (12× the digest once, with the
  // whole suite beside it), a read by far more.
  const cbsa = client(t, 'CBSA', gw.url)
  const names: string[] = []
  for (let i = 0; i < 150_000; i++) names.push(`"\\u0061${i}":[1,2,3]`)
  const payload = `{"id":"${crypto.randomUUID()}",${names.join(',')}}`
  const jws = `${Buffer.from(`{"alg":"${cbsa.creds.alg}","kid":"${cbsa.creds.kid}","typ":"btb-envelope+jws"}`).toString('base64url')}.${Buffer.from(payload).toString('base64url')}.${'A'.repeat(86)}`
  t.ok(jws.length > gw.config.pipelineWorkerMinBytes, `${jws.length} bytes: looked up before it is prepared`)
  const best = async (run: () => unknown): Promise<number> => {
    await run()
    let least = Number.POSITIVE_INFINITY
    for (let k = 0; k < 5; k++) {
      const started = performance.now()
      await run()
      least = Math.min(least, performance.now() - started)
    }
    return least
  }
  const lookup = await best(() => gw.app.intake.sameBytesAgain('outbound', jws))
  const read = await best(() => parseIJson(payload))
  t.ok(lookup < read / 4, `the lookup took ${lookup.toFixed(1)} ms, ${((100 * lookup) / read).toFixed(0)} % of a read of the payload (${read.toFixed(1)} ms)`)
  expectProblem(t, await cbsa.submit(jws), 400, 'JWS_SIGNATURE_INVALID', 'refused for its signature, on a pipeline thread')
})
