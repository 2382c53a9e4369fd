// A checkpoint conflict as the ledger records it: the tamper alarm
// (docs/architecture.md, "The verifiable ledger"; docs/operators.md,
// `btb_checkpoint_conflicts_total`). Either side of the checkpoint exchange
// writes it: the witness that refused the partner's checkpoint
// (routes/witness.ts), the ledger whose checkpoint the partner refused
// (plugins/oversight.ts). The alarm's readers (the metric, GET
// /v1/audit/witness, the verification, the console's overview) know it by
// this one shape, not by its code alone: a delivery's entry carries the code
// a peer answered with, and one written before a delivery's answer was held
// to a delivery's refusal codes (delivery/delivery-outcome.ts,
// deliveryAnswerCode) may carry CHECKPOINT_CONFLICT.
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { AuditEntry } from '../store/records.ts'

const CODE = 'CHECKPOINT_CONFLICT'

/** The entry of a conflict: the partner gateway's checkpoint refused, or its refusal of this one; about no message. */
export function checkpointConflictEntry(partnerGateway: string, reason: string): AuditEntry {
  return auditEntry({ event: 'refused', caller: partnerGateway, code: CODE, reason })
}

/** What finds the conflicts in the ledger (GatewayStore's searchAudit): each is then checked with isCheckpointConflict. */
export const CHECKPOINT_CONFLICT_QUERY = { event: 'refused', code: CODE } as const

/**
 * Whether an entry is a conflict: a refusal with the code, about no message.
 * A delivery's entries (`delivery-failed`, `dead-lettered`) and a message's
 * refusal all name a message, whatever code they carry. Only what a commit
 * announces is read (CommittedEntry), so the metric and the ledger's readers
 * decide alike.
 */
export function isCheckpointConflict(entry: Pick<AuditEntry, 'event' | 'code' | 'messageId'>): boolean {
  return entry.event === 'refused' && entry.code === CODE && entry.messageId === null
}
