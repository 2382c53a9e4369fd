// The audit ledger's reads and search, one SQL text for both databases, and
// the chain rule both stores append by. How an append is written (one row
// at a time in SQLite's transaction, a whole batch in one statement under
// PostgreSQL's advisory lock) is each store's own: see their `append`.
import { GENESIS_HASH, chainHash, serialiseEntry } from '../audit-chain.ts'
import { AUDIT_COLUMNS, auditColumnValues, auditColumns, auditFieldPatterns, auditSubjects, searchSql } from '../audit-index.ts'
import type { AuditChainLink, AuditEntry, AuditIndexRows, AuditQuery, LedgerRepository, StoredAuditEntry } from '../records.ts'
import { append, type SqlBackend } from './program.ts'

// A seq is BIGINT in PostgreSQL, which pg gives as a string (it may exceed 2^53); a ledger's seq never will.
type Seq = number | string

interface AuditRow {
  seq: Seq
  entry: string
  prev_hash: string
  hash: string
}

function toStored(row: AuditRow): StoredAuditEntry {
  return { seq: Number(row.seq), hash: row.hash, prevHash: row.prev_hash, entry: JSON.parse(row.entry) as AuditEntry }
}

/**
 * What audit:verify reads of a page's search index, by seq range: each a
 * range read of an index that starts with seq (schema.ts), so that checking
 * a page costs the same however long the ledger.
 */
export const INDEX_ROWS_SQL = {
  // One row per entry, joined in the database (neither a digest nor a path
  // pattern holds a space): 22 field rows an entry were 22 JavaScript objects.
  subjects: "SELECT seq, string_agg(subject, ' ') AS joined FROM {audit_subjects} WHERE seq BETWEEN ? AND ? GROUP BY seq",
  fields: "SELECT seq, string_agg(path_pattern, ' ') AS joined FROM {audit_fields} WHERE seq BETWEEN ? AND ? GROUP BY seq",
  columns: `SELECT seq, ${AUDIT_COLUMNS.join(', ')} FROM {audit} WHERE seq BETWEEN ? AND ? ORDER BY seq`
} as const

/** A page of the ledger, in seq order after a seq: what verification and the whole-ledger reads take. */
const PAGE = 'SELECT seq, entry, prev_hash, hash FROM {audit} WHERE seq > ? ORDER BY seq LIMIT ?'

/** The last row of the primary key: one index step, however long the ledger. */
export const HEAD = 'SELECT seq, hash FROM {audit} ORDER BY seq DESC LIMIT 1'

export interface Head {
  readonly seq: number
  readonly hash: string
}

/** An entry and the text the chain hashes. */
export interface SerialisedEntry {
  readonly entry: AuditEntry
  readonly text: string
}

/** One entry as the ledger stores it: its link in the chain, its searchable columns, its index rows. */
export interface ChainedRow {
  readonly seq: number
  readonly text: string
  readonly prevHash: string
  readonly hash: string
  readonly columns: Array<string | null>
  readonly subjects: string[]
  readonly fields: string[]
}

export function serialised(entry: AuditEntry): SerialisedEntry {
  return { entry, text: serialiseEntry(entry) }
}

/**
 * The rows that extend the chain from `head` (none: the genesis hash) by
 * `entries`, in order. The seq is given, not left to the database, so that
 * the chain's numbering is the same rule on SQLite and on PostgreSQL.
 */
export function chainRows(head: Head | undefined, entries: readonly SerialisedEntry[]): ChainedRow[] {
  let seq = head?.seq ?? 0
  let prevHash = head?.hash ?? GENESIS_HASH
  return entries.map(({ entry, text }) => {
    seq++
    const row = {
      seq,
      text,
      prevHash,
      hash: chainHash(prevHash, text),
      columns: auditColumnValues(auditColumns(entry)),
      subjects: auditSubjects(entry),
      fields: auditFieldPatterns(entry)
    }
    prevHash = row.hash
    return row
  })
}

export class SqlLedgerRepository implements LedgerRepository {
  readonly #db: SqlBackend

  constructor(db: SqlBackend) {
    this.#db = db
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#db.write(append(entry))
  }

  async auditIndexRows(fromSeq: number, toSeq: number): Promise<AuditIndexRows> {
    const joined = async (sql: string): Promise<Map<number, string[]>> =>
      new Map((await this.#db.all<{ seq: Seq; joined: string }>(sql, [fromSeq, toSeq])).map((r) => [Number(r.seq), r.joined.split(' ')]))
    const columns = await this.#db.all<Record<string, string | null> & { seq: Seq }>(INDEX_ROWS_SQL.columns, [fromSeq, toSeq])
    return {
      subjects: await joined(INDEX_ROWS_SQL.subjects),
      fields: await joined(INDEX_ROWS_SQL.fields),
      columns: columns.map((r) => ({ seq: Number(r.seq), values: AUDIT_COLUMNS.map((c) => r[c] ?? null) }))
    }
  }

  async auditEntries(afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    return (await this.#db.all<AuditRow>(PAGE, [afterSeq, limit])).map(toStored)
  }

  async auditChain(afterSeq: number, limit: number): Promise<AuditChainLink[]> {
    const rows = await this.#db.all<AuditRow>(PAGE, [afterSeq, limit])
    return rows.map((r) => ({ seq: Number(r.seq), prevHash: r.prev_hash, hash: r.hash, text: r.entry }))
  }

  async auditEntry(seq: number): Promise<StoredAuditEntry | undefined> {
    const [row] = await this.#db.all<AuditRow>('SELECT seq, entry, prev_hash, hash FROM {audit} WHERE seq = ?', [seq])
    return row === undefined ? undefined : toStored(row)
  }

  async searchAudit(query: AuditQuery, afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    const { sql, values } = searchSql(query, afterSeq, limit, this.#db.dialect.name)
    return (await this.#db.all<AuditRow>(sql, values)).map(toStored)
  }

  async auditHead(): Promise<Head | undefined> {
    const [row] = await this.#db.all<{ seq: Seq; hash: string }>(HEAD)
    return row === undefined ? undefined : { seq: Number(row.seq), hash: row.hash }
  }
}
