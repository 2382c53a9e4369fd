// `npm run soak [-- --minutes 10 --rate R]`: the CA -> US load at a steady
// rate (half of the exchange's measured capacity unless --rate is given) on
// the same real-process topology as the faults, sampled every 10 s: each
// gateway's resident memory and heap, Redis's key count and memory, each
// gateway's event-loop delay (p99 over the interval, from its /metrics), and
// the p99 from submission to the agency's push. A soak passes when nothing
// grows: no last-minute average above the second minute's by more than 10 %
// (or a small absolute allowance for values near zero; the heap by its
// floor, resident memory by its peaks too), and nothing was lost.
import { statSync } from 'node:fs'
import { commandLine } from './command-line.ts'
import { LedgerProbe, verifyLedgerFile } from './count.ts'
import { Load } from './load.ts'
import { MetricsScraper, quantile, rssBytes } from './probes.ts'
import { hold, until } from './processes.ts'
import { Topology } from './topology.ts'

const USAGE = `usage: npm run soak [-- options]

  --minutes M           how long the steady load runs (default 10)
  --rate R              messages per second; default: half the capacity measured first
  --interval S          seconds between samples (default 10)
  --capacity-seconds S  how long the capacity is measured (default 20)
  --concurrency N       submissions in flight at most (default 64)
  --no-verify           skip verifying both ledgers at the end
`

const { values, number } = commandLine(USAGE, {
  minutes: { type: 'string', default: '10' },
  rate: { type: 'string' },
  interval: { type: 'string', default: '10' },
  'capacity-seconds': { type: 'string', default: '20' },
  concurrency: { type: 'string', default: '64' },
  'no-verify': { type: 'boolean', default: false }
})
const positive = (value: string, name: string): number => number(name, value)
const minutes = positive(values.minutes, 'minutes')
const intervalMs = positive(values.interval, 'interval') * 1000
const capacityMs = positive(values['capacity-seconds'], 'capacity-seconds') * 1000
const concurrency = Math.round(positive(values.concurrency, 'concurrency'))
const say = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)
}
const out = (line: string): void => {
  process.stdout.write(`${line}\n`)
}
const MB = 1024 * 1024

interface Sample {
  /** Seconds since the steady load started, at the end of the interval. */
  readonly t: number
  readonly acceptedPerS: number
  readonly pushedPerS: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly rssCaMb: number
  readonly rssUsMb: number
  readonly heapCaMb: number
  readonly heapUsMb: number
  readonly lagP99CaMs: number
  readonly lagP99UsMs: number
  readonly redisKeys: number
  readonly redisMb: number
}

const topo = await Topology.start({ aof: 'everysec', settings: {}, label: 'soak', keepOnFailure: true })
const scrapers = { CA: new MetricsScraper(topo.gateways.CA.url, 'CA'), US: new MetricsScraper(topo.gateways.US.url, 'US') }
let exitCode = 0
try {
  say(`exchange up (Redis AOF everysec, gateway defaults), run directory ${topo.dir}`)
  const client = topo.agencies.get('CBSA').client

  // Every first push at CBP, matched to its submission: the latency series.
  const loads: Load[] = []
  const pushed = new Set<string>()
  let window: number[] = []
  let pushedInWindow = 0
  topo.agencies.listeners.push((name, p) => {
    if (name !== 'CBP' || pushed.has(p.id)) return
    pushed.add(p.id)
    for (const l of loads) {
      const m = l.messages.get(p.id)
      if (m !== undefined) {
        window.push(p.at - m.submittedAt)
        pushedInWindow++
        return
      }
    }
  })
  const drain = async (load: Load, what: string): Promise<void> => {
    const ids = load.acceptedIds()
    await until(() => (ids.every((id) => pushed.has(id)) ? true : undefined), 300_000, what, 250)
  }

  // Capacity: as fast as the exchange takes it, counted at the agency after a warm-up.
  let rate = values.rate === undefined ? undefined : positive(values.rate, 'rate')
  if (rate === undefined) {
    const probe = new Load({ client, durationMs: capacityMs, concurrency: 32, retryForMs: 30_000 })
    loads.push(probe)
    say(`measuring capacity for ${capacityMs / 1000} s (32 in flight, unpaced)`)
    const running = probe.run()
    await hold(Math.min(5_000, capacityMs / 4))
    const from = { at: Date.now(), pushed: pushedInWindow }
    await running
    rate = ((pushedInWindow - from.pushed) * 1000) / (Date.now() - from.at)
    await drain(probe, 'the capacity run to drain')
    say(`capacity ≈ ${rate.toFixed(1)} messages/s end to end (submission to the agency's push); soaking at half`)
    rate /= 2
  }

  const load = new Load({ client, durationMs: minutes * 60_000, concurrency, rate, retryForMs: 60_000 })
  loads.push(load)
  const samples: Sample[] = []
  const started = Date.now()
  window = []
  pushedInWindow = 0
  let acceptedBefore = 0
  const running = load.run()
  say(`steady load: ${rate.toFixed(1)} messages/s for ${minutes} min, a sample every ${intervalMs / 1000} s`)
  // Primes the event-loop histograms, which each scrape resets.
  await Promise.all([scrapers.CA.scrape(), scrapers.US.scrape()])
  for (let k = 1; k * intervalMs <= minutes * 60_000; k++) {
    // The sampling schedule itself (every 10 s), not a wait for a condition.
    await hold(started + k * intervalMs - Date.now())
    const latencies = window
    const pushedNow = pushedInWindow
    window = []
    pushedInWindow = 0
    const [ca, us, redis] = await Promise.all([scrapers.CA.scrape(), scrapers.US.scrape(), topo.redis.stats()])
    const sample: Sample = {
      t: Math.round((Date.now() - started) / 1000),
      acceptedPerS: ((load.accepted - acceptedBefore) * 1000) / intervalMs,
      pushedPerS: (pushedNow * 1000) / intervalMs,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      rssCaMb: (rssBytes(topo.gateways.CA.pid) ?? NaN) / MB,
      rssUsMb: (rssBytes(topo.gateways.US.pid) ?? NaN) / MB,
      heapCaMb: (ca.get('nodejs_heap_size_used_bytes') ?? NaN) / MB,
      heapUsMb: (us.get('nodejs_heap_size_used_bytes') ?? NaN) / MB,
      lagP99CaMs: (ca.get('nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
      lagP99UsMs: (us.get('nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
      redisKeys: redis.keys,
      redisMb: redis.usedMemory / MB
    }
    acceptedBefore = load.accepted
    samples.push(sample)
    say(
      `t=${sample.t}s accepted ${sample.acceptedPerS.toFixed(0)}/s pushed ${sample.pushedPerS.toFixed(0)}/s p99 ${sample.p99Ms.toFixed(0)} ms ` +
        `RSS CA ${sample.rssCaMb.toFixed(0)} MB US ${sample.rssUsMb.toFixed(0)} MB lag p99 CA ${sample.lagP99CaMs.toFixed(1)} ms US ${sample.lagP99UsMs.toFixed(1)} ms ` +
        `redis ${sample.redisKeys} keys ${sample.redisMb.toFixed(1)} MB`
    )
  }
  load.stop()
  await running
  say(`load done: ${load.accepted} accepted, ${load.refused} refused, ${load.failed} failed; waiting for the last deliveries`)
  let drained = true
  await drain(load, 'the soak to drain').catch(() => {
    drained = false
  })

  // The series.
  const cols: Array<[string, (s: Sample) => string]> = [
    ['t (s)', (s) => String(s.t)],
    ['accepted/s', (s) => s.acceptedPerS.toFixed(1)],
    ['pushed/s', (s) => s.pushedPerS.toFixed(1)],
    ['p50 ms', (s) => s.p50Ms.toFixed(0)],
    ['p99 ms', (s) => s.p99Ms.toFixed(0)],
    ['RSS CA MB', (s) => s.rssCaMb.toFixed(1)],
    ['RSS US MB', (s) => s.rssUsMb.toFixed(1)],
    ['heap CA MB', (s) => s.heapCaMb.toFixed(1)],
    ['heap US MB', (s) => s.heapUsMb.toFixed(1)],
    ['lag p99 CA ms', (s) => s.lagP99CaMs.toFixed(1)],
    ['lag p99 US ms', (s) => s.lagP99UsMs.toFixed(1)],
    ['redis keys', (s) => String(s.redisKeys)],
    ['redis MB', (s) => s.redisMb.toFixed(2)]
  ]
  const widths = cols.map(([h, f]) => Math.max(h.length, ...samples.map((s) => f(s).length)))
  out(`\nSoak: ${rate.toFixed(1)} messages/s (CA/CBSA -> US/CBP traveller.designation) for ${minutes} min, sampled every ${intervalMs / 1000} s\n`)
  out(cols.map(([h], i) => h.padStart(widths[i]!)).join('  '))
  for (const s of samples) out(cols.map(([, f], i) => f(s).padStart(widths[i]!)).join('  '))

  // Flatness: the second minute against the last (thirds of the run when it is shorter than 3 min).
  const end = samples.at(-1)?.t ?? 0
  const [early, late] =
    end >= 180
      ? [samples.filter((s) => s.t > 60 && s.t <= 120), samples.filter((s) => s.t > end - 60)]
      : [samples.filter((s) => s.t > end / 3 && s.t <= (2 * end) / 3), samples.filter((s) => s.t > (2 * end) / 3)]
  const avg = (xs: Sample[], f: (s: Sample) => number): number => xs.reduce((a, s) => a + f(s), 0) / xs.length
  const floor = (xs: Sample[], f: (s: Sample) => number): number => Math.min(...xs.map(f))
  // Allowances near zero: a 10 % band around 2 ms of lag or 30 Redis keys is
  // noise, not a trend. The heap in use is a sawtooth (a sample lands
  // anywhere between two collections), so for it the minute's floor is
  // compared: a leak raises the floor.
  const series: Array<[string, (s: Sample) => number, number, 'average' | 'floor']> = [
    ['RSS CA (MB)', (s) => s.rssCaMb, 5, 'average'],
    ['RSS US (MB)', (s) => s.rssUsMb, 5, 'average'],
    ['heap CA (MB)', (s) => s.heapCaMb, 10, 'floor'],
    ['heap US (MB)', (s) => s.heapUsMb, 10, 'floor'],
    ['Redis keys', (s) => s.redisKeys, 30, 'average'],
    ['Redis memory (MB)', (s) => s.redisMb, 1, 'average'],
    ['event-loop p99 CA (ms)', (s) => s.lagP99CaMs, 5, 'average'],
    ['event-loop p99 US (ms)', (s) => s.lagP99UsMs, 5, 'average'],
    ['submit->push p99 (ms)', (s) => s.p99Ms, 25, 'average'],
    ['pushed/s', (s) => s.pushedPerS, 1, 'average']
  ]
  out(
    `\nFlatness: ${end >= 180 ? 'last minute vs second minute' : 'last third vs middle third'} (within 10 %, or the allowance shown).` +
      '\nA series that falls is reported, but only one that grows fails the soak: the question is growth (a leak, a backlog).'
  )
  let flat = early.length > 0 && late.length > 0
  for (const [name, f, allowance, how] of series) {
    if (early.length === 0 || late.length === 0) break
    const a = how === 'floor' ? floor(early, f) : avg(early, f)
    const b = how === 'floor' ? floor(late, f) : avg(late, f)
    const change = a === 0 ? 0 : ((b - a) / a) * 100
    const within = Math.abs(b - a) <= Math.max(0.1 * Math.abs(a), allowance)
    if (!within && b > a) flat = false
    out(
      `  ${`${name}, ${how}`.padEnd(33)} ${a.toFixed(2).padStart(10)} -> ${b.toFixed(2).padStart(10)}  ${`${change >= 0 ? '+' : ''}${change.toFixed(1)} %`.padStart(8)}  ` +
        `${within ? 'flat' : b > a ? 'GROWS' : 'falls'} (allowance ±${allowance})`
    )
  }
  // Resident memory comes and goes in steps (V8 returns pages after a large
  // collection): its peaks, first half against second half, show a trend the
  // averages of two minutes can miss.
  const half = end / 2
  for (const [name, f] of [
    ['RSS CA (MB)', (s: Sample) => s.rssCaMb],
    ['RSS US (MB)', (s: Sample) => s.rssUsMb]
  ] as const) {
    const first = Math.max(...samples.filter((s) => s.t <= half).map(f))
    const second = Math.max(...samples.filter((s) => s.t > half).map(f))
    const grows = second > first * 1.1 && second - first > 5
    if (grows) flat = false
    out(`  ${`${name}, peak by half`.padEnd(33)} ${first.toFixed(2).padStart(10)} -> ${second.toFixed(2).padStart(10)}  ${grows ? 'GROWS' : 'no growth'}`)
  }

  const accepted = load.acceptedIds()
  const lost = accepted.filter((id) => !pushed.has(id)).length
  const size = (p: string): string => `${(statSync(p).size / MB).toFixed(0)} MB`
  out(
    `\n${load.accepted} accepted, ${accepted.length - lost} pushed to CBP, ${lost} not${drained ? '' : ' (the drain timed out)'}; ` +
      `repeats recognised by CBP: ${topo.agencies.get('CBP').pushes().recognisedRepeats}; ledgers CA ${size(topo.gateways.CA.ledgerPath)}, US ${size(topo.gateways.US.ledgerPath)}`
  )
  for (const [c, direction] of [
    ['CA', 'outbound'],
    ['US', 'inbound']
  ] as const) {
    const probe = new LedgerProbe(topo.gateways[c].ledgerPath, direction)
    out(`${c} ledger, ${direction} messages by status: ${JSON.stringify(probe.read().statuses)}`)
    probe.close()
  }
  if (!values['no-verify']) {
    await Promise.all([topo.gateways.CA.stop(), topo.gateways.US.stop()])
    for (const c of ['CA', 'US'] as const) {
      const v = await verifyLedgerFile(topo.gateways[c].ledgerPath, c)
      out(
        `${c} ledger: ${v.ok ? 'verifies' : `does NOT verify at entry ${v.firstBad?.seq}: ${v.firstBad?.reason}`} (${v.entries} entries, ${v.checkpoints} checkpoints)`
      )
      if (!v.ok) exitCode = 1
    }
  }
  out(`\nVerdict: ${flat ? 'FLAT (nothing grows)' : 'NOT FLAT (something grows)'}${lost === 0 ? ', nothing lost' : `, ${lost} LOST`}`)
  if (!flat || lost > 0) exitCode = 1
} finally {
  await Promise.all([scrapers.CA.close(), scrapers.US.close()])
  await topo.close()
}
process.exitCode = exitCode
