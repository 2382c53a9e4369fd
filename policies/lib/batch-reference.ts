// A batch's own reference (`batchRef`), as both batch kinds send it: the
// sender's free text, which may read as anything (a name and a date of birth
// fit its pattern). The partner reconciles receipts and audit entries for a
// batch by a keyed pseudonym of it, stable for the same reference, never the
// reference itself.
import type { Direction } from './types.ts'
import type { RuleSpec } from './rule-table.ts'
import { pseudonymise, share } from './rule-table.ts'

export function batchReference(direction: Direction): RuleSpec {
  return direction === 'inbound'
    ? share('P12', 'Arrives pseudonymised by the sending gateway; it reconciles receipts and audit entries for the batch.')
    : pseudonymise(
        'P12',
        "The partner reconciles receipts and audit entries for the batch by a stable pseudonym of the sender's reference, not by its free text."
      )
}
