// The audit ledger's reads and search, one SQL text for both databases, and
// the chain rule both stores append by. How an append is written (one row
// at a time in SQLite's transaction, a whole batch in one statement under
// PostgreSQL's advisory lock) is each store's own: see their `append`.
import { TreeEdge, completedBy, leafHash, type TreeNode } from '../merkle-tree.ts'
import { GENESIS_HASH, chainHash, serialiseEntry } from '../audit-chain.ts'
import {
  AUDIT_COLUMNS,
  FIELD_SETS_OF_PATTERN,
  auditColumnValues,
  auditColumns,
  auditFieldSet,
  auditSubjects,
  fieldPattern,
  searchSql,
  type FieldSet
} from '../audit-index.ts'
import type { AuditChainLink, AuditEntry, AuditFieldSetRows, AuditPage, AuditQuery, LedgerRepository, StoredAuditEntry } from '../records.ts'
import { all, append, run, type SqlBackend, type Write } from './program.ts'

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
 * What audit:verify reads (auditPage): a page of entries with their tree
 * nodes, searchable columns and field set's patterns, in one read of their
 * rows (the columns are stored after the entry's text: a second read of
 * them went through its overflow pages again); then the page's traveller
 * rows, by a range read of an index that starts with seq (schema.ts), so
 * that checking a page costs the same however long the ledger.
 */
export const VERIFICATION_SQL = {
  entries: `SELECT a.seq, a.entry, a.prev_hash, a.hash, a.tree_nodes, ${AUDIT_COLUMNS.map((c) => `a.${c}`).join(', ')}, s.patterns AS field_patterns
    FROM {audit} a LEFT JOIN {audit_field_sets} s ON s.id = a.field_set WHERE a.seq > ? ORDER BY a.seq LIMIT ?`,
  // One row per entry, joined in the database (a digest holds no space).
  subjects: "SELECT seq, string_agg(subject, ' ') AS joined FROM {audit_subjects} WHERE seq BETWEEN ? AND ? GROUP BY seq"
} as const

/** A row of VERIFICATION_SQL.entries, as an array. */
type VerificationRow = ReadonlyArray<Seq | string | null>
/** Where the searchable columns start in a VerificationRow, and where the field set's patterns are, after them. */
const COLUMNS_AT = 5
const FIELD_PATTERNS_AT = COLUMNS_AT + AUDIT_COLUMNS.length

/** Every field set with its pattern rows (auditFieldSets): a few sets of a few dozen rows, read whole once per verification. */
const FIELD_SETS_SQL = `SELECT s.id, s.patterns, p.joined FROM {audit_field_sets} s LEFT JOIN (
    SELECT field_set, string_agg(path_pattern, ' ') AS joined FROM {audit_field_set_patterns} GROUP BY field_set
  ) p ON p.field_set = s.id`

/** At most this many seqs in one IN list. */
const TEXT_CHUNK = 500

/** A page of the ledger, in seq order after a seq: what verification and the whole-ledger reads take. */
const PAGE = 'SELECT seq, entry, prev_hash, hash FROM {audit} WHERE seq > ? ORDER BY seq LIMIT ?'
/** The same, with each entry's tree nodes: what verification reads. */
const CHAIN_PAGE = 'SELECT seq, entry, prev_hash, hash, tree_nodes FROM {audit} WHERE seq > ? ORDER BY seq LIMIT ?'

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

/** An entry's link in the chain and the tree nodes it completes: what only the writer that holds the head can make. */
export interface ChainLink {
  readonly seq: number
  readonly text: string
  readonly prevHash: string
  readonly hash: string
  /** The Merkle tree nodes the entry completes (encodeTreeNodes). */
  readonly treeNodes: string
}

/** What an entry adds to the search index: the same wherever it lands in the chain, so it can be made before the head is known. */
export interface IndexRows {
  readonly columns: Array<string | null>
  readonly subjects: string[]
  /** Undefined for an entry that decides on no field. */
  readonly fieldSet: FieldSet | undefined
}

/** One entry as the ledger stores it: its link in the chain, its tree nodes, its searchable columns, its index rows and field set. */
export interface ChainedRow extends ChainLink, IndexRows {}

export function serialised(entry: AuditEntry): SerialisedEntry {
  return { entry, text: serialiseEntry(entry) }
}

/**
 * The Merkle tree is kept in the audit rows themselves (docs/architecture.md,
 * "The verifiable ledger"): each row holds the hashes of the nodes its entry
 * completes, its leaf first, then each level up that it closes, as one
 * base64 text. A node of level L and index i is in row (i+1)·2^L, at L.
 * Every perfect subtree is so stored once, in the row written with it: no
 * second table, no second write per entry.
 */
export function encodeTreeNodes(hashes: readonly Uint8Array[]): string {
  return Buffer.concat(hashes).toString('base64')
}

/** The hash of `node` out of the tree nodes of the row that completed it. */
export function treeNodeOf(stored: string, node: TreeNode): Buffer {
  const bytes = Buffer.from(stored, 'base64')
  const hash = bytes.subarray(node.level * 32, node.level * 32 + 32)
  if (hash.length !== 32) throw new Error(`the tree nodes of entry ${completedBy(node)} hold no level ${node.level}`)
  return hash
}

/** Where the ledger ends: its head's link, and its tree's right edge. */
export interface ChainTip {
  readonly head: Head | undefined
  readonly edge: TreeEdge
}

/**
 * The rows that extend the chain from `tip` (an empty ledger: the genesis
 * hash) by `entries`, in order. The seq is given, not left to the database,
 * so that the chain's numbering is the same rule on SQLite and on
 * PostgreSQL. The tip's edge is advanced: it is the new tip's once the rows
 * are written.
 */
export function chainRows(tip: ChainTip, entries: readonly SerialisedEntry[]): ChainedRow[] {
  const links = chainLinks(tip, entries)
  return links.map((link, i) => ({ ...link, ...indexRows(entries[i]!.entry) }))
}

/** The links alone of chainRows: a PostgreSQL writer makes the index rows before it takes the chain's lock (ledger-postgres.ts). */
export function chainLinks(tip: ChainTip, entries: ReadonlyArray<{ readonly text: string }>): ChainLink[] {
  let seq = tip.head?.seq ?? 0
  let prevHash = tip.head?.hash ?? GENESIS_HASH
  return entries.map(({ text }) => {
    seq++
    const link = { seq, text, prevHash, hash: chainHash(prevHash, text), treeNodes: encodeTreeNodes(tip.edge.append(leafHash(text))) }
    prevHash = link.hash
    return link
  })
}

export function indexRows(entry: AuditEntry): IndexRows {
  return { columns: auditColumnValues(auditColumns(entry)), subjects: auditSubjects(entry), fieldSet: auditFieldSet(entry) }
}

/** Records a field set and its pattern rows, where it is new (the same in both dialects). */
export const INSERT_FIELD_SET = 'INSERT INTO {audit_field_sets} (id, patterns) VALUES (?, ?) ON CONFLICT DO NOTHING'
export const INSERT_FIELD_SET_PATTERN = 'INSERT INTO {audit_field_set_patterns} (path_pattern, field_set) VALUES (?, ?) ON CONFLICT DO NOTHING'

/** The rows of the tree nodes `nodes`: one statement, its placeholders per count. */
export function treeRowsSql(count: number): string {
  return `SELECT seq, tree_nodes FROM {audit} WHERE seq IN (${Array.from({ length: count }, () => '?').join(', ')})`
}

/** The hashes of `nodes`, in order, from the rows that hold them. */
export function treeHashes(nodes: readonly TreeNode[], rows: ReadonlyArray<{ seq: Seq; tree_nodes: string | null }>): Buffer[] {
  const bySeq = new Map(rows.map((r) => [Number(r.seq), r.tree_nodes]))
  return nodes.map((node) => {
    const stored = bySeq.get(completedBy(node))
    if (stored == null) throw new Error(`the ledger holds no tree nodes at entry ${completedBy(node)}`)
    return treeNodeOf(stored, node)
  })
}

/**
 * The tip at `head`, remembered between appends: a writer that finds the
 * head where it left it reuses its edge; one that finds it moved (another
 * process appended, or its own transaction rolled back) reads the edge again,
 * at most one row per level.
 */
export class TipCache {
  #tip: { seq: number; hash: string; edge: TreeEdge } | undefined

  /** The remembered edge if `head` is where it was left, as a copy to advance. */
  edgeAt(head: Head | undefined): TreeEdge | undefined {
    if (head === undefined) return new TreeEdge()
    const tip = this.#tip
    return tip !== undefined && tip.seq === head.seq && tip.hash === head.hash ? tip.edge.copy() : undefined
  }

  remember(rows: readonly ChainLink[], edge: TreeEdge): void {
    const last = rows[rows.length - 1]
    if (last !== undefined) this.#tip = { seq: last.seq, hash: last.hash, edge }
  }
}

/** The edge of a ledger of `size` entries, read from its rows. */
export function* readEdge(size: number): Write<TreeEdge> {
  const nodes = TreeEdge.nodes(size)
  if (nodes.length === 0) return new TreeEdge()
  const rows = yield* all<{ seq: Seq; tree_nodes: string | null }>(
    treeRowsSql(nodes.length),
    nodes.map((n) => completedBy(n))
  )
  return new TreeEdge(size, treeHashes(nodes, rows))
}

/**
 * Gives the entries of a ledger written before the tree existed their tree
 * nodes, in seq order from the first (the edge is rebuilt as it goes). Run
 * once, when the store opens; returns how many entries it filled.
 */
export function* fillTreeNodes(pageSize = 1000): Write<number> {
  const edge = new TreeEdge()
  let filled = 0
  let after = 0
  for (;;) {
    const rows = yield* all<{ seq: Seq; entry: string; tree_nodes: string | null }>(
      'SELECT seq, entry, tree_nodes FROM {audit} WHERE seq > ? ORDER BY seq LIMIT ?',
      [after, pageSize]
    )
    for (const row of rows) {
      const nodes = encodeTreeNodes(edge.append(leafHash(row.entry)))
      if (row.tree_nodes === null) {
        yield* run('UPDATE {audit} SET tree_nodes = ? WHERE seq = ?', [nodes, Number(row.seq)])
        filled++
      }
    }
    if (rows.length < pageSize) return filled
    after = Number(rows[rows.length - 1]!.seq)
  }
}

/**
 * Gives the entries of a ledger written before field sets (one index row
 * per field pattern and entry, in the table audit_fields) their set, from
 * their JSON, in seq order; the caller then drops audit_fields. Run once,
 * when the store opens; returns how many entries it gave a set.
 */
export function* fillFieldSets(pageSize = 1000): Write<number> {
  const known = new Set<string>()
  let filled = 0
  let after = 0
  for (;;) {
    const rows = yield* all<{ seq: Seq; entry: string }>('SELECT seq, entry FROM {audit} WHERE seq > ? AND field_set IS NULL ORDER BY seq LIMIT ?', [
      after,
      pageSize
    ])
    for (const row of rows) {
      const set = auditFieldSet(JSON.parse(row.entry) as AuditEntry)
      if (set === undefined) continue
      if (!known.has(set.id)) {
        yield* insertFieldSet(set)
        known.add(set.id)
      }
      yield* run('UPDATE {audit} SET field_set = ? WHERE seq = ?', [set.id, Number(row.seq)])
      filled++
    }
    if (rows.length < pageSize) return filled
    after = Number(rows[rows.length - 1]!.seq)
  }
}

/** A field set and its pattern rows, unless the ledger has it. */
export function* insertFieldSet(set: FieldSet): Write<void> {
  if ((yield* run(INSERT_FIELD_SET, [set.id, set.patterns])) === 0) return
  for (const pattern of set.patterns.split(' ')) yield* run(INSERT_FIELD_SET_PATTERN, [pattern, set.id])
}

export class SqlLedgerRepository implements LedgerRepository {
  readonly #db: SqlBackend

  constructor(db: SqlBackend) {
    this.#db = db
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#db.write(append(entry))
  }

  async auditFieldSets(): Promise<AuditFieldSetRows[]> {
    const sets = await this.#db.all<{ id: string; patterns: string; joined: string | null }>(FIELD_SETS_SQL)
    return sets.map((s) => ({ id: s.id, patterns: s.patterns, rows: s.joined === null ? [] : s.joined.split(' ') }))
  }

  async auditPage(afterSeq: number, limit: number): Promise<AuditPage> {
    // Arrays in the order VERIFICATION_SQL.entries names the columns: seq, entry, prev_hash, hash, tree_nodes, AUDIT_COLUMNS, field_patterns.
    const rows = await this.#db.tuples<VerificationRow>(VERIFICATION_SQL.entries, [afterSeq, limit])
    const links: AuditChainLink[] = []
    const fields = new Map<number, string[]>()
    // A ledger has a few field sets, each on many entries: one list per set,
    // which a structured clone to a verification thread also copies once.
    const patternLists = new Map<string, string[]>()
    const columns: Array<string | null> = []
    for (const r of rows) {
      const seq = Number(r[0])
      links.push({ seq, prevHash: r[2] as string, hash: r[3] as string, text: r[1] as string, treeNodes: r[4] as string | null })
      const patternsText = r[FIELD_PATTERNS_AT] as string | null
      if (patternsText !== null) {
        let patterns = patternLists.get(patternsText)
        if (patterns === undefined) patternLists.set(patternsText, (patterns = patternsText.split(' ')))
        fields.set(seq, patterns)
      }
      for (let c = COLUMNS_AT; c < FIELD_PATTERNS_AT; c++) columns.push(r[c] as string | null)
    }
    if (rows.length === 0) return { links, index: { subjects: new Map(), fields, columns } }
    const subjects = await this.#db.tuples<[Seq, string]>(VERIFICATION_SQL.subjects, [links[0]!.seq, links[links.length - 1]!.seq])
    return { links, index: { subjects: new Map(subjects.map((r) => [Number(r[0]), r[1].split(' ')])), fields, columns } }
  }

  async auditEntries(afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    return (await this.#db.all<AuditRow>(PAGE, [afterSeq, limit])).map(toStored)
  }

  async auditChain(afterSeq: number, limit: number): Promise<AuditChainLink[]> {
    const rows = await this.#db.all<AuditRow & { tree_nodes: string | null }>(CHAIN_PAGE, [afterSeq, limit])
    return rows.map((r) => ({ seq: Number(r.seq), prevHash: r.prev_hash, hash: r.hash, text: r.entry, treeNodes: r.tree_nodes }))
  }

  async auditTexts(seqs: readonly number[]): Promise<Map<number, string>> {
    const texts = new Map<number, string>()
    // A bounded IN list per statement: one statement shape per chunk size, few of them.
    for (let at = 0; at < seqs.length; at += TEXT_CHUNK) {
      const chunk = seqs.slice(at, at + TEXT_CHUNK)
      const rows = await this.#db.all<{ seq: Seq; entry: string }>(`SELECT seq, entry FROM {audit} WHERE seq IN (${chunk.map(() => '?').join(', ')})`, chunk)
      for (const row of rows) texts.set(Number(row.seq), row.entry)
    }
    return texts
  }

  async treeNodes(nodes: readonly TreeNode[]): Promise<string[]> {
    if (nodes.length === 0) return []
    const rows = await this.#db.all<{ seq: Seq; tree_nodes: string | null }>(
      treeRowsSql(nodes.length),
      nodes.map((n) => completedBy(n))
    )
    return treeHashes(nodes, rows).map((h) => h.toString('base64'))
  }

  async auditEntry(seq: number): Promise<StoredAuditEntry | undefined> {
    const [row] = await this.#db.all<AuditRow>('SELECT seq, entry, prev_hash, hash FROM {audit} WHERE seq = ?', [seq])
    return row === undefined ? undefined : toStored(row)
  }

  async searchAudit(query: AuditQuery, afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    let fieldSets: string[] = []
    if (query.fieldPath !== undefined) {
      fieldSets = (await this.#db.all<{ field_set: string }>(FIELD_SETS_OF_PATTERN, [fieldPattern(query.fieldPath)])).map((r) => r.field_set)
      // A pattern no entry decided on: nothing to search.
      if (fieldSets.length === 0) return []
    }
    const { sql, values } = searchSql(query, afterSeq, limit, this.#db.dialect.name, fieldSets)
    return (await this.#db.all<AuditRow>(sql, values)).map(toStored)
  }

  async auditHead(): Promise<Head | undefined> {
    const [row] = await this.#db.all<{ seq: Seq; hash: string }>(HEAD)
    return row === undefined ? undefined : { seq: Number(row.seq), hash: row.hash }
  }
}
