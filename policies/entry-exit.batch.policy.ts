// Entry/exit batch: many entry/exit records under one signature, for the
// daily volume. Every record gets exactly the rules of entry-exit.record for
// the same purpose, under this module's own rule ids.
import type { Direction } from './lib/types.ts'
import type { RuleSpec } from './lib/rule-table.ts'
import { batchReference } from './lib/batch-reference.ts'
import { entryExitPolicy, recordFieldSpecs } from './entry-exit.record.policy.ts'
import type { EntryExitPurpose } from './entry-exit.record.policy.ts'

function batchFieldSpecs(purpose: EntryExitPurpose, dir: Direction): Record<string, RuleSpec> {
  const specs: Record<string, RuleSpec> = {
    batchRef: batchReference(dir)
  }
  for (const [path, spec] of Object.entries(recordFieldSpecs(purpose, dir))) specs[`records[].${path}`] = spec
  return specs
}

export default entryExitPolicy('entry-exit.batch', batchFieldSpecs)
