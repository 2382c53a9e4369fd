// Preloaded (`--import`) into a gateway process by test/ledger-liveness.test.ts:
// SIGUSR1 ends its ledger's thread, as running out of memory would, without
// anything in the product to do it. (The gateway's shutdown signals are
// others; a listener here keeps Node from opening its inspector on SIGUSR1.) The gateway's
// SQLite store runs on a worker named 'ledger' (gateway/store/store-thread.ts);
// this keeps each such worker as it is made.
import { createRequire, syncBuiltinESMExports } from 'node:module'
import type { WorkerOptions } from 'node:worker_threads'

const threads = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads')
const ledgers: import('node:worker_threads').Worker[] = []

class KeptWorker extends threads.Worker {
  constructor(filename: string | URL, options?: WorkerOptions) {
    super(filename, options)
    if (options?.name === 'ledger') ledgers.push(this)
  }
}
threads.Worker = KeptWorker
// The gateway imports { Worker } from node:worker_threads: its binding follows the change.
syncBuiltinESMExports()

process.on('SIGUSR1', () => {
  for (const worker of ledgers) void worker.terminate()
})
