// The SQLite ledger's WAL is checkpointed on a thread of its own once the
// ledger is busy (gateway/store/wal-checkpointer.ts; docs/architecture.md,
// "The ledger's writes"), and the store's close ends that thread: a thread
// left running would hold a connection to the file and keep the process
// alive after the gateway stopped.
import t from 'tap'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { SqliteStore, type SqliteStoreOptions } from '../gateway/store/ledger-sqlite.ts'
import { WalCheckpointer, type WalCheckpointerStopped } from '../gateway/store/wal-checkpointer.ts'

function tempPath(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'btb-wal-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'ledger.sqlite')
}

const entry = (i: number) =>
  auditEntry({
    event: 'accepted',
    direction: 'outbound',
    messageId: `m-${i}`,
    // A few kilobytes each, as an accepted entry with its field decisions is.
    fields: Array.from({ length: 20 }, (_, f) => ({
      path: `records[${f}].surname`,
      action: 'share',
      rule: `r-${f}`,
      principle: 'P2',
      digest: 'd'.repeat(43)
    })) as never
  })

/** Appends `count` entries, 64 at a time: each group one commit. */
async function appendMany(store: SqliteStore, count: number): Promise<void> {
  for (let i = 0; i < count; i += 64) await Promise.all(Array.from({ length: Math.min(64, count - i) }, (_, k) => store.appendAudit(entry(i + k))))
}

t.test("a busy ledger's WAL is copied back by the checkpoint thread; close ends the thread and removes the WAL", async (t) => {
  const path = tempPath(t)
  const stopped: WalCheckpointerStopped[] = []
  const options: SqliteStoreOptions = { walCheckpointer: { afterBytes: 0, intervalMs: 5 }, onWalCheckpointerStopped: (s) => stopped.push(s) }
  const store = new SqliteStore(path, options)
  await appendMany(store, 640)
  await store.close()
  t.equal(stopped.length, 1, 'the thread was started, and stopped by close')
  t.equal(WalCheckpointer.running, 0, 'it has ended')
  t.ok(stopped[0]!.checkpoints > 0 && stopped[0]!.pages > 0, `it copied pages back: ${JSON.stringify(stopped[0])}`)
  t.notOk(existsSync(`${path}-wal`), "the writer's close was the last connection: SQLite removed the WAL")
  const reopened = new SqliteStore(path, { readOnly: true })
  t.teardown(() => reopened.close())
  const verification = await verifyLedger(reopened, new Map())
  t.equal(verification.entries, 640, 'every entry is there')
  t.equal(verification.firstBad, undefined, 'and the ledger verifies')
})

t.test('close ends the thread when nobody listens for what it did', async (t) => {
  const path = tempPath(t)
  const store = new SqliteStore(path, { walCheckpointer: { afterBytes: 0, intervalMs: 5 } })
  await appendMany(store, 200)
  t.equal(WalCheckpointer.running, 1, 'the thread runs')
  await store.close()
  t.equal(WalCheckpointer.running, 0, 'and has ended: nothing keeps the process alive once the gateway stopped')
})

t.test('a quiet ledger never starts the thread; `walCheckpointer: false` never does', async (t) => {
  for (const options of [{}, { walCheckpointer: false as const }]) {
    const path = tempPath(t)
    const stopped: WalCheckpointerStopped[] = []
    const store = new SqliteStore(path, { ...options, onWalCheckpointerStopped: (s) => stopped.push(s) })
    await appendMany(store, options.walCheckpointer === false ? 640 : 10)
    await store.close()
    t.same(stopped, [], `${JSON.stringify(options)}: no thread`)
    t.notOk(existsSync(`${path}-wal`))
  }
})
