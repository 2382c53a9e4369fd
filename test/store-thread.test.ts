// The SQLite ledger on its own thread (gateway/store/store-thread.ts): its
// synchronous work never holds the event loop, and it behaves as the store
// it wraps (the conformance suite runs against it too).
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { SqliteStoreThread } from '../gateway/store/store-thread.ts'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

async function tempStore(t: Test): Promise<{ store: SqliteStoreThread; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'btb-store-thread-'))
  const path = join(dir, 'ledger.sqlite')
  const store = await SqliteStoreThread.open(path)
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { store, path }
}

const entry = (id: string) => auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at: '2026-11-25T12:00:00.000Z' })

t.test('while SQLite waits for a lock, the event loop goes on', async (t) => {
  const { store, path } = await tempStore(t)
  await store.appendAudit(entry('first'))
  // Another connection holds the write lock. The store's commit waits for it
  // inside SQLite (busy_timeout), synchronously, on whichever thread runs it.
  const other = new DatabaseSync(path)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE')
  const append = store.appendAudit(entry('second'))
  // On the event loop's thread this timer could not run until the append gave
  // up (SQLITE_BUSY after 5 s), and the lock would never be released in time.
  const ticked = await new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 50))
  t.ok(ticked, 'a timer ran while the append was waiting for the lock')
  other.exec('COMMIT')
  await append
  t.same(
    (await store.auditEntries(0, 10)).map((e) => e.entry.messageId),
    ['first', 'second'],
    'and the append went through once the lock was free'
  )
})

t.test('a refused write comes back as an error with its message; the thread carries on', async (t) => {
  const { store } = await tempStore(t)
  const unwritable = { ...entry('x'), counts: { n: 1n as unknown as number } }
  await t.rejects(store.appendAudit(unwritable), /BigInt/)
  await store.appendAudit(entry('y'))
  t.equal((await store.auditHead())?.seq, 1, 'the next write works')
})

t.test("a write SQLite refuses comes back with SQLite's codes, which cloning an Error would drop", async (t) => {
  const { store, path } = await tempStore(t)
  await store.appendAudit(entry('first'))
  // Another connection takes away the table every append writes to.
  const other = new DatabaseSync(path)
  other.exec('DROP TABLE audit')
  other.close()
  const refused = await store.appendAudit(entry('second')).then(
    () => undefined,
    (err: unknown) => err
  )
  t.ok(refused instanceof Error, 'an Error')
  t.match(
    refused,
    { message: /no such table/, code: 'ERR_SQLITE_ERROR', errcode: 1, errstr: /SQL logic error/ },
    "Node's code and SQLite's, beside the message"
  )
})

t.test('close commits what was asked before it, then the thread is gone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-store-thread-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const store = await SqliteStoreThread.open(path)
  const writes = Array.from({ length: 20 }, (_, i) => store.appendAudit(entry(`m${i}`)))
  await store.close()
  await Promise.all(writes)
  const reopened = await SqliteStoreThread.open(path)
  t.teardown(() => reopened.close())
  t.equal((await reopened.auditHead())?.seq, 20, 'all twenty committed')
  await t.rejects(store.auditHead(), { code: 'LEDGER_THREAD_GONE' }, 'a call after close is refused, not left hanging')
})

t.test('the calls of one turn cross in one message, and their answers come back together', async (t) => {
  const { store } = await tempStore(t)
  await store.appendAudit(entry('first'))
  const before = store.traffic
  const ids = Array.from({ length: 16 }, (_, i) => `m${i}`)
  const [found, appended, head] = await Promise.all([
    Promise.all(ids.map((id) => store.findMessage('outbound', id))),
    Promise.all(ids.map((id) => store.appendAudit(entry(id)))),
    store.auditHead()
  ])
  t.same(found, Array(16).fill(undefined), 'every read answered')
  t.equal(appended.length, 16)
  t.equal(head?.seq, 1, 'a read in the same turn as the appends is answered as of before them')
  t.equal((await store.auditHead())?.seq, 17, 'every append committed')
  const after = store.traffic
  t.equal(after.calls - before.calls, 34, '33 calls, then the head again')
  t.equal(after.callMessages - before.callMessages, 2, 'one message for the 33 calls of one turn, one for the last')
  t.ok(after.answerMessages - before.answerMessages <= 3, `their answers in ${after.answerMessages - before.answerMessages} messages`)
})

t.test('a call that cannot cross to the thread fails alone; the others of its turn are answered', async (t) => {
  const { store } = await tempStore(t)
  const uncloneable = { toString: () => 'x', fn: () => 1 } as unknown as string
  const [bad, good] = await Promise.allSettled([store.findMessage('outbound', uncloneable), store.appendAudit(entry('a'))])
  t.equal(bad.status, 'rejected')
  t.match((bad as PromiseRejectedResult).reason, { name: 'DataCloneError' })
  t.equal(good.status, 'fulfilled')
  t.equal((await store.auditHead())?.seq, 1, 'the other call of the turn was made')
})

t.test('a ledger that cannot be opened fails open(), not a later call', async (t) => {
  await t.rejects(SqliteStoreThread.open('/proc/no-such-dir/ledger.sqlite'))
})
