// Where a preparation runs. A small message is prepared on the request's
// thread: handing it to a worker would cost more than the work. A large one
// (a batch of thousands of records: hundreds of milliseconds of parsing,
// validation, policy and signing) goes to a worker thread, so that the event
// loop every other request waits on is held for milliseconds, not seconds
// (issue 9: a 5,000-record batch held it for 2.3 s), and the work uses the
// other core.
import type { Piscina } from 'piscina'
import type { InboundTask, PreparedInbound } from './prepare-inbound.ts'
import { prepareInbound } from './prepare-inbound.ts'
import { prepareOutbound, type OutboundTask, type PipelineTools, type Preparation, type PreparedOutbound } from './prepare-outbound.ts'
import type { WorkerKeys, WorkerTask } from './pipeline-worker.ts'

export interface PipelinePoolOptions {
  /** Worker threads; 0 prepares everything on the request's thread. */
  readonly threads: number
  /** The smallest JWS, in bytes, prepared on a worker. */
  readonly workerMinBytes: number
  readonly keys: WorkerKeys
}

export class PipelinePool {
  readonly #tools: PipelineTools
  readonly #pool: Piscina | undefined
  readonly #minBytes: number
  /** Preparations run here and on workers, for /metrics and tests. */
  readonly counts = { inline: 0, worker: 0 }

  /**
   * Starts the pool's threads, if any. piscina is loaded only then: a gateway
   * without threads (the tests' default), and every process that builds one,
   * does not load it at start.
   */
  static async start(tools: PipelineTools, options: PipelinePoolOptions): Promise<PipelinePool> {
    if (options.threads === 0) return new PipelinePool(tools, options.workerMinBytes, undefined)
    const { Piscina } = await import('piscina')
    const pool = new Piscina({
      filename: new URL('./pipeline-worker.ts', import.meta.url).href,
      workerData: options.keys,
      // Started at once: a worker compiles the schemas when it starts, which
      // the first large message should not wait for.
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Number.POSITIVE_INFINITY
    })
    return new PipelinePool(tools, options.workerMinBytes, pool)
  }

  private constructor(tools: PipelineTools, minBytes: number, pool: Piscina | undefined) {
    this.#tools = tools
    this.#minBytes = minBytes
    this.#pool = pool
  }

  outbound(task: OutboundTask): Promise<Preparation<PreparedOutbound>> {
    if (this.#inline(task.jws)) return prepareOutbound(task, this.#tools)
    return this.#pool!.run({ step: 'outbound', task } satisfies WorkerTask) as Promise<Preparation<PreparedOutbound>>
  }

  inbound(task: InboundTask): Promise<Preparation<PreparedInbound>> {
    if (this.#inline(task.jws)) return prepareInbound(task, this.#tools)
    return this.#pool!.run({ step: 'inbound', task } satisfies WorkerTask) as Promise<Preparation<PreparedInbound>>
  }

  #inline(jws: string): boolean {
    const inline = this.#pool === undefined || jws.length < this.#minBytes
    this.counts[inline ? 'inline' : 'worker']++
    return inline
  }

  async close(): Promise<void> {
    await this.#pool?.destroy()
  }
}
