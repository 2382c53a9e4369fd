// The published form of the policy modules (P7): for each kind, the fields its
// schema has, the purposes with the legal authorities each sending country may
// cite for them, and for each direction who may receive it, the limits that
// travel with it and the rule for every field, each with the principle and the
// reason; and the registry of legal authorities itself (policies/authorities.ts).
// It is made from the modules themselves, so it cannot say one thing while the
// engine does another; conditions are published as their text, never as code.
import { KINDS, type Kind } from '../schemas/index.ts'
import { DEFAULT_DENY, policyVersion, type FieldDecision } from './lib/engine.ts'
import { kindLeafPaths } from './lib/schema-paths.ts'
import type { Action, Country, Direction, DirectionPolicy, FieldRule, Generaliser, KindPolicy, Principle } from './lib/types.ts'
import { ARRANGEMENTS, LEGAL_AUTHORITIES } from './authorities.ts'
import { policies } from './index.ts'
import { PRINCIPLE_IDS, principles, type PrincipleEntry } from './principles.ts'

export interface PublishedFieldRule {
  readonly path: string
  readonly action: Action
  readonly generaliser?: Generaliser
  readonly rule: string
  readonly principle: Principle
  readonly why: string
  /** The record-level condition, in words: when it does not hold, the field is withheld. */
  readonly condition?: string
  /** The law behind a condition on the subject's category (P6). */
  readonly legalBasis?: readonly string[]
}

export interface PublishedExclusion {
  readonly rule: string
  readonly principle: Principle
  readonly why: string
}

export interface PublishedDirection {
  readonly recipients: readonly string[]
  readonly retentionDays: number
  readonly onwardTransfer: boolean
  readonly humanReviewRequired: boolean
  readonly exclusions: readonly PublishedExclusion[]
  /** One rule for every field of the kind's schema, in the catalogue's field order. */
  readonly fields: readonly PublishedFieldRule[]
}

export interface PublishedPurpose {
  readonly purpose: string
  /** Every authority either country may cite under this purpose. */
  readonly legalAuthorities: readonly string[]
  /** Those a sender of each country may cite: anything else is refused with LEGAL_AUTHORITY_MISMATCH. */
  readonly legalAuthoritiesByCountry: Readonly<Record<Country, readonly string[]>>
  /** The arrangement a message under this purpose names as its agreementRef: anything else is refused with AGREEMENT_MISMATCH. */
  readonly agreementRefs: readonly string[]
  readonly outbound?: PublishedDirection
  readonly inbound?: PublishedDirection
}

export interface PublishedKind {
  readonly kind: Kind
  /** The module's own version label. */
  readonly version: string
  /** The content hash both gateways name in the forwarded envelope, the audit entry and the receipt. */
  readonly policyVersion: string
  /** Every leaf field path of the kind's payload schema. */
  readonly fields: readonly string[]
  readonly purposes: readonly PublishedPurpose[]
}

/** One entry of the registry of legal authorities, as published. */
export interface PublishedAuthority {
  readonly id: string
  readonly title: string
  readonly citableBy: readonly Country[]
  readonly citableFor: ReadonlyArray<{ readonly kinds: readonly Kind[]; readonly purposes: readonly string[] }>
}

export interface PublishedArrangement {
  readonly id: string
  readonly title: string
  readonly covers: ReadonlyArray<{ readonly kinds: readonly Kind[]; readonly purposes: readonly string[] }>
}

export interface PolicyCatalogue {
  readonly kinds: readonly PublishedKind[]
  readonly legalAuthorities: readonly PublishedAuthority[]
  readonly arrangements: readonly PublishedArrangement[]
  readonly principles: readonly PrincipleEntry[]
}

const DIRECTIONS: readonly Direction[] = ['outbound', 'inbound']

/** What a field no rule names gets (it cannot happen while the coverage test passes, but the catalogue never hides it). */
export const DEFAULT_DENY_WHY = 'No rule names this field, so it is withheld (default deny).'

function publishRule(path: string, rule: FieldRule | undefined): PublishedFieldRule {
  if (rule === undefined) return { path, action: 'withhold', ...DEFAULT_DENY, why: DEFAULT_DENY_WHY }
  // Named one by one: the rule's `when` function is never published.
  return {
    path,
    action: rule.action,
    ...(rule.generaliser !== undefined ? { generaliser: rule.generaliser } : {}),
    rule: rule.rule,
    principle: rule.principle,
    why: rule.why,
    ...(rule.condition !== undefined ? { condition: rule.condition } : {}),
    ...(rule.legalBasis !== undefined ? { legalBasis: [...rule.legalBasis] } : {})
  }
}

function publishDirection(policy: DirectionPolicy, leaves: readonly string[]): PublishedDirection {
  const named = Object.keys(policy.fields).filter((path) => !leaves.includes(path))
  return {
    recipients: [...policy.recipients],
    retentionDays: policy.retentionDays,
    onwardTransfer: policy.onwardTransfer,
    humanReviewRequired: policy.humanReviewRequired,
    exclusions: (policy.exclusions ?? []).map(({ rule, principle, why }) => ({ rule, principle, why })),
    fields: [...leaves, ...named].map((path) => publishRule(path, Object.hasOwn(policy.fields, path) ? policy.fields[path] : undefined))
  }
}

function publishKind(kind: Kind, policy: KindPolicy, version: string): PublishedKind {
  const leaves = kindLeafPaths(kind)
  return {
    kind,
    version: policy.version,
    policyVersion: version,
    fields: [...leaves],
    purposes: Object.entries(policy.purposes).map(([purpose, purposePolicy]) => {
      const published: { -readonly [K in keyof PublishedPurpose]: PublishedPurpose[K] } = {
        purpose,
        legalAuthorities: [...purposePolicy.legalAuthorities],
        legalAuthoritiesByCountry: { CA: [...purposePolicy.legalAuthoritiesByCountry.CA], US: [...purposePolicy.legalAuthoritiesByCountry.US] },
        agreementRefs: [...purposePolicy.agreementRefs]
      }
      for (const direction of DIRECTIONS) {
        const rules = purposePolicy[direction]
        if (rules !== undefined) published[direction] = publishDirection(rules, leaves)
      }
      return published
    })
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

/**
 * Builds the catalogue. `versionOf` gives the hash the gateway names on the
 * wire (the PolicyBook's); by default it is computed here the same way.
 */
export function buildCatalogue(versionOf: (kind: Kind) => string | undefined = (kind) => policyVersion(policies[kind])): PolicyCatalogue {
  return deepFreeze({
    kinds: KINDS.map((kind) => {
      const version = versionOf(kind)
      if (version === undefined) throw new Error(`no policy version for ${kind}`)
      return publishKind(kind, policies[kind], version)
    }),
    legalAuthorities: LEGAL_AUTHORITIES.map(({ id, title, citableBy, citableFor }) => ({
      id,
      title,
      citableBy: [...citableBy],
      citableFor: citableFor.map(({ kinds, purposes }) => ({ kinds: [...kinds], purposes: [...purposes] }))
    })),
    arrangements: ARRANGEMENTS.map(({ id, title, covers }) => ({
      id,
      title,
      covers: covers.map(({ kinds, purposes }) => ({ kinds: [...kinds], purposes: [...purposes] }))
    })),
    principles: PRINCIPLE_IDS.map((id) => ({ ...principles[id] }))
  })
}

export interface ExplainedDecision {
  readonly path: string
  readonly count?: number
  readonly action: Action
  readonly rule: string
  readonly principle: Principle
  readonly why: string
  readonly condition?: string
}

const ruleIndexes = new WeakMap<DirectionPolicy, ReadonlyMap<string, FieldRule>>()

function ruleIndex(policy: DirectionPolicy): ReadonlyMap<string, FieldRule> {
  let index = ruleIndexes.get(policy)
  if (index === undefined) {
    index = new Map(Object.values(policy.fields).map((rule) => [rule.rule, rule]))
    ruleIndexes.set(policy, index)
  }
  return index
}

/**
 * The engine's decisions with the reason for each, as the catalogue gives it:
 * what a dry run answers. The value digests the ledger keeps are left out.
 */
export function explainDecisions(policy: DirectionPolicy, decisions: readonly FieldDecision[]): ExplainedDecision[] {
  const index = ruleIndex(policy)
  return decisions.map(({ path, action, rule, principle, count }) => {
    const named = index.get(rule)
    return {
      path,
      ...(count !== undefined ? { count } : {}),
      action,
      rule,
      principle,
      why: named?.why ?? DEFAULT_DENY_WHY,
      ...(named?.condition !== undefined ? { condition: named.condition } : {})
    }
  })
}
