// The registry of legal authorities (P1): for each statute, regulation or
// instrument of the arrangement an envelope may cite as its `legalAuthority`,
// which sending country may cite it and for which kinds and purposes. A
// country's own law is cited by its own agencies: a Canadian sender cannot
// rest a disclosure on a U.S. statute, nor the reverse. An instrument of the
// bilateral arrangement may be cited by both. The policies' per-purpose lists
// are made from this table (`purposeAuthorities`), so the registry is the one
// place an authority is named; GET /v1/policies publishes it
// (docs/integrators.md, "Legal authorities").
import type { Kind } from '../schemas/index.ts'
import type { Country, PurposePolicy } from './lib/types.ts'

export const COUNTRIES: readonly Country[] = ['CA', 'US']

/** The kinds and purposes an authority may be cited for: every purpose with every kind listed. */
export interface AuthorityUse {
  readonly kinds: readonly Kind[]
  readonly purposes: readonly string[]
}

export interface LegalAuthority {
  /** As an envelope cites it. */
  readonly id: string
  /** What it is, in words. */
  readonly title: string
  /** The sending countries that may cite it: one for a country's own law, both for an instrument of the arrangement. */
  readonly citableBy: readonly Country[]
  readonly citableFor: readonly AuthorityUse[]
}

// A batch kind travels under its single kind's authorities (docs/architecture.md, "The contract").
const ENTRY_EXIT: readonly Kind[] = ['entry-exit.record', 'entry-exit.batch']
const DESIGNATION: readonly Kind[] = ['traveller.designation', 'traveller.designation-batch']
const BIOMETRIC: readonly Kind[] = ['biometric.match-request', 'biometric.match-response']

const entryExit = (...purposes: string[]): AuthorityUse => ({ kinds: ENTRY_EXIT, purposes })
const designation = (...purposes: string[]): AuthorityUse => ({ kinds: DESIGNATION, purposes })
const biometric = (...purposes: string[]): AuthorityUse => ({ kinds: BIOMETRIC, purposes })

const CA: readonly Country[] = ['CA']
const US: readonly Country[] = ['US']
const BOTH: readonly Country[] = ['CA', 'US']

// Canadian law first, then U.S. law, then the arrangement's instruments: the
// per-purpose lists keep this order.
const REGISTRY: readonly LegalAuthority[] = [
  {
    id: 'CustomsAct-92',
    title: 'Customs Act (Canada), s. 92',
    citableBy: CA,
    citableFor: [entryExit('entry-exit-verification', 'residency-determination', 'removal-enforcement')]
  },
  { id: 'CustomsAct-93', title: 'Customs Act (Canada), s. 93', citableBy: CA, citableFor: [entryExit('entry-exit-verification')] },
  { id: 'IRPA-28', title: 'Immigration and Refugee Protection Act (Canada), s. 28', citableBy: CA, citableFor: [entryExit('residency-determination')] },
  { id: 'CitizenshipAct-5(1)(c)', title: 'Citizenship Act (Canada), s. 5(1)(c)', citableBy: CA, citableFor: [entryExit('residency-determination')] },
  { id: 'IRPA-48', title: 'Immigration and Refugee Protection Act (Canada), s. 48', citableBy: CA, citableFor: [entryExit('removal-enforcement')] },
  { id: 'IRPR-240', title: 'Immigration and Refugee Protection Regulations (Canada), s. 240', citableBy: CA, citableFor: [entryExit('removal-enforcement')] },
  { id: 'CustomsAct-11.1', title: 'Customs Act (Canada), s. 11.1', citableBy: CA, citableFor: [designation('trusted-traveller-vetting')] },
  {
    id: 'PresentationOfPersonsRegs-2003',
    title: 'Presentation of Persons (2003) Regulations (Canada)',
    citableBy: CA,
    citableFor: [designation('trusted-traveller-vetting')]
  },
  {
    id: 'IRPR-204(a)',
    title: 'Immigration and Refugee Protection Regulations (Canada), s. 204(a)',
    citableBy: CA,
    citableFor: [designation('business-traveller-facilitation')]
  },
  {
    id: 'IRPA-150.1',
    title: 'Immigration and Refugee Protection Act (Canada), s. 150.1',
    citableBy: CA,
    citableFor: [biometric('immigration-examination', 'asylum-claim')]
  },
  {
    id: 'IRPR-315.23(1)(a)',
    title: 'Immigration and Refugee Protection Regulations (Canada), s. 315.23(1)(a)',
    citableBy: CA,
    citableFor: [biometric('immigration-examination')]
  },
  {
    id: 'IRPR-315.23(1)(b)',
    title: 'Immigration and Refugee Protection Regulations (Canada), s. 315.23(1)(b)',
    citableBy: CA,
    citableFor: [biometric('asylum-claim')]
  },

  { id: 'INA-215', title: 'Immigration and Nationality Act (U.S.), s. 215', citableBy: US, citableFor: [entryExit('entry-exit-verification')] },
  { id: '8-CFR-215.8', title: '8 CFR 215.8 (U.S.)', citableBy: US, citableFor: [entryExit('entry-exit-verification', 'residency-determination')] },
  { id: 'INA-316', title: 'Immigration and Nationality Act (U.S.), s. 316', citableBy: US, citableFor: [entryExit('residency-determination')] },
  { id: '8-CFR-316.5', title: '8 CFR 316.5 (U.S.)', citableBy: US, citableFor: [entryExit('residency-determination')] },
  { id: 'INA-241', title: 'Immigration and Nationality Act (U.S.), s. 241', citableBy: US, citableFor: [entryExit('removal-enforcement')] },
  { id: '8-CFR-241.7', title: '8 CFR 241.7 (U.S.)', citableBy: US, citableFor: [entryExit('removal-enforcement')] },
  { id: '8-CFR-235.7', title: '8 CFR 235.7 (U.S.)', citableBy: US, citableFor: [designation('trusted-traveller-vetting')] },
  { id: '8-CFR-235.12', title: '8 CFR 235.12 (U.S.)', citableBy: US, citableFor: [designation('trusted-traveller-vetting')] },
  { id: 'INA-214(e)', title: 'Immigration and Nationality Act (U.S.), s. 214(e)', citableBy: US, citableFor: [designation('business-traveller-facilitation')] },
  { id: '8-CFR-214.6', title: '8 CFR 214.6 (U.S.)', citableBy: US, citableFor: [designation('business-traveller-facilitation')] },
  { id: '8-CFR-214.2(l)', title: '8 CFR 214.2(l) (U.S.)', citableBy: US, citableFor: [designation('business-traveller-facilitation')] },
  {
    id: 'INA-222(f)',
    title: 'Immigration and Nationality Act (U.S.), s. 222(f)',
    citableBy: US,
    citableFor: [biometric('immigration-examination', 'asylum-claim')]
  },
  { id: 'INA-235', title: 'Immigration and Nationality Act (U.S.), s. 235', citableBy: US, citableFor: [biometric('immigration-examination')] },
  { id: 'INA-208', title: 'Immigration and Nationality Act (U.S.), s. 208', citableBy: US, citableFor: [biometric('asylum-claim')] },

  {
    id: 'BtB-Entry-Exit-Arrangement-2012',
    title: 'Beyond the Border entry/exit arrangement (2012)',
    citableBy: BOTH,
    citableFor: [entryExit('entry-exit-verification')]
  },
  { id: 'NEXUS-Arrangement-2002', title: 'NEXUS arrangement (2002)', citableBy: BOTH, citableFor: [designation('trusted-traveller-vetting')] },
  {
    id: 'CUSMA-Ch16',
    title: 'Canada–United States–Mexico Agreement, chapter 16 (temporary entry for business persons)',
    citableBy: BOTH,
    citableFor: [designation('business-traveller-facilitation')]
  },
  {
    id: 'BtB-Action-Plan-2011-Business-Travellers',
    title: 'Beyond the Border Action Plan (2011), business travellers',
    citableBy: BOTH,
    citableFor: [designation('business-traveller-facilitation')]
  },
  {
    id: 'BtB-Biometric-Treaty-2012-Art3',
    title: 'Beyond the Border biometric information-sharing treaty (2012), art. 3',
    citableBy: BOTH,
    citableFor: [biometric('immigration-examination', 'asylum-claim')]
  }
]

/**
 * A bilateral arrangement an exchange falls under, as its envelope's
 * `agreementRef` names it, and the kinds and purposes that travel under it.
 * A closed list, as legal authorities are: the reference reaches both
 * ledgers as written, so free text there could carry personal data.
 */
export interface Arrangement {
  readonly id: string
  readonly title: string
  readonly covers: readonly AuthorityUse[]
}

const ENTRY_EXIT_PURPOSES = ['entry-exit-verification', 'residency-determination', 'removal-enforcement']

const ARRANGEMENT_REGISTRY: readonly Arrangement[] = [
  {
    id: 'CA-US-Entry-Exit-Joint-Statement-2012',
    title: 'Canada–United States Joint Statement of Privacy Principles and entry/exit information sharing (2012)',
    covers: [entryExit(...ENTRY_EXIT_PURPOSES)]
  },
  {
    id: 'CA-US-NEXUS-Arrangement-2002',
    title: 'Canada–United States NEXUS trusted traveller arrangement (2002)',
    covers: [designation('trusted-traveller-vetting')]
  },
  {
    id: 'BtB-Action-Plan-2011-Business-Travellers',
    title: 'Beyond the Border Action Plan (2011), business travellers',
    covers: [designation('business-traveller-facilitation')]
  },
  {
    id: 'CA-US-Visa-Immigration-Info-Sharing-Agreement-2012',
    title: 'Canada–United States Visa and Immigration Information-Sharing Agreement (2012)',
    covers: [biometric('immigration-examination', 'asylum-claim')]
  }
]

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

export const LEGAL_AUTHORITIES: readonly LegalAuthority[] = deepFreeze(REGISTRY)
export const ARRANGEMENTS: readonly Arrangement[] = deepFreeze(ARRANGEMENT_REGISTRY)

// Looked up without a prototype: an envelope citing `constructor` finds nothing.
const BY_ID: ReadonlyMap<string, LegalAuthority> = new Map(LEGAL_AUTHORITIES.map((a) => [a.id, a]))

function covered(uses: readonly AuthorityUse[], kind: string, purpose: string): boolean {
  return uses.some((use) => (use.kinds as readonly string[]).includes(kind) && use.purposes.includes(purpose))
}

function citableFor(authority: LegalAuthority, kind: string, purpose: string): boolean {
  return covered(authority.citableFor, kind, purpose)
}

/** The arrangements `kind` under `purpose` falls under, in registry order. */
export function arrangementsFor(kind: Kind, purpose: string): readonly string[] {
  return ARRANGEMENTS.filter((a) => covered(a.covers, kind, purpose)).map((a) => a.id)
}

/** The authorities `country` may cite for `kind` under `purpose`, in registry order. */
export function citableBy(country: Country, kind: Kind, purpose: string): readonly string[] {
  return LEGAL_AUTHORITIES.filter((a) => a.citableBy.includes(country) && citableFor(a, kind, purpose)).map((a) => a.id)
}

/**
 * A purpose policy's authorities, made from the registry: what each sending
 * country may cite, and all of them. Part of the policy module, so the
 * version hash both gateways compare changes with them.
 */
export function purposeAuthorities(kind: Kind, purpose: string): Pick<PurposePolicy, 'legalAuthorities' | 'legalAuthoritiesByCountry' | 'agreementRefs'> {
  const byCountry = { CA: citableBy('CA', kind, purpose), US: citableBy('US', kind, purpose) }
  return {
    legalAuthorities: LEGAL_AUTHORITIES.filter((a) => citableFor(a, kind, purpose)).map((a) => a.id),
    legalAuthoritiesByCountry: byCountry,
    agreementRefs: arrangementsFor(kind, purpose)
  }
}

/**
 * Why `cited` is not an arrangement `kind` under `purpose` falls under, in
 * words for a refusal's detail, with the one it does. The reference is the
 * sender's text: `quote` bounds it where the registry does not know it.
 */
export function arrangementMismatchDetail(cited: string, kind: Kind, purpose: string, quote: (value: string) => string): string {
  const known = ARRANGEMENTS.find((a) => a.id === cited)
  const why = known === undefined ? 'not in the registry of arrangements' : 'an arrangement of other kinds or purposes'
  return `${kind} under ${purpose} does not fall under ${known === undefined ? quote(cited) : cited} (${why}); it falls under ${arrangementsFor(kind, purpose).join(', ')}`
}

/**
 * Why `cited` is not one `country` may cite for `kind` under `purpose`, in
 * words for a refusal's detail: the authority, the country, the kind, the
 * purpose, and what the country may cite instead. The kind and purpose are
 * ones a policy has; the authority and the country are the sender's text, so
 * `quote` bounds them where the registry does not know them.
 */
export function mismatchDetail(cited: string, country: string, kind: Kind, purpose: string, quote: (value: string) => string): string {
  const known = BY_ID.get(cited)
  const sender = (COUNTRIES as readonly string[]).includes(country) ? (country as Country) : undefined
  const name = known === undefined ? quote(cited) : cited
  const who = sender ?? quote(country)
  const why =
    known === undefined
      ? 'not in the registry of legal authorities'
      : sender === undefined || !known.citableBy.includes(sender)
        ? known.citableBy.length === 1
          ? `an authority of ${known.citableBy[0]}`
          : `citable by ${known.citableBy.join(' and ')} only`
        : 'an authority for other kinds or purposes'
  const own = sender === undefined ? [] : citableBy(sender, kind, purpose)
  const instead = own.length > 0 ? `; ${sender} may cite ${own.join(', ')}` : ''
  return `${who} may not cite ${name} (${why}) for ${kind} under ${purpose}${instead}`
}
