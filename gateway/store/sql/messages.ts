// Messages, their outbox items and their delivery outcomes: one SQL text for
// both databases (the column names are the same in SQLite and PostgreSQL).
import type { AuditEntry, DeliveryAttempt, Direction, MessageRecord, MessageRepository, OutboxItem, PendingDelivery } from '../records.ts'
import { all, append, run, type SqlBackend, type Write } from './program.ts'

export interface MessageRow {
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

export function toRecord(row: MessageRow): MessageRecord {
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

interface OutboxRow {
  direction: Direction
  id: string
  target: string
  sealed: string
  created_at: string
}

function toPending(row: Omit<OutboxRow, 'sealed'>): PendingDelivery {
  return { direction: row.direction, id: row.id, target: row.target, createdAt: row.created_at }
}

function toOutbox(row: OutboxRow): OutboxItem {
  return { ...toPending(row), sealed: row.sealed }
}

const INSERT_MESSAGE = `INSERT INTO {messages} (direction, id, digest, kind, purpose, sender, recipient, status,
  accepted_at, updated_at, attempts, receipt, correlation_id, policy_version)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`

/** Shared with the dead letters (discarding one drops its sealed copy). */
export const DELETE_OUTBOX = 'DELETE FROM {outbox} WHERE direction = ? AND id = ?'

/**
 * `SET attempts = <expression>` with `attempt` added, and the expression's one
 * value: the attempt, where the dialect appends in SQL; else the whole list,
 * read in the same transaction.
 */
function* withAttempt(backend: SqlBackend, direction: Direction, id: string, attempt: DeliveryAttempt): Write<[string, string]> {
  const inSql = backend.dialect.appendAttempt
  if (inSql !== undefined) return [inSql, JSON.stringify(attempt)]
  const [row] = yield* all<{ attempts: string }>('SELECT attempts FROM {messages} WHERE direction = ? AND id = ?', [direction, id])
  const attempts = row === undefined ? [] : (JSON.parse(row.attempts) as DeliveryAttempt[])
  attempts.push(attempt)
  return ['?', JSON.stringify(attempts)]
}

export class SqlMessageRepository implements MessageRepository {
  readonly #db: SqlBackend

  constructor(db: SqlBackend) {
    this.#db = db
  }

  async findMessage(direction: Direction, id: string): Promise<MessageRecord | undefined> {
    const [row] = await this.#db.all<MessageRow>('SELECT * FROM {messages} WHERE direction = ? AND id = ?', [direction, id])
    return row === undefined ? undefined : toRecord(row)
  }

  accept(record: MessageRecord, outbox: OutboxItem, audit: AuditEntry): Promise<boolean> {
    return this.#db.write(
      (function* () {
        const inserted = yield* run(INSERT_MESSAGE, [
          record.direction,
          record.id,
          record.digest,
          record.kind,
          record.purpose,
          record.sender,
          record.recipient,
          record.status,
          record.acceptedAt,
          record.updatedAt,
          JSON.stringify(record.attempts),
          record.receipt,
          record.correlationId,
          record.policyVersion
        ])
        if (inserted === 0) return false
        yield* run('INSERT INTO {outbox} (direction, id, target, sealed, created_at) VALUES (?, ?, ?, ?, ?)', [
          outbox.direction,
          outbox.id,
          outbox.target,
          outbox.sealed,
          outbox.createdAt
        ])
        yield* append(audit)
        return true
      })(),
      outbox.sealed.length
    )
  }

  recordAttempt(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry | null): Promise<boolean> {
    const db = this.#db
    return db.write(
      (function* () {
        const [attempts, value] = yield* withAttempt(db, direction, id, attempt)
        const changed = yield* run(
          `UPDATE {messages} SET attempts = ${attempts}, updated_at = ?
        WHERE direction = ? AND id = ? AND status = 'accepted'`,
          [value, attempt.at, direction, id]
        )
        if (changed === 0) return false
        if (audit !== null) yield* append(audit)
        return true
      })()
    )
  }

  markDelivered(direction: Direction, id: string, receipt: string | null, audit: AuditEntry): Promise<boolean> {
    // On PostgreSQL, the row lock the UPDATE takes makes a concurrent second delivery wait, then find it delivered.
    return this.#db.write(
      (function* () {
        const changed = yield* run(
          `UPDATE {messages} SET status = 'delivered', receipt = coalesce(?, receipt), updated_at = ?
        WHERE direction = ? AND id = ? AND status <> 'delivered'`,
          [receipt, audit.at, direction, id]
        )
        if (changed === 0) return false
        yield* run(DELETE_OUTBOX, [direction, id])
        yield* append(audit)
        return true
      })()
    )
  }

  markDeadLettered(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry): Promise<boolean> {
    // The outbox item stays (sealed) so that an operator can resend it.
    const db = this.#db
    return db.write(
      (function* () {
        const [attempts, value] = yield* withAttempt(db, direction, id, attempt)
        const changed = yield* run(
          `UPDATE {messages} SET status = 'dead-lettered', attempts = ${attempts}, updated_at = ?
        WHERE direction = ? AND id = ? AND status = 'accepted'`,
          [value, attempt.at, direction, id]
        )
        if (changed === 0) return false
        yield* append(audit)
        return true
      })()
    )
  }

  async outboxItem(direction: Direction, id: string): Promise<OutboxItem | undefined> {
    const [row] = await this.#db.all<OutboxRow>('SELECT * FROM {outbox} WHERE direction = ? AND id = ?', [direction, id])
    return row === undefined ? undefined : toOutbox(row)
  }

  async pendingOutbox(before: string, limit: number): Promise<PendingDelivery[]> {
    // Dead-lettered items stay in the outbox for an operator, but are not re-driven.
    // Not the sealed copy: the relay enqueues ids (queue/outbox-relay.ts).
    const rows = await this.#db.all<Omit<OutboxRow, 'sealed'>>(
      `SELECT o.direction, o.id, o.target, o.created_at FROM {outbox} o JOIN {messages} m ON m.direction = o.direction AND m.id = o.id
      WHERE m.status = 'accepted' AND o.created_at < ? ORDER BY o.created_at LIMIT ?`,
      [before, limit]
    )
    return rows.map(toPending)
  }
}
