// A ledger written with a search-index row per field pattern and entry (the
// table audit_fields, before field sets: store/audit-index.ts, FieldSet)
// gets field sets when it is opened (SQLite) or created (PostgreSQL): every
// entry names its set, a search by field finds what it found before, the
// old table is gone and the ledger verifies.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { PostgresStore } from '../gateway/store/ledger-postgres.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import type { GatewayStore } from '../gateway/store/records.ts'
import { scratchSchema } from './lib/scratch-schema.ts'

const PATHS = [['traveller.surname', 'records[0].document.number', 'records[1].document.number'], ['traveller.surname'], []]
const entry = (i: number) =>
  auditEntry({
    event: 'accepted',
    direction: 'outbound',
    messageId: `m-${i}`,
    fields: PATHS[i % 3]!.map((path) => ({ path, action: 'share', rule: 'r', principle: 'P2', digest: `d-${i}` })) as never
  })

async function fill(store: GatewayStore): Promise<void> {
  for (let i = 0; i < 12; i++) await store.appendAudit(entry(i))
}

/** What a search by each field finds, and whether the ledger verifies. */
async function searches(store: GatewayStore): Promise<Record<string, number[]>> {
  const found: Record<string, number[]> = {}
  for (const fieldPath of ['traveller.surname', 'records[].document.number', 'remarks']) {
    found[fieldPath] = (await store.searchAudit({ fieldPath }, 0, 100)).map((e) => e.seq)
  }
  return found
}

const EXPECTED = { 'traveller.surname': [1, 2, 4, 5, 7, 8, 10, 11], 'records[].document.number': [1, 4, 7, 10], remarks: [] }

/** The old layout's statements, in the shared form (`{table}`), for either database. */
const DOWNGRADE = [
  'CREATE TABLE {audit_fields} (path_pattern TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (path_pattern, seq))',
  `INSERT INTO {audit_fields} (path_pattern, seq) SELECT p.path_pattern, a.seq FROM {audit} a JOIN {audit_field_set_patterns} p ON p.field_set = a.field_set`,
  'UPDATE {audit} SET field_set = NULL',
  'DELETE FROM {audit_field_set_patterns}',
  'DELETE FROM {audit_field_sets}'
]

t.test('SQLite: a ledger with field rows gets field sets on open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-field-sets-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const first = new SqliteStore(path)
  await fill(first)
  await first.close()
  const old = new DatabaseSync(path)
  for (const sql of DOWNGRADE) old.exec(sql.replace(/\{(\w+)\}/g, '$1'))
  old.exec('PRAGMA user_version = 2')
  old.close()

  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  t.same(await searches(store), EXPECTED, 'a search by field finds what it found before')
  const db = new DatabaseSync(path, { readOnly: true })
  t.teardown(() => db.close())
  t.equal(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'audit_fields'").get()?.n, 0, 'the old table is gone')
  t.equal(db.prepare('SELECT count(*) AS n FROM audit_field_sets').get()?.n, 2, 'two sets for twelve entries')
  t.match(await verifyLedger(store, new Map()), { ok: true, entries: 12 })
})

t.test('PostgreSQL: a ledger with field rows gets field sets on create', async (t) => {
  const { pool, schema } = scratchSchema(t, 't', 2)
  const first = new PostgresStore(pool, { schema })
  await first.create()
  await fill(first)
  await first.close()
  for (const sql of DOWNGRADE) await pool.query(sql.replace(/\{(\w+)\}/g, `${schema}.$1`))
  // Nor does a ledger made before carry the mark of this code's schema (ledger-postgres.ts, create).
  await pool.query(`COMMENT ON SCHEMA ${schema} IS NULL`)

  const store = new PostgresStore(pool, { schema })
  await store.create()
  t.same(await searches(store), EXPECTED, 'a search by field finds what it found before')
  t.equal((await pool.query('SELECT to_regclass($1) AS old', [`${schema}.audit_fields`])).rows[0].old, null, 'the old table is gone')
  t.equal(Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.audit_field_sets`)).rows[0].n), 2, 'two sets for twelve entries')
  t.match(await verifyLedger(store, new Map()), { ok: true, entries: 12 })
})
