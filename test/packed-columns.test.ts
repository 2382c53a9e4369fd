// gateway/store/packed-columns.ts: the searchable columns of an audit row as
// one text, as verification reads them. SQLite and PostgreSQL must pack
// exactly as packColumns does, and unpacking must give back exactly what was
// stored, whatever a column holds: a value that reads into the next column
// would let an edit hide (test/ledger-verify.test.ts has the tamper cases).
import t from 'tap'
import { DatabaseSync } from 'node:sqlite'
import pg from 'pg'
import { AUDIT_COLUMNS } from '../gateway/store/audit-index.ts'
import { packColumns, packedColumnsSql, unpackColumns } from '../gateway/store/packed-columns.ts'
import { PG_URL } from './helper.ts'

type Values = Array<string | null>

/** Twelve values each, AUDIT_COLUMNS' count, chosen to look like the format itself. */
const ROWS: Values[] = [
  ['2026-01-01T00:00:00.000Z', 'accepted', 'outbound', 'entry-exit.record', 'entry-exit-verification', null, 'm-1', 'sha256:x', 'CA', 'CBSA', 'US', 'CBP'],
  ['', '-', '3:abc', ':', '12', '0:', null, null, 'é', '北', '🛂 passport', 'a-b'],
  ['NUL\u0000inside', '\u0000', 'line\nbreak', '"quoted"', '\\', '99999999999', '-5', '--', 'x'.repeat(300), 'ü'.repeat(40), null, '']
]

t.test('unpacking gives back what was packed', async (t) => {
  for (const values of ROWS) {
    t.equal(values.length, AUDIT_COLUMNS.length)
    t.same(unpackColumns(packColumns(values)), values, JSON.stringify(values).slice(0, 60))
  }
})

t.test('text that is not a whole packing leaves the columns it cannot read undefined', async (t) => {
  const packed = packColumns(ROWS[0]!)
  const cut = unpackColumns(packed.slice(0, -2))
  t.same(cut.slice(0, 11), ROWS[0]!.slice(0, 11), 'the columns before the cut are read')
  t.equal(cut[11], undefined, 'the column cut short is not')
  t.same(unpackColumns('8:accepte'), new Array(AUDIT_COLUMNS.length).fill(undefined), 'a length past the end')
  t.same(unpackColumns('x'), new Array(AUDIT_COLUMNS.length).fill(undefined), 'no length')
  t.same(unpackColumns(null), new Array(AUDIT_COLUMNS.length).fill(undefined), 'no text')
  const extra = unpackColumns(`${packed}-`)
  t.same(extra.slice(0, 11), ROWS[0]!.slice(0, 11))
  t.equal(extra[11], undefined, 'bytes left over: the last column is not trusted')
  // A column whose stored bytes are not UTF-8 comes back as text of another
  // length (U+FFFD for the bad byte): it must not read as what was stored.
  const badByte = unpackColumns(`9:accepted\uFFFD${packed.slice(packed.indexOf('8:outbound'))}`)
  t.not(badByte[1], 'accepted')
})

/** Each row stored as an audit row's searchable columns, then read back packed by the SQL expression. */
const CREATE = `CREATE TEMP TABLE packing (n INTEGER, ${AUDIT_COLUMNS.map((c) => `${c} TEXT`).join(', ')})`
const INSERT = `INSERT INTO packing VALUES (${['n', ...AUDIT_COLUMNS].map((_, i) => `$${i + 1}`).join(', ')})`
const SELECT = `SELECT ${packedColumnsSql('a')} AS packed FROM packing a ORDER BY n`

t.test('SQLite packs as packColumns does', async (t) => {
  const db = new DatabaseSync(':memory:')
  t.teardown(() => db.close())
  db.exec(CREATE)
  const insert = db.prepare(INSERT.replace(/\$\d+/g, '?'))
  ROWS.forEach((values, n) => insert.run(n, ...values))
  const packed = (db.prepare(SELECT).all() as Array<{ packed: string }>).map((r) => r.packed)
  t.same(packed, ROWS.map(packColumns))
  t.same(packed.map(unpackColumns), ROWS)
})

t.test('PostgreSQL packs as packColumns does', async (t) => {
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  t.teardown(() => client.end())
  // PostgreSQL's text holds no NUL: those values are left out here.
  const rows = ROWS.map((values) => values.map((v) => (v === null ? null : v.replaceAll('\u0000', '0'))))
  await client.query(CREATE)
  for (const [n, values] of rows.entries()) await client.query(INSERT, [n, ...values])
  const packed = (await client.query<{ packed: string }>(SELECT)).rows.map((r) => r.packed)
  t.same(packed, rows.map(packColumns))
  t.same(packed.map(unpackColumns), rows)
})
