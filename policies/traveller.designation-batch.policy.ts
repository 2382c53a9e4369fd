// Traveller profile designation batch: many designations under one
// signature, for the NEXUS roster and its re-assessments. Every designation
// gets exactly the rules of traveller.designation for the same purpose and
// direction, under this module's own rule ids.
import type { Direction, DirectionPolicy, KindPolicy } from './lib/types.ts'
import type { RuleSpec } from './lib/rule-table.ts'
import { fieldRules, share } from './lib/rule-table.ts'
import {
  BUSINESS_AGENCIES,
  BUSINESS_AUTHORITIES,
  BUSINESS_RETENTION_DAYS,
  designationFieldSpecs,
  TRUSTED_TRAVELLER_AGENCIES,
  TRUSTED_TRAVELLER_AUTHORITIES,
  TRUSTED_TRAVELLER_RETENTION_DAYS,
  type DesignationPurpose
} from './traveller.designation.policy.ts'

function batchFieldSpecs(purpose: DesignationPurpose, dir: Direction): Record<string, RuleSpec> {
  const specs: Record<string, RuleSpec> = {
    batchRef: share('P12', "The sender's batch reference lets both sides reconcile receipts and audit entries for the batch.")
  }
  for (const [path, spec] of Object.entries(designationFieldSpecs(purpose, dir))) specs[`designations[].${path}`] = spec
  return specs
}

function direction(purpose: DesignationPurpose, dir: Direction, recipients: readonly string[], retentionDays: number): DirectionPolicy {
  return {
    recipients,
    retentionDays,
    onwardTransfer: false,
    humanReviewRequired: true,
    fields: fieldRules(`tdb-${purpose}-${dir === 'inbound' ? 'in' : 'out'}`, batchFieldSpecs(purpose, dir))
  }
}

const policy: KindPolicy = {
  kind: 'traveller.designation-batch',
  version: '1.0.0',
  purposes: {
    'trusted-traveller-vetting': {
      legalAuthorities: TRUSTED_TRAVELLER_AUTHORITIES,
      outbound: direction('ttv', 'outbound', TRUSTED_TRAVELLER_AGENCIES, TRUSTED_TRAVELLER_RETENTION_DAYS),
      inbound: direction('ttv', 'inbound', TRUSTED_TRAVELLER_AGENCIES, TRUSTED_TRAVELLER_RETENTION_DAYS)
    },
    'business-traveller-facilitation': {
      legalAuthorities: BUSINESS_AUTHORITIES,
      outbound: direction('btf', 'outbound', BUSINESS_AGENCIES, BUSINESS_RETENTION_DAYS),
      inbound: direction('btf', 'inbound', BUSINESS_AGENCIES, BUSINESS_RETENTION_DAYS)
    }
  }
}

export default policy
