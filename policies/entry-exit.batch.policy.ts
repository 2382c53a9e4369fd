// Entry/exit batch: many entry/exit records under one signature, for the
// daily volume. Every record gets exactly the rules of entry-exit.record for
// the same purpose, under this module's own rule ids.
import type { DirectionPolicy, Direction, KindPolicy, PurposePolicy } from './lib/types.ts'
import type { RuleSpec } from './lib/rule-table.ts'
import { fieldRules, share } from './lib/rule-table.ts'
import { airExitExclusion, ENTRY_EXIT_PURPOSE_CODES, ENTRY_EXIT_RECIPIENTS, ENTRY_EXIT_RETENTION_DAYS, recordFieldSpecs } from './entry-exit.record.policy.ts'
import type { EntryExitPurpose } from './entry-exit.record.policy.ts'
import { purposeAuthorities } from './authorities.ts'

function batchFieldSpecs(purpose: EntryExitPurpose, dir: Direction): Record<string, RuleSpec> {
  const specs: Record<string, RuleSpec> = {
    batchRef: share('P12', "The sender's batch reference lets both sides reconcile receipts and audit entries for the batch.")
  }
  for (const [path, spec] of Object.entries(recordFieldSpecs(purpose, dir))) specs[`records[].${path}`] = spec
  return specs
}

function direction(purpose: EntryExitPurpose, dir: Direction): DirectionPolicy {
  const prefix = `eeb-${ENTRY_EXIT_PURPOSE_CODES[purpose]}-${dir === 'outbound' ? 'out' : 'in'}`
  return {
    recipients: ENTRY_EXIT_RECIPIENTS[purpose],
    retentionDays: ENTRY_EXIT_RETENTION_DAYS[purpose],
    onwardTransfer: false,
    humanReviewRequired: true,
    exclusions: [airExitExclusion(prefix)],
    fields: fieldRules(prefix, batchFieldSpecs(purpose, dir))
  }
}

function purposePolicy(purpose: EntryExitPurpose): PurposePolicy {
  return {
    ...purposeAuthorities('entry-exit.batch', purpose),
    outbound: direction(purpose, 'outbound'),
    inbound: direction(purpose, 'inbound')
  }
}

const policy: KindPolicy = {
  kind: 'entry-exit.batch',
  version: '1.0.0',
  purposes: {
    'entry-exit-verification': purposePolicy('entry-exit-verification'),
    'residency-determination': purposePolicy('residency-determination'),
    'removal-enforcement': purposePolicy('removal-enforcement')
  }
}

export default policy
