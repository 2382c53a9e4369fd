// What someone with write access to a ledger's database can do to it, for
// the tests that show it is found (test/ledger-verify.test.ts) or refused by
// the partner's witness (test/witness.test.ts).
import { DatabaseSync, type SQLInputValue } from 'node:sqlite'
import type pg from 'pg'
import { signCheckpoint } from '../../gateway/audit/checkpoint.ts'
import type { NoteKey } from '../../gateway/audit/signed-note.ts'
import { GENESIS_HASH, chainHash } from '../../gateway/store/audit-chain.ts'
import { TreeEdge, leafHash } from '../../gateway/store/merkle-tree.ts'
import { encodeTreeNodes } from '../../gateway/store/sql/ledger.ts'

/** Direct access to the ledger's tables, as someone with the database file or a DBA login has. */
export interface Tamper {
  run(sql: string, ...params: Array<string | number>): Promise<void>
  rows<R>(sql: string, ...params: Array<string | number>): Promise<R[]>
  close(): void
}

/** Through a second connection to the file: what the ledger's thread sees at its next read. */
export function sqliteTamper(path: string): Tamper {
  const db = new DatabaseSync(path)
  // The gateway's own connection may be committing: wait for it, as it waits for others.
  db.exec('PRAGMA busy_timeout = 5000')
  return {
    async run(sql, ...params) {
      db.prepare(sql).run(...(params as SQLInputValue[]))
    },
    async rows<R>(sql: string, ...params: Array<string | number>) {
      return db.prepare(sql).all(...(params as SQLInputValue[])) as R[]
    },
    close: () => db.close()
  }
}

/** Statements written for SQLite, spelled for PostgreSQL and the ledger's schema. */
export function postgresTamper(pool: pg.Pool, schema: string): Tamper {
  const spell = (text: string): string => {
    let n = 0
    return text
      .replace(/\?/g, () => `$${++n}`)
      .replace(/\b(audit_subjects|audit_field_sets|audit_field_set_patterns|audit|log_checkpoints)\b(?!\.)/g, `${schema}.$1`)
  }
  return {
    async run(text, ...params) {
      await pool.query(spell(text), params)
    },
    async rows<R>(text: string, ...params: Array<string | number>) {
      return (await pool.query(spell(text), params)).rows as R[]
    },
    close: () => undefined
  }
}

/** pg gives a BIGINT as a string. */
export interface AuditRow {
  seq: number | string
  entry: string
  prev_hash: string
  hash: string
  tree_nodes: string
}

/**
 * The best rewrite without the partner: from entry `from` on, entries are
 * changed by `edit` (a function of seq and text; `cut` drops the rest of the
 * ledger from that seq), every chain hash and tree node after it is
 * recomputed, and the checkpoints are left, re-signed with the gateway's own
 * key (the partner's cosignatures dropped), or those from `from` on deleted.
 * Every local check then passes but the checkpoints left.
 */
export async function rewriteLedger(
  x: Tamper,
  options: {
    readonly from: number
    readonly edit?: (seq: number, entry: string) => string
    readonly cut?: boolean
    readonly checkpoints: 'keep' | 're-sign' | 'delete'
    /** The gateway's own key, to re-sign with (its name is the ledger's origin). */
    readonly key?: NoteKey
  }
): Promise<void> {
  const { from, edit = (_seq, entry) => entry } = options
  if (options.cut === true) {
    await x.run('DELETE FROM audit_subjects WHERE seq >= ?', from)
    await x.run('DELETE FROM audit WHERE seq >= ?', from)
  }
  const rows = await x.rows<AuditRow>('SELECT seq, entry, prev_hash, hash, tree_nodes FROM audit ORDER BY seq')
  const edge = new TreeEdge()
  const roots = new Map<number, string>()
  let prev = GENESIS_HASH
  for (const row of rows) {
    const seq = Number(row.seq)
    const entry = seq >= from ? edit(seq, row.entry) : row.entry
    const hash = chainHash(prev, entry)
    const nodes = encodeTreeNodes(edge.append(leafHash(entry)))
    roots.set(seq, edge.root().toString('base64'))
    if (entry !== row.entry || hash !== row.hash || nodes !== row.tree_nodes) {
      await x.run('UPDATE audit SET entry = ?, prev_hash = ?, hash = ?, tree_nodes = ? WHERE seq = ?', entry, prev, hash, nodes, seq)
    }
    prev = hash
  }
  if (options.checkpoints === 'keep') return
  for (const { size } of await x.rows<{ size: number | string }>('SELECT size FROM log_checkpoints ORDER BY size')) {
    const n = Number(size)
    const root = roots.get(n)
    if (options.checkpoints === 'delete' || root === undefined) {
      if (n >= from) await x.run('DELETE FROM log_checkpoints WHERE size = ?', n)
    } else {
      const note = signCheckpoint({ size: n, root }, options.key!)
      await x.run('UPDATE log_checkpoints SET root = ?, note = ?, cosignature = NULL, cosigned_at = NULL WHERE size = ?', root, note, n)
    }
  }
}
