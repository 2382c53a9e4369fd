// One policy module per kind (DESIGN §6). The engine looks a policy up by the
// envelope's kind; a kind or purpose not here is refused.
import type { Kind } from '../schemas/index.ts'
import type { KindPolicy } from './lib/types.ts'
import biometricMatchRequest from './biometric.match-request.policy.ts'
import biometricMatchResponse from './biometric.match-response.policy.ts'
import travellerDesignation from './traveller.designation.policy.ts'
import entryExitRecord from './entry-exit.record.policy.ts'
import entryExitBatch from './entry-exit.batch.policy.ts'

export const policies: Readonly<Record<Kind, KindPolicy>> = Object.freeze({
  'biometric.match-request': biometricMatchRequest,
  'biometric.match-response': biometricMatchResponse,
  'traveller.designation': travellerDesignation,
  'entry-exit.record': entryExitRecord,
  'entry-exit.batch': entryExitBatch,
})

export type {
  Action,
  Direction,
  DirectionPolicy,
  FieldRule,
  FieldRules,
  Generaliser,
  KindPolicy,
  Principle,
  PurposePolicy,
} from './lib/types.ts'
export { principles, PRINCIPLE_IDS, isPrinciple } from './principles.ts'
export type { PrincipleEntry } from './principles.ts'
export { leafPaths, kindLeafPaths, createResolver, resolveSchemaRef } from './lib/schema-paths.ts'
export type { SchemaResolver, Resolved } from './lib/schema-paths.ts'
