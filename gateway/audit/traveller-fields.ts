// What an entry records as done to one traveller's own record: on an entry
// that says which decisions each traveller was counted in
// (AuditEntry.subjectFields: a batch whose records were not all decided alike,
// or a correction that names travellers it no longer carries), those of
// theirs, and none when it names them in no set; on an entry that does not
// name them at all (an original their correction supersedes, found through
// it: its records name them by no identifier, and any of them may be another
// person's), none; otherwise the entry's every decision
// (docs/privacy-officers.md, "A traveller's record in a batch" and
// "Corrections and retractions in the report"). The console and the offline
// verifier read an entry the same way (console/disclosures.mjs).
import type { FieldDecision } from '../../policies/lib/engine.ts'
import type { AuditEntry } from '../store/records.ts'

/** `subject` is a keyed digest, as `entry.subjects` holds it. */
export function travellerFields(entry: AuditEntry, subject: string): readonly FieldDecision[] {
  const place = entry.subjects.indexOf(subject)
  if (place < 0) return []
  if (entry.subjectFields === undefined) return entry.fields
  const own = new Set<number>()
  for (const set of entry.subjectFields) if (set.subjects.includes(place)) for (const field of set.fields) own.add(field)
  return entry.fields.filter((_field, i) => own.has(i))
}
