// The vocabulary a policy module is written in. A privacy officer reads a
// policy module as a table: for each purpose and direction, every field path of
// the kind's payload schema and what happens to it, with the principle cited.

/** Beyond the Border privacy principles (joint statement, 28 June 2012). See policies/principles.ts. */
export type Principle = 'P1' | 'P2' | 'P3' | 'P4' | 'P5' | 'P6' | 'P7' | 'P8' | 'P9' | 'P10' | 'P11' | 'P12'

export type Action = 'share' | 'generalise' | 'pseudonymise' | 'withhold'

/** How a `generalise` rule coarsens a value. */
export type Generaliser =
  | 'date-to-year' // "1984-03-07" -> "1984"
  | 'date-to-year-month' // "1984-03-07" -> "1984-03"
  | 'datetime-to-date' // "2026-11-22T18:04:11Z" -> "2026-11-22"
  | 'datetime-to-hour' // "2026-11-22T18:04:11Z" -> "2026-11-22T18:00:00Z"
  | 'subject-category-to-disclosable' // "us-citizen" -> "not-disclosable"; "third-country-national" as it is

export type Direction = 'outbound' | 'inbound'

/** The two parties: the country of a sending or receiving agency. */
export type Country = 'CA' | 'US'

export interface FieldRule {
  readonly action: Action
  /** Stable rule id, unique within the module, e.g. "ee-out-surname". Audited. */
  readonly rule: string
  readonly principle: Principle
  /** Why, in a sentence a privacy officer can read. */
  readonly why: string
  /** Required when action is 'generalise'. */
  readonly generaliser?: Generaliser
  /**
   * Optional record-level condition: the action applies only when it returns
   * true for the whole payload; otherwise the field is withheld under this
   * rule. `condition` says the same in words, for the published catalogue.
   */
  readonly when?: (payload: Readonly<Record<string, unknown>>) => boolean
  readonly condition?: string
  /**
   * Values of members at the payload's root on which `when` holds, whatever
   * else the payload says: `{ result: 'MATCH' }`. The receiving side's
   * schema relies on it to require, under those values, a member the kind
   * requires under them (policies/lib/received-schema.ts); leave it out
   * where it is not certain, and nothing more is required.
   */
  readonly holdsWhen?: Readonly<Record<string, string | number | boolean>>
  /**
   * The statutes or treaty provisions that require the condition, where it
   * turns on who the subject is (subject category). Rules never branch on
   * nationality; a branch on category must say which law asks for it (P6).
   */
  readonly legalBasis?: readonly string[]
}

/**
 * Field paths are relative to the envelope's `payload`, dot-separated, with
 * `[]` for "every item of this array": `traveller.surname`,
 * `fingerprints[].position`, `records[].document.number`. Only leaves (strings,
 * numbers, booleans) are named; objects and arrays are containers.
 */
export type FieldRules = Readonly<Record<string, FieldRule>>

/**
 * A record that must not be exchanged at all under this purpose: the whole
 * message is refused with POLICY_DENIED, naming the rule, rather than sent
 * with every field withheld.
 */
export interface Exclusion {
  readonly rule: string
  readonly principle: Principle
  readonly why: string
  /** True when the payload is excluded. */
  readonly excludes: (payload: Readonly<Record<string, unknown>>) => boolean
}

export interface DirectionPolicy {
  /** Agencies of the receiving country that may receive this (kind, purpose). */
  readonly recipients: readonly string[]
  /** How long the receiver may keep it (P5); travels with the record. */
  readonly retentionDays: number
  /** Onward transfer to a third country (P11); defaults to deny. */
  readonly onwardTransfer: boolean
  /** No adverse decision by automation alone (P10). */
  readonly humanReviewRequired: boolean
  readonly exclusions?: readonly Exclusion[]
  readonly fields: FieldRules
}

export interface PurposePolicy {
  /**
   * Statutes or agreements a message under this purpose may cite (P1), by
   * either country. Both lists are made from the registry
   * (policies/authorities.ts), never written by hand.
   */
  readonly legalAuthorities: readonly string[]
  /** Those a sender of each country may cite: its own law and the arrangement's instruments. */
  readonly legalAuthoritiesByCountry: Readonly<Record<Country, readonly string[]>>
  /** The bilateral arrangements (`agreementRef`) a message under this purpose falls under, from the registry. */
  readonly agreementRefs: readonly string[]
  readonly outbound?: DirectionPolicy
  readonly inbound?: DirectionPolicy
}

export interface KindPolicy {
  readonly kind: string
  /** Human version label; the engine also computes a content hash. */
  readonly version: string
  readonly purposes: Readonly<Record<string, PurposePolicy>>
}
