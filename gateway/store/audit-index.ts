// What the ledger indexes about an entry, and the search built on it. Both
// stores share this module so that a query means the same on SQLite and on
// PostgreSQL. The index is derived from the entry's JSON, which alone the
// chain hash covers: the index makes search fast, the chain makes it honest.
import { createHash } from 'node:crypto'
import type { AuditEntry, AuditQuery } from './records.ts'

/** The entry's searchable columns, as stored beside its JSON. */
export interface AuditColumns {
  readonly at: string
  readonly event: string
  /** NULL for an entry about no message (a purge, a legal hold, a disclosure report). */
  readonly direction: string | null
  readonly kind: string | null
  readonly purpose: string | null
  readonly code: string | null
  readonly messageId: string | null
  readonly policyVersion: string | null
  readonly fromCountry: string | null
  readonly fromAgency: string | null
  readonly toCountry: string | null
  readonly toAgency: string | null
}

/**
 * ISO instants compare as text only in one form: `2026-11-25T12:00:00Z` sorts
 * before `2026-11-25T12:00:00.000Z` although they are the same instant.
 * Everything stored and every bound searched is put in `toISOString()` form,
 * within years 0000 to 9999: past them that form gains a sign and two more
 * digits (`+010000-…`, which a bound of `9999-12-31T23:00:00-05:00` is), and
 * sorts before every other.
 */
export function normaliseInstant(value: string): string {
  const t = Date.parse(value)
  return Number.isNaN(t) ? value : new Date(Math.min(Math.max(t, FIRST_INSTANT), LAST_INSTANT)).toISOString()
}

const FIRST_INSTANT = Date.parse('0000-01-01T00:00:00.000Z')
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z')

/** `records[3].document.number` → `records[].document.number`. */
export function fieldPattern(path: string): string {
  // Most paths hold no index: they are their own pattern, without a regular expression per field of every entry.
  return path.includes('[') ? path.replace(/\[\d+\]/g, '[]') : path
}

function party(value: string | null): { country: string | null; agency: string | null } {
  if (value === null) return { country: null, agency: null }
  const [country, agency] = value.split('/')
  return { country: country || null, agency: agency || null }
}

export function auditColumns(entry: AuditEntry): AuditColumns {
  const from = party(entry.from)
  const to = party(entry.to)
  return {
    at: normaliseInstant(entry.at),
    event: entry.event,
    direction: entry.direction ?? null,
    kind: entry.kind,
    purpose: entry.purpose,
    code: entry.code,
    messageId: entry.messageId,
    policyVersion: entry.policy?.version ?? null,
    fromCountry: from.country,
    fromAgency: from.agency,
    toCountry: to.country,
    toAgency: to.agency
  }
}

/** The distinct field patterns an entry decides on: one index row each, however many records a batch holds. */
export function auditFieldPatterns(entry: AuditEntry): string[] {
  return [...new Set(entry.fields.map((f) => fieldPattern(f.path)))]
}

/**
 * The field patterns an entry decides on, as the search index keeps them: a
 * roll-up (docs/architecture.md, "The ledger's writes"). Entries of one kind
 * decide on the same few sets of fields, so each distinct set is stored once
 * (audit_field_sets, and a row per pattern in audit_field_set_patterns for
 * search) and an entry names its set in one column: one index row an entry
 * where there were 22, each in two indexes.
 */
export interface FieldSet {
  /** Derived from the patterns (fieldSetId): the same set has the same id in every ledger and on every writer. */
  readonly id: string
  /** The distinct patterns, sorted, joined by a space (no pattern holds one). */
  readonly patterns: string
}

export function fieldSetId(patterns: string): string {
  return createHash('sha256').update(patterns).digest('base64url').slice(0, 22)
}

/** Sets already met, by their patterns in the entry's order: a busy ledger meets a few sets millions of times. */
const knownSets = new Map<string, FieldSet>()
const KNOWN_SETS_MAX = 4096

/** The entry's field set, or undefined for an entry that decides on no field. */
export function auditFieldSet(entry: AuditEntry): FieldSet | undefined {
  if (entry.fields.length === 0) return undefined
  const patterns = auditFieldPatterns(entry)
  const seen = patterns.join(' ')
  let set = knownSets.get(seen)
  if (set === undefined) {
    const sorted = patterns.sort().join(' ')
    set = { id: fieldSetId(sorted), patterns: sorted }
    if (knownSets.size >= KNOWN_SETS_MAX) knownSets.clear()
    knownSets.set(seen, set)
  }
  return set
}

export function auditSubjects(entry: AuditEntry): string[] {
  return [...new Set(entry.subjects ?? [])]
}

/** Column names in the order `auditColumnValues` gives them. */
export const AUDIT_COLUMNS = [
  'at',
  'event',
  'direction',
  'kind',
  'purpose',
  'code',
  'message_id',
  'policy_version',
  'from_country',
  'from_agency',
  'to_country',
  'to_agency'
] as const

export function auditColumnValues(c: AuditColumns): Array<string | null> {
  return [c.at, c.event, c.direction, c.kind, c.purpose, c.code, c.messageId, c.policyVersion, c.fromCountry, c.fromAgency, c.toCountry, c.toAgency]
}

export type SqlDialect = 'sqlite' | 'postgres'

export interface SearchSql {
  /** In the stores' shared form: `?` placeholders, `{table}` names (store/sql/dialect.ts). */
  readonly sql: string
  readonly values: Array<string | number>
}

/** The field sets that hold a pattern (`fieldSets` of searchSql): read first, then searched by. */
export const FIELD_SETS_OF_PATTERN = 'SELECT field_set FROM {audit_field_set_patterns} WHERE path_pattern = ?'

/**
 * Up to this many field sets, a search by field is one ordered range per set
 * (each stops after `limit` matches), merged; past it, the ledger is read in
 * seq order and each entry's set checked, which is as quick when the pattern
 * is in that many sets: it is then in most entries.
 */
const SET_BRANCHES_MAX = 32

/**
 * One page of a search, in ascending seq after the cursor. The table whose
 * index is most selective for the query drives it in seq order, so a page
 * stops after `limit` matches instead of sorting everything that matches:
 * a traveller's digest (a handful of entries), then a field pattern's sets,
 * then the ledger itself, with every other filter checked on the way.
 * `fieldSets`: the sets that hold the query's field pattern
 * (FIELD_SETS_OF_PATTERN); a query by field whose pattern is in none
 * matches nothing and needs no search.
 */
export function searchSql(query: AuditQuery, afterSeq: number, limit: number, dialect: SqlDialect, fieldSets: readonly string[] = []): SearchSql {
  const values: Array<string | number> = []
  const p = (value: string | number): string => {
    values.push(value)
    return '?'
  }
  const list = (items: readonly string[]): string => `(${items.map(p).join(', ')})`
  const byField = query.fieldPath !== undefined
  // SQLite keeps the left table of a CROSS JOIN as the outer loop: the hint
  // that makes the driving index the one chosen here. PostgreSQL plans joins
  // from its statistics and has no such form.
  const join = dialect === 'sqlite' ? 'CROSS JOIN' : 'JOIN'
  /** The filters on the entry's own columns, each time with its own placeholders. */
  const filters = (): string[] => {
    const where: string[] = []
    if (query.from !== undefined) where.push(`a.at >= ${p(normaliseInstant(query.from))}`)
    if (query.to !== undefined) where.push(`a.at < ${p(normaliseInstant(query.to))}`)
    const equal: Array<[string, string | undefined]> = [
      ['a.kind', query.kind],
      ['a.purpose', query.purpose],
      ['a.event', query.event],
      ['a.code', query.code],
      ['a.direction', query.direction],
      ['a.message_id', query.messageId],
      ['a.policy_version', query.policyVersion]
    ]
    for (const [column, value] of equal) if (value !== undefined) where.push(`${column} = ${p(value)}`)
    if (query.partner !== undefined) where.push(`(a.from_country = ${p(query.partner)} OR a.to_country = ${p(query.partner)})`)
    if (query.agency !== undefined) where.push(`(a.from_agency = ${p(query.agency)} OR a.to_agency = ${p(query.agency)})`)
    return where
  }
  const columns = 'a.seq, a.entry, a.prev_hash, a.hash'
  if (query.subject !== undefined) {
    const where = [`d.subject = ${p(query.subject)}`, `d.seq > ${p(afterSeq)}`]
    if (byField) where.push(`a.field_set IN ${list(fieldSets)}`)
    where.push(...filters())
    const sql = `SELECT ${columns} FROM {audit_subjects} d ${join} {audit} a ON a.seq = d.seq WHERE ${where.join(' AND ')} ORDER BY d.seq LIMIT ${p(limit)}`
    return { sql, values }
  }
  if (byField && fieldSets.length <= SET_BRANCHES_MAX) {
    // Each set's entries are one range of audit_field_set, in seq order:
    // a page is the first `limit` of each, merged.
    const branches = fieldSets.map((set, i) => {
      const where = [`a.field_set = ${p(set)}`, `a.seq > ${p(afterSeq)}`, ...filters()]
      return `SELECT seq FROM (SELECT a.seq FROM {audit} a WHERE ${where.join(' AND ')} ORDER BY a.seq LIMIT ${p(limit)}) b${i}`
    })
    const sql = `SELECT ${columns} FROM (${branches.join(' UNION ALL ')}) m ${join} {audit} a ON a.seq = m.seq ORDER BY m.seq LIMIT ${p(limit)}`
    return { sql, values }
  }
  // With `from`, the walk over the ledger starts at the first entry at or
  // after it, found through the index on `at`, not at the ledger's first
  // entry: a window at the ledger's end (the console's overview) no longer
  // reads all that came before it. Exact however the entries' times
  // interleave: the filter on `at` below still applies. One lower bound, the
  // greater, so that SQLite walks its rowid from it; SQLite's min() would
  // otherwise walk the rowid too, to the first entry in the window. With
  // `to` as well, the window is a range of that index already, which both
  // databases walk: the bound would only add a walk to the ledger's end.
  const start =
    query.from === undefined || query.to !== undefined
      ? p(afterSeq)
      : dialect === 'sqlite'
        ? `max(${p(afterSeq)}, (SELECT min(f.seq) FROM {audit} f INDEXED BY audit_at WHERE f.at >= ${p(normaliseInstant(query.from))}) - 1)`
        : `GREATEST(${p(afterSeq)}, (SELECT min(f.seq) FROM {audit} f WHERE f.at >= ${p(normaliseInstant(query.from))}) - 1)`
  const where = [`a.seq > ${start}`]
  if (byField) where.push(`a.field_set IN ${list(fieldSets)}`)
  where.push(...filters())
  const sql = `SELECT ${columns} FROM {audit} a WHERE ${where.join(' AND ')} ORDER BY a.seq LIMIT ${p(limit)}`
  return { sql, values }
}
