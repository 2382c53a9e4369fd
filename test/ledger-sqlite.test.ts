import t, { type Test } from 'tap'
import { messageRecord } from './lib/store-fixtures.ts'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { Worker } from 'node:worker_threads'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { GENESIS_HASH, chainHash } from '../gateway/store/audit-chain.ts'
import { SqliteDatabase, SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { searchSql } from '../gateway/store/audit-index.ts'
import { SQLITE } from '../gateway/store/sql/dialect.ts'
import { run } from '../gateway/store/sql/program.ts'
import { VERIFICATION_SQL } from '../gateway/store/sql/ledger.ts'
import type { MessageRecord, OutboxItem } from '../gateway/store/records.ts'

function tempStore(t: { teardown(fn: () => unknown): void }): { store: SqliteStore; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
  const path = join(dir, 'ledger.sqlite')
  const store = new SqliteStore(path)
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { store, path }
}

const at = '2026-11-25T12:00:00.000Z'

function columnsOf(db: DatabaseSync, table: string): string[] {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name)
}

function tableSql(db: DatabaseSync, table: string): string {
  return (db.prepare('SELECT sql FROM sqlite_master WHERE type = ? AND name = ?').get('table', table) as { sql: string }).sql
}
const record = (id: string): MessageRecord => messageRecord(id, at, 'sha256:x')
const outbox = (id: string): OutboxItem => ({ direction: 'outbound', id, target: 'https://partner/v1/exchange', sealed: 'sealed', createdAt: at })
const accepted = (id: string) => auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at })

t.test('accept writes the message, its outbox item and its audit entry together, once', async (t) => {
  const { store } = tempStore(t)
  t.equal(await store.accept(record('m1'), outbox('m1'), accepted('m1')), true)
  t.equal(await store.accept(record('m1'), outbox('m1'), accepted('m1')), false, 'the same id is not accepted twice')
  t.equal((await store.findMessage('outbound', 'm1'))?.status, 'accepted')
  t.equal((await store.auditEntries(0, 10)).length, 1, 'the refused duplicate wrote no audit entry')
  t.same(
    (await store.pendingOutbox('2099-01-01T00:00:00Z', 10)).map((i) => i.id),
    ['m1']
  )
})

t.test('delivery drops the outbox item; a dead letter keeps it but is not re-driven', async (t) => {
  const { store } = tempStore(t)
  await store.accept(record('a'), outbox('a'), accepted('a'))
  await store.accept(record('b'), outbox('b'), accepted('b'))
  await store.recordAttempt('outbound', 'a', { at, error: 'ECONNREFUSED' }, auditEntry({ event: 'delivery-failed', direction: 'outbound', messageId: 'a' }))
  await store.markDelivered('outbound', 'a', 'receipt-jws', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'a' }))
  await store.markDeadLettered('outbound', 'b', { at, error: 'refused' }, auditEntry({ event: 'dead-lettered', direction: 'outbound', messageId: 'b' }))
  const a = await store.findMessage('outbound', 'a')
  t.equal(a?.status, 'delivered')
  t.equal(a?.receipt, 'receipt-jws')
  t.same(a?.attempts, [{ at, error: 'ECONNREFUSED' }])
  t.equal(await store.outboxItem('outbound', 'a'), undefined, 'delivered: nothing left to send')
  t.equal((await store.findMessage('outbound', 'b'))?.status, 'dead-lettered')
  t.ok(await store.outboxItem('outbound', 'b'), 'dead-lettered: kept, sealed, for an operator to resend')
  t.same(await store.pendingOutbox('2099-01-01T00:00:00Z', 10), [], 'neither is re-driven by the relay')
})

t.test('audit entries form a hash chain from the genesis hash', async (t) => {
  const { store, path } = tempStore(t)
  for (let i = 0; i < 5; i++) await store.appendAudit(accepted(`m${i}`))
  const entries = await store.auditEntries(0, 10)
  let prev = GENESIS_HASH
  for (const e of entries) {
    t.equal(e.prevHash, prev)
    t.equal(e.hash, chainHash(prev, JSON.stringify(e.entry)))
    prev = e.hash
  }
  // Editing a row in place breaks its hash.
  const db = new DatabaseSync(path)
  db.prepare("UPDATE audit SET entry = replace(entry, 'm2', 'mX') WHERE seq = 3").run()
  db.close()
  const tampered = (await store.auditEntries(0, 10))[2]!
  t.not(tampered.hash, chainHash(tampered.prevHash, JSON.stringify(tampered.entry)), 'an edited entry no longer matches its hash')
})

t.test('a ledger written before the audit index gains it on open, and its chain carries on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const old = new DatabaseSync(path)
  old.exec('CREATE TABLE audit (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)')
  let prev = GENESIS_HASH
  for (const id of ['o1', 'o2', 'o3']) {
    const text = JSON.stringify({ ...auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at, subjects: [`s-${id}`] }) })
    const hash = chainHash(prev, text)
    old.prepare('INSERT INTO audit (entry, prev_hash, hash) VALUES (?, ?, ?)').run(text, prev, hash)
    prev = hash
  }
  old.close()

  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  t.same(
    (await store.searchAudit({ messageId: 'o2' }, 0, 10)).map((e) => e.seq),
    [2],
    'old entries are searchable by column'
  )
  t.same(
    (await store.searchAudit({ subject: 's-o3' }, 0, 10)).map((e) => e.seq),
    [3],
    'and by traveller digest'
  )
  await store.appendAudit(accepted('n4'))
  const entries = await store.auditEntries(0, 10)
  t.equal(entries[3]?.prevHash, entries[2]?.hash, 'the next entry chains onto the old head')
  t.equal(entries[3]?.seq, 4)
})

t.test('a ledger whose legal holds carry no complaint reference gains the column on open, and keeps its holds', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const first = new SqliteStore(path)
  await first.addLegalHold({ ref: 'OLD-1', complaintRef: null, messageId: 'm1', subject: null, reason: 'complaint', placedAt: at, releasedAt: null })
  await first.close()
  // As the ledger was before the column: its table as first created, and schema version 1.
  const old = new DatabaseSync(path)
  old.exec(`BEGIN; ALTER TABLE legal_holds DROP COLUMN complaint_ref; PRAGMA user_version = 1; COMMIT;`)
  t.notOk(columnsOf(old, 'legal_holds').includes('complaint_ref'), 'the old shape')
  old.close()

  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  t.same(await store.legalHolds(), [{ ref: 'OLD-1', complaintRef: null, messageId: 'm1', subject: null, reason: 'complaint', placedAt: at, releasedAt: null }])
  await store.addLegalHold({
    ref: 'NEW-1',
    complaintRef: 'OPC-9',
    messageId: 'm2',
    subject: null,
    reason: 'r',
    placedAt: '2026-11-25T13:00:00.000Z',
    releasedAt: null
  })
  t.same(
    (await store.legalHolds()).map((h) => h.complaintRef),
    [null, 'OPC-9']
  )
  const check = new DatabaseSync(path, { readOnly: true })
  t.teardown(() => check.close())
  await new SqliteStore(join(dir, 'fresh.sqlite')).close()
  const fresh = new DatabaseSync(join(dir, 'fresh.sqlite'), { readOnly: true })
  t.teardown(() => fresh.close())
  t.equal(tableSql(check, 'legal_holds'), tableSql(fresh, 'legal_holds'), 'a migrated file and a new one hold the same table')
})

/** A ledger holding message m1, made as it was before `column` of its messages came in with schema `version`. */
async function ledgerWithout(t: Test, column: string, version: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const first = new SqliteStore(path)
  await first.accept(record('m1'), outbox('m1'), accepted('m1'))
  await first.close()
  const old = new DatabaseSync(path)
  old.exec(`BEGIN; ALTER TABLE messages DROP COLUMN ${column}; PRAGMA user_version = ${version}; COMMIT;`)
  old.close()
  return path
}

t.test('a ledger from before payload digests gains the column on open; its messages read as they were', async (t) => {
  // As the ledger was before the column: schema version 3.
  const path = await ledgerWithout(t, 'payload_digest', 3)

  // Read as it is, by a read-only store (audit:verify's), which migrates nothing.
  const reader = new SqliteStore(path, { readOnly: true })
  t.same(await reader.findMessage('outbound', 'm1'), record('m1'), 'read before the migration: no payload digest')
  await reader.close()

  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  t.same(await store.findMessage('outbound', 'm1'), record('m1'), 'and after it, the same')
  const withPayload = { ...record('m2'), payloadDigest: 'p-m2' }
  await store.accept(withPayload, outbox('m2'), accepted('m2'))
  t.same(await store.findMessage('outbound', 'm2'), withPayload, 'a new message keeps its payload digest')
  const check = new DatabaseSync(path, { readOnly: true })
  t.teardown(() => check.close())
  t.ok(columnsOf(check, 'messages').includes('payload_digest'), 'the column was added')
})

t.test('a ledger from before Retry-After instants gains the column on open; its messages awaiting delivery are re-driven as they were', async (t) => {
  // As the ledger was before the column: schema version 4.
  const path = await ledgerWithout(t, 'not_before', 4)

  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  const cutOff = '2099-01-01T00:00:00.000Z'
  t.same(await store.pendingOutbox(cutOff, 10), [{ direction: 'outbound', id: 'm1', target: outbox('m1').target, createdAt: at }], 'nothing asked of it')
  await store.recordAttempt('outbound', 'm1', { at, error: 'partner answered 503' }, null, '2026-11-25T13:00:00.000Z')
  t.equal((await store.pendingOutbox(cutOff, 10))[0]?.notBefore, '2026-11-25T13:00:00.000Z', "a failed attempt's Retry-After instant is kept")
  const check = new DatabaseSync(path, { readOnly: true })
  t.teardown(() => check.close())
  t.ok(columnsOf(check, 'messages').includes('not_before'), 'the column was added')
})

t.test('a read-only store reads the ledger and cannot change it', async (t) => {
  const { store, path } = tempStore(t)
  await store.appendAudit(accepted('m1'))
  const reader = new SqliteStore(path, { readOnly: true })
  t.teardown(() => reader.close())
  t.equal((await reader.auditHead())?.seq, 1)
  await t.rejects(reader.appendAudit(accepted('m2')), 'no write gets through')
  t.equal((await store.auditHead())?.seq, 1)
})

t.test("a read-only store (audit:verify's) reads through a map of the ledger's file; a gateway's own store maps none of it", async (t) => {
  const { store: first, path } = tempStore(t)
  await first.appendAudit(accepted('m1'))
  // Closed, its WAL is checkpointed: the entry is read from the file itself, not from the WAL.
  await first.close()
  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  // The file itself, not its -shm or -wal: SQLite maps the WAL index in any case.
  const mapped = (): boolean =>
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .some((line) => line.endsWith(` ${path}`))
  t.equal((await store.auditPage(0, 10)).links.length, 1)
  t.notOk(mapped(), "the gateway's own connection reads without a map: its resident memory does not count the ledger")
  const reader = new SqliteStore(path, { readOnly: true })
  t.teardown(() => reader.close())
  t.equal((await reader.auditPage(0, 10)).links.length, 1)
  t.ok(mapped(), 'the read-only connection maps the file')
})

t.test("the ledger's connection syncs its WAL at checkpoints by default, and at every commit when asked (LEDGER_SYNCHRONOUS=full)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-sync-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // SQLite reads the setting back as a number: 1 for NORMAL, 2 for FULL.
  for (const [synchronous, code] of [
    [undefined, 1],
    ['normal', 1],
    ['full', 2]
  ] as const) {
    const db = new SqliteDatabase(join(dir, `${synchronous ?? 'default'}.sqlite`), synchronous === undefined ? {} : { synchronous })
    t.same(await db.all('PRAGMA synchronous'), [{ synchronous: code }], `${synchronous ?? 'by default'}: ${code}`)
    await db.close()
  }
})

t.test('a group commit holds at most about a megabyte of sealed content; the rest waits for a later turn', async (t) => {
  const { store } = tempStore(t)
  const sealed = randomBytes(600 * 1024).toString('base64')
  const committed: string[] = []
  const writes = [0, 1, 2, 3].map((i) =>
    store.accept(record(`big${i}`), { ...outbox(`big${i}`), sealed }, accepted(`big${i}`)).then(() => committed.push(`big${i}`))
  )
  // Scheduled after the store's own commit turn: what it sees is what that
  // one turn of the event loop committed.
  const seenAfterOneTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(committed.length)))
  t.equal(seenAfterOneTurn, 1, 'one 800 kB sealed copy per turn, not all four in one commit')
  await Promise.all(writes)
  t.same(committed, ['big0', 'big1', 'big2', 'big3'], 'all committed, in order')
})

t.test("audit:verify reads a page's search index rows by seq, not by scanning every row of the ledger", async (t) => {
  const { store, path } = tempStore(t)
  await store.close()
  const db = new DatabaseSync(path, { readOnly: true })
  t.teardown(() => db.close())
  for (const [name, sql] of Object.entries(VERIFICATION_SQL)) {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${SQLITE.text(sql)}`).all() as Array<{ detail: string }>).map((r) => r.detail).join('; ')
    // A scan of the index tables read every row of the whole ledger for every page: hours at a million entries.
    t.notMatch(plan, /^SCAN|; SCAN/, `${name}: ${plan}`)
  }
})

t.test("a search from a time walks the ledger from that time's first entry, found through the index on at, not from the ledger's first", async (t) => {
  const { store, path } = tempStore(t)
  await store.close()
  const db = new DatabaseSync(path, { readOnly: true })
  t.teardown(() => db.close())
  const plan = (query: Parameters<typeof searchSql>[0]): string => {
    const { sql, values } = searchSql(query, 0, 100, 'sqlite')
    return (db.prepare(`EXPLAIN QUERY PLAN ${SQLITE.text(sql)}`).all(...values) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
  }
  for (const query of [{ from: at }, { from: at, event: 'accepted' as const }]) {
    t.match(plan(query), /USING COVERING INDEX audit_at \(at>\?\)/, `${JSON.stringify(query)}: ${plan(query)}`)
  }
  // A window with both ends is a range of that index, walked as it is.
  t.match(plan({ from: at, to: at }), /^SEARCH a USING INDEX audit_at \(at>\? AND at<\?\)/)
})

/**
 * Another connection, on a thread of its own, holding the ledger file's write
 * lock for `ms`, as another gateway process's commit does: resolves once it
 * holds it, with its release.
 */
async function holdWriteLock(path: string, ms: number): Promise<{ released: Promise<unknown> }> {
  const holder = new Worker(
    `const { DatabaseSync } = require('node:sqlite')
    const { parentPort, workerData } = require('node:worker_threads')
    const db = new DatabaseSync(workerData.path)
    // Its COMMIT waits for a reader to let go, as the store's own connection does: with none, a
    // store opening beside it on a busy machine (holding its read lock a moment) failed this COMMIT.
    db.exec('PRAGMA busy_timeout = 10000')
    db.exec('CREATE TABLE IF NOT EXISTS held (x); BEGIN IMMEDIATE; INSERT INTO held VALUES (1)')
    parentPort.postMessage('locked')
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms)
    db.exec('COMMIT')
    db.close()`,
    { eval: true, workerData: { path, ms } }
  )
  const released = new Promise((resolve) => holder.once('exit', resolve))
  await new Promise((resolve) => holder.once('message', resolve))
  return { released }
}

t.test('a ledger opened while another process holds its lock waits for it, as a second gateway process does at start-up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const holder = await holdWriteLock(path, 300)
  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  t.equal(await store.auditHead(), undefined, 'it opened, once the lock was released, and works')
  await holder.released
})

t.test(
  "a write waits for another process's lock where SQLite's own busy handler gives up early, as it did with two gateway processes under load",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'ledger.sqlite')
    // SQLite answered BEGIN IMMEDIATE with SQLITE_BUSY after 24-33 ms of a 5 s
    // busy_timeout there (gateway/store/sqlite-lock.ts); a handler that gives up
    // at once stands for it here.
    const store = new SqliteStore(path, { sqliteBusyTimeoutMs: 0 })
    t.teardown(() => store.close())
    await store.appendAudit(accepted('before'))
    const holder = await holdWriteLock(path, 300)
    const [appended, accepting] = await Promise.allSettled([
      store.appendAudit(accepted('while-held')),
      store.accept(record('m-held'), outbox('m-held'), accepted('m-held'))
    ])
    t.equal(appended.status, 'fulfilled', `an entry appended once the lock was let go${appended.status === 'rejected' ? `: ${appended.reason}` : ''}`)
    t.equal(accepting.status, 'fulfilled', 'a message accepted once the lock was let go')
    await holder.released
    const entries = await store.auditEntries(0, 10)
    t.same(entries.map((e) => e.entry.messageId).sort(), ['before', 'm-held', 'while-held'], 'every entry once')
    let prev = GENESIS_HASH
    for (const e of entries) {
      t.equal(e.prevHash, prev, `entry ${e.seq} chains onto the one before`)
      prev = e.hash
    }
  }
)

t.test('while writes arrive together, a write waits for company; a writer alone is never held', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
  const commits: string[][] = []
  // A window long enough that the second write of each pair, asked for a turn after the first, always falls in it.
  const store = new SqliteStore(join(dir, 'ledger.sqlite'), { onCommitted: (entries) => commits.push(entries.map((e) => e.messageId!)), groupWindowMs: 200 })
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
  /** One write, then another on a later turn of the event loop: the commits they went in. */
  const pair = async (a: string, b: string): Promise<string[][]> => {
    const from = commits.length
    const first = store.accept(record(a), outbox(a), accepted(a))
    await nextTurn()
    await nextTurn()
    await Promise.all([first, store.accept(record(b), outbox(b), accepted(b))])
    return commits.slice(from)
  }

  // One write after another: each commits on the next turn, alone.
  for (const id of ['s1', 's2', 's3']) await store.accept(record(id), outbox(id), accepted(id))
  t.same(commits, [['s1'], ['s2'], ['s3']])
  t.same(await pair('a1', 'a2'), [['a1'], ['a2']], 'a writer alone: its write was not held for the one after')

  // Writes that come together, as sixteen agency connections' do.
  await Promise.all(['c1', 'c2'].map((id) => store.accept(record(id), outbox(id), accepted(id))))
  t.same(await pair('b1', 'b2'), [['b1', 'b2']], 'then the first waits, and the next one shares its commit')
  t.same(await pair('d1', 'd2'), [['d1', 'd2']], 'and so on while they keep coming together')
  t.equal((await store.auditHead())?.seq, 11, 'every write committed once')
})

t.test('writers that ask again as soon as they are answered form their group in one turn, and it is not held', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
  const commits: number[] = []
  // A window far longer than any commit: a group held for it would miss the deadline below.
  const store = new SqliteStore(join(dir, 'ledger.sqlite'), { onCommitted: (entries) => commits.push(entries.length), groupWindowMs: 60_000 })
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const round = (ids: string[]): Promise<boolean[]> => Promise.all(ids.map((id) => store.accept(record(id), outbox(id), accepted(id))))
  // Writes that came together: from now on a write alone would wait for company.
  await round(['w1', 'w2'])
  let deadline: NodeJS.Timeout | undefined
  const held = new Promise<'held'>((resolve) => {
    deadline = setTimeout(() => resolve('held'), 30_000)
  })
  const outcome = await Promise.race([round(['x1', 'x2', 'x3']).then(() => 'committed' as const), held])
  clearTimeout(deadline)
  t.equal(outcome, 'committed', 'the next round, asked for in one turn, committed at once')
  t.same(commits, [2, 3], 'each round in one commit')
})

t.test("a write the disk cannot take fails with SQLite's own error, not the rollback's after it", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-full-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const db = new SqliteDatabase(join(dir, 'ledger.sqlite'), {})
  t.teardown(() => db.close())
  await db.run('CREATE TABLE filler (bytes BLOB)')
  // A full disk, for this connection: SQLite then rolls the transaction back itself (SQLITE_FULL).
  const [{ page_count: pages }] = await db.all<{ page_count: number }>('PRAGMA page_count')
  await db.all(`PRAGMA max_page_count = ${pages + 4}`)
  await t.rejects(db.write(run('INSERT INTO filler VALUES (?)', ['x'.repeat(256 * 1024)])), { message: /database or disk is full/ })
  t.same(await db.all('SELECT count(*) AS n FROM filler'), [{ n: 0 }], 'nothing written')
  await db.all(`PRAGMA max_page_count = ${2 ** 30}`)
  t.equal(await db.write(run('INSERT INTO filler VALUES (?)', ['x'])), 1, 'and the next write, with room, is taken')
})

// C2SP tlog-witness: a witness persists its new state before it answers.
// Under the ledger's `synchronous = NORMAL` a commit reaches the disk only at
// the WAL's next checkpoint, so a witness's commit is made FULL: SQLite then
// syncs the WAL at that commit (one fsync, seen with strace; NORMAL, none).
t.test("a witness's state is committed with synchronous FULL, the ledger's other writes as configured", async (t) => {
  const executed: string[] = []
  const exec = DatabaseSync.prototype.exec
  DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string) {
    if (/synchronous|^BEGIN|^COMMIT/.test(sql)) executed.push(sql)
    return exec.call(this, sql)
  }
  t.teardown(() => {
    DatabaseSync.prototype.exec = exec
  })
  const { store } = tempStore(t)
  const cp = { origin: 'btb.example/US', size: 8, root: 'r'.repeat(44), note: 'note', cosignedAt: at }
  executed.length = 0
  t.equal(await store.witnessCheckpoint(0, cp), true)
  t.same(executed, ['PRAGMA synchronous = FULL', 'BEGIN IMMEDIATE', 'COMMIT', 'PRAGMA synchronous = NORMAL'], "the witness's commit is synced")
  executed.length = 0
  await store.appendAudit(accepted('m1'))
  t.same(executed, ['BEGIN IMMEDIATE', 'COMMIT'], 'an entry is committed as the ledger is configured')
  t.same(await store.witnessState('btb.example/US'), { size: 8, root: cp.root }, 'the state moved')

  // A ledger configured FULL syncs every commit already: nothing to change.
  const dir = mkdtempSync(join(tmpdir(), 'btb-ledger-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const full = new SqliteStore(join(dir, 'ledger.sqlite'), { synchronous: 'full' })
  t.teardown(() => full.close())
  executed.length = 0
  await full.witnessCheckpoint(0, cp)
  t.same(executed, ['BEGIN IMMEDIATE', 'COMMIT'], 'a FULL ledger: no change around the commit')
})

// P5: what is deleted is gone from the file, not left in its free space for
// a backup or a disk image to keep. A delivered message's sealed copy is the
// traveller's record; the seal's key is on the same host.
t.test("a delivered message's sealed copy is not left in the ledger file's free space", async (t) => {
  const { store, path } = tempStore(t)
  const marker = `sealed-${'Q7'.repeat(400)}`
  await store.accept(record('m1'), { ...outbox('m1'), sealed: marker }, accepted('m1'))
  t.equal(await store.markDelivered('outbound', 'm1', 'receipt', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'm1', at })), true)
  t.equal(await store.outboxItem('outbound', 'm1'), undefined, 'the sealed copy is deleted')
  // Its pages written back to the file, and the WAL emptied: what a backup of the file would hold.
  const other = new DatabaseSync(path)
  other.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  other.close()
  t.notOk(readFileSync(path).includes(Buffer.from(marker.slice(0, 200))), 'none of it is in the file')
})
