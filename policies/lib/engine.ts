// Applies one direction policy to one payload: every leaf is shared,
// generalised, pseudonymised or withheld by a named rule, and a leaf that no
// rule names is withheld (default deny, P2). The decisions are what the audit
// ledger records, with a keyed digest in place of the values.
//
// A field inside an array (`records[].traveller.surname`) is decided once per
// item but recorded once per rule outcome: what the rule did to how many
// items, with one keyed digest over their values in order. A 5,000-record
// batch is then a few dozen decisions, not 100,000 (17.8 MB per ledger entry
// before, and as many HMACs on the event loop).
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { kindSchemaText, policyModule, sourcesText, versionEntries } from './policy-sources.ts'
import type { Action, DirectionPolicy, Exclusion, FieldRule, Generaliser, KindPolicy, Principle } from './types.ts'

export interface FieldDecision {
  /**
   * The field: a concrete path outside arrays (`traveller.surname`), the
   * pattern of a field inside one (`fingerprints[].position`).
   */
  readonly path: string
  readonly action: Action
  readonly rule: string
  readonly principle: Principle
  /**
   * Keyed digest (never the value): of the value for a field outside arrays;
   * for a field inside one, of its `count` values in array order, each as a
   * JSON string followed by a line feed (PolicyContext.listDigest).
   */
  readonly digest: string
  /** Fields inside arrays: how many items this rule did this to. */
  readonly count?: number
}

/** A keyed digest fed one value at a time. */
export interface ListDigest {
  add(value: string): void
  digest(): string
}

export interface PolicyContext {
  /** Keyed digest for the ledger. */
  digest(value: string): string
  /** Keyed digest of a list of values (see FieldDecision.digest). */
  listDigest(): ListDigest
  /**
   * Keyed, stable pseudonym the receiver can correlate on but not reverse,
   * for the field `path` (its pattern, `designations[].permitReference`).
   */
  pseudonym(value: string, path: string): string
}

export interface MinimisedPayload {
  readonly payload: Record<string, unknown>
  readonly decisions: FieldDecision[]
  /**
   * For each array at the payload's top level (a batch's `records`), by its
   * key: for each item in order, the places in `decisions` of the decisions
   * its fields were counted in, ascending. A batch's entry names, by them,
   * what was done to each traveller's own record (pipeline/subject-fields.ts).
   */
  readonly items: Readonly<Record<string, ReadonlyArray<readonly number[]>>>
}

export const DEFAULT_DENY = { rule: 'default-deny', principle: 'P2' } as const

type Leaf = string | number | boolean | null

/**
 * The subject categories the 2012 visa and immigration information-sharing
 * agreement lets a match disclose (policies/biometric.match-response.policy.ts):
 * third-country nationals and protected persons. Every other category says a
 * citizenship or a status the agreement shares nothing of.
 */
export const DISCLOSABLE_CATEGORIES: ReadonlySet<string> = new Set(['third-country-national', 'protected-person'])
const NOT_DISCLOSABLE = 'not-disclosable'

const GENERALISERS: Record<Generaliser, (value: string) => string | undefined> = {
  'date-to-year': (v) => (/^\d{4}-\d{2}-\d{2}/.test(v) ? v.slice(0, 4) : undefined),
  'date-to-year-month': (v) => (/^\d{4}-\d{2}-\d{2}/.test(v) ? v.slice(0, 7) : undefined),
  'datetime-to-date': (v) => (/^\d{4}-\d{2}-\d{2}T/.test(v) ? v.slice(0, 10) : undefined),
  'datetime-to-hour': (v) => {
    const t = Date.parse(v)
    if (Number.isNaN(t) || !v.includes('T')) return undefined
    const d = new Date(t)
    d.setUTCMinutes(0, 0, 0)
    return d.toISOString().replace('.000Z', 'Z')
  },
  'subject-category-to-disclosable': (v) => (DISCLOSABLE_CATEGORIES.has(v) ? v : NOT_DISCLOSABLE)
}

/** The generalisers above that give every value a coarser form, so never withhold one (received-schema.ts relies on it). */
export const TOTAL_GENERALISERS: ReadonlySet<Generaliser> = new Set<Generaliser>(['subject-category-to-disclosable'])

/** What a generalised or pseudonymised value looks like, for the receiving side's schema. */
export const GENERALISED_FORMS: Record<Generaliser, { type: 'string'; pattern: string } | { type: 'string'; enum: readonly string[] }> = {
  'date-to-year': { type: 'string', pattern: '^\\d{4}$' },
  'date-to-year-month': { type: 'string', pattern: '^\\d{4}-\\d{2}$' },
  'datetime-to-date': { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
  'datetime-to-hour': { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:00:00Z$' },
  'subject-category-to-disclosable': { type: 'string', enum: [...DISCLOSABLE_CATEGORIES, NOT_DISCLOSABLE] }
}
export const PSEUDONYM_FORM = { type: 'string', pattern: '^ps1:[A-Za-z0-9_-]{43}$' } as const

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function leafText(value: Leaf): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/**
 * The first exclusion that applies to the payload, if any. An exclusion
 * withholds what a payload would disclose; a retraction's payload is `{}`,
 * discloses nothing, and is never excluded: a query about the wrong person,
 * or a record that was wrong, can always be retracted (P8).
 */
export function exclusionFor(policy: DirectionPolicy, payload: Record<string, unknown>): Exclusion | undefined {
  if (Object.keys(payload).length === 0) return undefined
  return policy.exclusions?.find((e) => e.excludes(payload))
}

export function applyPolicy(policy: DirectionPolicy, payload: Record<string, unknown>, ctx: PolicyContext): MinimisedPayload {
  const decisions: FieldDecision[] = []
  /** Fields inside arrays, by pattern and outcome, in order of first use. */
  const grouped = new Map<string, { row: Omit<FieldDecision, 'digest' | 'count'>; index: number; count: number; digest: ListDigest }>()
  const conditionCache = new Map<FieldRule, boolean>()
  const items: Record<string, number[][]> = {}
  /** The decisions the item of a top-level array being walked was counted in. */
  let itemHits: Set<number> | undefined

  function record(pattern: string, path: string, text: string, outcome: Omit<FieldDecision, 'path' | 'digest' | 'count'>): void {
    if (!pattern.includes('[]')) {
      decisions.push({ path, ...outcome, digest: ctx.digest(text) })
      return
    }
    const key = `${pattern}\u0000${outcome.action}\u0000${outcome.rule}`
    let group = grouped.get(key)
    if (group === undefined) {
      group = { row: { path: pattern, ...outcome }, index: decisions.length, count: 0, digest: ctx.listDigest() }
      grouped.set(key, group)
      decisions.push(undefined as unknown as FieldDecision) // its place, filled in at the end
    }
    group.count++
    group.digest.add(text)
    itemHits?.add(group.index)
  }

  function decide(pattern: string, path: string, value: Leaf): { keep: boolean; value?: Leaf } {
    // Own properties only: a key named like an Object.prototype member
    // (`constructor`, `toString`) is a field no rule names, so it is withheld.
    const rule = Object.hasOwn(policy.fields, pattern) ? policy.fields[pattern] : undefined
    const text = leafText(value)
    if (rule === undefined) {
      record(pattern, path, text, { action: 'withhold', ...DEFAULT_DENY })
      return { keep: false }
    }
    let applies = true
    if (rule.when !== undefined) {
      if (!conditionCache.has(rule)) conditionCache.set(rule, rule.when(payload) === true)
      applies = conditionCache.get(rule)!
    }
    let action: Action = applies ? rule.action : 'withhold'
    let out: Leaf | undefined = value
    if (action === 'generalise') {
      out = typeof value === 'string' && rule.generaliser !== undefined ? GENERALISERS[rule.generaliser](value) : undefined
      // A value that cannot be generalised is not shared in full: fail closed.
      if (out === undefined) action = 'withhold'
    } else if (action === 'pseudonymise') {
      out = ctx.pseudonym(text, pattern)
    }
    record(pattern, path, text, { action, rule: rule.rule, principle: rule.principle })
    return action === 'withhold' ? { keep: false } : { keep: true, value: out! }
  }

  function walk(value: unknown, pattern: string, path: string): unknown {
    if (isObject(value)) {
      const out: Record<string, unknown> = {}
      for (const [key, child] of Object.entries(value)) {
        const kept = walk(child, pattern === '' ? key : `${pattern}.${key}`, path === '' ? key : `${path}.${key}`)
        if (kept !== undefined) out[key] = kept
      }
      return Object.keys(out).length === 0 && pattern !== '' ? undefined : out
    }
    if (Array.isArray(value)) {
      const out: unknown[] = []
      const topLevel = !pattern.includes('.') && !pattern.includes('[]')
      const hits: number[][] = []
      value.forEach((item, i) => {
        if (topLevel) itemHits = new Set()
        const kept = walk(item, `${pattern}[]`, `${path}[${i}]`)
        if (topLevel) hits.push([...itemHits!].sort((a, b) => a - b))
        if (kept !== undefined) out.push(kept)
      })
      if (topLevel) {
        items[pattern] = hits
        itemHits = undefined
      }
      return out.length === 0 ? undefined : out
    }
    const decided = decide(pattern, path, value as Leaf)
    return decided.keep ? decided.value : undefined
  }

  const minimised = walk(payload, '', '') as Record<string, unknown>
  for (const group of grouped.values()) decisions[group.index] = { ...group.row, digest: group.digest.digest(), count: group.count }
  return { payload: minimised, decisions, items }
}

/**
 * A content hash of a policy module: the rules, their conditions' source and
 * the limits, and the text of the module and of every policy module it
 * imports (policy-sources.ts), so that a set a condition consults or a helper
 * it calls is part of it too, and of the received schema, so that what the
 * receiving gateway accepts under it is too; and of the kind's JSON Schema
 * and those it refers to (policy-sources.ts, kindSchemaSources), what the
 * rules apply to. Both gateways name it, so either can prove which rules
 * applied, and to what.
 */
export function policyVersion(policy: KindPolicy): string {
  // Policies are modules, fixed for the life of the process: each app built in it names the same version.
  const known = versions.get(policy)
  if (known !== undefined) return known
  const version = hashPolicy(policy)
  versions.set(policy, version)
  return version
}

const versions = new WeakMap<KindPolicy, string>()

function hashPolicy(policy: KindPolicy): string {
  const text = JSON.stringify(policy, (_key, value: unknown) => (typeof value === 'function' ? `fn:${value.toString()}` : value))
  const hash = createHash('sha256').update(text)
  // A policy made in a test, for a kind with no module of its own, is its JSON alone.
  const module = policyModule(policy.kind)
  if (existsSync(module)) hash.update(sourcesText(versionEntries(policy.kind))).update(kindSchemaText(policy.kind))
  return `sha256:${hash.digest('base64url')}`
}
