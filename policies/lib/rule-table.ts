// Helpers that let a policy module read as a table: one line per field path,
// the action, the principle and why. Rule ids are derived from a prefix and the
// path, so they are stable for as long as the path is, and unique per table.
import type { FieldRule, FieldRules, Generaliser, Principle } from './types.ts'

/** A field rule before it gets its id. */
export type RuleSpec = Omit<FieldRule, 'rule'>

/** A record-level condition: the action applies only when `when` holds; otherwise the field is withheld. */
export interface Condition {
  readonly when: NonNullable<FieldRule['when']>
  readonly condition: string
  /** Root values on which `when` always holds (types.ts, FieldRule.holdsWhen). */
  readonly holdsWhen?: FieldRule['holdsWhen']
  /** Required in spirit whenever `when` reads the subject's category (P6): the law that draws the line. */
  readonly legalBasis?: readonly string[]
}

export function share(principle: Principle, why: string, only?: Condition): RuleSpec {
  return { action: 'share', principle, why, ...only }
}

export function generalise(generaliser: Generaliser, principle: Principle, why: string, only?: Condition): RuleSpec {
  return { action: 'generalise', generaliser, principle, why, ...only }
}

export function pseudonymise(principle: Principle, why: string, only?: Condition): RuleSpec {
  return { action: 'pseudonymise', principle, why, ...only }
}

export function withhold(principle: Principle, why: string): RuleSpec {
  return { action: 'withhold', principle, why }
}

/** `records[].traveller.surname` -> `records-traveller-surname`. */
export function ruleSlug(path: string): string {
  return path
    .replaceAll('[]', '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
}

/**
 * Gives every spec its rule id, `<prefix>-<slug of the path>`, and freezes the
 * table. The table has no prototype: a payload key such as `constructor` must
 * find no rule (and so be withheld), not Object.prototype's.
 */
export function fieldRules(prefix: string, specs: Readonly<Record<string, RuleSpec>>): FieldRules {
  const rules: Record<string, FieldRule> = Object.create(null) as Record<string, FieldRule>
  const seen = new Map<string, string>()
  for (const [path, spec] of Object.entries(specs)) {
    const rule = `${prefix}-${ruleSlug(path)}`
    const clash = seen.get(rule)
    if (clash !== undefined) throw new Error(`rule id ${rule} would name both ${clash} and ${path}`)
    seen.set(rule, path)
    rules[path] = Object.freeze({ ...spec, rule })
  }
  return Object.freeze(rules)
}

/** Narrowing helper for `when` functions, which see the payload as unknown JSON. */
export function objectAt(value: unknown, key: string): Readonly<Record<string, unknown>> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const next = (value as Record<string, unknown>)[key]
  return typeof next === 'object' && next !== null && !Array.isArray(next) ? (next as Readonly<Record<string, unknown>>) : undefined
}
