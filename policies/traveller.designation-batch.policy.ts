// Traveller profile designation batch: many designations under one
// signature, for the NEXUS roster and its re-assessments. Every designation
// gets exactly the rules of traveller.designation for the same purpose and
// direction, under this module's own rule ids; the purposes, recipients,
// retention and authorities are that kind's.
import type { KindPolicy } from './lib/types.ts'
import type { RuleSpec } from './lib/rule-table.ts'
import { fieldRules } from './lib/rule-table.ts'
import { batchReference } from './lib/batch-reference.ts'
import { designationFieldSpecs, designationPurposes } from './traveller.designation.policy.ts'

const policy: KindPolicy = {
  kind: 'traveller.designation-batch',
  version: '1.0.0',
  purposes: designationPurposes('traveller.designation-batch', (purpose, dir) => {
    const specs: Record<string, RuleSpec> = {
      batchRef: batchReference(dir)
    }
    for (const [path, spec] of Object.entries(designationFieldSpecs(purpose, dir))) specs[`designations[].${path}`] = spec
    return fieldRules(`tdb-${purpose}-${dir === 'inbound' ? 'in' : 'out'}`, specs)
  })
}

export default policy
