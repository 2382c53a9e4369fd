// Where a preparation runs. A small message is prepared on the request's
// thread: handing it to a worker would cost more than the work. A large one
// (a batch of thousands of records: hundreds of milliseconds of parsing,
// validation, policy and signing) goes to a worker thread, so that the event
// loop every other request waits on is held for milliseconds, not seconds
// (issue 9: a 5,000-record batch held it for 2.3 s), and the work uses the
// other core.
import type { Piscina } from 'piscina'
import { ServiceUnavailableError } from '../errors.ts'
import { openedLength } from '../lib/seal.ts'
import { amendSealed, type AmendTask } from './amend-sealed.ts'
import type { InboundTask, PreparedInbound } from './prepare-inbound.ts'
import { prepareInbound } from './prepare-inbound.ts'
import {
  prepareDryRun,
  prepareOutbound,
  type DryRun,
  type DryRunTask,
  type OutboundTask,
  type PipelineTools,
  type Preparation,
  type PreparedOutbound
} from './prepare-outbound.ts'
import type { WorkerKeys, WorkerTask } from './pipeline-worker.ts'

/**
 * Whether piscina failed a task because its thread ended: out of memory
 * (Node's error for the thread), or an exit or termination (piscina's own
 * errors, which it names only by their messages).
 * `test/pipeline-thread-failure.test.ts` fails if an upgrade changes them.
 */
function threadEnded(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  return (
    (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' ||
    error.message.startsWith('worker exited with code') ||
    error.message === 'Terminating worker thread'
  )
}

export interface PipelinePoolOptions {
  /** Worker threads; 0 prepares everything on the request's thread. */
  readonly threads: number
  /** The smallest JWS, in bytes, prepared on a worker. */
  readonly workerMinBytes: number
  readonly keys: WorkerKeys
}

export class PipelinePool {
  readonly #tools: PipelineTools
  readonly #options: PipelinePoolOptions
  /** The threads, from the first message that needs them on. */
  #pool: Promise<Piscina> | undefined
  #closed = false
  /** Preparations (and amendments) run here and on workers, for /metrics and tests. */
  readonly counts = { inline: 0, worker: 0 }

  /**
   * A pool whose threads start with the first message that needs one (one of
   * `workerMinBytes` or more), not with the gateway: a thread costs about half
   * a second of CPU and 19 MB to start (its modules and its schemas;
   * docs/measurements.md, "The test suite's time"), and a gateway that is
   * only ever sent single messages never needs one. The first large message
   * waits for the start, as the WAL checkpointer starts only once the WAL is
   * big enough (store/ledger-sqlite.ts). piscina is loaded only then.
   */
  constructor(tools: PipelineTools, options: PipelinePoolOptions) {
    this.#tools = tools
    this.#options = options
  }

  /** Whether the worker threads have been started. */
  get started(): boolean {
    return this.#pool !== undefined
  }

  #threads(): Promise<Piscina> {
    if (this.#closed) return Promise.reject(new Error('the pipeline pool is closed'))
    this.#pool ??= import('piscina').then(
      ({ Piscina }) =>
        new Piscina({
          filename: new URL('./pipeline-worker.ts', import.meta.url).href,
          workerData: this.#options.keys,
          // All at once, and kept: each compiles the schemas when it starts.
          minThreads: this.#options.threads,
          maxThreads: this.#options.threads,
          idleTimeout: Number.POSITIVE_INFINITY
        })
    )
    return this.#pool
  }

  outbound(task: OutboundTask): Promise<Preparation<PreparedOutbound>> {
    if (this.#inline(task.jws.length)) return prepareOutbound(task, this.#tools)
    return this.#onThread({ step: 'outbound', task })
  }

  inbound(task: InboundTask): Promise<Preparation<PreparedInbound>> {
    if (this.#inline(task.jws.length)) return prepareInbound(task, this.#tools)
    return this.#onThread({ step: 'inbound', task })
  }

  /** A dry run (POST /v1/policies/dry-run), here or on a worker by its size, like a submission's preparation. */
  dryRun(task: DryRunTask): Promise<DryRun> {
    if (this.#inline(task.jws.length)) return prepareDryRun(task, this.#tools)
    return this.#onThread({ step: 'dryRun', task })
  }

  /** A signed message signed again with members changed (amend-sealed.ts), here or on a worker by its size, like a preparation. */
  amend(task: AmendTask): Promise<string> {
    if (this.#inline(openedLength(task.sealed))) return amendSealed(task, this.#tools)
    return this.#onThread({ step: 'amend', task })
  }

  /**
   * A preparation on a thread. A thread that ends under it (out of memory,
   * a crash) is the gateway's failure and not the message's: the caller is
   * told to send it again (503), as when the ledger fails, and piscina
   * starts another thread for the next.
   */
  async #onThread<T>(work: WorkerTask): Promise<T> {
    try {
      return (await (await this.#threads()).run(work)) as T
    } catch (error) {
      if (!threadEnded(error)) throw error
      throw new ServiceUnavailableError('the message could not be prepared: a pipeline thread failed; nothing was accepted, retry later', { cause: error })
    }
  }

  /** Whether a message of `bytes` (its JWS) is worked on here. */
  #inline(bytes: number): boolean {
    const inline = this.#options.threads === 0 || bytes < this.#options.workerMinBytes
    this.counts[inline ? 'inline' : 'worker']++
    return inline
  }

  async close(): Promise<void> {
    this.#closed = true
    const pool = this.#pool
    if (pool !== undefined) await (await pool).destroy()
  }
}
