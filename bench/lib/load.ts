// The load generator: N keep-alive mTLS connections (one undici Agent), each
// with one request in flight (closed loop), or requests fired on a schedule
// (paced, open loop). It runs in a worker thread (load-worker.ts) so that the
// server under test keeps the main thread's event loop to itself, and the
// same loop drives the bare baseline and the gateway.
import { Worker } from 'node:worker_threads'
import type { Dispatcher } from 'undici'
import { epochMs, percentile } from './common.ts'

export type PhaseSpec =
  | {
      readonly kind: 'closed'
      readonly name: string
      /** A number, or sized from the previous phase's rate: rate × duration × factor, at most cap. */
      readonly count: number | { readonly auto: { readonly factor: number; readonly min: number; readonly cap: number } }
      readonly durationMs: number
      /** Every request its own freshly signed message (gateway), or a pool cycled (bare route). */
      readonly unique: boolean
      /** Keep each message's id and times (for end-to-end latency). */
      readonly record?: boolean
    }
  | {
      readonly kind: 'paced'
      readonly name: string
      readonly count: number
      readonly ratePerSec: number
      readonly record?: boolean
    }

export interface LoadJob {
  /** https://127.0.0.1:port */
  readonly origin: string
  readonly path: string
  readonly connections: number
  /** The CA agency system that sends (its client certificate and signing key). */
  readonly system: { readonly agency: string; readonly system: string }
  /** Fetch an access token once from the origin (the gateway); the bare route gets a dummy one. */
  readonly fetchToken: boolean
  /** Envelope fields (sampleEnvelope): id, from and createdAt are filled per message. */
  readonly template: Record<string, unknown>
  readonly phases: readonly PhaseSpec[]
  /** Hard stop for any one phase, over its own duration. */
  readonly graceMs: number
}

export interface MessageTiming {
  readonly id: string
  /** Epoch ms (sub-ms precision) the request was written. */
  readonly sentAt: number
  readonly ackAt: number
  readonly status: number
}

export interface PhaseResult {
  readonly name: string
  readonly kind: 'closed' | 'paced'
  readonly requests: number
  /** 2xx answers. */
  readonly ok: number
  readonly statuses: Record<string, number>
  readonly errors: number
  readonly firstError: string | null
  readonly elapsedMs: number
  /** 2xx answers per second of elapsed time. */
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly endedBy: 'time' | 'count'
  readonly startedAt: number
  /** Time spent signing this phase's messages beforehand (not measured in rps). */
  readonly signMs: number
  readonly messages?: MessageTiming[]
}

export type WorkerEvent =
  | { readonly type: 'phase-start'; readonly name: string; readonly at: number }
  | { readonly type: 'phase-end'; readonly result: PhaseResult }
  | { readonly type: 'done' }
  | { readonly type: 'failed'; readonly error: string }

export interface Bodies {
  readonly jws: readonly string[]
  readonly ids: readonly string[]
  readonly unique: boolean
}

export interface LoopContext {
  readonly dispatcher: Dispatcher
  readonly origin: string
  readonly path: string
  readonly headers: Record<string, string>
}

class Tally {
  readonly latencies: number[] = []
  readonly statuses: Record<string, number> = {}
  readonly messages: MessageTiming[] = []
  requests = 0
  ok = 0
  errors = 0
  firstError: string | null = null

  readonly record: boolean

  constructor(record: boolean) {
    this.record = record
  }

  async send(ctx: LoopContext, bodies: Bodies, i: number): Promise<void> {
    const body = bodies.jws[bodies.unique ? i : i % bodies.jws.length]!
    this.requests++
    const sentAt = epochMs()
    const t0 = performance.now()
    try {
      const res = await ctx.dispatcher.request({
        origin: ctx.origin,
        path: ctx.path,
        method: 'POST',
        headers: ctx.headers,
        body,
        headersTimeout: 30_000,
        bodyTimeout: 30_000
      })
      await res.body.text()
      const ms = performance.now() - t0
      this.latencies.push(ms)
      this.statuses[res.statusCode] = (this.statuses[res.statusCode] ?? 0) + 1
      if (res.statusCode >= 200 && res.statusCode < 300) this.ok++
      if (this.record) this.messages.push({ id: bodies.ids[i]!, sentAt, ackAt: sentAt + ms, status: res.statusCode })
    } catch (err) {
      this.errors++
      this.firstError ??= (err as Error).message
    }
  }

  result(name: string, kind: PhaseResult['kind'], elapsedMs: number, endedBy: PhaseResult['endedBy'], startedAt: number, signMs: number): PhaseResult {
    return {
      name,
      kind,
      requests: this.requests,
      ok: this.ok,
      statuses: this.statuses,
      errors: this.errors,
      firstError: this.firstError,
      elapsedMs,
      rps: this.ok / (elapsedMs / 1000),
      p50Ms: percentile(this.latencies, 50),
      p99Ms: percentile(this.latencies, 99),
      maxMs: this.latencies.reduce((a, b) => Math.max(a, b), 0),
      endedBy,
      startedAt,
      signMs,
      ...(this.record ? { messages: this.messages } : {})
    }
  }
}

/** `lanes` requests in flight at all times, until the duration or the bodies run out. */
export async function closedLoop(
  ctx: LoopContext,
  bodies: Bodies,
  opts: {
    name: string
    lanes: number
    count: number
    durationMs: number
    record: boolean
    signMs: number
  }
): Promise<PhaseResult> {
  const tally = new Tally(opts.record)
  const startedAt = epochMs()
  const start = performance.now()
  const deadline = start + opts.durationMs
  let next = 0
  let endedBy: PhaseResult['endedBy'] = 'count'
  const lane = async (): Promise<void> => {
    for (;;) {
      if (performance.now() >= deadline) {
        endedBy = 'time'
        return
      }
      const i = next++
      if (i >= opts.count) return
      await tally.send(ctx, bodies, i)
    }
  }
  await Promise.all(Array.from({ length: opts.lanes }, lane))
  return tally.result(opts.name, 'closed', performance.now() - start, endedBy, startedAt, opts.signMs)
}

/** Fires request i at start + i/rate whatever the answers (open loop), then waits for every answer. */
export async function pacedLoop(
  ctx: LoopContext,
  bodies: Bodies,
  opts: {
    name: string
    count: number
    ratePerSec: number
    record: boolean
    signMs: number
    timeoutMs: number
  }
): Promise<PhaseResult> {
  const tally = new Tally(opts.record)
  const interval = 1000 / opts.ratePerSec
  const inFlight: Array<Promise<void>> = []
  const startedAt = epochMs()
  const start = performance.now()
  await new Promise<void>((resolve) => {
    let i = 0
    const tick = (): void => {
      const due = Math.min(opts.count, Math.floor((performance.now() - start) / interval) + 1)
      while (i < due) inFlight.push(tally.send(ctx, bodies, i++))
      if (i >= opts.count || performance.now() - start > opts.timeoutMs) {
        resolve()
        return
      }
      setTimeout(tick, Math.max(0, start + i * interval - performance.now()))
    }
    tick()
  })
  await Promise.all(inFlight)
  return tally.result(opts.name, 'paced', performance.now() - start, 'count', startedAt, opts.signMs)
}

/**
 * Runs a load job in a worker thread and returns each phase's result;
 * `onEvent` hears phase starts (to take a snapshot at the start of the timed part).
 */
export function runLoad(job: LoadJob, onEvent: (event: WorkerEvent) => void = () => {}): Promise<PhaseResult[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.ts', import.meta.url), { workerData: job, name: 'load' })
    const results: PhaseResult[] = []
    let settled = false
    const finish = (err?: Error): void => {
      if (settled) return
      settled = true
      if (err !== undefined) reject(err)
      else resolve(results)
    }
    worker.on('message', (event: WorkerEvent) => {
      onEvent(event)
      if (event.type === 'phase-end') results.push(event.result)
      else if (event.type === 'failed') finish(new Error(`load worker: ${event.error}`))
      else if (event.type === 'done') {
        finish()
        // Nothing of the worker's may keep the process alive once it has reported.
        void worker.terminate()
      }
    })
    worker.on('error', (err) => finish(err))
    worker.on('exit', (code) => finish(code === 0 ? undefined : new Error(`load worker exited with ${code}`)))
  })
}
