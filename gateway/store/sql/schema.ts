// The ledger's tables, the same in both databases but for a few words. The
// SQLite text is kept exactly as it always was: SQLite stores each CREATE as
// written, and a new file must look like an old one.
import { AUDIT_COLUMNS } from '../audit-index.ts'
import type { Dialect } from './dialect.ts'

/** The tables; SQLite adds the audit columns of an older file between these and the indexes (ledger-sqlite.ts). */
export function tablesSql(d: Dialect): string {
  const sqlite = d.name === 'sqlite'
  // A ledger's seq is a 64-bit integer; in SQLite, INTEGER PRIMARY KEY is the rowid itself.
  const int = sqlite ? 'INTEGER' : 'BIGINT'
  // Tables whose key is not the rowid are stored in their key's order, with no rowid beside it.
  const keyed = sqlite ? ' WITHOUT ROWID' : ''
  return `
CREATE TABLE IF NOT EXISTS {messages} (
  direction TEXT NOT NULL,
  id TEXT NOT NULL,
  digest TEXT NOT NULL,
  kind TEXT NOT NULL,
  purpose TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  status TEXT NOT NULL,
  accepted_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  attempts TEXT NOT NULL DEFAULT '[]',
  receipt TEXT,
  correlation_id TEXT,
  policy_version TEXT,
  PRIMARY KEY (direction, id)
)${keyed};
CREATE INDEX IF NOT EXISTS messages_retention ON {messages} (status, updated_at);
CREATE TABLE IF NOT EXISTS {outbox} (
  direction TEXT NOT NULL,
  id TEXT NOT NULL,
  target TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (direction, id)
)${keyed};
CREATE INDEX IF NOT EXISTS outbox_created ON {outbox} (created_at);
CREATE TABLE IF NOT EXISTS {audit} (
  seq ${int} PRIMARY KEY,
  entry TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  ${AUDIT_COLUMNS.map((c) => `${c} TEXT`).join(',\n  ')}
);
CREATE TABLE IF NOT EXISTS {audit_subjects} (
  subject TEXT NOT NULL,
  seq ${int} NOT NULL,
  PRIMARY KEY (subject, seq)
)${keyed};
CREATE TABLE IF NOT EXISTS {audit_field_sets} (
  id TEXT PRIMARY KEY,
  patterns TEXT NOT NULL
)${keyed};
CREATE TABLE IF NOT EXISTS {audit_field_set_patterns} (
  path_pattern TEXT NOT NULL,
  field_set TEXT NOT NULL,
  PRIMARY KEY (path_pattern, field_set)
)${keyed};
CREATE TABLE IF NOT EXISTS {log_checkpoints} (
  size ${int} PRIMARY KEY,
  root TEXT NOT NULL,
  at TEXT NOT NULL,
  note TEXT NOT NULL,
  cosignature TEXT,
  cosigned_at TEXT
);
CREATE TABLE IF NOT EXISTS {witness_state} (
  origin TEXT PRIMARY KEY,
  size ${int} NOT NULL,
  root TEXT NOT NULL
)${keyed};
CREATE TABLE IF NOT EXISTS {witnessed_checkpoints} (
  origin TEXT NOT NULL,
  size ${int} NOT NULL,
  root TEXT NOT NULL,
  note TEXT NOT NULL,
  cosigned_at TEXT NOT NULL,
  PRIMARY KEY (origin, size)
)${keyed};
CREATE TABLE IF NOT EXISTS {witness_conflicts} (
  origin TEXT NOT NULL,
  size ${int} NOT NULL,
  PRIMARY KEY (origin, size)
)${keyed};
CREATE TABLE IF NOT EXISTS {legal_holds} (
  ref TEXT PRIMARY KEY,
  message_id TEXT,
  subject TEXT,
  reason TEXT NOT NULL,
  placed_at TEXT NOT NULL,
  released_at TEXT
)${keyed};
CREATE TABLE IF NOT EXISTS {supersessions} (
  direction TEXT NOT NULL,
  original TEXT NOT NULL,
  superseded_by TEXT NOT NULL,
  action TEXT NOT NULL,
  reason TEXT,
  at TEXT NOT NULL,
  PRIMARY KEY (direction, original)
)${keyed};
`
}

/**
 * Columns added to a table after it was first created. The CREATE above is
 * left as it was, for the reason at the top, and each store adds these to new
 * and old ledgers alike: SQLite when it migrates a file (ledger-sqlite.ts),
 * PostgreSQL with ADD COLUMN IF NOT EXISTS (ledger-postgres.ts). Each is a
 * nullable TEXT column.
 */
export const ADDED_COLUMNS: ReadonlyArray<{ readonly table: string; readonly column: string }> = [
  // A legal hold's complaint reference (P9; docs/privacy-officers.md, "Complaint references").
  { table: 'legal_holds', column: 'complaint_ref' },
  // The Merkle tree nodes each entry completes (sql/ledger.ts; docs/architecture.md, "The verifiable ledger").
  { table: 'audit', column: 'tree_nodes' },
  // The entry's field set (audit-index.ts, FieldSet; docs/architecture.md, "The ledger's writes").
  { table: 'audit', column: 'field_set' },
  // An agency submission's payload digest, by which the same envelope signed again is a repeat (records.ts, MessageRecord).
  { table: 'messages', column: 'payload_digest' },
  // When the far side asked, with its last failed attempt's Retry-After, to be called again (records.ts, recordAttempt).
  { table: 'messages', column: 'not_before' }
]

/** PostgreSQL's statements for ADDED_COLUMNS: each does nothing where the column is there. */
export function addedColumnsSql(): string {
  return ADDED_COLUMNS.map(({ table, column }) => `ALTER TABLE {${table}} ADD COLUMN IF NOT EXISTS ${column} TEXT;\n`).join('')
}

/**
 * An index per filter of AuditQuery, so that "column = x AND seq > n ORDER BY
 * seq" is one range read, no sort. SQLite ends every index with the rowid
 * (seq) by itself; PostgreSQL is given (column, seq). The countries are not
 * indexed: on a bilateral gateway nearly every entry names both, so an index
 * would only tempt the planner into sorting the lot.
 */
export function indexesSql(d: Dialect): string {
  const seq = d.name === 'sqlite' ? '' : ', seq'
  const index = (name: string, column: string, where = ''): string => `CREATE INDEX IF NOT EXISTS ${name} ON {audit} (${column}${seq})${where};\n`
  return (
    '\nCREATE INDEX IF NOT EXISTS audit_at ON {audit} (at);\n' +
    index('audit_event', 'event') +
    index('audit_direction', 'direction') +
    index('audit_kind', 'kind') +
    index('audit_purpose', 'purpose') +
    index('audit_code', 'code', ' WHERE code IS NOT NULL') +
    index('audit_message', 'message_id') +
    index('audit_policy', 'policy_version') +
    index('audit_from_agency', 'from_agency') +
    index('audit_to_agency', 'to_agency') +
    // A search by field reads, per set that holds the pattern, that set's range in seq order.
    index('audit_field_set', 'field_set', ' WHERE field_set IS NOT NULL') +
    // audit:verify reads a page's subject rows by seq (ledger.ts,
    // VERIFICATION_SQL); their primary key starts with the subject. Seq only
    // grows, so each append adds to the last page of this.
    'CREATE INDEX IF NOT EXISTS audit_subjects_seq ON {audit_subjects} (seq);\n' +
    // A message's record shows what it supersedes (sql/messages.ts, findMessage).
    'CREATE INDEX IF NOT EXISTS supersessions_by ON {supersessions} (direction, superseded_by);\n'
  )
}
