// The default store: one embedded SQLite file (node:sqlite, no native addon).
// WAL mode keeps a committed transaction through a kill -9 of the process.
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { GENESIS_HASH, chainHash, serialiseEntry } from './audit-chain.ts'
import type {
  AuditEntry, DeliveryAttempt, Direction, GatewayStore, MessageRecord, OutboxItem, StoredAuditEntry
} from './records.ts'

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
  hash TEXT NOT NULL
);
`

interface MessageRow {
  direction: Direction
  id: string
  digest: string
  kind: string
  purpose: string
  sender: string
  recipient: string
  status: MessageRecord['status']
  accepted_at: string
  updated_at: string
  attempts: string
  receipt: string | null
  correlation_id: string | null
  policy_version: string | null
}

function toRecord(row: MessageRow): MessageRecord {
  return {
    direction: row.direction,
    id: row.id,
    digest: row.digest,
    kind: row.kind,
    purpose: row.purpose,
    sender: row.sender,
    recipient: row.recipient,
    status: row.status,
    acceptedAt: row.accepted_at,
    updatedAt: row.updated_at,
    attempts: JSON.parse(row.attempts) as DeliveryAttempt[],
    receipt: row.receipt,
    correlationId: row.correlation_id,
    policyVersion: row.policy_version
  }
}

interface OutboxRow { direction: Direction; id: string; target: string; sealed: string; created_at: string }

function toOutbox(row: OutboxRow): OutboxItem {
  return { direction: row.direction, id: row.id, target: row.target, sealed: row.sealed, createdAt: row.created_at }
}

export class SqliteStore implements GatewayStore {
  readonly #db: DatabaseSync
  readonly #stmt: Record<string, StatementSync>

  constructor(path: string) {
    this.#db = new DatabaseSync(path)
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;')
    this.#db.exec(SCHEMA)
    const p = (sql: string): StatementSync => this.#db.prepare(sql)
    this.#stmt = {
      find: p('SELECT * FROM messages WHERE direction = ? AND id = ?'),
      insertMessage: p(`INSERT INTO messages (direction, id, digest, kind, purpose, sender, recipient, status,
        accepted_at, updated_at, attempts, receipt, correlation_id, policy_version)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
      insertOutbox: p('INSERT INTO outbox (direction, id, target, sealed, created_at) VALUES (?, ?, ?, ?, ?)'),
      deleteOutbox: p('DELETE FROM outbox WHERE direction = ? AND id = ?'),
      outboxItem: p('SELECT * FROM outbox WHERE direction = ? AND id = ?'),
      // Dead-lettered items stay in the outbox for an operator, but are not re-driven.
      pending: p(`SELECT o.* FROM outbox o JOIN messages m ON m.direction = o.direction AND m.id = o.id
        WHERE m.status = 'accepted' AND o.created_at < ? ORDER BY o.created_at LIMIT ?`),
      attempts: p('SELECT attempts FROM messages WHERE direction = ? AND id = ?'),
      setAttempts: p('UPDATE messages SET attempts = ?, updated_at = ? WHERE direction = ? AND id = ?'),
      setStatus: p('UPDATE messages SET status = ?, attempts = ?, updated_at = ? WHERE direction = ? AND id = ?'),
      setDelivered: p(`UPDATE messages SET status = 'delivered', receipt = coalesce(?, receipt), updated_at = ? WHERE direction = ? AND id = ?`),
      head: p('SELECT hash FROM audit ORDER BY seq DESC LIMIT 1'),
      appendAudit: p('INSERT INTO audit (entry, prev_hash, hash) VALUES (?, ?, ?)'),
      auditAfter: p('SELECT seq, entry, prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?')
    }
  }

  /** BEGIN IMMEDIATE takes the write lock first, so two processes never chain onto the same head. */
  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE')
    try {
      const result = work()
      this.#db.exec('COMMIT')
      return result
    } catch (err) {
      this.#db.exec('ROLLBACK')
      throw err
    }
  }

  #append(entry: AuditEntry): void {
    const head = this.#stmt.head!.get() as { hash: string } | undefined
    const prevHash = head?.hash ?? GENESIS_HASH
    const text = serialiseEntry(entry)
    this.#stmt.appendAudit!.run(text, prevHash, chainHash(prevHash, text))
  }

  async findMessage(direction: Direction, id: string): Promise<MessageRecord | undefined> {
    const row = this.#stmt.find!.get(direction, id) as MessageRow | undefined
    return row === undefined ? undefined : toRecord(row)
  }

  async accept(record: MessageRecord, outbox: OutboxItem, audit: AuditEntry): Promise<boolean> {
    return this.#transaction(() => {
      const inserted = this.#stmt.insertMessage!.run(
        record.direction, record.id, record.digest, record.kind, record.purpose, record.sender, record.recipient,
        record.status, record.acceptedAt, record.updatedAt, JSON.stringify(record.attempts), record.receipt,
        record.correlationId, record.policyVersion
      )
      if (inserted.changes === 0) return false
      this.#stmt.insertOutbox!.run(outbox.direction, outbox.id, outbox.target, outbox.sealed, outbox.createdAt)
      this.#append(audit)
      return true
    })
  }

  #withAttempt(direction: Direction, id: string, attempt: DeliveryAttempt): string {
    const row = this.#stmt.attempts!.get(direction, id) as { attempts: string } | undefined
    const attempts = row === undefined ? [] : JSON.parse(row.attempts) as DeliveryAttempt[]
    attempts.push(attempt)
    return JSON.stringify(attempts)
  }

  async recordAttempt(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry): Promise<void> {
    this.#transaction(() => {
      this.#stmt.setAttempts!.run(this.#withAttempt(direction, id, attempt), attempt.at, direction, id)
      this.#append(audit)
    })
  }

  async markDelivered(direction: Direction, id: string, receipt: string | null, audit: AuditEntry): Promise<void> {
    this.#transaction(() => {
      this.#stmt.setDelivered!.run(receipt, audit.at, direction, id)
      this.#stmt.deleteOutbox!.run(direction, id)
      this.#append(audit)
    })
  }

  async markDeadLettered(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry): Promise<void> {
    // The outbox item stays (sealed) so that an operator can resend it.
    this.#transaction(() => {
      this.#stmt.setStatus!.run('dead-lettered', this.#withAttempt(direction, id, attempt), attempt.at, direction, id)
      this.#append(audit)
    })
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    this.#transaction(() => this.#append(entry))
  }

  async outboxItem(direction: Direction, id: string): Promise<OutboxItem | undefined> {
    const row = this.#stmt.outboxItem!.get(direction, id) as OutboxRow | undefined
    return row === undefined ? undefined : toOutbox(row)
  }

  async pendingOutbox(before: string, limit: number): Promise<OutboxItem[]> {
    return (this.#stmt.pending!.all(before, limit) as unknown as OutboxRow[]).map(toOutbox)
  }

  async auditEntries(afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    const rows = this.#stmt.auditAfter!.all(afterSeq, limit) as unknown as Array<{ seq: number; entry: string; prev_hash: string; hash: string }>
    return rows.map((r) => ({ seq: r.seq, hash: r.hash, prevHash: r.prev_hash, entry: JSON.parse(r.entry) as AuditEntry }))
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close()
  }
}
