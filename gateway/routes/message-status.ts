// What GET /v1/messages/{id} and a repeated POST answer: the status, the
// failed attempts, and the partner's signed receipt once delivered.
import type { MessageRecord } from '../store/records.ts'

export interface MessageStatus {
  readonly id: string
  readonly status: MessageRecord['status']
  readonly kind: string
  readonly purpose: string
  readonly acceptedAt: string
  readonly updatedAt: string
  readonly statusUrl: string
  readonly attempts: MessageRecord['attempts']
  readonly policyVersion: string | null
  readonly receipt: { readonly jws: string; readonly [claim: string]: unknown } | null
}

export function statusUrl(id: string): string {
  return `/v1/messages/${id}`
}

function decodeReceipt(jws: string): { jws: string; [claim: string]: unknown } {
  // Verified when it was stored; decoded here for the reader's convenience.
  const claims = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  return { ...claims, jws }
}

export function messageStatus(record: MessageRecord): MessageStatus {
  return {
    id: record.id,
    status: record.status,
    kind: record.kind,
    purpose: record.purpose,
    acceptedAt: record.acceptedAt,
    updatedAt: record.updatedAt,
    statusUrl: statusUrl(record.id),
    attempts: record.attempts,
    policyVersion: record.policyVersion,
    receipt: record.receipt === null ? null : decodeReceipt(record.receipt)
  }
}
