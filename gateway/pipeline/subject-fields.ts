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
}

export function entrySubjects(payload: Record<string, unknown>, minimised: MinimisedPayload, digest: (identifier: string) => string): EntrySubjects {
  const identifiers = travellerSubjects(payload)
  const subjects = identifiers.map(digest)
  const arrays = Object.entries(minimised.items)
  if (arrays.length === 0 || identifiers.length < 2) return { subjects }
  // A decision no item was counted in (a batch's own `batchRef`) went out with every record.
  const itemFields = new Set(arrays.flatMap(([, items]) => items.flat()))
  const messageFields = minimised.decisions.flatMap((_d, i) => (itemFields.has(i) ? [] : [i]))
  const place = new Map(identifiers.map((identifier, i) => [identifier, i]))
  const sets = new Map<string, { fields: number[]; subjects: Set<number> }>()
  for (const [key, items] of arrays) {
    const values = payload[key] as unknown[]
    items.forEach((hits, i) => {
      // Only the payload's own identifiers: an item without one would be named otherwise alone (traveller-subjects.ts).
      const found = travellerSubjects(values[i]).flatMap((identifier) => {
        const at = place.get(identifier)
        return at === undefined ? [] : [at]
      })
      if (found.length === 0) return
      const fields = [...messageFields, ...hits].sort((a, b) => a - b)
      const id = fields.join(',')
      let set = sets.get(id)
      if (set === undefined) {
        set = { fields, subjects: new Set() }
        sets.set(id, set)
      }
      for (const at of found) set.subjects.add(at)
    })
  }
  const all = minimised.decisions.length
  if ([...sets.values()].every((set) => set.fields.length === all)) return { subjects }
  return { subjects, subjectFields: [...sets.values()].map((set) => ({ fields: set.fields, subjects: [...set.subjects].sort((a, b) => a - b) })) }
}
