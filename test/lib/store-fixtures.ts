// The message record the store tests write: an entry record from CBSA to
// CBP, accepted at `at` and awaiting delivery. One place, so that a field
// added to MessageRecord is added to every test's fixture at once.
import type { MessageRecord } from '../../gateway/store/records.ts'

export function messageRecord(id: string, at: string, policyVersion = 'sha256:v1'): MessageRecord {
  return {
    direction: 'outbound',
    id,
    digest: `d-${id}`,
    kind: 'entry-exit.record',
    purpose: 'entry-exit-verification',
    sender: 'CA/CBSA/pik-primary',
    recipient: 'US/CBP',
    status: 'accepted',
    acceptedAt: at,
    updatedAt: at,
    attempts: [],
    receipt: null,
    correlationId: null,
    policyVersion
  }
}
