// Messages, their outbox items and their delivery outcomes: one SQL text for
// both databases (the column names are the same in SQLite and PostgreSQL).
import type {
  SupersedingAcceptance,
  AuditEntry,
  DeliveryAttempt,
  Direction,
  MessageRecord,
  MessageRepository,
  MessageToDeliver,
  OutboxItem,
  PendingDelivery,
  SupersessionLink,
  SupersedingOutcome
} from '../records.ts'
import type { Dialect } from './dialect.ts'
import { deleteUnsentCopy } from './holds.ts'
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
  /** Absent from a ledger opened read-only before its migration (ledger-sqlite.ts). */
  payload_digest?: string | null
  /** The same; not part of the record (see pendingOutbox). */
  not_before?: string | null
}

/** A message's row as findMessage reads it: with both sides of any supersession it is in. */
interface LinkedMessageRow extends MessageRow {
  supersedes_id: string | null
  supersedes_action: SupersessionLink['action'] | null
  supersedes_reason: string | null
  superseded_by_id: string | null
  superseded_by_action: SupersessionLink['action'] | null
  superseded_by_reason: string | null
}

function link(id: string | null, action: SupersessionLink['action'] | null, reason: string | null): SupersessionLink | null {
  if (id === null || action === null) return null
  return reason === null ? { id, action } : { id, action, reason }
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
    policyVersion: row.policy_version,
    ...(typeof row.payload_digest === 'string' ? { payloadDigest: row.payload_digest } : {})
  }
}

function toLinkedRecord(row: LinkedMessageRow): MessageRecord {
  // Only a message in a supersession has these: every other record reads as it was written.
  const supersedes = link(row.supersedes_id, row.supersedes_action, row.supersedes_reason)
  const supersededBy = link(row.superseded_by_id, row.superseded_by_action, row.superseded_by_reason)
  return { ...toRecord(row), ...(supersedes === null ? {} : { supersedes }), ...(supersededBy === null ? {} : { supersededBy }) }
}

interface OutboxRow {
  direction: Direction
  id: string
  target: string
  sealed: string
  created_at: string
}

/** An outbox item as pendingOutbox reads it: with its message's Retry-After instant. */
interface PendingRow extends Omit<OutboxRow, 'sealed'> {
  not_before?: string | null
}

function toPending(row: PendingRow): PendingDelivery {
  const pending = { direction: row.direction, id: row.id, target: row.target, createdAt: row.created_at }
  return typeof row.not_before === 'string' ? { ...pending, notBefore: row.not_before } : pending
}

function toOutbox(row: OutboxRow): OutboxItem {
  return { ...toPending(row), sealed: row.sealed }
}

const INSERT_MESSAGE = `INSERT INTO {messages} (direction, id, digest, kind, purpose, sender, recipient, status,
  accepted_at, updated_at, attempts, receipt, correlation_id, policy_version, payload_digest)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`

/** A delivered message's sealed copy goes: the far side has it (markDelivered). */
const DELETE_OUTBOX = 'DELETE FROM {outbox} WHERE direction = ? AND id = ?'

/** What a message record is read with: what it supersedes and what superseded it (both by primary key or index). */
const SUPERSESSION_COLUMNS = `s.original AS supersedes_id, s.action AS supersedes_action, s.reason AS supersedes_reason,
  b.superseded_by AS superseded_by_id, b.action AS superseded_by_action, b.reason AS superseded_by_reason`
const SUPERSESSION_JOINS = `LEFT JOIN {supersessions} s ON s.direction = m.direction AND s.superseded_by = m.id
  LEFT JOIN {supersessions} b ON b.direction = m.direction AND b.original = m.id`

const FIND_MESSAGE = `SELECT m.*, ${SUPERSESSION_COLUMNS} FROM {messages} m ${SUPERSESSION_JOINS}
  WHERE m.direction = ? AND m.id = ?`

/** The same, with its sealed copy, while it awaits delivery. */
const MESSAGE_TO_DELIVER = `SELECT m.*, o.sealed, ${SUPERSESSION_COLUMNS}
  FROM {messages} m JOIN {outbox} o ON o.direction = m.direction AND o.id = m.id ${SUPERSESSION_JOINS}
  WHERE m.direction = ? AND m.id = ? AND m.status = 'accepted'`

function messageValues(record: MessageRecord): Array<string | null> {
  return [
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
    record.policyVersion,
    record.payloadDigest ?? null
  ]
}

/** The outbox item and the audit entry of a message just inserted. */
function* outboxAndAudit(outbox: OutboxItem, audit: AuditEntry): Write<void> {
  yield* run('INSERT INTO {outbox} (direction, id, target, sealed, created_at) VALUES (?, ?, ?, ?, ?)', [
    outbox.direction,
    outbox.id,
    outbox.target,
    outbox.sealed,
    outbox.createdAt
  ])
  yield* append(audit)
}

/**
 * Withdraws a superseded message that is not delivered (docs/integrators.md,
 * "Corrections and retractions"): conditional on its status, so that of a
 * withdrawal and a delivery recorded at once, one changes the row and the
 * other finds it changed (on PostgreSQL, the row lock orders them).
 */
function* withdrawWrite(dialect: Dialect, direction: Direction, id: string, audit: AuditEntry, from: readonly MessageRecord['status'][]): Write<boolean> {
  const changed = yield* run(
    `UPDATE {messages} AS m SET status = 'withdrawn', updated_at = ?
    WHERE m.direction = ? AND m.id = ? AND m.status IN (${from.map(() => '?').join(', ')})
    AND EXISTS (SELECT 1 FROM {supersessions} s WHERE s.direction = m.direction AND s.original = m.id)`,
    [audit.at, direction, id, ...from]
  )
  if (changed === 0) return false
  // Nothing will send it now, so nothing personal is kept for it (P5), but
  // what a legal hold keeps (P9).
  yield* deleteUnsentCopy(dialect, direction, id)
  yield* append(audit)
  return true
}

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
    const [row] = await this.#db.all<LinkedMessageRow>(FIND_MESSAGE, [direction, id])
    return row === undefined ? undefined : toLinkedRecord(row)
  }

  async messageToDeliver(direction: Direction, id: string): Promise<MessageToDeliver | undefined> {
    const [row] = await this.#db.all<LinkedMessageRow & { sealed: string }>(MESSAGE_TO_DELIVER, [direction, id])
    return row === undefined ? undefined : { record: toLinkedRecord(row), sealed: row.sealed }
  }

  accept(record: MessageRecord, outbox: OutboxItem, audit: AuditEntry): Promise<boolean> {
    return this.#db.write(
      (function* () {
        const inserted = yield* run(INSERT_MESSAGE, messageValues(record))
        if (inserted === 0) return false
        yield* outboxAndAudit(outbox, audit)
        return true
      })(),
      { bytes: outbox.sealed.length }
    )
  }

  acceptSuperseding({ record, outbox, audit, supersession, withdrawal }: SupersedingAcceptance): Promise<SupersedingOutcome> {
    const { direction, original, by } = supersession
    const dialect = this.#db.dialect
    return this.#db.write(
      (function* (): Write<SupersedingOutcome> {
        // The supersession first: its primary key lets one message supersede
        // an original, however many try at once (on PostgreSQL a second
        // insert waits for the first's transaction, then finds its row).
        const linked = yield* run(
          `INSERT INTO {supersessions} (direction, original, superseded_by, action, reason, at)
          VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          [direction, original, by, supersession.action, supersession.reason, supersession.at]
        )
        if (linked === 0) {
          const [row] = yield* all<{ superseded_by: string }>('SELECT superseded_by FROM {supersessions} WHERE direction = ? AND original = ?', [
            direction,
            original
          ])
          // The same message twice at once: the other one is the repeat's answer.
          return row?.superseded_by === by ? 'exists' : 'conflict'
        }
        const inserted = yield* run(INSERT_MESSAGE, messageValues(record))
        if (inserted === 0) {
          // Its id was taken meanwhile by another message: the link just made is not its to keep.
          yield* run('DELETE FROM {supersessions} WHERE direction = ? AND original = ? AND superseded_by = ?', [direction, original, by])
          return 'exists'
        }
        yield* outboxAndAudit(outbox, audit)
        // A dead letter is not being delivered: it is withdrawn now, and an
        // operator cannot resend it after its correction or retraction.
        yield* withdrawWrite(dialect, direction, original, withdrawal, ['dead-lettered'])
        return 'accepted'
      })(),
      { bytes: outbox.sealed.length }
    )
  }

  withdraw(direction: Direction, id: string, audit: AuditEntry): Promise<boolean> {
    return this.#db.write(withdrawWrite(this.#db.dialect, direction, id, audit, ['accepted', 'dead-lettered']))
  }

  recordAttempt(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry | null, notBefore?: string): Promise<boolean> {
    const db = this.#db
    return db.write(
      (function* () {
        const [attempts, value] = yield* withAttempt(db, direction, id, attempt)
        // The last attempt's answer is what the far side asks now: one that
        // named no time clears an earlier one's.
        const changed = yield* run(
          `UPDATE {messages} SET attempts = ${attempts}, updated_at = ?, not_before = ?
        WHERE direction = ? AND id = ? AND status = 'accepted'`,
          [value, attempt.at, notBefore ?? null, direction, id]
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

  async pendingOutbox(before: string, limit: number, after?: PendingDelivery): Promise<PendingDelivery[]> {
    // Dead-lettered items stay in the outbox for an operator, but are not re-driven.
    // Not the sealed copy: the relay enqueues ids (queue/outbox-relay.ts),
    // each not before its message's Retry-After instant.
    // A row value compares in both databases: the page after `after` in the same order.
    const rows = await this.#db.all<PendingRow>(
      `SELECT o.direction, o.id, o.target, o.created_at, m.not_before FROM {outbox} o JOIN {messages} m ON m.direction = o.direction AND m.id = o.id
      WHERE m.status = 'accepted' AND o.created_at < ?${after === undefined ? '' : ' AND (o.created_at, o.direction, o.id) > (?, ?, ?)'}
      ORDER BY o.created_at, o.direction, o.id LIMIT ?`,
      after === undefined ? [before, limit] : [before, after.createdAt, after.direction, after.id, limit]
    )
    return rows.map(toPending)
  }
}
