// The default store: one embedded SQLite file (node:sqlite, no native addon).
// WAL mode keeps a committed transaction through a kill -9 of the process.
// The repositories and their SQL are shared with PostgreSQL (sql/); what is
// SQLite's own is here: the connection, the migration of older files, the
// group commit and how an entry is appended.
import { statSync } from 'node:fs'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { AUDIT_COLUMNS, auditColumnValues, auditColumns, auditSubjects, type FieldSet } from './audit-index.ts'
import type { AuditEntry, CommitListener } from './records.ts'
import { SQLITE, type SqlValue } from './sql/dialect.ts'
import { HEAD, TipCache, chainRows, fillFieldSets, fillTreeNodes, insertFieldSet, readEdge, serialised, type ChainTip, type Head } from './sql/ledger.ts'
import { NO_RESULT, runSync, type Row, type SqlBackend, type Step, type StepResult, type Write, type WriteOptions } from './sql/program.ts'
import { ADDED_COLUMNS, indexesSql, tablesSql } from './sql/schema.ts'
import { SqlStore } from './sql/store.ts'
import { LOCK_WAIT_MS, execWhileBusy } from './sqlite-lock.ts'
import { WalCheckpointer, type WalCheckpointerStopped } from './wal-checkpointer.ts'

/**
 * Bumped when the schema changes; `#migrate` brings an older file up to it.
 * 1: the audit index's columns and rows. 2: ADDED_COLUMNS (a legal hold's
 * complaint reference, the audit rows' Merkle tree nodes) and the tree
 * nodes of entries written before the tree. 3: field sets in place of a
 * row per field pattern and entry (audit-index.ts, FieldSet). 4: a
 * message's payload digest (ADDED_COLUMNS). 5: a message's Retry-After
 * instant, `not_before` (ADDED_COLUMNS).
 */
const SCHEMA_VERSION = 5

/** At most this many writes share a transaction: a commit must not hold the event loop for long. */
const MAX_BATCH = 256
/**
 * Nor more than this many bytes of sealed content: a batch's sealed copy is a
 * megabyte or two, and a group commit of several of them held the event loop
 * for tens of milliseconds (issue 9). Past it, the rest wait for the next
 * turn, after whatever I/O is waiting.
 */
const MAX_BATCH_BYTES = 1024 * 1024

/**
 * How long the first write of a group waits for others, while writes are
 * arriving together (SqliteStoreOptions, groupWindowMs). Each commit writes every page it
 * touched to the WAL: an accepted message touches some twenty (its row, its
 * sealed copy, the audit row and its indexes), whether one message shares
 * them or ten. Under an agency's load of sixteen connections, writes came a
 * little apart and 1.3 shared a commit; waiting 2 ms for company, 2.4 did
 * (docs/architecture.md, "The ledger's writes").
 */
const GROUP_WINDOW_MS = 2

/**
 * A ledger whose WAL reaches this size has its checkpoints moved to a thread
 * of their own (wal-checkpointer.ts): about where SQLite's automatic
 * checkpoint (1,000 pages) would first run. A ledger that never gets there
 * (a test's, a quiet sandbox's) never starts the thread.
 */
const CHECKPOINTER_AFTER_BYTES = 4 * 1024 * 1024
/**
 * Once the thread checkpoints, the writer's own automatic checkpoint is only
 * a backstop, for a thread that falls behind or fails: the WAL is let grow to
 * this many pages (64 MiB at SQLite's 4 KiB) before a commit checkpoints it
 * on the writer's thread.
 */
const BACKSTOP_CHECKPOINT_PAGES = 16_384
/**
 * The page cache of the writer's connection (KiB): the pages of the indexes'
 * right edges and the tree's rows stay in it between group commits instead
 * of being read again, a third of an append's reads at SQLite's 2 MiB.
 */
const CACHE_KIB = 16_384
/**
 * How much of the ledger file a read-only connection (audit:verify's) maps
 * into memory: SQLite's own ceiling, about 2 GiB. A row then costs a memory
 * read instead of a pread call and a copy into the page cache: about 2.5
 * against 5 µs a row of what verification reads (docs/measurements.md,
 * "Speed and memory"). Only there: a gateway's own connections would count
 * the mapped ledger in its resident memory, which is held to 300 MB, and a
 * disk's read error on a mapped page ends a process (SIGBUS) where a pread
 * would have returned an error: a CLI run by hand may end so, a gateway may
 * not. The ledger's file is never truncated (nothing vacuums it), so a
 * mapped page never goes away under the reader.
 */
const READ_ONLY_MAP_BYTES = 0x7fff0000
const INSERT_AUDIT = `INSERT INTO {audit} (seq, entry, prev_hash, hash, tree_nodes, field_set, ${AUDIT_COLUMNS.join(', ')})
  VALUES (?, ?, ?, ?, ?, ?, ${AUDIT_COLUMNS.map(() => '?').join(', ')})`

interface PendingWrite {
  readonly work: () => unknown
  /** What the write puts on disk, roughly: how a group commit is bounded. */
  readonly bytes: number
  /** Synced to disk at its commit (WriteOptions.durable). */
  readonly durable: boolean
  /** A group of its own (WriteOptions.alone). */
  readonly alone: boolean
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

export interface SqliteStoreOptions {
  /** Opens an existing ledger without creating or changing anything (the verifier). */
  readonly readOnly?: boolean
  /**
   * SQLite's `synchronous` in WAL mode (default 'normal'): 'normal' syncs the
   * WAL at its checkpoints, so a commit survives the end of any process but
   * not always a power loss or a host's crash; 'full' syncs it at every
   * commit, one fsync a group (docs/operators.md, "Configuration").
   */
  readonly synchronous?: 'normal' | 'full'
  readonly onCommitted?: CommitListener
  /**
   * When the ledger's WAL is checkpointed on a thread of its own (default:
   * once it reaches CHECKPOINTER_AFTER_BYTES); false keeps SQLite's
   * automatic checkpoint on the writer's thread.
   */
  readonly walCheckpointer?: false | { readonly afterBytes?: number; readonly intervalMs?: number }
  /** Told what the checkpoint thread did, when the store closes it. */
  readonly onWalCheckpointerStopped?: (stopped: WalCheckpointerStopped) => void
  /**
   * How long, in ms, a group of writes smaller than the last waits for others
   * to share its commit (default GROUP_WINDOW_MS; 0: never). It waits only
   * while writes are arriving together, that is when the last commit was
   * shared or others were asked for during it: a writer alone, one write
   * after another, is never held.
   */
  readonly groupWindowMs?: number
  /**
   * How long SQLite's own busy handler waits for a lock before answering
   * SQLITE_BUSY (default LOCK_WAIT_MS). The store waits LOCK_WAIT_MS for the
   * write lock whatever this says (sqlite-lock.ts): 0 stands for a handler
   * that gives up at once, as SQLite's does in some states.
   */
  readonly sqliteBusyTimeoutMs?: number
}

/** The ledger file, its one connection and its transaction model: SqliteStore's SQL backend. */
export class SqliteDatabase implements SqlBackend {
  readonly dialect = SQLITE
  readonly #db: DatabaseSync
  /** Statements are prepared once, on first use; search builds a few shapes, each cached. */
  readonly #statements = new Map<string, StatementSync>()
  /** The same, for reads whose rows come as arrays (tuples). */
  readonly #tupleStatements = new Map<string, StatementSync>()
  /** Writes waiting for the next group commit. */
  readonly #pending: PendingWrite[] = []
  /** Whether writes are arriving together: the last group had company, or more came while it committed. */
  #together = false
  /** How many writes the last group committed. */
  #lastGroup = 0
  /** Entries appended in the transaction under way: announced once it commits. */
  readonly #uncommitted: AuditEntry[] = []
  readonly #onCommitted: CommitListener | undefined
  /** The ledger's tip as the last append left it. */
  readonly #tip = new TipCache()
  /**
   * Where the last append of the transaction under way left the chain: the
   * next append in it (the lock is held) chains on without reading the head
   * or copying the tree's edge again. Forgotten at every rollback.
   */
  #txTip: ChainTip | undefined
  readonly #path: string
  readonly #options: SqliteStoreOptions
  /** The checkpoint thread, once the WAL has grown enough to want it. */
  #checkpointer: WalCheckpointer | undefined
  #closed: Promise<void> | undefined

  constructor(path: string, options: SqliteStoreOptions) {
    this.#path = path
    this.#options = options
    if (options.readOnly === true) {
      this.#db = new DatabaseSync(path, { readOnly: true })
      this.#db.exec(`PRAGMA busy_timeout = ${LOCK_WAIT_MS}; PRAGMA mmap_size = ${READ_ONLY_MAP_BYTES};`)
      return
    }
    this.#db = new DatabaseSync(path)
    this.#onCommitted = options.onCommitted
    // temp_store: the savepoints of a group commit journal in memory, not in a temporary file.
    this.#db.exec(`PRAGMA busy_timeout = ${options.sqliteBusyTimeoutMs ?? LOCK_WAIT_MS};`)
    execWhileBusy(this.#db, 'PRAGMA journal_mode = WAL;')
    const synchronous = options.synchronous === 'full' ? 'FULL' : 'NORMAL'
    this.#db.exec(`PRAGMA synchronous = ${synchronous}; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -${CACHE_KIB};`)
    // What is deleted (a delivered message's sealed copy, a purged record) is
    // overwritten with zeros, not left in the file's free space for a backup
    // to keep (P5; docs/operators.md, "Configuration"). The WAL's older
    // frames hold it until they are written over, as the WAL is reused.
    this.#db.exec('PRAGMA secure_delete = ON')
    this.#transactionNow(() => {
      this.#db.exec(SQLITE.text(tablesSql(SQLITE)))
      this.#migrate()
      this.#db.exec(SQLITE.text(indexesSql(SQLITE)))
    })
  }

  /**
   * The statement for `sql`, prepared on first use. Rows as arrays (tuples)
   * come from a statement of their own: setReturnArrays changes the
   * statement, and the same text may be read both ways.
   */
  #sql(sql: string, asArrays = false): StatementSync {
    const cache = asArrays ? this.#tupleStatements : this.#statements
    let statement = cache.get(sql)
    if (statement === undefined) {
      statement = this.#db.prepare(SQLITE.text(sql))
      if (asArrays) statement.setReturnArrays(true)
      cache.set(sql, statement)
    }
    return statement
  }

  async all<R = Row>(sql: string, values: readonly SqlValue[] = []): Promise<R[]> {
    return this.#sql(sql).all(...values) as R[]
  }

  async tuples<R extends readonly unknown[]>(sql: string, values: readonly SqlValue[] = []): Promise<R[]> {
    return this.#sql(sql, true).all(...values) as unknown as R[]
  }

  async run(sql: string, values: readonly SqlValue[] = []): Promise<number> {
    return Number(this.#sql(sql).run(...values).changes)
  }

  write<T>(write: Write<T>, options: WriteOptions = {}): Promise<T> {
    return this.#transaction(() => runSync(write, (step) => this.#step(step)), options)
  }

  #step(step: Step): StepResult {
    if (step.op === 'append') {
      this.#append(step.entry)
      return NO_RESULT
    }
    const statement = this.#sql(step.sql)
    if (step.op === 'all') return { changes: 0, rows: statement.all(...step.values) as Row[] }
    return { changes: Number(statement.run(...step.values).changes), rows: [] }
  }

  /**
   * Brings an older file up to SCHEMA_VERSION. A ledger written before the
   * audit index existed gets its columns and index rows from the entries'
   * JSON; every file, new or old, gets the columns added since its tables
   * were first created (ADDED_COLUMNS), so that both look the same; entries
   * written before the Merkle tree get their tree nodes.
   */
  #migrate(): void {
    const version = (this.#db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    if (version >= SCHEMA_VERSION) return
    const columnsOf = (table: string): Set<string> =>
      new Set((this.#db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name))
    const columns = columnsOf('audit')
    for (const column of AUDIT_COLUMNS) {
      if (!columns.has(column)) this.#db.exec(`ALTER TABLE audit ADD COLUMN ${column} TEXT`)
    }
    for (const { table, column } of ADDED_COLUMNS) {
      if (!columnsOf(table).has(column)) this.#db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} TEXT`)
    }
    const rows = this.#db.prepare('SELECT seq, entry FROM audit WHERE at IS NULL').iterate() as Iterable<{ seq: number; entry: string }>
    const set = this.#db.prepare(`UPDATE audit SET ${AUDIT_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE seq = ?`)
    for (const row of rows) {
      const entry = JSON.parse(row.entry) as AuditEntry
      set.run(...auditColumnValues(auditColumns(entry)), row.seq)
      this.#index(row.seq, auditSubjects(entry), undefined)
    }
    runSync(fillTreeNodes(), (step) => this.#step(step))
    // Before version 3, each entry had a row per field pattern (audit_fields): each now names its set.
    runSync(fillFieldSets(), (step) => this.#step(step))
    this.#db.exec('DROP TABLE IF EXISTS audit_fields')
    this.#db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`)
  }

  /**
   * BEGIN IMMEDIATE takes the write lock first, so two processes never chain
   * onto the same head; and waits for it while another process holds it,
   * where SQLite itself would give up early (sqlite-lock.ts).
   */
  #transactionNow<T>(work: () => T): T {
    execWhileBusy(this.#db, 'BEGIN IMMEDIATE')
    let result: T
    try {
      result = work()
      this.#db.exec('COMMIT')
    } catch (err) {
      this.#uncommitted.length = 0
      // SQLite has rolled back already after some errors (a full disk, an
      // I/O error): a ROLLBACK then fails, and its error would replace the
      // one that says what happened.
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK')
      throw err
    } finally {
      this.#txTip = undefined
    }
    const committed = this.#uncommitted.splice(0)
    if (committed.length > 0) this.#onCommitted?.(committed)
    if (this.#checkpointer === undefined) this.#startCheckpointerIfDue()
    return result
  }

  /** Moves checkpoints off this thread once the WAL is big enough to be worth it (CHECKPOINTER_AFTER_BYTES). */
  #startCheckpointerIfDue(): void {
    const setting = this.#options.walCheckpointer
    if (setting === false) return
    let walBytes: number
    try {
      walBytes = statSync(`${this.#path}-wal`).size
    } catch {
      return
    }
    if (walBytes < (setting?.afterBytes ?? CHECKPOINTER_AFTER_BYTES)) return
    this.#checkpointer = new WalCheckpointer({ path: this.#path, intervalMs: setting?.intervalMs })
    this.#db.exec(`PRAGMA wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES};`)
  }

  /**
   * Group commit: writes asked for in the same turn of the event loop (and,
   * while writes are arriving together, within groupWindowMs of the first)
   * share one transaction, each in its own savepoint, so one that fails leaves the
   * others whole. One commit of a hundred entries costs far less than a
   * hundred commits (their index rows share pages), and no caller hears back
   * before the commit that holds its write: the 202's promise is kept.
   */
  #transaction<T>(work: () => T, { bytes = 0, durable = false, alone = false }: WriteOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, bytes, durable, alone, resolve: resolve as (value: unknown) => void, reject })
      if (this.#pending.length === 1) setImmediate(() => this.#commitOrWait())
    })
  }

  /**
   * At the end of the turn the first write came in: while writes are
   * arriving together, a group smaller than the last one waits
   * groupWindowMs for company; any other commits now. Writers that all ask
   * again as soon as they are answered (a closed loop) form a group as large
   * as the last in one turn, and are never held; nor is a writer alone.
   */
  #commitOrWait(): void {
    const windowMs = this.#options.groupWindowMs ?? GROUP_WINDOW_MS
    const small = this.#pending.length < Math.max(2, this.#lastGroup)
    if (this.#together && small && windowMs > 0) setTimeout(() => this.#commitPending(false), windowMs)
    else this.#commitPending(false)
  }

  /** The next group: at most MAX_BATCH writes and MAX_BATCH_BYTES, none beside a write alone, and always at least one. */
  #nextBatch(): PendingWrite[] {
    let count = 0
    let bytes = 0
    while (count < this.#pending.length && count < MAX_BATCH) {
      const op = this.#pending[count]!
      // A write alone (WriteOptions.alone, a chunk of the retention purge) is a group of its own.
      if (count > 0 && op.alone) break
      bytes += op.bytes
      if (count > 0 && bytes > MAX_BATCH_BYTES) break
      count++
      if (op.alone) break
    }
    return this.#pending.splice(0, count)
  }

  /** One group commit, then the next on a later turn; all of them at once when the store closes. */
  #commitPending(drain: boolean): void {
    while (this.#pending.length > 0) {
      const batch = this.#nextBatch()
      this.#commitBatch(batch)
      this.#together = batch.length > 1 || this.#pending.length > 0
      this.#lastGroup = batch.length
      if (!drain && this.#pending.length > 0) {
        setImmediate(() => this.#commitPending(false))
        return
      }
    }
  }

  /**
   * A group that holds a durable write is synced at its commit: under
   * `synchronous = NORMAL` SQLite syncs its WAL only at a checkpoint
   * (WriteOptions.durable). It takes the setting only between transactions.
   */
  #commitBatch(batch: PendingWrite[]): void {
    const synced = this.#options.synchronous !== 'full' && batch.some((op) => op.durable)
    if (!synced) {
      this.#commitWrites(batch)
      return
    }
    this.#db.exec('PRAGMA synchronous = FULL')
    try {
      this.#commitWrites(batch)
    } finally {
      this.#db.exec('PRAGMA synchronous = NORMAL')
    }
  }

  #commitWrites(batch: PendingWrite[]): void {
    if (batch.length === 1) {
      // Alone, a write needs no savepoint: its failure is the transaction's.
      const op = batch[0]!
      try {
        op.resolve(this.#transactionNow(op.work))
      } catch (error) {
        op.reject(error)
      }
      return
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    try {
      this.#transactionNow(() => {
        for (const op of batch) {
          // Prepared once, like any statement: exec parsed them again for every write of every batch.
          this.#sql('SAVEPOINT write').run()
          const mark = this.#uncommitted.length
          try {
            outcomes.push({ ok: true, value: op.work() })
            this.#sql('RELEASE write').run()
          } catch (error) {
            this.#db.exec('ROLLBACK TO write; RELEASE write')
            this.#txTip = undefined
            this.#uncommitted.length = mark
            outcomes.push({ ok: false, error })
          }
        }
      })
    } catch (error) {
      // Nothing of the batch was committed (the lock was not had, or the commit failed).
      for (const op of batch) op.reject(error)
      return
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) op.resolve(outcome.value)
      else op.reject(outcome.error)
    })
  }

  /** An entry's subject rows, and its field set where the ledger does not have it yet. */
  #index(seq: number, subjects: readonly string[], fieldSet: FieldSet | undefined): void {
    const subject = this.#sql('INSERT OR IGNORE INTO {audit_subjects} (subject, seq) VALUES (?, ?)')
    for (const s of subjects) subject.run(s, seq)
    if (fieldSet !== undefined) runSync(insertFieldSet(fieldSet), (step) => this.#step(step))
  }

  /** One entry, chained onto the head as this transaction sees it (it holds the write lock), and into the tree. */
  #append(entry: AuditEntry): void {
    let tip = this.#txTip
    if (tip === undefined) {
      const head = this.#sql(HEAD).get() as Head | undefined
      tip = { head, edge: this.#tip.edgeAt(head) ?? runSync(readEdge(head!.seq), (step) => this.#step(step)) }
    }
    const rows = chainRows(tip, [serialised(entry)])
    const row = rows[0]!
    this.#sql(INSERT_AUDIT).run(row.seq, row.text, row.prevHash, row.hash, row.treeNodes, row.fieldSet?.id ?? null, ...row.columns)
    this.#index(row.seq, row.subjects, row.fieldSet)
    // The edge, advanced, is the tip's for the next append in this transaction and for the next transaction.
    this.#tip.remember(rows, tip.edge)
    this.#txTip = { head: { seq: row.seq, hash: row.hash }, edge: tip.edge }
    this.#uncommitted.push(entry)
  }

  close(): Promise<void> {
    this.#closed ??= this.#close()
    return this.#closed
  }

  async #close(): Promise<void> {
    if (!this.#db.isOpen) return
    this.#commitPending(true)
    // The thread's last checkpoint first: the writer's close then finds the
    // WAL copied and removes it, as it did before there was a thread.
    const checkpointer = this.#checkpointer
    if (checkpointer !== undefined) {
      // Stopped whether or not anyone listens: an optional call would not evaluate its argument.
      const stopped = await checkpointer.stop()
      this.#options.onWalCheckpointerStopped?.(stopped)
      // Writes asked for while the thread stopped.
      this.#commitPending(true)
    }
    this.#db.close()
  }
}

export class SqliteStore extends SqlStore {
  constructor(path: string, options: SqliteStoreOptions = {}) {
    super(new SqliteDatabase(path, options))
  }
}
