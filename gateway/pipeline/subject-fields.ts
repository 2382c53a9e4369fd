// The travellers a message names, as its ledger entry keeps them, and for a
// message of several records (a batch) which field decisions each one's own
// record was counted in. A batch's decisions are grouped by rule outcome over
// all its records (policies/lib/engine.ts), so without this a traveller's
// disclosure report would list what was done to anyone's record in the batch,
// a `records[].vehicle` decision for a record with no vehicle among them
// (P8; docs/privacy-officers.md, "A traveller's record in a batch").
import type { MinimisedPayload } from '../../policies/lib/engine.ts'
import type { SubjectFields } from '../store/records.ts'
import { travellerSubjects } from './traveller-subjects.ts'

export interface EntrySubjects {
  /** Keyed digests of every traveller identifier the payload carries (AuditEntry.subjects). */
  readonly subjects: readonly string[]
  /** Which decisions each traveller's own record was counted in (AuditEntry.subjectFields); absent when every record was decided alike. */
  readonly subjectFields?: readonly SubjectFields[]
  /**
   * On a message of records (a batch, whose lists' items name its
   * travellers; absent on a single record, whatever lists it has): the
   * decisions no record was counted in, the batch's own fields (its
   * `batchRef`), which went out with every record. All a correction's entry
   * says of a traveller of the original it names who is not among its own
   * records (supersedingSubjects).
   */
  readonly messageFields?: readonly number[]
}

/** `identifiers`: the payload's travellerSubjects, where the caller read them already. */
export function entrySubjects(
  payload: Record<string, unknown>,
  minimised: MinimisedPayload,
  digest: (identifier: string) => string,
  identifiers: readonly string[] = travellerSubjects(payload)
): EntrySubjects {
  const subjects = identifiers.map(digest)
  const arrays = Object.entries(minimised.items)
  const place = new Map(identifiers.map((identifier, i) => [identifier, i]))
  // Each item of the payload's lists that names a traveller, with the decisions it was counted in.
  const records = arrays.flatMap(([key, items]) => {
    const values = payload[key] as unknown[]
    return items.flatMap((hits, i) => {
      // Only the payload's own identifiers: an item without one would be named otherwise alone (traveller-subjects.ts).
      const found = travellerSubjects(values[i]).flatMap((identifier) => {
        const at = place.get(identifier)
        return at === undefined ? [] : [at]
      })
      return found.length === 0 ? [] : [{ hits, found }]
    })
  })
  // A single record's lists (its co-travellers' names, a designation's
  // conditions, fingerprints) name no traveller: they are its own, and it is
  // no batch, whose travellers are its lists' items.
  if (records.length === 0) return { subjects }
  // A decision no item was counted in (a batch's own `batchRef`) went out with every record.
  const itemFields = new Set(arrays.flatMap(([, items]) => items.flat()))
  const messageFields = minimised.decisions.flatMap((_d, i) => (itemFields.has(i) ? [] : [i]))
  if (identifiers.length < 2) return { subjects, messageFields }
  const sets = new Map<string, { fields: number[]; subjects: Set<number> }>()
  for (const { hits, found } of records) {
    const fields = [...messageFields, ...hits].sort((a, b) => a - b)
    const id = fields.join(',')
    let set = sets.get(id)
    if (set === undefined) {
      set = { fields, subjects: new Set() }
      sets.set(id, set)
    }
    for (const at of found) set.subjects.add(at)
  }
  const all = minimised.decisions.length
  if ([...sets.values()].every((set) => set.fields.length === all)) return { subjects, messageFields }
  return {
    subjects,
    subjectFields: [...sets.values()].map((set) => ({ fields: set.fields, subjects: [...set.subjects].sort((a, b) => a - b) })),
    messageFields
  }
}

/**
 * What a correction's or a retraction's entry names: its own travellers,
 * then those of the original it supersedes that it does not carry, so that a
 * report on either finds both (docs/privacy-officers.md, "Corrections and
 * retractions in the report"). `decisions` is how many field decisions the
 * entry records. A correction of a batch disclosed nothing of a record it
 * left out but the batch's own fields: those are all its entry names for
 * such a traveller, where without a set of their own they would be read as
 * in every record (docs/privacy-officers.md, "A traveller's record in a
 * batch"). A correction of a single record disclosed nothing of a traveller
 * the original named and it does not: such a traveller is in none of its
 * sets. So such an entry always says which decisions each traveller was
 * counted in, even when its own records were decided alike.
 */
export function supersedingSubjects(own: EntrySubjects, decisions: number, original: readonly string[]): EntrySubjects {
  const subjects = [...new Set([...own.subjects, ...original])]
  // The original's travellers come after this message's, so the places its own sets name stay theirs.
  const added = subjects.slice(own.subjects.length).map((_s, i) => own.subjects.length + i)
  // No one of the original left out, or nothing disclosed (a retraction): the message's own sets say it all.
  if (added.length === 0 || decisions === 0) {
    return own.subjectFields === undefined ? { subjects } : { subjects, subjectFields: own.subjectFields }
  }
  // Decided alike: every one of its own travellers was counted in every decision.
  const sets = own.subjectFields ?? [{ fields: Array.from({ length: decisions }, (_d, i) => i), subjects: own.subjects.map((_s, i) => i) }]
  // A single record that names another traveller than its original (corrected
  // to the right person, or to the right document number): it disclosed
  // nothing of the one it no longer names, whom its entry puts in no set. Its
  // lists (a designation's conditions) are its own, not a batch's records.
  if (own.messageFields === undefined) return { subjects, subjectFields: sets.filter((set) => set.subjects.length > 0) }
  const sameFields = (set: SubjectFields) => set.fields.length === own.messageFields!.length && set.fields.every((f, i) => f === own.messageFields![i])
  const batchOnly = sets.find(sameFields)
  const subjectFields = [
    ...sets.filter((set) => set !== batchOnly && set.subjects.length > 0),
    { fields: [...own.messageFields], subjects: [...(batchOnly?.subjects ?? []), ...added] }
  ]
  return { subjects, subjectFields }
}
