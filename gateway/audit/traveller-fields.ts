// What an entry records as done to one traveller's own record: for a batch
// whose records were not all decided alike, the decisions theirs was counted
// in (AuditEntry.subjectFields); otherwise the entry's every decision.
import type { FieldDecision } from '../../policies/lib/engine.ts'
import type { AuditEntry } from '../store/records.ts'

/** `subject` is a keyed digest, as `entry.subjects` holds it. */
export function travellerFields(entry: AuditEntry, subject: string): readonly FieldDecision[] {
  const place = entry.subjects.indexOf(subject)
  if (entry.subjectFields === undefined || place < 0) return entry.fields
  const own = new Set<number>()
  for (const set of entry.subjectFields) if (set.subjects.includes(place)) for (const field of set.fields) own.add(field)
  // Named in `subjects` but in no set: a traveller of what a correction supersedes, whose fields this entry does not tell apart.
  return own.size === 0 ? entry.fields : entry.fields.filter((_field, i) => own.has(i))
}
