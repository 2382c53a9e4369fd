// What a policy decided for one field, as the ledger records it (audit-query.ts)
// and as a dry run answers it (routes/policies.ts): one list of actions, one
// shape for the members they share.
import type { Action } from '../../policies/lib/types.ts'

// Listed through a Record so that the compiler fails when the engine gains an action.
export const ACTIONS = Object.keys({ share: 1, generalise: 1, pseudonymise: 1, withhold: 1 } satisfies Record<Action, 1>)

/** The members every field decision has (each side adds its own: a digest, a reason). */
export const FIELD_DECISION_PROPERTIES = {
  path: { type: 'string', description: 'A path (`traveller.surname`), or for a field inside an array its pattern (`records[].traveller.surname`).' },
  count: { type: 'integer', minimum: 1, description: 'For an array pattern: how many items this rule did this to.' },
  action: { type: 'string', enum: ACTIONS },
  rule: { type: 'string' }
} as const
