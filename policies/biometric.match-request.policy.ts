// Biometric match request: an anonymous fingerprint query under the 2012 visa
// and immigration information-sharing treaty (Canada: IRPR Part 19.1).
// Fingerprint templates travel; nothing else that could identify the person
// does. The receiver deletes the query once matched, match or not (P5).
import type { DirectionPolicy, Direction, Exclusion, FieldRules, KindPolicy } from './lib/types.ts'
import { fieldRules, pseudonymise, share, withhold } from './lib/rule-table.ts'
import { purposeAuthorities } from './authorities.ts'

function requestFields(purpose: 'ie' | 'ac', direction: Direction): FieldRules {
  const inbound = direction === 'inbound'
  return fieldRules(`bmq-${purpose}-${direction === 'outbound' ? 'out' : 'in'}`, {
    transactionRef: inbound
      ? share('P2', 'Arrives pseudonymised by the sending gateway; the local matcher echoes it in its response.')
      : pseudonymise(
          'P2',
          "The partner's matcher needs an opaque reference to echo, not the requesting system's case number; the response comes back linked by correlationId."
        ),
    encounterType: share(
      'P1',
      'Tells the matching agency which treaty purpose the query serves (visa, permit, travel authorisation, asylum claim, port of entry).'
    ),
    capturedAt: withhold('P2', 'Not needed to match prints; the query stays anonymous.'),
    'fingerprints[].position': share('P2', 'The matcher compares finger against the same finger.'),
    'fingerprints[].impressionType': share('P4', 'Rolled and plain impressions are matched differently; without it the result is less reliable.'),
    'fingerprints[].format': share('P4', 'The matcher must know how to read the template (ISO/IEC 19794-2 or ANSI/NIST-ITL Type-9).'),
    'fingerprints[].resolutionDpi': share('P4', 'Minutiae coordinates are meaningless without the resolution.'),
    'fingerprints[].quality': share('P4', 'The NFIQ 2 score lets the matcher reject or down-weight poor prints instead of reporting a false NO_MATCH.'),
    'fingerprints[].template': share('P2', 'The minutiae template is the query itself; images never travel (the schema refuses them).')
  })
}

/**
 * An asylum-claim query is for a protection claim: the encounter that gave
 * rise to it is the claim, or the port of entry where it was made. A visa,
 * permit or travel-authorisation query sent under it would have its answer
 * kept and given as an asylum case's, for longer and to other agencies (P1).
 * A protection claim may be examined under immigration examination, so that
 * purpose takes every encounter.
 */
const ASYLUM_ENCOUNTERS: ReadonlySet<unknown> = new Set(['asylum-claim', 'port-of-entry-examination'])
const asylumEncounter: Exclusion = {
  rule: 'bmq-ac-encounter-type',
  principle: 'P1',
  why: 'an asylum-claim query is for a protection claim, made as such or at a port of entry; a visa, permit or travel-authorisation query is sent for immigration examination',
  excludes: (payload) => !ASYLUM_ENCOUNTERS.has(payload.encounterType)
}

function direction(purpose: 'ie' | 'ac', dir: Direction, recipients: readonly string[]): DirectionPolicy {
  return {
    recipients,
    // P5: the query is deleted once matched, match or not; nothing is kept.
    retentionDays: 0,
    onwardTransfer: false,
    humanReviewRequired: true,
    fields: requestFields(purpose, dir),
    ...(purpose === 'ac' ? { exclusions: [asylumEncounter] } : {})
  }
}

// The agencies that run a biometric match on a partner's query: IRCC (GCMS)
// in Canada; USCIS and DHS-OBIM (IDENT) in the United States.
const MATCHING_AGENCIES = ['IRCC', 'USCIS', 'DHS-OBIM'] as const

const policy: KindPolicy = {
  kind: 'biometric.match-request',
  version: '1.0.0',
  purposes: {
    'immigration-examination': {
      ...purposeAuthorities('biometric.match-request', 'immigration-examination'),
      outbound: direction('ie', 'outbound', MATCHING_AGENCIES),
      inbound: direction('ie', 'inbound', MATCHING_AGENCIES)
    },
    'asylum-claim': {
      ...purposeAuthorities('biometric.match-request', 'asylum-claim'),
      outbound: direction('ac', 'outbound', MATCHING_AGENCIES),
      inbound: direction('ac', 'inbound', MATCHING_AGENCIES)
    }
  }
}

export default policy
