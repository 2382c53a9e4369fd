// The default store: one embedded SQLite file (node:sqlite, no native addon).
// WAL mode keeps a committed transaction through a kill -9 of the process.
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite'
import { GENESIS_HASH, chainHash, serialiseEntry } from './audit-chain.ts'
import {
  AUDIT_COLUMNS, auditColumnValues, auditColumns, auditFieldPatterns, auditSubjects, normaliseInstant, searchSql
} from './audit-index.ts'
import type {
  AuditEntry, AuditIndexRows, AuditQuery, Checkpoint, CommitListener, DeadLetterCursor, DeliveryAttempt, Direction, GatewayStore, LegalHold, MessageRecord,
  OutboxItem, PartnerCheckpoint, PurgeCounts, StoredAuditEntry
} from './records.ts'
import { purgeEntry } from './records.ts'
import { toOutbox, toRecord, type MessageRow, type OutboxRow } from './message-rows.ts'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  direction TEXT NOT NULL,
  id TEXT NOT NULL,
  digest TEXT NOT NULL,
  kind TEXT NOT NULL,
  purpose TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  status TEXT NOT NULL,
  accepted_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  attempts TEXT NOT NULL DEFAULT '[]',
  receipt TEXT,
  correlation_id TEXT,
  policy_version TEXT,
  PRIMARY KEY (direction, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_retention ON messages (status, updated_at);
CREATE TABLE IF NOT EXISTS outbox (
  direction TEXT NOT NULL,
  id TEXT NOT NULL,
  target TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (direction, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  entry TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  at TEXT,
  event TEXT,
  direction TEXT,
  kind TEXT,
  purpose TEXT,
  code TEXT,
  message_id TEXT,
  policy_version TEXT,
  from_country TEXT,
  from_agency TEXT,
  to_country TEXT,
  to_agency TEXT
);
CREATE TABLE IF NOT EXISTS audit_subjects (
  subject TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (subject, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_fields (
  path_pattern TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (path_pattern, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  seq INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  at TEXT NOT NULL,
  jws TEXT NOT NULL,
  countersignature TEXT
);
CREATE TABLE IF NOT EXISTS partner_checkpoints (
  partner TEXT NOT NULL,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  at TEXT NOT NULL,
  jws TEXT NOT NULL,
  countersignature TEXT NOT NULL,
  PRIMARY KEY (partner, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS legal_holds (
  ref TEXT PRIMARY KEY,
  message_id TEXT,
  subject TEXT,
  reason TEXT NOT NULL,
  placed_at TEXT NOT NULL,
  released_at TEXT
) WITHOUT ROWID;
`

// An index per filter of AuditQuery. SQLite ends every index with the rowid
// (seq), so "kind = ? AND seq > ? ORDER BY seq" is one range read, no sort.
// The countries are not indexed: on a bilateral gateway nearly every entry
// names both, so an index would only tempt the planner into sorting the lot.
const INDEXES = `
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_event ON audit (event);
CREATE INDEX IF NOT EXISTS audit_direction ON audit (direction);
CREATE INDEX IF NOT EXISTS audit_kind ON audit (kind);
CREATE INDEX IF NOT EXISTS audit_purpose ON audit (purpose);
CREATE INDEX IF NOT EXISTS audit_code ON audit (code) WHERE code IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_message ON audit (message_id);
CREATE INDEX IF NOT EXISTS audit_policy ON audit (policy_version);
CREATE INDEX IF NOT EXISTS audit_from_agency ON audit (from_agency);
CREATE INDEX IF NOT EXISTS audit_to_agency ON audit (to_agency);
`

/** Bumped when the schema changes; `#migrate` brings an older file up to it. */
const SCHEMA_VERSION = 1

/**
 * The messages retention may purge: finished, not touched since `before`,
 * and covered by no active legal hold, whether the hold names the message or a
 * traveller digest one of its audit entries carries.
 */
const PURGEABLE = `m.updated_at < ? AND m.status IN ('delivered', 'dead-lettered', 'discarded') AND NOT EXISTS (
  SELECT 1 FROM legal_holds h WHERE h.released_at IS NULL AND (
    h.message_id = m.id OR (h.subject IS NOT NULL AND EXISTS (
      SELECT 1 FROM audit a JOIN audit_subjects s ON s.subject = h.subject AND s.seq = a.seq WHERE a.message_id = m.id))))`

interface AuditRow { seq: number; entry: string; prev_hash: string; hash: string }

function toStored(row: AuditRow): StoredAuditEntry {
  return { seq: row.seq, hash: row.hash, prevHash: row.prev_hash, entry: JSON.parse(row.entry) as AuditEntry }
}

interface CheckpointRow { seq: number; hash: string; at: string; jws: string; countersignature: string | null }

function toCheckpoint(row: CheckpointRow): Checkpoint {
  return { seq: row.seq, hash: row.hash, at: row.at, jws: row.jws, countersignature: row.countersignature }
}

interface PartnerCheckpointRow { partner: string; seq: number; hash: string; at: string; jws: string; countersignature: string }

function toPartnerCheckpoint(row: PartnerCheckpointRow): PartnerCheckpoint {
  return { partner: row.partner, seq: row.seq, hash: row.hash, at: row.at, jws: row.jws, countersignature: row.countersignature }
}

interface LegalHoldRow { ref: string; message_id: string | null; subject: string | null; reason: string; placed_at: string; released_at: string | null }

function toLegalHold(row: LegalHoldRow): LegalHold {
  return { ref: row.ref, messageId: row.message_id, subject: row.subject, reason: row.reason, placedAt: row.placed_at, releasedAt: row.released_at }
}

/** At most this many writes share a transaction: a commit must not hold the event loop for long. */
const MAX_BATCH = 256
/**
 * Nor more than this many bytes of sealed content: a batch's sealed copy is a
 * megabyte or two, and a group commit of several of them held the event loop
 * for tens of milliseconds (issue 9). Past it, the rest wait for the next
 * turn, after whatever I/O is waiting.
 */
const MAX_BATCH_BYTES = 1024 * 1024

interface PendingWrite {
  readonly work: () => unknown
  /** What the write puts on disk, roughly: how a group commit is bounded. */
  readonly bytes: number
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

export interface SqliteStoreOptions {
  /** Opens an existing ledger without creating or changing anything (the verifier). */
  readonly readOnly?: boolean
  readonly onCommitted?: CommitListener
}

export class SqliteStore implements GatewayStore {
  readonly #db: DatabaseSync
  /** Statements are prepared once, on first use; search builds a few shapes, each cached. */
  readonly #statements = new Map<string, StatementSync>()
  /** Writes waiting for the next group commit. */
  readonly #pending: PendingWrite[] = []
  /** Entries appended in the transaction under way: announced once it commits. */
  readonly #uncommitted: AuditEntry[] = []
  readonly #onCommitted: CommitListener | undefined

  constructor(path: string, options: SqliteStoreOptions = {}) {
    if (options.readOnly === true) {
      this.#db = new DatabaseSync(path, { readOnly: true })
      this.#db.exec('PRAGMA busy_timeout = 5000;')
      return
    }
    this.#db = new DatabaseSync(path)
    this.#onCommitted = options.onCommitted
    // temp_store: the savepoints of a group commit journal in memory, not in a temporary file.
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY;')
    this.#transactionNow(() => {
      this.#db.exec(SCHEMA)
      this.#migrate()
      this.#db.exec(INDEXES)
    })
  }

  #sql(sql: string): StatementSync {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.#db.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  /** A ledger written before the audit index existed gets its columns and index rows from the entries' JSON. */
  #migrate(): void {
    const version = (this.#db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    if (version >= SCHEMA_VERSION) return
    const columns = new Set((this.#db.prepare('PRAGMA table_info(audit)').all() as Array<{ name: string }>).map((c) => c.name))
    for (const column of AUDIT_COLUMNS) {
      if (!columns.has(column)) this.#db.exec(`ALTER TABLE audit ADD COLUMN ${column} TEXT`)
    }
    const rows = this.#db.prepare('SELECT seq, entry FROM audit WHERE at IS NULL').iterate() as Iterable<{ seq: number; entry: string }>
    const set = this.#db.prepare(`UPDATE audit SET ${AUDIT_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE seq = ?`)
    for (const row of rows) {
      const entry = JSON.parse(row.entry) as AuditEntry
      set.run(...auditColumnValues(auditColumns(entry)), row.seq)
      this.#indexEntry(row.seq, entry)
    }
    this.#db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`)
  }

  /** BEGIN IMMEDIATE takes the write lock first, so two processes never chain onto the same head. */
  #transactionNow<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE')
    let result: T
    try {
      result = work()
      this.#db.exec('COMMIT')
    } catch (err) {
      this.#uncommitted.length = 0
      this.#db.exec('ROLLBACK')
      throw err
    }
    const committed = this.#uncommitted.splice(0)
    if (committed.length > 0) this.#onCommitted?.(committed)
    return result
  }

  /**
   * Group commit: writes asked for in the same turn of the event loop share
   * one transaction, each in its own savepoint, so one that fails leaves the
   * others whole. One commit of a hundred entries costs far less than a
   * hundred commits (their index rows share pages), and no caller hears back
   * before the commit that holds its write: the 202's promise is kept.
   */
  #transaction<T>(work: () => T, bytes = 0): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, bytes, resolve: resolve as (value: unknown) => void, reject })
      if (this.#pending.length === 1) setImmediate(() => this.#commitPending(false))
    })
  }

  /** The next group: at most MAX_BATCH writes and MAX_BATCH_BYTES, and always at least one. */
  #nextBatch(): PendingWrite[] {
    let count = 0
    let bytes = 0
    while (count < this.#pending.length && count < MAX_BATCH) {
      bytes += this.#pending[count]!.bytes
      if (count > 0 && bytes > MAX_BATCH_BYTES) break
      count++
    }
    return this.#pending.splice(0, count)
  }

  /** One group commit, then the next on a later turn; all of them at once when the store closes. */
  #commitPending(drain: boolean): void {
    while (this.#pending.length > 0) {
      this.#commitBatch(this.#nextBatch())
      if (!drain && this.#pending.length > 0) {
        setImmediate(() => this.#commitPending(false))
        return
      }
    }
  }

  #commitBatch(batch: PendingWrite[]): void {
    if (batch.length === 1) {
      // Alone, a write needs no savepoint: its failure is the transaction's.
      const op = batch[0]!
      try {
        op.resolve(this.#transactionNow(op.work))
      } catch (error) {
        op.reject(error)
      }
      return
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    try {
      this.#transactionNow(() => {
        for (const op of batch) {
          this.#db.exec('SAVEPOINT write')
          const mark = this.#uncommitted.length
          try {
            outcomes.push({ ok: true, value: op.work() })
            this.#db.exec('RELEASE write')
          } catch (error) {
            this.#db.exec('ROLLBACK TO write; RELEASE write')
            this.#uncommitted.length = mark
            outcomes.push({ ok: false, error })
          }
        }
      })
    } catch (error) {
      // Nothing of the batch was committed (the lock was not had, or the commit failed).
      for (const op of batch) op.reject(error)
      return
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) op.resolve(outcome.value)
      else op.reject(outcome.error)
    })
  }

  #indexEntry(seq: number, entry: AuditEntry): void {
    const subject = this.#sql('INSERT OR IGNORE INTO audit_subjects (subject, seq) VALUES (?, ?)')
    for (const s of auditSubjects(entry)) subject.run(s, seq)
    const field = this.#sql('INSERT OR IGNORE INTO audit_fields (path_pattern, seq) VALUES (?, ?)')
    for (const f of auditFieldPatterns(entry)) field.run(f, seq)
  }

  /**
   * The head is the last row of the primary key: one index step, however long
   * the ledger. The seq is given, not left to SQLite, so that the chain's
   * numbering is the store's own and the same rule as on PostgreSQL.
   */
  #append(entry: AuditEntry): void {
    const head = this.#sql('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined
    const seq = (head?.seq ?? 0) + 1
    const prevHash = head?.hash ?? GENESIS_HASH
    const text = serialiseEntry(entry)
    this.#sql(`INSERT INTO audit (seq, entry, prev_hash, hash, ${AUDIT_COLUMNS.join(', ')})
      VALUES (?, ?, ?, ?, ${AUDIT_COLUMNS.map(() => '?').join(', ')})`)
      .run(seq, text, prevHash, chainHash(prevHash, text), ...auditColumnValues(auditColumns(entry)))
    this.#indexEntry(seq, entry)
    this.#uncommitted.push(entry)
  }

  async findMessage(direction: Direction, id: string): Promise<MessageRecord | undefined> {
    const row = this.#sql('SELECT * FROM messages WHERE direction = ? AND id = ?').get(direction, id) as MessageRow | undefined
    return row === undefined ? undefined : toRecord(row)
  }

  async accept(record: MessageRecord, outbox: OutboxItem, audit: AuditEntry): Promise<boolean> {
    return this.#transaction(() => {
      const inserted = this.#sql(`INSERT INTO messages (direction, id, digest, kind, purpose, sender, recipient, status,
        accepted_at, updated_at, attempts, receipt, correlation_id, policy_version)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`).run(
        record.direction, record.id, record.digest, record.kind, record.purpose, record.sender, record.recipient,
        record.status, record.acceptedAt, record.updatedAt, JSON.stringify(record.attempts), record.receipt,
        record.correlationId, record.policyVersion
      )
      if (inserted.changes === 0) return false
      this.#sql('INSERT INTO outbox (direction, id, target, sealed, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(outbox.direction, outbox.id, outbox.target, outbox.sealed, outbox.createdAt)
      this.#append(audit)
      return true
    }, outbox.sealed.length)
  }

  #withAttempt(direction: Direction, id: string, attempt: DeliveryAttempt): string {
    const row = this.#sql('SELECT attempts FROM messages WHERE direction = ? AND id = ?').get(direction, id) as { attempts: string } | undefined
    const attempts = row === undefined ? [] : JSON.parse(row.attempts) as DeliveryAttempt[]
    attempts.push(attempt)
    return JSON.stringify(attempts)
  }

  async recordAttempt(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry | null): Promise<boolean> {
    return this.#transaction(() => {
      const { changes } = this.#sql(`UPDATE messages SET attempts = ?, updated_at = ? WHERE direction = ? AND id = ? AND status = 'accepted'`)
        .run(this.#withAttempt(direction, id, attempt), attempt.at, direction, id)
      if (Number(changes) === 0) return false
      if (audit !== null) this.#append(audit)
      return true
    })
  }

  async markDelivered(direction: Direction, id: string, receipt: string | null, audit: AuditEntry): Promise<boolean> {
    return this.#transaction(() => {
      const { changes } = this.#sql(`UPDATE messages SET status = 'delivered', receipt = coalesce(?, receipt), updated_at = ?
        WHERE direction = ? AND id = ? AND status <> 'delivered'`).run(receipt, audit.at, direction, id)
      if (Number(changes) === 0) return false
      this.#sql('DELETE FROM outbox WHERE direction = ? AND id = ?').run(direction, id)
      this.#append(audit)
      return true
    })
  }

  async markDeadLettered(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry): Promise<boolean> {
    // The outbox item stays (sealed) so that an operator can resend it.
    return this.#transaction(() => {
      const { changes } = this.#sql(`UPDATE messages SET status = ?, attempts = ?, updated_at = ? WHERE direction = ? AND id = ? AND status = 'accepted'`)
        .run('dead-lettered', this.#withAttempt(direction, id, attempt), attempt.at, direction, id)
      if (Number(changes) === 0) return false
      this.#append(audit)
      return true
    })
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#transaction(() => this.#append(entry))
  }

  async outboxItem(direction: Direction, id: string): Promise<OutboxItem | undefined> {
    const row = this.#sql('SELECT * FROM outbox WHERE direction = ? AND id = ?').get(direction, id) as OutboxRow | undefined
    return row === undefined ? undefined : toOutbox(row)
  }

  async pendingOutbox(before: string, limit: number): Promise<OutboxItem[]> {
    // Dead-lettered items stay in the outbox for an operator, but are not re-driven.
    const rows = this.#sql(`SELECT o.* FROM outbox o JOIN messages m ON m.direction = o.direction AND m.id = o.id
      WHERE m.status = 'accepted' AND o.created_at < ? ORDER BY o.created_at LIMIT ?`).all(before, limit)
    return (rows as unknown as OutboxRow[]).map(toOutbox)
  }

  async auditIndexRows(fromSeq: number, toSeq: number): Promise<AuditIndexRows> {
    const subjects = this.#sql('SELECT seq, subject FROM audit_subjects WHERE seq BETWEEN ? AND ?').all(fromSeq, toSeq) as unknown as Array<{ seq: number; subject: string }>
    const fields = this.#sql('SELECT seq, path_pattern FROM audit_fields WHERE seq BETWEEN ? AND ?').all(fromSeq, toSeq) as unknown as Array<{ seq: number; path_pattern: string }>
    const columns = this.#sql(`SELECT seq, ${AUDIT_COLUMNS.join(', ')} FROM audit WHERE seq BETWEEN ? AND ? ORDER BY seq`).all(fromSeq, toSeq) as unknown as Array<Record<string, string | null> & { seq: number }>
    return {
      subjects: subjects.map((r) => `${r.seq} ${r.subject}`),
      fields: fields.map((r) => `${r.seq} ${r.path_pattern}`),
      columns: columns.map((r) => ({ seq: Number(r.seq), values: AUDIT_COLUMNS.map((c) => r[c] ?? null) }))
    }
  }

  async auditEntries(afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    const rows = this.#sql('SELECT seq, entry, prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit)
    return (rows as unknown as AuditRow[]).map(toStored)
  }

  async auditEntry(seq: number): Promise<StoredAuditEntry | undefined> {
    const row = this.#sql('SELECT seq, entry, prev_hash, hash FROM audit WHERE seq = ?').get(seq) as AuditRow | undefined
    return row === undefined ? undefined : toStored(row)
  }

  async searchAudit(query: AuditQuery, afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    const { sql, values } = searchSql(query, afterSeq, limit, 'sqlite')
    return (this.#sql(sql).all(...values) as unknown as AuditRow[]).map(toStored)
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    const row = this.#sql('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined
    return row === undefined ? undefined : { seq: row.seq, hash: row.hash }
  }

  async addCheckpoint(cp: Omit<Checkpoint, 'countersignature'>): Promise<boolean> {
    const result = this.#sql('INSERT INTO checkpoints (seq, hash, at, jws) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(cp.seq, cp.hash, cp.at, cp.jws)
    return result.changes > 0
  }

  async setCountersignature(seq: number, jws: string): Promise<void> {
    this.#sql('UPDATE checkpoints SET countersignature = ? WHERE seq = ?').run(jws, seq)
  }

  async checkpoints(afterSeq: number, limit: number): Promise<Checkpoint[]> {
    const rows = this.#sql('SELECT * FROM checkpoints WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit)
    return (rows as unknown as CheckpointRow[]).map(toCheckpoint)
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    const row = this.#sql('SELECT * FROM checkpoints ORDER BY seq DESC LIMIT 1').get() as CheckpointRow | undefined
    return row === undefined ? undefined : toCheckpoint(row)
  }

  async keepPartnerCheckpoint(cp: PartnerCheckpoint): Promise<boolean> {
    const result = this.#sql(`INSERT INTO partner_checkpoints (partner, seq, hash, at, jws, countersignature)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`).run(cp.partner, cp.seq, cp.hash, cp.at, cp.jws, cp.countersignature)
    return result.changes > 0
  }

  async partnerCheckpoints(partner: string, afterSeq: number, limit: number): Promise<PartnerCheckpoint[]> {
    const rows = this.#sql('SELECT * FROM partner_checkpoints WHERE partner = ? AND seq > ? ORDER BY seq LIMIT ?').all(partner, afterSeq, limit)
    return (rows as unknown as PartnerCheckpointRow[]).map(toPartnerCheckpoint)
  }

  async latestPartnerCheckpoint(partner: string): Promise<PartnerCheckpoint | undefined> {
    const row = this.#sql('SELECT * FROM partner_checkpoints WHERE partner = ? ORDER BY seq DESC LIMIT 1').get(partner)
    return row === undefined ? undefined : toPartnerCheckpoint(row as unknown as PartnerCheckpointRow)
  }

  async deadLetters(direction: Direction | undefined, after: DeadLetterCursor | undefined, limit: number): Promise<MessageRecord[]> {
    // The (status, updated_at) index gives the dead letters in order; the rest of the key only breaks ties.
    const rows = this.#sql(`SELECT * FROM messages WHERE status = 'dead-lettered'
      ${direction === undefined ? 'AND ? IS NULL' : 'AND direction = ?'} AND (updated_at, direction, id) > (?, ?, ?)
      ORDER BY updated_at, direction, id LIMIT ?`).all(direction ?? null, after?.updatedAt ?? '', after?.direction ?? '', after?.id ?? '', limit)
    return (rows as unknown as MessageRow[]).map(toRecord)
  }

  async countDeadLetters(): Promise<Record<Direction, number>> {
    const rows = this.#sql(`SELECT direction, count(*) AS n FROM messages WHERE status = 'dead-lettered' GROUP BY direction`).all() as unknown as Array<{ direction: Direction; n: number }>
    const counts = { outbound: 0, inbound: 0 }
    for (const row of rows) counts[row.direction] = Number(row.n)
    return counts
  }

  async requeueDeadLetter(direction: Direction, id: string, audit: AuditEntry): Promise<boolean> {
    return this.#transaction(() => {
      const changed = this.#sql(`UPDATE messages SET status = 'accepted', attempts = '[]', updated_at = ?
        WHERE direction = ? AND id = ? AND status = 'dead-lettered'
        AND EXISTS (SELECT 1 FROM outbox o WHERE o.direction = messages.direction AND o.id = messages.id)`).run(audit.at, direction, id).changes
      if (changed === 0) return false
      this.#append(audit)
      return true
    })
  }

  async discardDeadLetter(direction: Direction, id: string, audit: AuditEntry): Promise<boolean> {
    return this.#transaction(() => {
      const changed = this.#sql(`UPDATE messages SET status = 'discarded', updated_at = ? WHERE direction = ? AND id = ? AND status = 'dead-lettered'`)
        .run(audit.at, direction, id).changes
      if (changed === 0) return false
      // Nothing will send it again, so nothing personal is kept for it (P5).
      this.#sql('DELETE FROM outbox WHERE direction = ? AND id = ?').run(direction, id)
      this.#append(audit)
      return true
    })
  }

  async addLegalHold(hold: LegalHold): Promise<boolean> {
    const result = this.#sql(`INSERT INTO legal_holds (ref, message_id, subject, reason, placed_at, released_at)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`).run(hold.ref, hold.messageId, hold.subject, hold.reason, hold.placedAt, hold.releasedAt)
    return result.changes > 0
  }

  async releaseLegalHold(ref: string, at: string): Promise<boolean> {
    const result = this.#sql('UPDATE legal_holds SET released_at = ? WHERE ref = ? AND released_at IS NULL').run(at, ref)
    return result.changes > 0
  }

  async legalHolds(): Promise<LegalHold[]> {
    return (this.#sql('SELECT * FROM legal_holds ORDER BY placed_at, ref').all() as unknown as LegalHoldRow[]).map(toLegalHold)
  }

  async purge(before: string, audit: AuditEntry): Promise<PurgeCounts> {
    const bound: SQLInputValue = normaliseInstant(before)
    return this.#transaction(() => {
      // The write lock is held from the first statement: both see the same rows.
      const outbox = this.#sql(`DELETE FROM outbox WHERE (direction, id) IN (SELECT m.direction, m.id FROM messages m WHERE ${PURGEABLE})`).run(bound).changes
      const messages = this.#sql(`DELETE FROM messages AS m WHERE ${PURGEABLE}`).run(bound).changes
      const counts = { messages: Number(messages), outbox: Number(outbox) }
      // A run that removed nothing changed nothing: no entry, and the head stays where it was.
      if (counts.messages + counts.outbox > 0) this.#append(purgeEntry(audit, counts))
      return counts
    })
  }

  async close(): Promise<void> {
    if (!this.#db.isOpen) return
    this.#commitPending(true)
    this.#db.close()
  }
}
