// Traveller identifiers, as the ledger keeps them: keyed digests of a
// document (issuing country + number) or a programme membership id. A privacy
// officer asked "was this person's record shared?" computes the same digest
// from what the person shows, and finds every disclosure (P8, P12) without the
// ledger ever holding the identifier.

/** Text of ASCII alone, as every identifier a message holds is: read without Unicode's tables. */
const ASCII = /^[\x00-\x7f]*$/

function normalise(value: string): string {
  // Lower case first: a capital with no upper-case mapping of its own (ẞ)
  // then reads as its small letter does (ß, SS), so case is set aside
  // whichever a system wrote. For ASCII it is toUpperCase alone.
  return (ASCII.test(value) ? value : value.toLowerCase()).toUpperCase().replace(/[\s<-]/g, '')
}

/**
 * Hyphens of any kind (U+2010, a soft hyphen is \p{Cf}) and characters that
 * show nothing (a zero-width space, a bidirectional mark): a source system's
 * text or an officer's paste may hold them, and no one spelling a name or
 * a number out says them. ASCII holds none but the hyphen-minus.
 */
const HYPHENS_AND_INVISIBLES = /[\p{Pd}\p{Cf}]/gu

/**
 * A document number, issuing country or membership id as its digest is of.
 * A message holds them in ASCII only (schemas/common.schema.json), but an
 * officer types what the traveller shows, perhaps on a full-width keyboard
 * or pasted from a form: NFKC reads `Ｃ４４７` as `C447`, and a hyphen is a
 * hyphen whichever (U+2010, U+2011), and an invisible character is none.
 * For ASCII text this is `normalise`, so no digest the ledger holds changes.
 */
function identifier(value: string): string {
  // ASCII has no other hyphen, nothing invisible, nothing NFKC changes.
  if (ASCII.test(value)) return normalise(value)
  return normalise(value.normalize('NFKC')).replace(HYPHENS_AND_INVISIBLES, '')
}

/**
 * The part of an identifier the ledger's digest is of: case, spaces, the
 * MRZ's filler `<` and hyphens aside, and for a surname its accents.
 */
function significant(value: string, accents: 'kept' | 'set aside' = 'kept'): string {
  return normalise(accents === 'kept' ? value : value.normalize('NFKD').replace(/\p{M}/gu, '')).replace(HYPHENS_AND_INVISIBLES, '')
}

/**
 * Whether an identifier a privacy officer gives is nothing once read so
 * (`<<<`, a space, an accent alone): no message is named by it, so a report on
 * it could only come back empty, and a hold on it would hold nothing, without
 * a word (docs/privacy-officers.md, "The audit API").
 */
export function namesNoOne(id: { documentNumber?: string; issuingCountry?: string; membershipId?: string; surname?: string }): boolean {
  return (
    [id.documentNumber, id.issuingCountry, id.membershipId].some((v) => v !== undefined && identifier(v) === '') ||
    (id.surname !== undefined && significant(id.surname, 'set aside') === '')
  )
}

/**
 * Whether an issuing state a privacy officer gives reads, once read as a
 * document's is (any case, full-width, spaces and fillers aside), as an ICAO
 * code of one to three letters (`CAN`, Germany's `D`): a name written out
 * (`Canada`) names no document, and its report could only come back empty.
 */
export function namesIssuingState(issuingCountry: string): boolean {
  return /^[A-Z]{1,3}$/.test(identifier(issuingCountry))
}

/** A text's letters and digits alone, accents and case aside: what it spells out, whatever separates it. */
function spelled(value: string): string {
  return significant(value.normalize('NFKC'), 'set aside').replace(/[^\p{L}\p{N}]/gu, '')
}

/** A text's words, each as `significant` reads a surname. */
function words(value: string): string[] {
  return value
    .normalize('NFKC')
    .split(/[^\p{L}\p{N}\p{M}]+/u)
    .map((w) => significant(w, 'set aside'))
    .filter((w) => w !== '')
}

/** Whether some run of `text`'s words, side by side, spells `target` (`DE LA CRUZ` and `DelaCruz` alike). */
function hasWordRun(text: readonly string[], target: string): boolean {
  for (let i = 0; i < text.length; i++) {
    let run = ''
    for (let j = i; j < text.length && run.length < target.length; j++) run += text[j]
    if (run === target) return true
  }
  return false
}

/**
 * A document number or membership id this long is looked for anywhere in a
 * text (`HOLDC4471862`); a shorter one only as words of its own, where a
 * letter or two inside another word is no one's identifier.
 */
const SPELLED_WITHIN = 6

/**
 * Whether a text a privacy officer writes beside a traveller's identifier
 * (a hold's reference, complaint reference or reason) holds that identifier:
 * its document number or membership id, or its surname or date of birth. The
 * ledger keeps the references, for ever, and the identifier must never be in
 * it but as its keyed digest (docs/privacy-officers.md, "Complaint references").
 */
export function holdsIdentifier(text: string, id: { documentNumber?: string; membershipId?: string; surname?: string; dateOfBirth?: string }): boolean {
  const inWords = words(text)
  const inText = spelled(text)
  for (const number of [id.documentNumber, id.membershipId]) {
    if (number === undefined) continue
    const wanted = spelled(number)
    if (wanted.length >= SPELLED_WITHIN ? inText.includes(wanted) : hasWordRun(inWords, wanted)) return true
  }
  if (id.surname !== undefined && hasWordRun(inWords, words(id.surname).join(''))) return true
  return id.dateOfBirth !== undefined && inText.includes(spelled(id.dateOfBirth))
}

/**
 * Germany issues documents under two codes of the contract's list
 * (schemas/common.schema.json, icaoCode): DEU, and D as its MRZ writes it.
 * One document is one traveller's whichever a system or an officer writes.
 */
const SAME_ISSUING_STATE: ReadonlyMap<string, string> = new Map([['D', 'DEU']])

export function documentSubject(issuingCountry: string, number: string): string {
  const state = identifier(issuingCountry)
  return `document:${SAME_ISSUING_STATE.get(state) ?? state}:${identifier(number)}`
}

export function membershipSubject(membershipId: string): string {
  return `membership:${identifier(membershipId)}`
}

/**
 * A traveller a message names by no document and no membership (a protected
 * person matched by prints carries an identity only): by surname and date of
 * birth, the surname without its accents, as a person would spell it out.
 */
export function identitySubject(surname: string, dateOfBirth: string): string {
  return `identity:${significant(surname, 'set aside')}:${dateOfBirth}`
}

/**
 * Every identifier a payload carries, wherever it sits (a traveller, a
 * subject, each record of a batch). One that carries neither a document nor
 * a membership is named by each surname and date of birth it holds, so that
 * no traveller whose identity was shared is beyond their disclosure report
 * (P8). So is each record of a batch (the items of the payload's lists) on
 * its own: a record the partner sent without its document names its
 * traveller by name and date of birth, though the others name theirs by
 * their documents (the received schema requires no field).
 */
export function travellerSubjects(payload: unknown): string[] {
  const documents = identifiers(payload, readDocuments)
  if (documents.length === 0) return identifiers(payload, readIdentity)
  if (payload === null || typeof payload !== 'object') return documents
  // The documents above are every record's: only a record without one is read again.
  const found = new Set(documents)
  for (const list of Object.values(payload)) {
    if (!Array.isArray(list)) continue
    for (const item of list) if (!namesDocument(item)) for (const subject of identifiers(item, readIdentity)) found.add(subject)
  }
  return [...found]
}

type Read = (v: Record<string, unknown>, add: (subject: string) => void) => void

function isDocument(v: Record<string, unknown>): boolean {
  return (typeof v.number === 'string' && typeof v.issuingCountry === 'string') || typeof v.membershipId === 'string'
}

const readDocuments: Read = (v, add) => {
  if (typeof v.number === 'string' && typeof v.issuingCountry === 'string') add(documentSubject(v.issuingCountry, v.number))
  if (typeof v.membershipId === 'string') add(membershipSubject(v.membershipId))
}

const readIdentity: Read = (v, add) => {
  if (typeof v.surname === 'string' && typeof v.dateOfBirth === 'string') add(identitySubject(v.surname, v.dateOfBirth))
}

/** Whether `value` holds a document or a membership anywhere: found, not digested. */
function namesDocument(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(namesDocument)
  if (value === null || typeof value !== 'object') return false
  const v = value as Record<string, unknown>
  return isDocument(v) || Object.values(v).some(namesDocument)
}

/**
 * Whether a payload's travellers (`subjects`, its travellerSubjects) hold one
 * named by an identity whose surname is nothing once read (`-`, `<<<`): no
 * privacy officer can ask for it (namesNoOne), so what it shares of them
 * could never be accounted for (P8).
 */
export function namesUnaccountable(subjects: readonly string[]): boolean {
  return subjects.some((subject) => subject.startsWith('identity::'))
}

function identifiers(payload: unknown, read: Read): string[] {
  const found = new Set<string>()
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item)
      return
    }
    if (value === null || typeof value !== 'object') return
    const v = value as Record<string, unknown>
    read(v, (subject) => found.add(subject))
    for (const child of Object.values(v)) if (child !== null && typeof child === 'object') walk(child)
  }
  walk(payload)
  return [...found]
}
