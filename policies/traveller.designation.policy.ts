// Traveller profile designation: NEXUS (and FAST, Global Entry) membership
// vetting, and the business-traveller designations the Action Plan adds to the
// profile (class of admission, work permit, XPT categories). Each agency runs
// its own risk assessment: the outcome, the agency and the month travel, never
// the reasons or derogatory information.
import type { DirectionPolicy, Direction, Exclusion, FieldRules, KindPolicy, PurposePolicy } from './lib/types.ts'
import type { RuleSpec } from './lib/rule-table.ts'
import { fieldRules, generalise, pseudonymise, share, withhold } from './lib/rule-table.ts'
import { purposeAuthorities } from './authorities.ts'

export type DesignationPurpose = 'ttv' | 'btf'

/** What each field of a designation becomes for a purpose and direction (also each designation of a batch). */
export function designationFieldSpecs(purpose: DesignationPurpose, direction: Direction): Record<string, RuleSpec> {
  const business = purpose === 'btf'
  const inbound = direction === 'inbound'
  const notForVetting = (why: string): RuleSpec => withhold('P2', `${why} Trusted-traveller vetting does not need it.`)
  return {
    designationType: share('P1', 'Says what is being designated, and so which rules apply.'),
    programme: share('P2', 'The programme the membership or category belongs to.'),
    membershipId: share('P2', 'The PASSID is the common key under which both agencies file the same membership.'),
    status: share('P2', 'Approval, denial, revocation or expiry is the fact being exchanged.'),
    validFrom: share('P2', 'Membership lasts five years and is re-risked; both sides need the same validity.'),
    validUntil: share('P2', 'Membership lasts five years and is re-risked; both sides need the same validity.'),
    'riskAssessment.outcome': share('P2', 'Each agency runs its own risk assessment; the partner needs only pass or fail to decide the joint membership.'),
    'riskAssessment.agency': share('P12', 'Says whose assessment the outcome is, so it can be challenged there.'),
    'riskAssessment.assessedOn': inbound
      ? share('P2', "Arrives as a month, generalised by the sender's outbound rule; the received-payload check refuses a full date.")
      : generalise('date-to-year-month', 'P2', 'Re-risking runs on a monthly cycle; the exact day adds nothing and narrows down the investigation.'),
    'riskAssessment.reasons[]': withhold('P2', 'Reasons and derogatory information stay with the assessing agency; the partner runs its own assessment.'),
    admissionClass: business
      ? share('P2', 'The class of admission (TN, L-1 …) is the designation that gives predictable clearance.')
      : notForVetting('A class of admission is a business-traveller designation.'),
    permitReference: !business
      ? notForVetting('A permit reference belongs to a business-traveller designation.')
      : inbound
        ? share('P2', 'Arrives pseudonymised by the sending gateway; used only to recognise later updates to the same permit.')
        : pseudonymise('P2', "The partner needs to recognise the same permit in later updates or a revocation, not the issuing agency's case number."),
    professionalCategory: business
      ? share('P2', 'The XPT or service-personnel category is the designation itself.')
      : notForVetting('The professional category is a business-traveller designation.'),
    'conditions[]': business
      ? share('P2', 'Tells the port officer what the designation allows the traveller to do.')
      : notForVetting('Conditions of a permit or category belong to a business-traveller designation.'),
    preApprovedMultipleEntry: business
      ? share('P2', 'Pre-approval for multiple entries is what the XPT designation grants.')
      : notForVetting('Pre-approval for multiple entries is an XPT business-traveller term.'),
    'traveller.surname': share('P2', 'Minimal identity needed to match the designation to the same person.'),
    'traveller.givenNames': share('P2', 'Minimal identity needed to match the designation to the same person.'),
    'traveller.dateOfBirth': share('P2', 'Minimal identity needed to match the designation to the same person.'),
    'traveller.sex': share('P4', 'Part of the document identity the match is checked against.'),
    'traveller.citizenship': share(
      'P2',
      'Eligibility for the programme or the class of admission depends on citizenship (e.g. TN); no rule here branches on it (P6).'
    ),
    'traveller.subjectCategory': withhold(
      'P2',
      "Not in the minimal identity a designation is matched by (names, date of birth, document): a subject category says who is a refugee, a protected person or a Registered Indian, and eligibility is the designating agency's to decide."
    ),
    'document.type': share('P4', 'The document the traveller presents at the border is what the designation is matched to.'),
    'document.issuingCountry': share('P4', 'The document the traveller presents at the border is what the designation is matched to.'),
    'document.number': share('P4', 'The document the traveller presents at the border is what the designation is matched to.'),
    'document.expiryDate': share('P4', 'A designation attached to an expired document must be re-linked.')
  }
}

function designationFields(purpose: DesignationPurpose, direction: Direction): FieldRules {
  return fieldRules(`td-${purpose}-${direction === 'inbound' ? 'in' : 'out'}`, designationFieldSpecs(purpose, direction))
}

// NEXUS is run jointly by CBSA and CBP.
const TRUSTED_TRAVELLER_AGENCIES = ['CBSA', 'CBP'] as const
// Business designations: port clearance (CBSA, CBP) and the permit or
// petition behind them (IRCC, USCIS).
const BUSINESS_AGENCIES = ['CBSA', 'IRCC', 'CBP', 'USCIS'] as const

// P5: the five-year membership plus one year to settle renewals and appeals.
const TRUSTED_TRAVELLER_RETENTION_DAYS = 2190
// P5: business designations last at most three years (TN, L-1 periods) plus one.
const BUSINESS_RETENTION_DAYS = 1460

/**
 * Which designations a purpose is for (P1, P2): trusted-traveller vetting
 * vets memberships of a trusted-traveller programme, and business-traveller
 * facilitation carries the rest (a class of admission, a work permit, a
 * business-traveller category). A message that sends one under the other's
 * purpose is refused whole, a batch with any one such designation included:
 * its fields would otherwise travel under a purpose that does not need them.
 */
function designationTypeExclusion(kind: 'traveller.designation' | 'traveller.designation-batch', purpose: DesignationPurpose): Exclusion {
  const vetting = purpose === 'ttv'
  const typesOf = (payload: Readonly<Record<string, unknown>>): unknown[] =>
    Array.isArray(payload.designations) ? payload.designations.map((d) => (d as Record<string, unknown> | null)?.designationType) : [payload.designationType]
  return {
    rule: `${kind === 'traveller.designation' ? 'td' : 'tdb'}-${purpose}-designation-type`,
    principle: 'P2',
    why: vetting
      ? 'trusted-traveller vetting is for trusted-traveller memberships; a class of admission, a work permit or a business-traveller category is sent for business-traveller facilitation'
      : 'business-traveller facilitation is for classes of admission, work permits and business-traveller categories; a trusted-traveller membership is sent for trusted-traveller vetting',
    excludes: (payload) => typesOf(payload).some((type) => (type === 'trusted-traveller-member') !== vetting)
  }
}

/**
 * The purposes a designation travels for, and to whom, for how long, under
 * which authority (the registry's for `kind`); each direction's fields from
 * `fieldsFor` (this kind's, or a batch's, traveller.designation-batch.policy.ts).
 */
export function designationPurposes(
  kind: 'traveller.designation' | 'traveller.designation-batch',
  fieldsFor: (purpose: DesignationPurpose, dir: Direction) => FieldRules
): Record<string, PurposePolicy> {
  const direction = (purpose: DesignationPurpose, dir: Direction, recipients: readonly string[], retentionDays: number): DirectionPolicy => ({
    recipients,
    retentionDays,
    onwardTransfer: false,
    humanReviewRequired: true,
    fields: fieldsFor(purpose, dir),
    exclusions: [designationTypeExclusion(kind, purpose)]
  })
  return {
    'trusted-traveller-vetting': {
      ...purposeAuthorities(kind, 'trusted-traveller-vetting'),
      outbound: direction('ttv', 'outbound', TRUSTED_TRAVELLER_AGENCIES, TRUSTED_TRAVELLER_RETENTION_DAYS),
      inbound: direction('ttv', 'inbound', TRUSTED_TRAVELLER_AGENCIES, TRUSTED_TRAVELLER_RETENTION_DAYS)
    },
    'business-traveller-facilitation': {
      ...purposeAuthorities(kind, 'business-traveller-facilitation'),
      outbound: direction('btf', 'outbound', BUSINESS_AGENCIES, BUSINESS_RETENTION_DAYS),
      inbound: direction('btf', 'inbound', BUSINESS_AGENCIES, BUSINESS_RETENTION_DAYS)
    }
  }
}

const policy: KindPolicy = {
  kind: 'traveller.designation',
  version: '1.0.0',
  purposes: designationPurposes('traveller.designation', designationFields)
}

export default policy
