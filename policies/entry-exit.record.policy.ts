// Entry/exit record (Entry/Exit Initiative; Canada: Customs Act s. 92): the
// record of an entry into one country is the record of the exit from the
// other. Names, date of birth, citizenship, sex, the document and the date,
// time, port and mode of the crossing travel; the vehicle, plates, photo,
// co-travellers, address, notes and collection channel never do. Air exit
// records are collected from airlines and are never exchanged.
import type { DirectionPolicy, Direction, Exclusion, FieldRules, KindPolicy, PurposePolicy } from './lib/types.ts'
import type { Condition, RuleSpec } from './lib/rule-table.ts'
import { fieldRules, generalise, objectAt, share, withhold } from './lib/rule-table.ts'
import { purposeAuthorities } from './authorities.ts'

export type EntryExitPurpose = 'entry-exit-verification' | 'residency-determination' | 'removal-enforcement'

export const ENTRY_EXIT_PURPOSE_CODES: Readonly<Record<EntryExitPurpose, string>> = {
  'entry-exit-verification': 'eev',
  'residency-determination': 'rd',
  'removal-enforcement': 're'
}

/** An exit by air, or an exit record an airline supplied whatever mode it names (its `source` is withheld, so the partner could not tell). */
function isAirExit(record: unknown): boolean {
  if (typeof record !== 'object' || record === null) return false
  const r = record as Record<string, unknown>
  return r.recordType === 'exit' && (objectAt(record, 'crossing')?.travelMode === 'air' || r.source === 'airline-api')
}

/**
 * Air exit records come from airlines (there is no exit inspection at
 * airports) and are not given to the partner. The same function serves the
 * single record and the batch: given a batch, it holds only when no record in
 * it is an air exit, so a batch carrying one is withheld whole (fail closed);
 * given one record of a batch, it judges that record alone.
 */
export const notAirExit: Condition = {
  when: (payload) => {
    const records = payload.records
    return Array.isArray(records) ? !records.some(isAirExit) : !isAirExit(payload)
  },
  condition:
    'not an air exit record, by its mode or its source (airline-api): those are collected from airlines and never exchanged (a batch holding one is withheld whole)'
}

/** The rule table for one record, keyed by its paths relative to the record. */
export function recordFieldSpecs(purpose: EntryExitPurpose, direction: Direction): Readonly<Record<string, RuleSpec>> {
  const residency = purpose === 'residency-determination'
  const inbound = direction === 'inbound'
  const never = (why: string): RuleSpec => withhold('P2', `Never shared under the Entry/Exit Initiative: ${why}`)
  const c = notAirExit
  const crossingTime: RuleSpec = !residency
    ? share('P2', 'When the person left or arrived is the fact being verified, to the minute.', c)
    : inbound
      ? share('P2', "Arrives as a date, generalised by the sender's outbound rule; the received-payload check refuses a time of day.", c)
      : generalise('datetime-to-date', 'P2', 'Residency and physical-presence tests count days; the time of the crossing adds nothing.', c)
  return {
    recordType: share('P2', 'Entry or exit is the fact the partner records as the opposite movement.', c),
    'traveller.surname': share('P2', 'Names are needed to attach the crossing to the right person.', c),
    'traveller.givenNames': share('P2', 'Names are needed to attach the crossing to the right person.', c),
    'traveller.middleNames': share('P2', 'Names are needed to attach the crossing to the right person.', c),
    'traveller.dateOfBirth': share('P2', 'Distinguishes people with the same name.', c),
    'traveller.sex': share('P4', 'Part of the document identity the record is matched against.', c),
    'traveller.citizenship': share('P2', 'Part of the agreed entry/exit data set; no rule here branches on it (P6).', c),
    'traveller.subjectCategory': never(
      'a subject category (a refugee or protected person, a Registered Indian, a permanent resident) is not in the agreed data set; the receiving agency has its own record of who it concerns.'
    ),
    'document.type': share('P4', 'The document identifies the traveller at the crossing.', c),
    'document.issuingCountry': share('P4', 'The document identifies the traveller at the crossing.', c),
    'document.number': share('P4', 'The document identifies the traveller at the crossing.', c),
    'crossing.dateTime': crossingTime,
    'crossing.portCode': share('P2', 'Where the person crossed; the partner records it as its own port of exit or entry.', c),
    'crossing.portName': never('the port code says where the person crossed; a name written as free text could carry anything else.'),
    'crossing.travelMode': share('P2', 'Land, rail or marine; the mode changes what the record can prove.', c),
    'vehicle.licencePlate': never('licence plates identify the vehicle and its owner, not the traveller.'),
    'vehicle.make': never('the vehicle is not part of the agreed data set.'),
    photoRef: never('photos are not part of the agreed data set.'),
    'coTravellers[]': never('co-travellers have their own records; linking people is not a purpose.'),
    address: never('an address is not needed to record a crossing.'),
    inspectionNotes: never("an officer's notes stay in the recording country."),
    source: never('how the record was collected is internal; air exit records from airlines are not exchanged at all.')
  }
}

// Who may receive crossing records, per purpose. Border management and
// removals: CBSA and CBP. Residency (Canadian permanent residence and
// citizenship, U.S. naturalisation): IRCC and USCIS, with CBSA for
// residency-obligation examinations at the port.
export const ENTRY_EXIT_RECIPIENTS: Readonly<Record<EntryExitPurpose, readonly string[]>> = {
  'entry-exit-verification': ['CBSA', 'CBP'],
  'residency-determination': ['IRCC', 'CBSA', 'USCIS'],
  'removal-enforcement': ['CBSA', 'CBP']
}

// P5: 15 years for border records (CBSA entry/exit retention); residency
// tests look back five years, so six years is enough for them.
export const ENTRY_EXIT_RETENTION_DAYS: Readonly<Record<EntryExitPurpose, number>> = {
  'entry-exit-verification': 5475,
  'residency-determination': 2190,
  'removal-enforcement': 5475
}

/** Refuses, rather than empties, a message that holds an air exit record (the field rules withhold them too). */
export function airExitExclusion(prefix: string): Exclusion {
  return {
    rule: `${prefix}-air-exit`,
    principle: 'P2',
    why: 'air exit records are collected from airlines and are never exchanged, whatever mode an airline-api record names; send land, rail and marine records only',
    excludes: (payload) => !notAirExit.when(payload)
  }
}

/** Where each entry/exit kind's rule ids start. */
const RULE_PREFIXES = { 'entry-exit.record': 'eer', 'entry-exit.batch': 'eeb' } as const

/**
 * An entry/exit kind's policy: a record and a batch of records go to the same
 * recipients, are kept as long and exclude air exits alike, each kind under
 * rule ids of its own and with the field rules `fieldSpecs` gives for a
 * purpose and direction.
 */
export function entryExitPolicy(
  kind: keyof typeof RULE_PREFIXES,
  fieldSpecs: (purpose: EntryExitPurpose, dir: Direction) => Readonly<Record<string, RuleSpec>>
): KindPolicy {
  const direction = (purpose: EntryExitPurpose, dir: Direction): DirectionPolicy => {
    const prefix = `${RULE_PREFIXES[kind]}-${ENTRY_EXIT_PURPOSE_CODES[purpose]}-${dir === 'outbound' ? 'out' : 'in'}`
    const fields: FieldRules = fieldRules(prefix, fieldSpecs(purpose, dir))
    return {
      recipients: ENTRY_EXIT_RECIPIENTS[purpose],
      retentionDays: ENTRY_EXIT_RETENTION_DAYS[purpose],
      onwardTransfer: false,
      humanReviewRequired: true,
      exclusions: [airExitExclusion(prefix)],
      fields
    }
  }
  const purposePolicy = (purpose: EntryExitPurpose): PurposePolicy => ({
    ...purposeAuthorities(kind, purpose),
    outbound: direction(purpose, 'outbound'),
    inbound: direction(purpose, 'inbound')
  })
  return {
    kind,
    version: '1.0.0',
    purposes: {
      'entry-exit-verification': purposePolicy('entry-exit-verification'),
      'residency-determination': purposePolicy('residency-determination'),
      'removal-enforcement': purposePolicy('removal-enforcement')
    }
  }
}

const policy: KindPolicy = entryExitPolicy('entry-exit.record', recordFieldSpecs)

export default policy
