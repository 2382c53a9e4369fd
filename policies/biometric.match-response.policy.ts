// Biometric match response: NO_MATCH, MATCH or ERROR, linked to its request by
// correlationId. Identity, document and immigration history (as categories
// with dates) travel only on MATCH and only for third-country nationals and
// protected persons; officer notes and match scores never travel, and a match
// always needs an officer's verification (P10).
import type { DirectionPolicy, Direction, Exclusion, FieldRules, KindPolicy } from './lib/types.ts'
import type { Condition } from './lib/rule-table.ts'
import { fieldRules, generalise, objectAt, share, withhold } from './lib/rule-table.ts'
import { DISCLOSABLE_CATEGORIES, PSEUDONYM_FORM } from './lib/engine.ts'
import { purposeAuthorities } from './authorities.ts'

// The treaty covers third-country nationals: under the 2012 agreement no
// information is shared about citizens or permanent residents of EITHER
// country, so the rule holds in both directions without knowing which gateway
// applies it (the policy only sees the payload). Registered Indians are
// excluded with them: IRPA s. 19(1) gives them the same right to enter and
// remain in Canada as citizens. The branch is on subject category, never on
// nationality, and it names the law that draws the line (P6).

/** The provisions behind the subject-category branch, published with the rule. */
export const SUBJECT_CATEGORY_BASIS: readonly string[] = ['CA-US-Visa-Immigration-Info-Sharing-Agreement-2012', 'IRPR-Part-19.1', 'IRPA-19(1)']

const isMatch: Condition = {
  when: (payload) => payload.result === 'MATCH',
  condition: 'result is MATCH',
  // What the kind's `if` tests before it requires the subject: the receiving
  // side requires it on a MATCH too, its category being forwarded then.
  holdsWhen: { result: 'MATCH' }
}

const disclosableMatch: Condition = {
  when: (payload) => {
    const category = objectAt(payload, 'subject')?.subjectCategory
    return payload.result === 'MATCH' && typeof category === 'string' && DISCLOSABLE_CATEGORIES.has(category)
  },
  condition:
    'result is MATCH and the subject is a third-country national or a protected person: the 2012 Canada-US visa and ' +
    'immigration information-sharing agreement (CA-US-Visa-Immigration-Info-Sharing-Agreement-2012, implemented in ' +
    'Canada by IRPR-Part-19.1) shares nothing about citizens or permanent residents of either country, and registered ' +
    "Indians, who have a citizen's right to enter Canada (IRPA-19(1)), are excluded with them",
  legalBasis: SUBJECT_CATEGORY_BASIS
}

function responseFields(purpose: 'ie' | 'ac', direction: Direction): FieldRules {
  return fieldRules(`bmr-${purpose}-${direction === 'outbound' ? 'out' : 'in'}`, {
    transactionRef: share('P2', "Echoes the requester's (pseudonymous) reference so the answer can be filed against the query."),
    result: share('P2', 'The answer to the query.'),
    humanReviewRequired: share('P10', 'A match is a lead, not a decision: an officer must verify it before any adverse decision.'),
    'error.code': share('P4', 'Tells the requester whether to recapture the prints or resend.'),
    'error.message': withhold('P2', 'Free text that may quote case details; the code says what the requester needs.'),
    // The category of a citizen, a permanent resident or a registered Indian
    // would itself say their citizenship or status, which the agreement does
    // not share: all of them go as one value.
    'subject.subjectCategory':
      direction === 'outbound'
        ? generalise(
            'subject-category-to-disclosable',
            'P2',
            'Tells the requesting officer why identity may be absent from a match: a third-country national or a protected person as such, ' +
              'anyone else (a citizen or permanent resident of either country, a registered Indian) as not-disclosable, which says no citizenship or status.',
            isMatch
          )
        : share('P2', 'Arrives generalised by the sending side (third-country national, protected person or not-disclosable), and is taken as it is.', isMatch),
    'subject.identity.surname': share('P2', 'Lets the officer compare the matched identity with the one the applicant claims.', disclosableMatch),
    'subject.identity.givenNames': share('P2', 'Lets the officer compare the matched identity with the one the applicant claims.', disclosableMatch),
    'subject.identity.aliases[].surname': share('P2', 'Identities used before are what the check is meant to reveal.', disclosableMatch),
    'subject.identity.aliases[].givenNames': share('P2', 'Identities used before are what the check is meant to reveal.', disclosableMatch),
    'subject.identity.dateOfBirth': share('P2', 'Distinguishes people with similar names and checks the biographic data claimed.', disclosableMatch),
    'subject.identity.sex': share('P4', 'Checks the biographic data claimed.', disclosableMatch),
    'subject.identity.birthCountry': share('P4', 'Checks the biographic data claimed.', disclosableMatch),
    'subject.identity.citizenship[]': share('P4', 'Checks the nationality claimed on the application.', disclosableMatch),
    'subject.document.type': share('P4', 'Lets the officer verify the match against the document presented.', disclosableMatch),
    'subject.document.issuingCountry': share('P4', 'Lets the officer verify the match against the document presented.', disclosableMatch),
    'subject.document.number': share('P4', 'Lets the officer verify the match against the document presented.', disclosableMatch),
    'subject.document.expiryDate': share('P4', 'Lets the officer verify the match against the document presented.', disclosableMatch),
    'subject.immigrationHistory[].category': share(
      'P2',
      'Prior refusals, removals, asylum outcomes and inadmissibility are what the decision needs, as categories only.',
      disclosableMatch
    ),
    'subject.immigrationHistory[].outcome': share('P2', 'The outcome within the category, from a closed list.', disclosableMatch),
    'subject.immigrationHistory[].date': share(
      'P2',
      'Whether an earlier refusal or removal still bears on the decision depends on when it happened.',
      disclosableMatch
    ),
    'subject.officerNotes': withhold('P2', "An officer's narrative is never shared; the categories carry what the decision needs."),
    'subject.matchScore': withhold('P10', 'A score invites automated thresholds; the requester gets MATCH and a human verifies it.')
  })
}

/**
 * A response echoes the reference its request arrived with, which the
 * requesting side pseudonymised (biometric.match-request.policy.ts): any
 * other value is the responding agency's own, a case number the requester
 * does not need, and the response is refused whole rather than sent with it.
 */
function echoesTheRequest(purpose: 'ie' | 'ac'): Exclusion {
  const pseudonym = new RegExp(PSEUDONYM_FORM.pattern)
  return {
    rule: `bmr-${purpose}-transaction-ref-not-echoed`,
    principle: 'P2',
    why: "a match response echoes the transactionRef its request arrived with, a pseudonym (ps1:…); any other value is the responding agency's own reference",
    excludes: (payload) => typeof payload.transactionRef !== 'string' || !pseudonym.test(payload.transactionRef)
  }
}

function direction(purpose: 'ie' | 'ac', dir: Direction, recipients: readonly string[], retentionDays: number): DirectionPolicy {
  return {
    recipients,
    retentionDays,
    onwardTransfer: false,
    humanReviewRequired: true,
    fields: responseFields(purpose, dir),
    exclusions: [echoesTheRequest(purpose)]
  }
}

// The response goes back to the agency that asked: IRCC or CBSA (ports of
// entry, inland enforcement, claims made at a port) in Canada; USCIS or CBP
// in the United States.
const EXAMINING_AGENCIES = ['IRCC', 'CBSA', 'USCIS', 'CBP'] as const
// Asylum claims: IRCC and CBSA in Canada; USCIS (asylum offices) in the United States.
const ASYLUM_AGENCIES = ['IRCC', 'CBSA', 'USCIS'] as const

// P5: kept with the application file it answers; longer for protection claims,
// which are reopened on appeal and in later claims.
const EXAMINATION_RETENTION_DAYS = 3650
const ASYLUM_RETENTION_DAYS = 5475

const policy: KindPolicy = {
  kind: 'biometric.match-response',
  version: '1.0.0',
  purposes: {
    'immigration-examination': {
      ...purposeAuthorities('biometric.match-response', 'immigration-examination'),
      outbound: direction('ie', 'outbound', EXAMINING_AGENCIES, EXAMINATION_RETENTION_DAYS),
      inbound: direction('ie', 'inbound', EXAMINING_AGENCIES, EXAMINATION_RETENTION_DAYS)
    },
    'asylum-claim': {
      ...purposeAuthorities('biometric.match-response', 'asylum-claim'),
      outbound: direction('ac', 'outbound', ASYLUM_AGENCIES, ASYLUM_RETENTION_DAYS),
      inbound: direction('ac', 'inbound', ASYLUM_AGENCIES, ASYLUM_RETENTION_DAYS)
    }
  }
}

export default policy
