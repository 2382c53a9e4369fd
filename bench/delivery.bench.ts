// Delivery: messages/s end to end (submitted at CA, verified, audited,
// re-signed, queued, delivered to the US gateway, verified and audited there,
// queued and pushed to the US mock agency) for a fixed count, then p99 of
// submit→push latency at a paced rate of half the measured maximum.
// Baseline: the same count of BullMQ jobs added and processed by a no-op
// worker on the same Redis, measured in the same run.
// docs/architecture.md, "Targets": 2,000 messages/s end to end, p99 under
// 50 ms at half that rate.
//
//   node bench/delivery.bench.ts [--quick]
import { randomBytes, randomUUID } from 'node:crypto'
import { Queue, Worker } from 'bullmq'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { redisOptions } from '../gateway/queue/delivery-queues.ts'
import type { MockAgency } from '../sandbox/mock-agency.ts'
import { REDIS_URL, dropQueuePrefix, startExchange } from '../test/helper.ts'
import { benchOptions, median, percentile, round, sleep, withTeardowns, type BenchOptions, type BenchResult } from './lib/common.ts'
import { runLoad, type LoadJob, type PhaseResult, type PhaseSpec } from './lib/load.ts'

const TARGET_RATE = 2_000
const TARGET_P99_MS = 50
const CONNECTIONS = 16
/** The gateway's production default (config.ts), not testConfig's 8. */
const WORKER_CONCURRENCY = 32
/** BullMQ baseline runs before and again after the gateway runs (the median is the baseline). */
const BASELINE_RUNS = 2

interface Sizes {
  readonly count: number
  readonly warmup: number
  readonly drainTimeoutMs: number
}

function sizes(quick: boolean): Sizes {
  return quick ? { count: 300, warmup: 100, drainTimeoutMs: 30_000 } : { count: 2_000, warmup: 300, drainTimeoutMs: 120_000 }
}

/** The baseline: `count` jobs of the gateway's job size and options, added by 16 concurrent producers, processed by a no-op worker. */
async function bullmqBaseline(count: number): Promise<{ rate: number; elapsedMs: number }> {
  const prefix = `bench-bullmq-${randomUUID()}`
  const connection = redisOptions(REDIS_URL)
  const queue = new Queue('partner-delivery', { connection: { ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 1 }, prefix })
  let completed = 0
  let lastDone = 0
  let allDone: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    allDone = resolve
  })
  const worker = new Worker('partner-delivery', async () => {}, {
    connection: { ...connection, maxRetriesPerRequest: null },
    prefix,
    concurrency: WORKER_CONCURRENCY
  })
  worker.on('completed', () => {
    completed++
    if (completed === count) {
      lastDone = performance.now()
      allDone()
    }
  })
  try {
    await queue.waitUntilReady()
    await worker.waitUntilReady()
    // A sealed entry-exit JWS is about 2.9 kB of base64url.
    const sealed = randomBytes(2_200).toString('base64url')
    let next = 0
    const start = performance.now()
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        for (let i = next++; i < count; i = next++) {
          const id = randomUUID()
          await queue.add(
            'outbound',
            { id, direction: 'outbound', target: 'partner', sealed },
            {
              jobId: id,
              attempts: 3,
              backoff: { type: 'exponential', delay: 50 },
              removeOnComplete: true,
              removeOnFail: true
            }
          )
        }
      })
    )
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        done,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`BullMQ baseline: ${completed}/${count} after 60 s`)), 60_000)
        })
      ])
    } finally {
      clearTimeout(timer)
    }
    const elapsedMs = lastDone - start
    return { rate: count / (elapsedMs / 1000), elapsedMs }
  } finally {
    await worker.close()
    await queue.close()
    await dropQueuePrefix(prefix)
  }
}

function job(origin: string, phases: PhaseSpec[]): LoadJob {
  return {
    origin,
    path: '/v1/messages',
    connections: CONNECTIONS,
    system: { agency: 'CBSA', system: 'pik-primary' },
    fetchToken: true,
    template: sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }),
    phases,
    graceMs: 30_000
  }
}

/** Waits until every id has been pushed to the mock agency; returns each push's time (epoch ms). */
async function pushes(mock: MockAgency, ids: readonly string[], timeoutMs: number): Promise<Map<string, number>> {
  const wanted = new Set(ids)
  const found = new Map<string, number>()
  let scanned = 0
  const deadline = Date.now() + timeoutMs
  for (;;) {
    for (; scanned < mock.received.length; scanned++) {
      const m = mock.received[scanned]!
      if (wanted.has(m.id)) found.set(m.id, Date.parse(m.receivedAt))
    }
    if (found.size === wanted.size) return found
    if (Date.now() > deadline) throw new Error(`only ${found.size} of ${wanted.size} messages pushed after ${timeoutMs} ms`)
    await sleep(10)
  }
}

function phase(results: PhaseResult[], name: string): PhaseResult {
  const r = results.find((p) => p.name === name)
  if (r === undefined) throw new Error(`no ${name} phase result`)
  return r
}

function accepted(r: PhaseResult): string[] {
  const bad = r.messages!.filter((m) => m.status !== 202)
  if (bad.length > 0) throw new Error(`${bad.length} of ${r.requests} submissions refused (first status ${bad[0]!.status}) in ${r.name}`)
  if (r.errors > 0) throw new Error(`${r.errors} submissions failed in ${r.name}: ${r.firstError}`)
  return r.messages!.map((m) => m.id)
}

export async function deliveryBench(opts: BenchOptions = benchOptions()): Promise<BenchResult> {
  const s = sizes(opts.quick)
  const baselines: Array<{ rate: number; elapsedMs: number }> = []
  const measureBaseline = async (): Promise<void> => {
    for (let i = 0; i < BASELINE_RUNS; i++) baselines.push(await bullmqBaseline(s.count))
    opts.log(`BullMQ no-op baseline: ${baselines.map((x) => x.rate.toFixed(0)).join(', ')} jobs/s`)
  }
  await measureBaseline()

  const measured = await withTeardowns(async (t) => {
    const ex = await startExchange(t, { logLevel: 'silent', workerConcurrency: WORKER_CONCURRENCY })
    const cbp = ex.mocks.CBP

    // 1. Maximum: `count` messages submitted as fast as 16 connections go; the
    //    rate is count / (last push − first submission).
    // The warm-up (JIT, TLS sessions, SQLite pages) is delivered in full before the burst starts.
    const warm = await runLoad(job(ex.ca.url, [{ kind: 'closed', name: 'warmup', count: s.warmup, durationMs: 60_000, unique: true, record: true }]))
    await pushes(cbp, accepted(phase(warm, 'warmup')), s.drainTimeoutMs)
    const burst = await runLoad(job(ex.ca.url, [{ kind: 'closed', name: 'burst', count: s.count, durationMs: 120_000, unique: true, record: true }]))
    const b = phase(burst, 'burst')
    const burstPushes = await pushes(cbp, accepted(b), s.drainTimeoutMs)
    const firstSent = Math.min(...b.messages!.map((m) => m.sentAt))
    const lastPush = Math.max(...burstPushes.values())
    const rate = s.count / ((lastPush - firstSent) / 1000)
    opts.log(`end to end, ${s.count} messages: ${rate.toFixed(0)} msg/s (submitted at ${b.rps.toFixed(0)} req/s)`)

    // 2. Latency at half that rate, open loop.
    const pacedRate = Math.max(1, Math.round(rate / 2))
    const pacedResults = await runLoad(job(ex.ca.url, [{ kind: 'paced', name: 'paced', count: s.count, ratePerSec: pacedRate, record: true }]))
    const p = phase(pacedResults, 'paced')
    const pacedPushes = await pushes(cbp, accepted(p), s.drainTimeoutMs)
    const latencies = p.messages!.map((m) => pacedPushes.get(m.id)! - m.sentAt)
    const lat = { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: Math.max(...latencies) }
    opts.log(`paced at ${pacedRate} msg/s: submit→push p50 ${lat.p50.toFixed(1)} ms, p99 ${lat.p99.toFixed(1)} ms, max ${lat.max.toFixed(1)} ms`)
    return { rate, b, pacedRate, p, lat, burstElapsedMs: lastPush - firstSent }
  })

  await measureBaseline()
  const baseline = median(baselines.map((x) => x.rate))
  const { rate, b, pacedRate, p, lat } = measured

  return {
    bench: 'delivery',
    figures: [
      {
        name: `end-to-end delivery CA agency → US agency (${s.count} msgs)`,
        value: round(rate, 0),
        unit: 'msg/s',
        baseline: { name: `BullMQ add + no-op process (${s.count} jobs)`, value: round(baseline, 0), unit: 'jobs/s' },
        ratio: round(rate / baseline, 3),
        target: `≥ ${TARGET_RATE} msg/s`,
        met: rate >= TARGET_RATE,
        extra: `submissions answered at ${b.rps.toFixed(0)} req/s, submit p99 ${b.p99Ms.toFixed(1)} ms`
      },
      {
        name: `submit→push p99 at ${pacedRate} msg/s (½ max)`,
        value: round(lat.p99, 1),
        unit: 'ms',
        target: `< ${TARGET_P99_MS} ms at ${TARGET_RATE / 2} msg/s`,
        met: lat.p99 < TARGET_P99_MS && pacedRate >= TARGET_RATE / 2,
        extra:
          `p50 ${lat.p50.toFixed(1)} ms, p90 ${lat.p90.toFixed(1)} ms, max ${lat.max.toFixed(1)} ms; 202 p99 ${p.p99Ms.toFixed(1)} ms` +
          (pacedRate < TARGET_RATE / 2 ? `; paced below the target's ${TARGET_RATE / 2} msg/s because the max is below ${TARGET_RATE}` : '')
      }
    ],
    notes: [
      `both gateways, the four mock agencies (each verifies both JWS of every push) and the load loop (a worker thread) in one process; ` +
        `workerConcurrency ${WORKER_CONCURRENCY}, ${CONNECTIONS} submitting connections`,
      `push time = the mock agency's receivedAt (ms resolution, after it verified both signatures); submit time = when the request was written`,
      `baseline = median of ${baselines.length} BullMQ no-op runs, half before and half after the gateway runs (${baselines.map((x) => x.rate.toFixed(0)).join(' and ')} jobs/s): one queue hop, where the gateway path has two (CA outbound, US inbound)`
    ],
    details: {
      count: s.count,
      endToEnd: {
        rate: round(rate, 1),
        elapsedMs: round(measured.burstElapsedMs, 1),
        submitRps: round(b.rps, 1),
        submitP50Ms: round(b.p50Ms),
        submitP99Ms: round(b.p99Ms)
      },
      paced: {
        ratePerSec: pacedRate,
        achievedSubmitRps: round(p.rps, 1),
        submitToPushMs: { p50: round(lat.p50), p90: round(lat.p90), p99: round(lat.p99), max: round(lat.max) },
        ackP99Ms: round(p.p99Ms)
      },
      bullmq: baselines.map((x) => ({ rate: round(x.rate, 1), elapsedMs: round(x.elapsedMs, 1) }))
    }
  }
}

if (import.meta.main) {
  const result = await deliveryBench()
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}
