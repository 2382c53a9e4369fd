// The least a ledger commit can be: one row of the audit entry's own columns,
// nothing indexed but the rowid, in its own node:sqlite transaction with the
// ledger's pragmas (WAL, synchronous NORMAL). The ledger bench's baseline,
// and a part of a message's floor (bench/lib/message-floor.ts).
import { DatabaseSync } from 'node:sqlite'

export interface RawRow {
  readonly text: string
  readonly hash: string
}

/** The baseline table, created if it is not there. */
export function openRawAudit(path: string): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
    CREATE TABLE IF NOT EXISTS raw_audit (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)`)
  return db
}

/** Fills the table in one transaction, from seq 1 (the rows a timed run then follows). */
export function fillRawAudit(db: DatabaseSync, rows: readonly RawRow[]): void {
  db.exec('BEGIN')
  const fill = db.prepare('INSERT INTO raw_audit (seq, entry, prev_hash, hash) VALUES (?, ?, ?, ?)')
  rows.forEach((r, i) => fill.run(i + 1, r.text, r.hash, r.hash))
  db.exec('COMMIT')
}

export interface RawCommits {
  readonly perSecond: number
  /**
   * µs of CPU a commit: every thread of this process, so only what the
   * commits cost while nothing else runs in it. process.cpuUsage() reads to
   * the microsecond; a thread's own figure moves only by clock ticks (4 ms
   * on a 250 Hz kernel), and read zero over a few commits.
   */
  readonly cpuUs: number
}

/** Each row its own transaction, one after another, from `startSeq + 1`. */
export function commitOneAtATime(db: DatabaseSync, rows: readonly RawRow[], startSeq: number): RawCommits {
  const insert = db.prepare('INSERT INTO raw_audit (seq, entry, prev_hash, hash) VALUES (?, ?, ?, ?)')
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  let seq = startSeq
  for (const r of rows) {
    db.exec('BEGIN IMMEDIATE')
    insert.run(++seq, r.text, r.hash, r.hash)
    db.exec('COMMIT')
  }
  const elapsed = performance.now() - t0
  const used = process.cpuUsage(cpu)
  return { perSecond: rows.length / (elapsed / 1000), cpuUs: (used.user + used.system) / rows.length }
}
