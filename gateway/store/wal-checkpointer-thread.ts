// The thread of a WalCheckpointer (wal-checkpointer.ts): its own connection
// to the ledger, a PASSIVE checkpoint every interval, one last when told to
// stop. PASSIVE copies what no reader still needs and never waits for a
// lock: a checkpoint that finds the writer or a reader in the way copies
// less now and the rest next time.
import { DatabaseSync } from 'node:sqlite'
import { parentPort, workerData } from 'node:worker_threads'
import type { WalCheckpointerStopped } from './wal-checkpointer.ts'

const port = parentPort!
const { path, intervalMs } = workerData as { path: string; intervalMs: number }
const db = new DatabaseSync(path)
// Its own checkpoints only: a connection that never writes never triggers
// one, but the setting says so to whoever reads this. A lock met on the way
// (the WAL's index being rebuilt, say) is waited for a moment, on this thread.
db.exec('PRAGMA wal_autocheckpoint = 0; PRAGMA busy_timeout = 100;')
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
let checkpoints = 0
let pages = 0
let failures = 0
/** Frames of the current WAL already copied: the count SQLite gives is since the WAL last started over. */
let copiedOfLog = 0

function run(): void {
  let checkpointed: number
  try {
    ;({ checkpointed } = checkpoint.get() as { busy: number; log: number; checkpointed: number })
  } catch {
    // SQLITE_BUSY, say, while another connection holds what the checkpoint
    // needs: the next interval tries again. A thread that ended here would
    // leave the writer only its backstop.
    failures++
    return
  }
  checkpoints++
  // Fewer than last time: the writer started the WAL over, after a checkpoint had copied all of it.
  const copied = checkpointed >= copiedOfLog ? checkpointed - copiedOfLog : Math.max(0, checkpointed)
  pages += copied
  copiedOfLog = Math.max(0, checkpointed)
}

const timer = setInterval(run, intervalMs)

port.on('message', (message: unknown) => {
  if (message !== 'stop') return
  clearInterval(timer)
  run()
  db.close()
  port.postMessage({ stopped: true, checkpoints, pages, failures } satisfies WalCheckpointerStopped)
  port.close()
})
