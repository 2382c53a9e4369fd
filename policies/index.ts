// One policy module per kind (docs/architecture.md, "Privacy principles in
// code"). The engine looks a policy up by the
// envelope's kind; a kind or purpose not here is refused.
import type { Kind } from '../schemas/index.ts'
import type { KindPolicy, PurposePolicy } from './lib/types.ts'
import biometricMatchRequest from './biometric.match-request.policy.ts'
import biometricMatchResponse from './biometric.match-response.policy.ts'
import travellerDesignation from './traveller.designation.policy.ts'
import entryExitRecord from './entry-exit.record.policy.ts'
import entryExitBatch from './entry-exit.batch.policy.ts'
import travellerDesignationBatch from './traveller.designation-batch.policy.ts'

/**
 * The registry form of a module: frozen, and its purposes (like the kinds
 * below) looked up without a prototype, so that an envelope naming the
 * purpose `constructor` finds no policy (and is refused with POLICY_DENIED)
 * instead of Object.prototype's.
 * The content, and so the version hash, is the module's own.
 */
function registered(policy: KindPolicy): KindPolicy {
  const purposes = Object.assign(Object.create(null) as Record<string, PurposePolicy>, policy.purposes)
  return Object.freeze({ ...policy, purposes: Object.freeze(purposes) })
}

export const policies: Readonly<Record<Kind, KindPolicy>> = Object.freeze(
  Object.assign(Object.create(null) as Record<Kind, KindPolicy>, {
    'biometric.match-request': registered(biometricMatchRequest),
    'biometric.match-response': registered(biometricMatchResponse),
    'traveller.designation': registered(travellerDesignation),
    'traveller.designation-batch': registered(travellerDesignationBatch),
    'entry-exit.record': registered(entryExitRecord),
    'entry-exit.batch': registered(entryExitBatch)
  })
)

export type {
  Action,
  Direction,
  DirectionPolicy,
  FieldRule,
  FieldRules,
  Generaliser,
  KindPolicy,
  Principle,
  PurposePolicy
} from './lib/types.ts'
export { principles, PRINCIPLE_IDS, isPrinciple } from './principles.ts'
export type { PrincipleEntry } from './principles.ts'
export { leafPaths, leafDefinitions, kindLeafPaths, createResolver, resolveSchemaRef } from './lib/schema-paths.ts'
export type { SchemaResolver, Resolved } from './lib/schema-paths.ts'
