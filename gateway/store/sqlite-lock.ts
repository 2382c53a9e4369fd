// Waiting for the ledger file's lock when another connection holds it:
// another gateway process on the same ledger (GATEWAY_PROCESSES, or a second
// instance; docs/operators.md, "Every core").
import type { DatabaseSync } from 'node:sqlite'

/** How long a statement that needs the file's lock waits for another connection to let it go. */
export const LOCK_WAIT_MS = 5_000

const SQLITE_BUSY = 5

/** Between two tries: about what a group commit of another process holds the lock for. */
const PAUSE_MS = 2

/** Whether SQLite answered SQLITE_BUSY, or one of its extended codes (SQLITE_BUSY_SNAPSHOT, _RECOVERY, _TIMEOUT). */
function isBusy(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { errcode?: unknown }).errcode : undefined
  return typeof code === 'number' && (code & 0xff) === SQLITE_BUSY
}

/**
 * Runs `sql`, and again while SQLite answers SQLITE_BUSY, until LOCK_WAIT_MS
 * have passed since the first try. SQLite's own busy handler (busy_timeout)
 * waits for a lock only where SQLite judges waiting safe, and answers
 * SQLITE_BUSY at once, or early, elsewhere:
 * - switching a file to WAL while another process holds its lock: a second
 *   gateway process creating the tables failed its start-up with "database
 *   is locked";
 * - BEGIN IMMEDIATE with two gateway processes writing one ledger under
 *   load: after 24–33 ms of a 5 s busy_timeout, a handful of requests in a
 *   thousand (the ingest bench's two processes) were answered 503.
 *
 * Only for a statement that takes the lock first and holds nothing before it
 * succeeds (BEGIN IMMEDIATE, a journal-mode switch): trying it again changes
 * nothing. Blocks the calling thread while it waits, as SQLite's own wait does.
 */
export function execWhileBusy(db: DatabaseSync, sql: string): void {
  const deadline = Date.now() + LOCK_WAIT_MS
  let pause: Int32Array | undefined
  for (;;) {
    try {
      db.exec(sql)
      return
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err
      pause ??= new Int32Array(new SharedArrayBuffer(4))
      Atomics.wait(pause, 0, 0, PAUSE_MS)
    }
  }
}
