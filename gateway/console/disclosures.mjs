// What a row of a traveller's disclosure report shows, checked against the
// ledger entry it carries (`ledgerEntry`, the text its inclusion proof
// proves): the event, time, parties, kind, purpose, authority, policy, the
// fields shared and withheld, what it supersedes and a hold's references
// must be what that text says, and the entry must name the report's
// traveller (docs/privacy-officers.md, "Checking a disclosure report
// offline"). A proof proves the text, not the fields of the answer beside it:
// whoever can rewrite the answer, or the columns a report is made from, could
// show other ones beside a proven entry.
//
// One check, run by both readers of a report: the console, in the browser
// (traveller.js), and tools/verify-disclosure.mjs, offline under Node.js
// from 20 on. So this module uses nothing of either: no node: module, no DOM,
// no Buffer. It is an .mjs file so that Node.js reads it as an ES module
// wherever the verifier and it are copied, with or without this
// repository's package.json (docs/privacy-officers.md, "Checking a
// disclosure report offline").

/** What a report row shows that its ledger entry must say, as it says it. */
const SHOWN = ['at', 'event', 'direction', 'messageId', 'kind', 'purpose', 'legalAuthority', 'from', 'to', 'reference', 'complaintRef']

/** What a row says its entry supersedes, as the ledger's entry would make it (routes/audit.ts, the report). */
function supersedesOf(entry) {
  const s = entry.supersedes
  return JSON.stringify(s == null ? null : { messageId: s.id, action: s.action, ...(s.reason === undefined ? {} : { reason: s.reason }) })
}

/**
 * The field decisions an entry records for the traveller whose keyed digest
 * is `subject`: none when it does not name them (an original a correction of
 * theirs supersedes, shown with it: its records name them by no identifier,
 * and any of them may be another person's); on an entry with `subjectFields`
 * (a batch whose records were not all decided alike, or a correction that
 * names travellers it no longer carries), those their own record was counted
 * in, by place, and none when no set names them; otherwise all of them
 * (docs/privacy-officers.md, "A traveller's record in a batch" and
 * "Corrections and retractions in the report").
 */
export function travellerFields(entry, subject) {
  const fields = Array.isArray(entry.fields) ? entry.fields : []
  const place = Array.isArray(entry.subjects) ? entry.subjects.indexOf(subject) : -1
  if (place < 0) return []
  if (!Array.isArray(entry.subjectFields)) return fields
  const own = new Set()
  for (const set of entry.subjectFields) if (set.subjects.includes(place)) for (const i of set.fields) own.add(i)
  return fields.filter((_f, i) => own.has(i))
}

/** What a report row says was shared and how many decisions withheld, from its entry. */
function disclosed(entry, subject) {
  const fields = travellerFields(entry, subject)
  return JSON.stringify({
    shared: fields.filter((f) => f.action !== 'withhold').map((f) => ({ path: f.path, action: f.action, rule: f.rule, principle: f.principle })),
    withheld: fields.filter((f) => f.action === 'withhold').length
  })
}

/** Whether the ledger entry names the traveller whose keyed digest is `subject`: an entry naming only another proves nothing of them. */
export function namesSubject(entry, subject) {
  return Array.isArray(entry.subjects) && entry.subjects.includes(subject)
}

/** What report row `row` shows other than its ledger entry `entry` says, in words; empty when the row is the entry, as shown. */
export function rowDiffers(row, entry, subject) {
  const differs = SHOWN.filter((k) => (entry[k] ?? null) !== (row[k] ?? null))
  if (JSON.stringify(entry.policy ?? null) !== JSON.stringify(row.policy ?? null)) differs.push('policy')
  if (supersedesOf(entry) !== JSON.stringify(row.supersedes ?? null)) differs.push('what it supersedes')
  if (disclosed(entry, subject) !== JSON.stringify({ shared: row.shared, withheld: row.withheld })) differs.push('the fields shared or withheld')
  return differs
}

/**
 * Why report row `row` of the report on `subject` is not its ledger text as
 * shown, in the words tools/verify-disclosure.mjs prints and the console
 * shows; null when it is. Whether that text is the ledger's is the inclusion
 * proof's to say, and whether it is the traveller's is notTheTravellers's,
 * not this.
 */
export function rowNotAsItsEntry(row, subject) {
  let entry
  try {
    entry = JSON.parse(row.ledgerEntry)
  } catch {
    return 'its ledger text is not JSON'
  }
  const differs = rowDiffers(row, entry, subject)
  return differs.length === 0 ? null : `the report shows ${differs.join(', ')} other than the ledger says`
}

/**
 * Why report row `row`'s `supersededBy` is not borne out by `superseding`,
 * the report's row of the entry it names, already proven: that entry must be
 * the correction or retraction of this message, as said. Null when it is.
 * Whether the original was withdrawn before it left is the gateway's account,
 * from an entry that names no traveller, and no report proves it
 * (docs/privacy-officers.md, "Checking a disclosure report offline").
 */
export function notSupersededAsSaid(row, superseding) {
  const by = row.supersededBy
  const says = JSON.parse(superseding.ledgerEntry)
  const matches =
    says.messageId === by.messageId &&
    says.direction === row.direction &&
    says.supersedes?.id === row.messageId &&
    says.supersedes?.action === by.action &&
    (says.supersedes?.reason ?? null) === (by.reason ?? null)
  return matches ? null : `the report says it was superseded by entry ${by.seq}, which does not supersede it so`
}

/**
 * The rows among `proven` (the seqs of `rows` whose text is proven and shown
 * as it says) that are not the report's traveller's, each with why. A row is
 * theirs when its entry names them, or when it is of a message that a
 * correction or retraction of theirs in the same rows supersedes, back along
 * the chain: a correction of the document number itself names the old number
 * and the new, its original the old one only, and a report by the new number
 * shows the original too (docs/privacy-officers.md, "Corrections and
 * retractions in the report"). An original whose correction is on another
 * page of the report is proven with that page.
 */
export function notTheTravellers(rows, proven, subject) {
  const entries = new Map()
  for (const d of rows) if (proven.has(d.seq)) entries.set(d.seq, JSON.parse(d.ledgerEntry))
  const theirs = new Set([...entries].filter(([, e]) => namesSubject(e, subject)).map(([seq]) => seq))
  for (let grew = true; grew; ) {
    grew = false
    const superseded = new Set()
    for (const seq of theirs) {
      const e = entries.get(seq)
      // A correction's own entry as taken in: a refused one superseded nothing.
      if (e.supersedes != null && (e.event === 'accepted' || e.event === 'received')) superseded.add(`${e.direction} ${e.supersedes.id}`)
    }
    for (const [seq, e] of entries) {
      if (theirs.has(seq) || !superseded.has(`${e.direction} ${e.messageId}`)) continue
      theirs.add(seq)
      grew = true
    }
  }
  const why = "its ledger entry does not name the report's traveller, nor is it of a message that a correction or retraction of theirs in this page supersedes"
  return new Map([...entries.keys()].filter((seq) => !theirs.has(seq)).map((seq) => [seq, why]))
}

/**
 * Why a row's `seq` is not a ledger position (a whole number from 1), or
 * null when it is. A row is proven at its seq only: one shown again under
 * "2" beside 2 would be proven twice, unseen by repeatedRows, and 0, -1 or
 * 1.5 name no entry.
 */
export function notALedgerPosition(seq) {
  return Number.isSafeInteger(seq) && seq >= 1 ? null : `a row's seq, ${JSON.stringify(seq) ?? String(seq)}, is not a ledger position (a whole number from 1)`
}

/** The seqs that more than one row of `rows` shows: a report shows each entry once, and a repeated one counts a disclosure twice. */
export function repeatedRows(rows) {
  const seen = new Set()
  const repeated = new Set()
  for (const d of rows) if (notALedgerPosition(d.seq) === null) (seen.has(d.seq) ? repeated : seen).add(d.seq)
  return repeated
}
