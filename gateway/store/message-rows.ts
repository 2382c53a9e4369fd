// Rows of the messages and outbox tables, as both stores read them (the
// column names are the same in SQLite and PostgreSQL).
import type { DeliveryAttempt, Direction, MessageRecord, OutboxItem } from './records.ts'

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

export interface OutboxRow { direction: Direction; id: string; target: string; sealed: string; created_at: string }

export function toOutbox(row: OutboxRow): OutboxItem {
  return { direction: row.direction, id: row.id, target: row.target, sealed: row.sealed, createdAt: row.created_at }
}
