// This gateway's checkpoints of its ledger, and the partner's checkpoints it
// cosigned as witness (docs/architecture.md, "The verifiable ledger"): one
// SQL text for both databases.
import type { AuditEntry, Checkpoint, CheckpointRepository, WitnessedCheckpoint } from '../records.ts'
import { append, run, type SqlBackend, type Write } from './program.ts'

// A size is BIGINT in PostgreSQL, which pg gives as a string.
interface CheckpointRow {
  size: number | string
  root: string
  at: string
  note: string
  cosignature: string | null
  cosigned_at: string | null
}

function toCheckpoint(row: CheckpointRow): Checkpoint {
  return { size: Number(row.size), root: row.root, at: row.at, note: row.note, cosignature: row.cosignature, cosignedAt: row.cosigned_at }
}

interface WitnessedRow {
  origin: string
  size: number | string
  root: string
  note: string
  cosigned_at: string
}

function toWitnessed(row: WitnessedRow): WitnessedCheckpoint {
  return { origin: row.origin, size: Number(row.size), root: row.root, note: row.note, cosignedAt: row.cosigned_at }
}

/**
 * Moves the witness's record of `cp.origin` from `prevSize` (0: none yet) to
 * `cp`, and keeps `cp`; nothing if the record is no longer at `prevSize`,
 * or `cp` is no larger.
 * The check and the move are one statement, so that two requests racing
 * (two instances of this gateway) cannot both extend the same checkpoint:
 * C2SP tlog-witness asks for exactly this atomicity.
 */
function* witness(prevSize: number, cp: WitnessedCheckpoint, audit: AuditEntry | undefined): Write<boolean> {
  // Only forward: a record at size 0 (the empty tree, cosigned) is not moved
  // to size 0 again by a request that read no record before it was made.
  let moved = yield* run('UPDATE {witness_state} SET size = ?, root = ? WHERE origin = ? AND size = ? AND size < ?', [
    cp.size,
    cp.root,
    cp.origin,
    prevSize,
    cp.size
  ])
  // The first checkpoint of an origin: its record is made (one of two racing makes it).
  if (moved === 0 && prevSize === 0) {
    moved = yield* run('INSERT INTO {witness_state} (origin, size, root) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [cp.origin, cp.size, cp.root])
  }
  if (moved === 0) return false
  yield* run('INSERT INTO {witnessed_checkpoints} (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?)', [
    cp.origin,
    cp.size,
    cp.root,
    cp.note,
    cp.cosignedAt
  ])
  // With the state, or not at all: a cosignature given is one the ledger records.
  if (audit !== undefined) yield* append(audit)
  return true
}

/**
 * Appends `audit`, a conflict with the checkpoint of `origin` cosigned at
 * `size`, if it is the first with that checkpoint: the claim and the entry
 * are one transaction, so that of two instances sharing the ledger exactly
 * one records it, and a claim never stands without its entry. A partner that
 * sends conflicting checkpoints again and again cannot grow the ledger, which
 * is never purged, by one entry a request (docs/architecture.md, "The
 * verifiable ledger").
 */
function* conflict(origin: string, size: number, audit: AuditEntry): Write<boolean> {
  const claimed = yield* run('INSERT INTO {witness_conflicts} (origin, size) VALUES (?, ?) ON CONFLICT DO NOTHING', [origin, size])
  if (claimed === 0) return false
  yield* append(audit)
  return true
}

export class SqlCheckpointRepository implements CheckpointRepository {
  readonly #db: SqlBackend

  constructor(db: SqlBackend) {
    this.#db = db
  }

  async addCheckpoint(cp: Omit<Checkpoint, 'cosignature' | 'cosignedAt'>): Promise<boolean> {
    return (
      (await this.#db.run('INSERT INTO {log_checkpoints} (size, root, at, note) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', [
        cp.size,
        cp.root,
        cp.at,
        cp.note
      ])) > 0
    )
  }

  async setCosignature(size: number, cosignature: string, cosignedAt: string): Promise<void> {
    await this.#db.run('UPDATE {log_checkpoints} SET cosignature = ?, cosigned_at = ? WHERE size = ?', [cosignature, cosignedAt, size])
  }

  async checkpoints(afterSize: number, limit: number): Promise<Checkpoint[]> {
    return (await this.#db.all<CheckpointRow>('SELECT * FROM {log_checkpoints} WHERE size > ? ORDER BY size LIMIT ?', [afterSize, limit])).map(toCheckpoint)
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    const [row] = await this.#db.all<CheckpointRow>('SELECT * FROM {log_checkpoints} ORDER BY size DESC LIMIT 1')
    return row === undefined ? undefined : toCheckpoint(row)
  }

  async latestCosignedCheckpoint(): Promise<Checkpoint | undefined> {
    const [row] = await this.#db.all<CheckpointRow>('SELECT * FROM {log_checkpoints} WHERE cosignature IS NOT NULL ORDER BY size DESC LIMIT 1')
    return row === undefined ? undefined : toCheckpoint(row)
  }

  async witnessState(origin: string): Promise<{ size: number; root: string } | undefined> {
    const [row] = await this.#db.all<{ size: number | string; root: string }>('SELECT size, root FROM {witness_state} WHERE origin = ?', [origin])
    return row === undefined ? undefined : { size: Number(row.size), root: row.root }
  }

  witnessCheckpoint(prevSize: number, cp: WitnessedCheckpoint, audit?: AuditEntry): Promise<boolean> {
    // Answered with a cosignature: the witness's state must outlive a power loss (C2SP tlog-witness).
    return this.#db.write(witness(prevSize, cp, audit), { durable: true })
  }

  async witnessedCheckpoints(origin: string, afterSize: number, limit: number): Promise<WitnessedCheckpoint[]> {
    const rows = await this.#db.all<WitnessedRow>('SELECT * FROM {witnessed_checkpoints} WHERE origin = ? AND size > ? ORDER BY size LIMIT ?', [
      origin,
      afterSize,
      limit
    ])
    return rows.map(toWitnessed)
  }

  recordWitnessConflict(origin: string, size: number, audit: AuditEntry): Promise<boolean> {
    return this.#db.write(conflict(origin, size, audit))
  }

  async latestWitnessedCheckpoint(origin: string): Promise<WitnessedCheckpoint | undefined> {
    const [row] = await this.#db.all<WitnessedRow>('SELECT * FROM {witnessed_checkpoints} WHERE origin = ? ORDER BY size DESC LIMIT 1', [origin])
    return row === undefined ? undefined : toWitnessed(row)
  }
}
