// A 202 is a promise (docs/architecture.md, "The pipeline, one
// message"): the message is in the ledger's
// outbox before the answer, so neither a kill -9 of the gateway nor a Redis
// that loses everything loses it.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import {
  client,
  dropQueuePrefix,
  eventually,
  freePort,
  gatewayProcess,
  privateRedis,
  startExchange,
  startGateway,
  testConfig,
  tokenOnceListening
} from './helper.ts'

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

t.test('a message accepted while Redis is down, and Redis then comes back empty, is still delivered', async (t) => {
  // A Redis of the test's own, that can be killed.
  const redis = await privateRedis(t)
  const ex = await startExchange(t)
  const ca = await startGateway(t, testConfig('CA', { redisUrl: redis.url, partnerUrl: ex.us.url }))
  const cbsa = client(t, 'CBSA', ca.url)
  await cbsa.token()

  await redis.kill9()
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const res = await cbsa.submit(await cbsa.sign(envelope))
  t.equal(res.status, 202, 'accepted: the outbox holds it, whatever Redis does')

  await redis.start()
  const fresh = new Redis(redis.url)
  t.equal(await fresh.dbsize(), 0, 'the new Redis holds nothing: no job exists for the message')
  fresh.disconnect()
  await eventually(async () => ((await ca.app.relay.runOnce(0)) > 0 ? true : undefined), 10_000, 'the relay to re-drive the outbox')
  const delivered = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === envelope.id), 20_000, 'delivery')
  t.equal(delivered.kind, 'entry-exit.record')
  const status = await eventually(
    async () => {
      const s = (await cbsa.status(String(envelope.id))).json<{ status: string; receipt: unknown }>()
      return s.status === 'delivered' ? s : undefined
    },
    10_000,
    'status delivered'
  )
  t.ok(status.receipt, "with the partner's receipt")
})

t.test('kill -9 of the gateway right after its 202, with Redis emptied too: the message is delivered after restart', async (t) => {
  const ex = await startExchange(t)
  const caPort = await freePort()
  const gw = gatewayProcess(t, 'CA', caPort, { PARTNER_URL: 'https://127.0.0.1:9', LOG_LEVEL: 'silent' })

  // A real gateway process, whose partner is unreachable, so the message waits.
  // The IPC channel ends the gateway with this process, however it ends (gateway/cluster.ts, stopWithSupervisor).
  const child = spawn(process.execPath, gw.args, {
    env: gw.env,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc']
  })
  t.teardown(() => child.kill('SIGKILL'))
  const cbsa = client(t, 'CBSA', `https://127.0.0.1:${caPort}`)
  await tokenOnceListening(cbsa)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  await kill9(child)
  await dropQueuePrefix(gw.prefix) // and Redis forgets every job of that gateway

  // Restart: same ledger and keys, partner now reachable.
  const restarted = await startGateway(t, testConfig('CA', { ...gw.config, partnerUrl: ex.us.url }))
  t.ok(restarted)
  const delivered = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === envelope.id), 20_000, 'delivery after the restart')
  t.equal(delivered.kind, 'entry-exit.record')
  const status = await eventually(
    async () => {
      const s = (await cbsa.status(String(envelope.id))).json<{ status: string }>()
      return s.status === 'delivered' ? s : undefined
    },
    10_000,
    'status delivered'
  )
  t.equal(status.status, 'delivered')
})

t.test(
  'a Redis that stops answering without closing its connections: messages are still answered 202, and /readyz says so, within their deadlines',
  async (t) => {
    const redis = await privateRedis(t)
    const gw = await startGateway(t, testConfig('CA', { redisUrl: redis.url, redisCommandTimeoutMs: 500, runWorkers: false }))
    const cbsa = client(t, 'CBSA', gw.url)
    const submit = async () => {
      const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
      return { id: String(envelope.id), status: (await cbsa.submit(await cbsa.sign(envelope))).status }
    }
    const before = await submit()
    t.equal(before.status, 202)

    // Paused, as a Redis cut off by the network looks: its connections stay open, and nothing answers.
    process.kill(redis.pid!, 'SIGSTOP')
    const resume = () => process.kill(redis.pid!, 'SIGCONT')
    // The outage lasts 15 s at most, so that a gateway that waits for Redis to answer fails the bounds
    // below rather than the test's time limit.
    const outage = setTimeout(resume, 15_000)
    t.teardown(() => {
      clearTimeout(outage)
      resume()
    })
    let started = Date.now()
    const during = await submit()
    t.equal(during.status, 202, 'accepted: the outbox holds it')
    t.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms, not when Redis came back`)
    started = Date.now()
    const ready = await cbsa.call('GET', '/readyz')
    t.equal(ready.status, 503)
    t.match(ready.json<{ checks: { redis: string } }>().checks.redis, /timed out|did not answer/, '/readyz names Redis')
    t.ok(Date.now() - started < 5000, `/readyz answered in ${Date.now() - started} ms`)

    clearTimeout(outage)
    resume()
    // Back, the relay queues what the timed-out add may not have: each message once. Just resumed,
    // Redis may answer its first commands past their 500 ms (a busy machine): that is "not yet".
    // What the relay queues waits out an attempt that may be under way (queue/outbox-relay.ts): delayed.
    let seen = 'nothing yet'
    await eventually(
      async () => {
        const relayed = await gw.app.relay.runOnce(0)
        const counts = await gw.app.queues
          .queue('outbound')
          .getJobCounts()
          .catch((err: Error) => err.message)
        seen = `relay queued ${relayed}, then ${JSON.stringify(counts)}`
        return typeof counts !== 'string' && counts.waiting! + counts.delayed! === 2 ? true : undefined
      },
      10_000,
      () => `both messages queued (last seen: ${seen})`
    )
    const ids = (await gw.app.queues.queue('outbound').getJobs(['waiting', 'delayed'])).map((j) => j.id).sort()
    t.same(ids, [before.id, during.id].sort(), 'each message queued once')
  }
)

t.test(
  'closing while Redis is down: the gateway closes (a stop with Redis down waited for it to come back), and the message it accepted meanwhile is delivered by the next',
  async (t) => {
    const redis = await privateRedis(t)
    const ex = await startExchange(t, (country) => (country === 'CA' ? { redisUrl: redis.url } : {}))
    const cbsa = ex.clients.CBSA
    await redis.kill9()
    // Once the gateway has seen it go: its workers' connections are then waiting to reconnect.
    await eventually(
      async () => ((await cbsa.call('GET', '/readyz')).json<{ checks: { redis: string } }>().checks.redis === 'ok' ? undefined : true),
      10_000,
      'Redis seen down'
    )
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202, 'accepted into the outbox')

    const started = Date.now()
    const closed = await Promise.race([
      ex.ca.app.close().then(() => 'closed'),
      new Promise<string>((resolve) => setTimeout(resolve, 15_000, 'still closing').unref())
    ])
    t.equal(closed, 'closed', `the gateway closed in ${Date.now() - started} ms, with Redis still down`)

    await redis.start()
    const { port: _taken, ...sameLedger } = ex.ca.config
    await startGateway(t, { ...sameLedger, port: 0 })
    await eventually(() => (ex.mocks.CBP.received.some((m) => m.id === envelope.id) ? true : undefined), 20_000, 'delivery to CBP')
    t.equal(ex.mocks.CBP.received.filter((m) => m.id === envelope.id).length, 1, 'CBP received it once')
  }
)

t.test('the outbox relay queues again only what is missing from the queue, and counts only that', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const ids: string[] = []
  for (let i = 0; i < 2; i++) {
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
    ids.push(String(envelope.id))
  }
  const queue = gw.app.queues.queue('outbound')
  t.equal((await queue.getJobCounts()).waiting, 2, 'both queued, and waiting (no workers)')
  // Waiting in the queue is not lost from it: every relay round said it had re-driven them.
  t.equal(await gw.app.relay.runOnce(0), 0, 'nothing to queue again while both are queued')
  await queue.remove(ids[0]!)
  t.equal(await gw.app.relay.runOnce(0), 1, 'the one Redis lost is queued again')
  t.same(
    (await queue.getJobs(['waiting'])).map((j) => j.id),
    ids.slice(1),
    'the one Redis kept is waiting'
  )
  t.same(
    (await queue.getJobs(['delayed'])).map((j) => j.id),
    ids.slice(0, 1),
    'the one queued again waits out an attempt that may be under way'
  )
})
