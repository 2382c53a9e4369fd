// The bare mTLS route: a Fastify 5 route with the gateway's own TLS options
// that answers 202 and does nothing else. What it costs a request, client and
// server together, is the least an mTLS request can cost with this stack: the
// ingest bench's baseline, and a part of a message's floor
// (bench/lib/message-floor.ts).
import { join } from 'node:path'
import Fastify from 'fastify'
import { tlsOptions } from '../../gateway/app.ts'
import { loadTrustStore } from '../../gateway/trust/trust-store.ts'
import { KEYS_DIR } from '../../test/helper.ts'
import { runLoad, type LoadJob, type PhaseResult, type PhaseSpec } from './load.ts'

const BODY_LIMIT = 8 * 1024 * 1024

/** A bare Fastify 5 route with the gateway's own TLS options (buildApp's `https`) and the same content type. */
export async function startBareRoute(): Promise<{ url: string; close(): Promise<void> }> {
  const trust = loadTrustStore(join(KEYS_DIR, 'CA', 'trust.json'))
  const app = Fastify({
    https: tlsOptions(trust),
    logger: false,
    bodyLimit: BODY_LIMIT,
    keepAliveTimeout: 65_000,
    forceCloseConnections: 'idle'
  })
  app.addContentTypeParser('application/jose', { parseAs: 'string' }, (_request, body, done) => done(null, body))
  app.post('/v1/messages', async (request, reply) => reply.code(202).send({ id: 'bare', status: 'accepted', bytes: (request.body as string).length }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  return { url: `https://127.0.0.1:${port}`, close: () => app.close() }
}

export interface BareRouteRun {
  /** The timed phase. */
  readonly result: PhaseResult
  /**
   * µs of CPU a request during the timed phase: every thread of this process
   * (the route on the event loop, the load generator's thread, V8's helpers).
   * Only meaningful while nothing else runs in this process.
   */
  readonly cpuUs: number
}

/** A warm-up, then a timed phase of the load that `job` describes (its origin the bare route's) against a fresh bare route. */
export async function measureBareRoute(
  job: (origin: string, phases: PhaseSpec[]) => LoadJob,
  timing: { readonly warmupMs: number; readonly durationMs: number }
): Promise<BareRouteRun> {
  const bare = await startBareRoute()
  try {
    let started: NodeJS.CpuUsage | undefined
    let used: NodeJS.CpuUsage | undefined
    const results = await runLoad(
      job(bare.url, [
        { kind: 'closed', name: 'warmup', count: 1e9, durationMs: timing.warmupMs, unique: false },
        { kind: 'closed', name: 'timed', count: 1e9, durationMs: timing.durationMs, unique: false }
      ]),
      // process.cpuUsage() counts every thread of the process, the load generator's included.
      (event) => {
        if (event.type === 'phase-start' && event.name === 'timed') started = process.cpuUsage()
        if (event.type === 'phase-end' && event.result.name === 'timed') used = process.cpuUsage(started)
      }
    )
    const result = results.find((p) => p.name === 'timed')
    if (result === undefined || used === undefined) throw new Error('bare route: no timed phase result')
    return { result, cpuUs: (used.user + used.system) / Math.max(1, result.requests) }
  } finally {
    await bare.close()
  }
}
