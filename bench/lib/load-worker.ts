// Worker-thread side of runLoad: signs each phase's messages before timing
// it, fetches the access token once, then drives the loop and posts results.
import { parentPort, workerData } from 'node:worker_threads'
import { join } from 'node:path'
import { Agent } from 'undici'
import { AgencyClient, loadAgencyCredentials } from '../../sandbox/agency-client.ts'
import { closedLoop, pacedLoop, type Bodies, type LoadJob, type LoopContext, type PhaseResult, type WorkerEvent } from './load.ts'
import { epochMs } from './common.ts'

const KEYS_DIR = join(import.meta.dirname, '..', '..', 'keys-example')
/** Distinct messages signed for a cycled (non-unique) pool. */
const POOL = 512

function post(event: WorkerEvent): void {
  parentPort!.postMessage(event)
}

async function sign(client: AgencyClient, template: Record<string, unknown>, count: number): Promise<{ bodies: Omit<Bodies, 'unique'>; ms: number }> {
  const t0 = performance.now()
  const jws: string[] = []
  const ids: string[] = []
  for (let done = 0; done < count; done += 256) {
    const batch = Array.from({ length: Math.min(256, count - done) }, () => client.envelope(structuredClone(template)))
    jws.push(...(await Promise.all(batch.map((e) => client.sign(e)))))
    ids.push(...batch.map((e) => String(e.id)))
  }
  return { bodies: { jws, ids }, ms: performance.now() - t0 }
}

async function main(job: LoadJob): Promise<void> {
  const creds = loadAgencyCredentials(KEYS_DIR, 'CA', job.system.agency, job.system.system)
  // The token comes from the gateway over its own connection; the measured
  // loop uses a separate agent with exactly `connections` connections.
  const tokenClient = new AgencyClient(creds, job.origin, { connections: 1 })
  const agent = new Agent({
    connections: job.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    connect: { cert: creds.cert, key: creds.key, ca: creds.ca }
  })
  try {
    const token = job.fetchToken ? await tokenClient.token() : 'bench-dummy-token'
    const ctx: LoopContext = {
      dispatcher: agent,
      origin: job.origin,
      path: job.path,
      headers: { 'content-type': 'application/jose', authorization: `Bearer ${token}` }
    }
    let pool: Bodies | undefined
    let previous: PhaseResult | undefined
    for (const phase of job.phases) {
      let count: number
      if (phase.kind === 'closed' && typeof phase.count !== 'number') {
        const { factor, min, cap } = phase.count.auto
        const rate = previous?.rps ?? 0
        count = Math.min(cap, Math.max(min, Math.ceil(rate * (phase.durationMs / 1000) * factor)))
      } else {
        count = phase.count as number
      }
      let bodies: Bodies
      let signMs = 0
      if (phase.kind === 'closed' && !phase.unique) {
        if (pool === undefined) {
          const signed = await sign(tokenClient, job.template, POOL)
          pool = { ...signed.bodies, unique: false }
          signMs = signed.ms
        }
        bodies = pool
      } else {
        const signed = await sign(tokenClient, job.template, count)
        bodies = { ...signed.bodies, unique: true }
        signMs = signed.ms
      }
      post({ type: 'phase-start', name: phase.name, at: epochMs() })
      const result =
        phase.kind === 'closed'
          ? await closedLoop(ctx, bodies, {
              name: phase.name,
              lanes: job.connections,
              count: phase.unique ? Math.min(count, bodies.jws.length) : count,
              durationMs: phase.durationMs,
              record: phase.record ?? false,
              signMs
            })
          : await pacedLoop(ctx, bodies, {
              name: phase.name,
              count,
              ratePerSec: phase.ratePerSec,
              record: phase.record ?? false,
              signMs,
              timeoutMs: (count / phase.ratePerSec) * 1000 + job.graceMs
            })
      post({ type: 'phase-end', result })
      previous = result
    }
  } finally {
    await agent.close()
    await tokenClient.close()
  }
}

main(workerData as LoadJob).then(
  () => post({ type: 'done' }),
  (err: Error) => post({ type: 'failed', error: err.stack ?? err.message })
)
