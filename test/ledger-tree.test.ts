// The Merkle tree kept with the ledger's entries (docs/architecture.md, "The
// verifiable ledger") stays the tree of the entries when two writers share
// one ledger (two gateway processes on one SQLite file, two instances on one
// PostgreSQL schema), and a ledger written before the tree gains it on open.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { treeHead } from '../gateway/audit/ledger-proofs.ts'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { GENESIS_HASH, chainHash } from '../gateway/store/audit-chain.ts'
import { PostgresStore } from '../gateway/store/ledger-postgres.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { TreeEdge, leafHash } from '../gateway/store/merkle-tree.ts'
import type { GatewayStore } from '../gateway/store/records.ts'
import { encodeTreeNodes } from '../gateway/store/sql/ledger.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { scratchSchema } from './lib/scratch-schema.ts'

const ca = loadTrustStore(join(import.meta.dirname, '..', 'keys-example', 'CA', 'trust.json'))
const entry = (id: string) => auditEntry({ event: 'accepted', direction: 'outbound', messageId: id })

/** How many entries' stored tree nodes are not those their texts give, and the root the texts give. */
async function treeOfTexts(store: GatewayStore): Promise<{ wrong: number; root: string; size: number }> {
  const edge = new TreeEdge()
  let wrong = 0
  for (const link of await store.auditChain(0, 100_000)) {
    if (encodeTreeNodes(edge.append(leafHash(link.text))) !== link.treeNodes) wrong++
  }
  return { wrong, root: edge.root().toString('base64'), size: edge.size }
}

/** Appends from both writers in turns and together: each must find where the other left the tree. */
async function takeTurns(a: GatewayStore, b: GatewayStore): Promise<void> {
  for (let round = 0; round < 6; round++) {
    await a.appendAudit(entry(`a${round}`))
    await b.appendAudit(entry(`b${round}`))
    await Promise.all([a.appendAudit(entry(`a${round}x`)), b.appendAudit(entry(`b${round}x`)), a.appendAudit(entry(`a${round}y`))])
  }
}

t.test('SQLite: two stores on one file append in turns, one tree', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-tree-'))
  const path = join(dir, 'ledger.sqlite')
  const a = new SqliteStore(path)
  const b = new SqliteStore(path)
  t.teardown(async () => {
    await a.close()
    await b.close()
    rmSync(dir, { recursive: true, force: true })
  })
  await takeTurns(a, b)
  const tree = await treeOfTexts(a)
  t.same(tree, { wrong: 0, root: tree.root, size: 30 }, 'every stored node is right')
  t.equal((await treeHead(b)).root, tree.root, 'and the root from the stored nodes is the root of the entries')
  t.match(await verifyLedger(a, ca.ownKeys), { ok: true, entries: 30 })
})

t.test('PostgreSQL: two stores on one schema append at once, one tree', async (t) => {
  const { pool, schema } = scratchSchema(t, 't', 8)
  const a = new PostgresStore(pool, { schema })
  const b = new PostgresStore(pool, { schema })
  await a.create()
  await b.create()
  await takeTurns(a, b)
  const tree = await treeOfTexts(a)
  t.same(tree, { wrong: 0, root: tree.root, size: 30 }, 'every stored node is right')
  t.equal((await treeHead(b)).root, tree.root)
  t.match(await verifyLedger(a, ca.ownKeys), { ok: true, entries: 30 })
})

/** Three entries chained as a gateway before the tree wrote them. */
function oldEntries(): Array<{ text: string; prev: string; hash: string }> {
  let prev = GENESIS_HASH
  return ['o1', 'o2', 'o3'].map((id) => {
    const text = JSON.stringify(auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at: '2026-11-20T00:00:00.000Z' }))
    const row = { text, prev, hash: chainHash(prev, text) }
    prev = row.hash
    return row
  })
}

t.test('SQLite: a ledger written before the tree gains it on open, and carries on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-tree-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  // A file as the previous version left it: the audit index, no tree column.
  const first = new SqliteStore(path)
  await first.close()
  const old = new DatabaseSync(path)
  old.exec('ALTER TABLE audit DROP COLUMN tree_nodes; PRAGMA user_version = 1')
  for (const row of oldEntries()) old.prepare('INSERT INTO audit (entry, prev_hash, hash) VALUES (?, ?, ?)').run(row.text, row.prev, row.hash)
  old.close()

  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  await store.appendAudit(entry('n4'))
  t.same(await treeOfTexts(store), { wrong: 0, root: (await treeHead(store)).root, size: 4 }, 'old entries got their nodes; the new one chains on')
})

t.test('PostgreSQL: a ledger written before the tree gains it on create, and carries on', async (t) => {
  const { pool, schema } = scratchSchema(t, 't', 2)
  await new PostgresStore(pool, { schema }).create()
  // As a ledger made before: no tree, and no mark of this code's schema (ledger-postgres.ts, create).
  await pool.query(`ALTER TABLE ${schema}.audit DROP COLUMN tree_nodes; COMMENT ON SCHEMA ${schema} IS NULL`)
  let seq = 0
  for (const row of oldEntries()) {
    await pool.query(`INSERT INTO ${schema}.audit (seq, entry, prev_hash, hash) VALUES ($1, $2, $3, $4)`, [++seq, row.text, row.prev, row.hash])
  }
  const store = new PostgresStore(pool, { schema })
  await store.create()
  await store.appendAudit(entry('n4'))
  t.same(await treeOfTexts(store), { wrong: 0, root: (await treeHead(store)).root, size: 4 })
})
