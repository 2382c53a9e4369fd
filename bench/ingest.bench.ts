// Ingest: requests/s of POST /v1/messages (agency → gateway → 202) for
// entry-exit.record messages, against a bare Fastify 5 route over the same
// mTLS, both driven by the same load loop (bench/lib/load.ts) in a worker
// thread. docs/architecture.md, "Targets": ingest at ≥ 0.25× the bare route,
// and ≥ 0.5× the crypto floor of one submission measured in the same run.
// Beside them, the floor of a submission (bench/lib/message-floor.ts): the
// rate the cores would allow at the least CPU a submission's work takes,
// which says whether those targets are within reach here at all.
//
//   node bench/ingest.bench.ts [--quick]
import { availableParallelism } from 'node:os'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { freePort, startExchange, startGateway, testConfig } from '../test/helper.ts'
import { measureBareRoute, type BareRouteRun } from './lib/bare-route.ts'
import { describeFloor, describePartCosts, floorOf, measurePartCosts, submissionParts } from './lib/message-floor.ts'
import { servingPids, startGatewayProcess } from './lib/gateway-process.ts'
import { measureCryptoFloor, submissionWork } from './lib/crypto-floor.ts'
import { benchOptions, mean, round, whole, withTeardowns, type BenchOptions, type BenchResult, type Figure } from './lib/common.ts'
import { runLoad, type LoadJob, type PhaseResult, type PhaseSpec, type WorkerEvent } from './lib/load.ts'
import { cpuByThread, cpuPerMessage, describeCpu, type CpuByThread, type CpuPerMessage } from './lib/thread-cpu.ts'
import { describeTimeSplit, phaseSplit, readPhase, type PhaseReading, type PhaseSplit } from './lib/thread-time.ts'

const TARGET_RATIO = 0.25
/** Of the crypto floor (bench/lib/crypto-floor.ts). */
const FLOOR_TARGET_RATIO = 0.5
const CONNECTIONS = 16
/**
 * The second load: enough connections that the gateway's event loop, not the
 * load's sixteen requests in flight, bounds the rate. With sixteen, a
 * submission's stages (the event loop, the ledger's thread, Redis, the load
 * generator) pass the requests along in groups, and the event loop sleeps
 * while all sixteen are elsewhere (docs/measurements.md, "The
 * thirty-eighth session's full run").
 */
const SATURATING_CONNECTIONS = 64

interface Sizes {
  readonly durationMs: number
  readonly warmupMs: number
  readonly warmupCount: number
  readonly maxCount: number
  /** Fewest messages signed for a timed phase: enough that a fast run does not end by count. */
  readonly minCount: number
}

function sizes({ quick, smoke }: BenchOptions): Sizes {
  // A smoke run's timed phase may end by count: it measures nothing, and each message is signed beforehand.
  if (smoke) return { durationMs: 100, warmupMs: 50, warmupCount: 20, maxCount: 200, minCount: 50 }
  return quick
    ? { durationMs: 3_000, warmupMs: 1_000, warmupCount: 1_000, maxCount: 15_000, minCount: 2_000 }
    : { durationMs: 10_000, warmupMs: 2_000, warmupCount: 3_000, maxCount: 60_000, minCount: 2_000 }
}

function template(): Record<string, unknown> {
  return sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' })
}

function job(origin: string, fetchToken: boolean, phases: PhaseSpec[], connections = CONNECTIONS): LoadJob {
  return {
    origin,
    path: '/v1/messages',
    connections,
    system: { agency: 'CBSA', system: 'pik-primary' },
    fetchToken,
    template: template(),
    phases,
    graceMs: 30_000
  }
}

function timed(results: PhaseResult[]): PhaseResult {
  const r = results.find((p) => p.name === 'timed')
  if (r === undefined) throw new Error('no timed phase result')
  return r
}

function summary(r: PhaseResult): Record<string, unknown> {
  const { messages: _omit, ...rest } = r
  return { ...rest, rps: round(r.rps, 1), p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms), maxMs: round(r.maxMs), elapsedMs: round(r.elapsedMs) }
}

async function measureBare(s: Sizes, log: BenchOptions['log'], label: string, connections = CONNECTIONS): Promise<BareRouteRun> {
  const run = await measureBareRoute((origin, phases) => job(origin, false, phases, connections), s)
  const r = run.result
  log(
    `${label}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms; ${Math.round(run.cpuUs)} µs of CPU a request, client and server`
  )
  return run
}

function gatewayPhases(s: Sizes): PhaseSpec[] {
  return [
    { kind: 'closed', name: 'warmup', count: s.warmupCount, durationMs: s.warmupMs * 2, unique: true },
    // Sized from the warm-up's rate so that the messages do not run out before the time does.
    { kind: 'closed', name: 'timed', count: { auto: { factor: 1.8, min: s.minCount, cap: s.maxCount } }, durationMs: s.durationMs, unique: true }
  ]
}

/** The gateway's threads whose time is split (bench/lib/thread-time.ts). */
const SPLIT_THREADS = ['MainThread', 'ledger']

/**
 * Reads the CPU of every thread when the timed phase starts and when it ends
 * (bench/lib/thread-cpu.ts), and where the gateway's threads spent the phase
 * (bench/lib/thread-time.ts), where the kernel keeps it. `gatewayPids` names
 * the gateway's processes, asked for when the timed phase starts (a
 * supervisor's are all serving by then); without it the gateway runs in this
 * process, and its event loop is this process's main thread.
 */
function timedCpu(gatewayPids?: () => readonly number[]): {
  onEvent: (event: WorkerEvent) => void
  /** After the load: what a message cost and where the phase went, each logged. */
  report: (log: BenchOptions['log']) => { cpu: CpuPerMessage; split: PhaseSplit | undefined }
} {
  let start: CpuByThread | undefined
  let end: CpuByThread | undefined
  let requests = 0
  let pids: readonly number[] = []
  let processes: Readonly<Record<string, readonly number[]>> = {}
  const readings: PhaseReading[] = []
  // Each process of several is named by its place; one, or this process, by nothing.
  const read = (): void => {
    readings.push(
      readPhase(gatewayPids === undefined ? { '': 'self' } : Object.fromEntries(pids.map((pid, i) => [pids.length === 1 ? '' : `process ${i + 1}`, pid])))
    )
  }
  return {
    onEvent: (event) => {
      if (event.type === 'phase-start' && event.name === 'timed') {
        pids = gatewayPids?.() ?? []
        processes = gatewayPids === undefined ? {} : { gateway: pids }
        start = cpuByThread(processes)
        read()
      }
      if (event.type === 'phase-end' && event.result.name === 'timed') {
        read()
        end = cpuByThread(processes)
        requests = event.result.requests
      }
    },
    report: (log) => {
      const cpu = cpuPerMessage(start!, end!, Math.max(1, requests))
      log(`  ${describeCpu(cpu)}`)
      const [a, b] = readings
      const split = a === undefined || b === undefined ? undefined : phaseSplit(a, b, SPLIT_THREADS)
      if (split !== undefined) log(`  ${describeTimeSplit(split.threads, split.idle)}`)
      return { cpu, split }
    }
  }
}

/** A gateway's timed phase: its result, what a message cost, and where the phase went. */
interface TimedGateway {
  readonly r: PhaseResult
  readonly cpu: CpuPerMessage
  readonly split: PhaseSplit | undefined
  /** What the gateway logged at error level, where it ran as its own process (lib/gateway-process.ts). */
  readonly errors?: readonly string[]
}

async function measureGatewayNoWorkers(s: Sizes, log: BenchOptions['log'], connections = CONNECTIONS): Promise<TimedGateway> {
  return withTeardowns(async (t) => {
    const gw = await startGateway(t, testConfig('CA', { runWorkers: false, logLevel: 'silent' }))
    const cpu = timedCpu()
    const r = timed(await runLoad(job(gw.url, true, gatewayPhases(s), connections), cpu.onEvent))
    log(
      `gateway (workers off, ${connections} connections): ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, statuses ${JSON.stringify(r.statuses)}`
    )
    return { r, ...cpu.report(log) }
  })
}

/**
 * The gateway as `node gateway/server.ts` with GATEWAY_PROCESSES=n (gateway/cluster.ts),
 * workers off as above: one process against two, on the same cores.
 */
async function measureGatewayProcesses(s: Sizes, log: BenchOptions['log'], processes: number): Promise<TimedGateway> {
  return withTeardowns(async (t) => {
    const port = await freePort()
    const gateway = await startGatewayProcess(t, 'CA', port, { RUN_WORKERS: 'false', GATEWAY_PROCESSES: String(processes) })
    const cpu = timedCpu(() => servingPids(gateway))
    const r = timed(await runLoad(job(`https://127.0.0.1:${port}`, true, gatewayPhases(s)), cpu.onEvent))
    log(
      `gateway as ${processes} process${processes === 1 ? '' : 'es'} (workers off): ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, statuses ${JSON.stringify(r.statuses)}`
    )
    return { r, ...cpu.report(log), errors: gateway.errors }
  })
}

async function measureGatewayWithWorkers(s: Sizes, log: BenchOptions['log']): Promise<{ r: PhaseResult; deliveredDuring: number }> {
  return withTeardowns(async (t) => {
    const ex = await startExchange(t, { logLevel: 'silent', workerConcurrency: 32 })
    let atStart = 0
    const r = timed(
      await runLoad(job(ex.ca.url, true, gatewayPhases(s)), (event) => {
        if (event.type === 'phase-start' && event.name === 'timed') atStart = ex.mocks.CBP.received.length
      })
    )
    const deliveredDuring = ex.mocks.CBP.received.length - atStart
    log(
      `gateway (workers on, delivering to US): ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms; ` +
        `${deliveredDuring} pushed to the US agency meanwhile; statuses ${JSON.stringify(r.statuses)}`
    )
    return { r, deliveredDuring }
  })
}

/**
 * What a message cost on each of the gateway's threads with two processes
 * against one (bench/lib/thread-cpu.ts adds the two processes' threads of
 * one name together): where the second process's cost on the same cores goes.
 */
function compareCpu(two: CpuPerMessage, one: CpuPerMessage): string {
  const costs = [{ thread: 'all threads', us: two.totalUs, against: one.totalUs }]
  for (const t of two.byThread) {
    const against = one.byThread.find((o) => o.thread === t.thread)?.us
    if (t.thread.startsWith('gateway:') && against !== undefined) costs.push({ thread: t.thread.slice('gateway:'.length), us: t.us, against })
  }
  return costs.map((c) => `${c.thread} ${whole(c.us)} µs against ${whole(c.against)} (${(c.us / c.against).toFixed(2)}×)`).join(', ')
}

/** A bare route's run, as a figure's baseline: its rate and its latencies. */
interface BareBaseline {
  readonly name: string
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
}

/** "; where the phase's time went: …", or nothing where the kernel keeps no counters. */
function splitText(split: PhaseSplit | undefined): string {
  return split === undefined ? '' : `; where the phase's time went: ${describeTimeSplit(split.threads, split.idle)}`
}

/**
 * Whether the event loop bounds the run: where the phase's time went, and the
 * most one thread at the event loop's CPU a submission could take, against
 * what the target rate would allow it (a bound the target needs, not one
 * that would meet it: the other threads share the same cores).
 */
function eventLoopBound(cpu: CpuPerMessage, split: PhaseSplit | undefined, targetPerSecond: number): string {
  const loopUs = cpu.byThread.find((t) => t.thread === 'MainThread')?.us
  const spent = splitText(split)
  if (loopUs === undefined) return spent
  return `${spent}; the event loop alone, at ${whole(loopUs)} µs a submission, allows at most ${whole(1e6 / loopUs)} req/s: ${whole(targetPerSecond)} req/s needs it at ${whole(1e6 / targetPerSecond)} µs or less`
}

export async function ingestBench(opts: BenchOptions = benchOptions()): Promise<BenchResult> {
  const s = sizes(opts)
  const notes: string[] = [
    `load: ${CONNECTIONS} keep-alive mTLS connections (one undici Agent, CBSA client certificate), one request in flight each, ` +
      `${s.durationMs / 1000} s timed after ${s.warmupMs / 1000} s warm-up, load loop in a worker thread of the same process; ` +
      `the figures "${SATURATING_CONNECTIONS} connections" the same with ${SATURATING_CONNECTIONS} (a gateway and a bare route of their own)`,
    'messages: entry-exit.record CA→US, each with a unique id, signed before the timed loop (signing not measured); token fetched once',
    "workers-off figure: testConfig('CA', { runWorkers: false, logLevel: 'silent' }) — no delivery competes for the CPU (the 202 path still writes the ledger and enqueues in Redis)",
    'workers-on figure: startExchange (CA and US gateways, mock agencies, all in this process), workerConcurrency 32, delivery to the US gateway running while ingesting'
  ]
  const bareRuns: BareRouteRun[] = []
  bareRuns.push(await measureBare(s, opts.log, 'bare route (1)'))
  const work = await submissionWork()
  const floor = measureCryptoFloor(work, s.durationMs)
  opts.log(`crypto floor: ${floor.perSecond.toFixed(0)} submissions/s on one core (${floor.work.hmacs} HMACs, 2 verifications, a signature, a seal each)`)
  const otherCosts = measurePartCosts(work, { durationMs: Math.min(s.durationMs, 3_000), commits: opts.smoke ? 50 : opts.quick ? 2_000 : 10_000 })
  const { r: off, cpu: offCpu, split: offSplit } = await measureGatewayNoWorkers(s, opts.log)
  if (!opts.quick) bareRuns.push(await measureBare(s, opts.log, 'bare route (2)'))
  const saturatingBare = await measureBare(s, opts.log, `bare route, ${SATURATING_CONNECTIONS} connections`, SATURATING_CONNECTIONS)
  const saturated = await measureGatewayNoWorkers(s, opts.log, SATURATING_CONNECTIONS)
  const on = await measureGatewayWithWorkers(s, opts.log)
  const { r: oneProcess, cpu: oneProcessCpu, split: oneProcessSplit, errors: oneProcessErrors } = await measureGatewayProcesses(s, opts.log, 1)
  const { r: twoProcesses, cpu: twoProcessesCpu, split: twoProcessesSplit, errors: twoProcessesErrors } = await measureGatewayProcesses(s, opts.log, 2)

  const bare = bareRuns.map((b) => b.result)
  const baseline = mean(bare.map((b) => b.rps))
  // The least a request cost in either bare run: a floor is to be under every gateway's cost.
  const partCosts = { requestUs: Math.min(...bareRuns.map((b) => b.cpuUs)), ...otherCosts }
  opts.log(`the floor's parts: ${describePartCosts(partCosts)}`)
  const submissionFloor = floorOf(submissionParts(partCosts), availableParallelism())
  if (bare.length > 1)
    notes.push(`baseline = mean of the bare route measured before and after the workers-off run (${bare.map((b) => b.rps.toFixed(0)).join(' and ')} req/s)`)
  for (const [name, r, logged] of [
    ['workers off', off, undefined],
    [`workers off, ${SATURATING_CONNECTIONS} connections`, saturated.r, undefined],
    ['workers on', on.r, undefined],
    ['one process', oneProcess, oneProcessErrors],
    ['two processes', twoProcesses, twoProcessesErrors]
  ] as const) {
    const bad = r.requests - (r.statuses['202'] ?? 0)
    // Why, where the gateway ran as its own process and said so in its log.
    const why = logged === undefined || logged.length === 0 ? '' : `; the gateway logged: ${[...new Set(logged)].join('; ')}`
    if (bad > 0)
      notes.push(
        `WARNING (${name}): ${bad} of ${r.requests} requests did not get 202: ${JSON.stringify(r.statuses)} errors ${r.errors} ${r.firstError ?? ''}${why}`
      )
  }
  const bareAt16: BareBaseline = {
    name: 'bare Fastify route, same mTLS',
    rps: baseline,
    p50Ms: mean(bare.map((b) => b.p50Ms)),
    p99Ms: mean(bare.map((b) => b.p99Ms))
  }
  const asBaseline = (b: BareBaseline): NonNullable<Figure['baseline']> => ({ name: b.name, value: round(b.rps, 0), unit: 'req/s' })
  const figure = (name: string, r: PhaseResult, against: BareBaseline = bareAt16): Figure => ({
    name,
    value: round(r.rps, 0),
    unit: 'req/s',
    baseline: asBaseline(against),
    ratio: round(r.rps / against.rps, 3),
    target: `≥ ${TARGET_RATIO}× bare`,
    met: r.rps / against.rps >= TARGET_RATIO,
    extra: `p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms (bare p50 ${against.p50Ms.toFixed(1)}, p99 ${against.p99Ms.toFixed(1)})`
  })
  const againstFloor = (name: string, r: PhaseResult, extra: string): Figure => ({
    name,
    value: round(r.rps, 0),
    unit: 'req/s',
    baseline: { name: 'the crypto floor of one submission, back to back on one core', value: round(floor.perSecond, 0), unit: 'submissions/s' },
    ratio: round(r.rps / floor.perSecond, 3),
    target: `≥ ${FLOOR_TARGET_RATIO}× the floor`,
    met: r.rps / floor.perSecond >= FLOOR_TARGET_RATIO,
    extra
  })
  const { rps, p50Ms, p99Ms } = saturatingBare.result
  const bareAt64: BareBaseline = { name: `bare Fastify route, same mTLS, ${SATURATING_CONNECTIONS} connections`, rps, p50Ms, p99Ms }
  return {
    bench: 'ingest',
    figures: [
      figure('ingest POST /v1/messages, workers off', off),
      {
        ...figure('ingest POST /v1/messages, workers on (delivering)', on.r),
        extra: `${figure('', on.r).extra}; ${(on.deliveredDuring / (on.r.elapsedMs / 1000)).toFixed(0)} msg/s pushed to the US agency meanwhile`
      },
      againstFloor(
        'ingest POST /v1/messages, workers off, against the crypto floor',
        off,
        `a submission: ES256 token and JWS verified, ${floor.work.hmacs} HMAC-SHA256, a SHA-256, an ES256 signature, AES-256-GCM over ${floor.work.submissionBytes} bytes; ` +
          `the gateway with its load generator and Redis on this machine's cores: ${describeCpu(offCpu)}` +
          eventLoopBound(offCpu, offSplit, FLOOR_TARGET_RATIO * floor.perSecond)
      ),
      {
        ...figure(`ingest POST /v1/messages, workers off, ${SATURATING_CONNECTIONS} connections (the event loop saturated)`, saturated.r, bareAt64),
        extra: `${(saturated.r.rps / off.rps).toFixed(2)}× the rate at ${CONNECTIONS} connections; ${figure('', saturated.r, bareAt64).extra}`
      },
      againstFloor(
        `ingest POST /v1/messages, workers off, ${SATURATING_CONNECTIONS} connections, against the crypto floor`,
        saturated.r,
        `${describeCpu(saturated.cpu)}${eventLoopBound(saturated.cpu, saturated.split, FLOOR_TARGET_RATIO * floor.perSecond)}`
      ),
      {
        name: "the floor of a submission: what the cores allow at the least CPU a submission's work takes here",
        value: round(submissionFloor.perSecond, 0),
        unit: 'req/s',
        baseline: asBaseline(bareAt16),
        ratio: round(submissionFloor.perSecond / baseline, 3),
        target: `the ingest targets within reach (≥ ${TARGET_RATIO}× bare and ≥ ${FLOOR_TARGET_RATIO}× the crypto floor)`,
        met: submissionFloor.perSecond / baseline >= TARGET_RATIO && submissionFloor.perSecond / floor.perSecond >= FLOOR_TARGET_RATIO,
        extra:
          `${describeFloor(submissionFloor, 'a submission')}; ${(submissionFloor.perSecond / floor.perSecond).toFixed(2)}× the crypto floor; ` +
          `the gateway (workers off) reaches ${(off.rps / submissionFloor.perSecond).toFixed(2)} of it`
      },
      {
        ...figure('ingest, the gateway as its own process (workers off)', oneProcess),
        extra: `${figure('', oneProcess).extra}; ${describeCpu(oneProcessCpu)}${splitText(oneProcessSplit)}`
      },
      {
        ...figure('ingest, the gateway as two processes on one port (GATEWAY_PROCESSES=2, workers off)', twoProcesses),
        extra:
          `${(twoProcesses.rps / oneProcess.rps).toFixed(2)}× one process; ${figure('', twoProcesses).extra}; ${describeCpu(twoProcessesCpu)}; ` +
          `against one process, a message's CPU: ${compareCpu(twoProcessesCpu, oneProcessCpu)}${splitText(twoProcessesSplit)}`
      }
    ],
    notes,
    details: {
      connections: CONNECTIONS,
      saturatingConnections: SATURATING_CONNECTIONS,
      sizes: s,
      bare: bare.map(summary),
      gatewayWorkersOff: { ...summary(off), cpuPerMessageUs: offCpu, timeSplit: offSplit ?? null },
      bareSaturated: summary(saturatingBare.result),
      gatewayWorkersOffSaturated: { ...summary(saturated.r), cpuPerMessageUs: saturated.cpu, timeSplit: saturated.split ?? null },
      gatewayWorkersOn: { ...summary(on.r), deliveredDuringTimed: on.deliveredDuring },
      cryptoFloor: { perSecond: round(floor.perSecond, 0), ...floor.work },
      submissionFloor: {
        cpuPerSubmissionUs: round(submissionFloor.cpuUs, 1),
        cores: submissionFloor.cores,
        perSecond: round(submissionFloor.perSecond, 1),
        parts: submissionFloor.parts.map((p) => ({ ...p, cpuUs: round(p.cpuUs, 2) }))
      },
      gatewayOneProcess: { ...summary(oneProcess), cpuPerMessageUs: oneProcessCpu, timeSplit: oneProcessSplit ?? null },
      gatewayTwoProcesses: { ...summary(twoProcesses), cpuPerMessageUs: twoProcessesCpu, timeSplit: twoProcessesSplit ?? null }
    }
  }
}

if (import.meta.main) {
  const result = await ingestBench()
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}
