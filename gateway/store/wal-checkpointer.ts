// Checkpoints the SQLite ledger's write-ahead log from a thread of its own
// (docs/architecture.md, "The ledger's writes"). SQLite's automatic
// checkpoint runs inside the commit that crosses its threshold, on the
// writer's thread: it copies the WAL's pages into the database file and
// syncs it, and a profile of 256-entry group commits put it at about half
// of what an append costs. Here the writer only appends to the WAL while
// this thread copies it back, on the other core, in PASSIVE mode: it never
// takes the write lock, so the writer never waits for it.
import { Worker } from 'node:worker_threads'

export interface WalCheckpointerOptions {
  /** The ledger file. */
  readonly path: string
  /** How often the thread checkpoints what the writer has committed since. */
  readonly intervalMs?: number
}

/** What the thread says when asked to stop: it has run its last checkpoint and closed its connection. */
export interface WalCheckpointerStopped {
  readonly stopped: true
  /** Checkpoints run, and WAL pages they copied into the database in all. */
  readonly checkpoints: number
  readonly pages: number
  /** Checkpoints that failed (and were tried again at the next interval). */
  readonly failures: number
  /** Why the thread ended before it was asked to, if it did. */
  readonly error?: string
}

const DEFAULT_INTERVAL_MS = 50

export class WalCheckpointer {
  /** Threads started and not yet ended, in this process: what tests and diagnostics look at. */
  static #running = 0
  static get running(): number {
    return WalCheckpointer.#running
  }

  readonly #worker: Worker
  #stopped: Promise<WalCheckpointerStopped> | undefined
  /** The thread ended on its own (it failed): there is nothing to stop. */
  #exited = false
  /** What ended it, then. */
  #error: string | undefined

  constructor(options: WalCheckpointerOptions) {
    this.#worker = new Worker(new URL('./wal-checkpointer-thread.ts', import.meta.url), {
      name: 'wal-checkpoint',
      workerData: { path: options.path, intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS },
      // It holds one connection and no data, but loading its module (type
      // stripping included) needs more than it ever holds after: 8 MiB ran
      // out at start-up. These are ceilings, not reservations, kept small for
      // the 300 MB of docs/architecture.md, "Targets".
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 }
    })
    // A thread that fails leaves the writer's own checkpoint, which the
    // store keeps as a backstop (ledger-sqlite.ts): nothing is lost, it is
    // only slower. Heard, so that it is not an uncaught exception.
    this.#worker.on('error', (error: unknown) => {
      this.#error = String((error as Error).message ?? error)
    })
    WalCheckpointer.#running++
    this.#worker.once('exit', () => {
      this.#exited = true
      WalCheckpointer.#running--
    })
  }

  /** Runs a last checkpoint and ends the thread; what it did in all, once the thread is gone. */
  stop(): Promise<WalCheckpointerStopped> {
    this.#stopped ??= new Promise<WalCheckpointerStopped>((resolve) => {
      let said: WalCheckpointerStopped | undefined
      const gone = (): WalCheckpointerStopped =>
        said ?? { stopped: true, checkpoints: 0, pages: 0, failures: 0, error: this.#error ?? 'the thread ended without a word' }
      if (this.#exited) return resolve(gone())
      this.#worker.once('message', (message: WalCheckpointerStopped) => {
        said = message
      })
      this.#worker.once('exit', () => resolve(gone()))
      this.#worker.postMessage('stop')
    })
    return this.#stopped
  }
}
