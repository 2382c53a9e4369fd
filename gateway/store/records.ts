// What the gateway keeps about a message: its status, never its content. The
// content lives only sealed, in the outbox, until the receipt comes.
import type { FieldDecision } from '../../policies/lib/engine.ts'

export type Direction = 'outbound' | 'inbound'
export type MessageStatus = 'accepted' | 'delivered' | 'dead-lettered'

export interface DeliveryAttempt {
  readonly at: string
  readonly error: string
}

export interface MessageRecord {
  readonly direction: Direction
  readonly id: string
  /** base64url SHA-256 of the exact JWS received: what makes a repeat a repeat. */
  readonly digest: string
  readonly kind: string
  readonly purpose: string
  readonly sender: string
  readonly recipient: string
  readonly status: MessageStatus
  readonly acceptedAt: string
  readonly updatedAt: string
  readonly attempts: readonly DeliveryAttempt[]
  /** Outbound: the partner's signed receipt. Inbound: the receipt this gateway issued. */
  readonly receipt: string | null
  readonly correlationId: string | null
  readonly policyVersion: string | null
}

export interface OutboxItem {
  readonly direction: Direction
  readonly id: string
  /**
   * Who it goes to: `partner` (outbound), or the receiving system's id,
   * `US/CBP/ades` (inbound). Resolved to a URL when delivered, so an endpoint
   * that moved applies to messages already waiting.
   */
  readonly target: string
  /** AES-GCM sealed JWS (see lib/seal.ts). */
  readonly sealed: string
  readonly createdAt: string
}

export type AuditEvent = 'accepted' | 'refused' | 'received' | 'delivered' | 'delivery-failed' | 'dead-lettered'

/** One ledger entry. Values never appear: only keyed digests (DESIGN §6). */
export interface AuditEntry {
  readonly at: string
  readonly event: AuditEvent
  readonly direction: Direction
  readonly messageId: string | null
  readonly caller: string | null
  readonly kind: string | null
  readonly purpose: string | null
  readonly legalAuthority: string | null
  readonly agreementRef: string | null
  readonly from: string | null
  readonly to: string | null
  readonly policy: { readonly id: string; readonly version: string } | null
  readonly code: string | null
  /** Keyed digest of the JWS as received, so an entry can be matched to a message without holding it. */
  readonly digest: string | null
  readonly fields: readonly FieldDecision[]
}

export interface StoredAuditEntry {
  readonly seq: number
  readonly hash: string
  readonly prevHash: string
  readonly entry: AuditEntry
}

/**
 * The ledger's store. Every method that changes a message also appends its
 * audit entry in the same transaction: "audited" and "queued" never disagree.
 */
export interface GatewayStore {
  findMessage(direction: Direction, id: string): Promise<MessageRecord | undefined>
  /** Inserts the message, its outbox item and its audit entry atomically; false if the id exists. */
  accept(record: MessageRecord, outbox: OutboxItem, audit: AuditEntry): Promise<boolean>
  recordAttempt(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry): Promise<void>
  /** Marks delivered, keeps the receipt, drops the outbox item. */
  markDelivered(direction: Direction, id: string, receipt: string | null, audit: AuditEntry): Promise<void>
  markDeadLettered(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry): Promise<void>
  appendAudit(entry: AuditEntry): Promise<void>
  outboxItem(direction: Direction, id: string): Promise<OutboxItem | undefined>
  /** Outbox items with no receipt that are older than `before`: the relay re-drives them. */
  pendingOutbox(before: string, limit: number): Promise<OutboxItem[]>
  auditEntries(afterSeq: number, limit: number): Promise<StoredAuditEntry[]>
  close(): Promise<void>
}
