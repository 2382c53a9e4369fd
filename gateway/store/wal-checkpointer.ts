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

  constructor(options: WalCheckpointerOptions) {
    this.#worker = new Worker(new URL('./wal-checkpointer-thread.ts', import.meta.url), {
      workerData: { path: options.path, intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS },
      // It holds one connection and no data: a small heap keeps the process
      // within the 300 MB of docs/architecture.md, "Targets".
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 }
    })
    // A thread that fails leaves the writer's own checkpoint, which the
    // store keeps as a backstop (ledger-sqlite.ts): nothing is lost, it is
    // only slower. Heard, so that it is not an uncaught exception.
    this.#worker.on('error', () => {})
    WalCheckpointer.#running++
    this.#worker.once('exit', () => {
      this.#exited = true
      WalCheckpointer.#running--
    })
  }

  /** Runs a last checkpoint and ends the thread; what it did in all, once the thread is gone. */
  stop(): Promise<WalCheckpointerStopped> {
    this.#stopped ??= new Promise<WalCheckpointerStopped>((resolve) => {
      let said: WalCheckpointerStopped = { stopped: true, checkpoints: 0, pages: 0 }
      if (this.#exited) return resolve(said)
      this.#worker.once('message', (message: WalCheckpointerStopped) => {
        said = message
      })
      this.#worker.once('exit', () => resolve(said))
      this.#worker.postMessage('stop')
    })
    return this.#stopped
  }
}
