// What the ledger indexes about an entry, and the search built on it. Both
// stores share this module so that a query means the same on SQLite and on
// PostgreSQL. The index is derived from the entry's JSON, which alone the
// chain hash covers: the index makes search fast, the chain makes it honest.
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
 * Everything stored and every bound searched is put in `toISOString()` form.
 */
export function normaliseInstant(value: string): string {
  const t = Date.parse(value)
  return Number.isNaN(t) ? value : new Date(t).toISOString()
}

/** `records[3].document.number` → `records[].document.number`. */
export function fieldPattern(path: string): string {
  return path.replace(/\[\d+\]/g, '[]')
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

/**
 * One page of a search, in ascending seq after the cursor. The table whose
 * index is most selective for the query drives it in seq order, so a page
 * stops after `limit` matches instead of sorting everything that matches:
 * a traveller's digest (a handful of entries), then a field pattern, then the
 * ledger itself, with every other filter checked on the way.
 */
export function searchSql(query: AuditQuery, afterSeq: number, limit: number, dialect: SqlDialect): SearchSql {
  const values: Array<string | number> = []
  const p = (value: string | number): string => {
    values.push(value)
    return '?'
  }
  const fieldPath = query.fieldPath === undefined ? undefined : fieldPattern(query.fieldPath)
  // SQLite keeps the left table of a CROSS JOIN as the outer loop: the hint
  // that makes the driving index the one chosen here. PostgreSQL plans joins
  // from its statistics and has no such form.
  const join = dialect === 'sqlite' ? 'CROSS JOIN' : 'JOIN'
  let from: string
  let seqColumn: string
  const where: string[] = []
  if (query.subject !== undefined) {
    from = `{audit_subjects} d ${join} {audit} a ON a.seq = d.seq`
    seqColumn = 'd.seq'
    where.push(`d.subject = ${p(query.subject)}`)
  } else if (fieldPath !== undefined) {
    from = `{audit_fields} d ${join} {audit} a ON a.seq = d.seq`
    seqColumn = 'd.seq'
    where.push(`d.path_pattern = ${p(fieldPath)}`)
  } else {
    from = '{audit} a'
    seqColumn = 'a.seq'
  }
  where.push(`${seqColumn} > ${p(afterSeq)}`)
  if (query.subject !== undefined && fieldPath !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM {audit_fields} f WHERE f.seq = a.seq AND f.path_pattern = ${p(fieldPath)})`)
  }
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
  const sql = `SELECT a.seq, a.entry, a.prev_hash, a.hash FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ${seqColumn} LIMIT ${p(limit)}`
  return { sql, values }
}
