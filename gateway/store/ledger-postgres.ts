// The store for deployments with several gateway instances: one PostgreSQL
// ledger that every instance appends to. Same tables, the same SQL (sql/) and
// the same meaning as the SQLite store; what is PostgreSQL's own is here: the
// pool, the batched writes and the one chain, however many writers.
import { createHash } from 'node:crypto'
import pg from 'pg'
import { AUDIT_COLUMNS } from './audit-index.ts'
import type { AuditEntry, CommitListener } from './records.ts'
import { postgresDialect, type Dialect, type SqlValue } from './sql/dialect.ts'
import { HEAD, TipCache, chainLinks, fillFieldSets, fillTreeNodes, indexRows, readEdge, serialised, type Head, type SerialisedEntry } from './sql/ledger.ts'
import { NO_RESULT, runAsync, type Row, type Step, type StepResult, type Write, type WriteOptions } from './sql/program.ts'
import { addedColumnsSql, indexesSql, tablesSql } from './sql/schema.ts'
import { SqlStore, type SqlDatabase } from './sql/store.ts'

/**
 * The advisory lock that serialises appends to one ledger. Derived from the
 * schema, so that two ledgers in one database do not wait on each other.
 */
export function chainLockKey(schema: string): string {
  return createHash('sha256').update(`btb-audit-chain:${schema}`).digest().readBigInt64BE(0).toString()
}

/** The advisory lock that instances bringing one ledger's schema up to date take in turn (PostgresDatabase.create). */
function upgradeLockKey(schema: string): string {
  return createHash('sha256').update(`btb-ledger-upgrade:${schema}`).digest().readBigInt64BE(0).toString()
}

/** A transaction's connection, taking statements in the shared form (`?`, `{table}`). */
interface Transaction {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>
}

/** One statement on a batch's connection, SQL already in PostgreSQL's form, with the store's deadline. */
type Statement = <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]) => Promise<pg.QueryResult<R>>

/** A write's view of the batch it runs in: its statements, and the entries it appends. */
interface WriteContext extends Transaction {
  append(entry: AuditEntry): void
}

interface PendingWrite {
  readonly work: (c: WriteContext) => Promise<unknown>
  /** Committed in a batch of its own (WriteOptions.alone). */
  readonly alone: boolean
  /** Flushed to disk at its commit, whatever synchronous_commit says (WriteOptions.durable). */
  readonly durable: boolean
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

/** At most this many writes share a transaction. */
const MAX_BATCH = 256

/** The numbered parameter after the audit row's: `$n` of the INSERT_AUDIT below. */
const after = (n: number): string => `$${AUDIT_COLUMNS.length + 6 + n}`

/**
 * Every entry of a batch, its index rows with it, in one statement: arrays
 * in, rows out. The batch's field sets go in where the ledger lacks them, and
 * only those get their pattern rows (audit-index.ts, FieldSet).
 */
const INSERT_AUDIT = `WITH entry AS (
    INSERT INTO {audit} (seq, entry, prev_hash, hash, tree_nodes, ${AUDIT_COLUMNS.join(', ')}, field_set)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], ${AUDIT_COLUMNS.map((_, i) => `$${i + 6}::text[]`).join(', ')}, ${after(0)}::text[])
  ), subjects AS (
    INSERT INTO {audit_subjects} (subject, seq) SELECT * FROM unnest(${after(1)}::text[], ${after(2)}::bigint[])
  ), new_sets AS (
    INSERT INTO {audit_field_sets} (id, patterns) SELECT * FROM unnest(${after(3)}::text[], ${after(4)}::text[])
    ON CONFLICT DO NOTHING RETURNING id, patterns
  )
  INSERT INTO {audit_field_set_patterns} (path_pattern, field_set)
  SELECT unnest(string_to_array(patterns, ' ')), id FROM new_sets ON CONFLICT DO NOTHING`

/**
 * A text[] parameter as PostgreSQL's array literal: each element quoted, its
 * quotes and backslashes escaped, NULL bare. pg would write the same from a
 * JavaScript array, but only as it sends the statement, inside the chain's
 * lock; made here, it is made before (PreparedAppend).
 */
function textArrayLiteral(values: ReadonlyArray<string | null>): string {
  const parts = new Array<string>(values.length)
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    // Two single-character replaces: V8 runs each as a plain scan, three times as fast as one character class with `$&`.
    parts[i] = v === null ? 'NULL' : `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
  }
  return `{${parts.join(',')}}`
}

/**
 * What a batch's INSERT_AUDIT needs that does not depend on where the chain's
 * head is: the entries' texts and their search index, as array literals.
 * Made before the lock is taken, so that the lock, which every instance's
 * appends take in turn, is held only for the chain's links and the writes
 * (docs/measurements.md, "The ledger on PostgreSQL").
 */
interface PreparedAppend {
  readonly texts: ReadonlyArray<{ readonly text: string }>
  /** Each entry's count of subject rows, in order: their seqs are only known under the lock. */
  readonly subjectCounts: readonly number[]
  readonly literals: {
    readonly entries: string
    readonly columns: readonly string[]
    readonly fieldSets: string
    readonly subjects: string
    readonly newSetIds: string
    readonly newSetPatterns: string
  }
}

function prepareAppend(entries: readonly SerialisedEntry[]): PreparedAppend {
  const index = entries.map((e) => indexRows(e.entry))
  const sets = new Map<string, string>()
  for (const r of index) if (r.fieldSet !== undefined) sets.set(r.fieldSet.id, r.fieldSet.patterns)
  return {
    texts: entries,
    subjectCounts: index.map((r) => r.subjects.length),
    literals: {
      entries: textArrayLiteral(entries.map((e) => e.text)),
      columns: AUDIT_COLUMNS.map((_, i) => textArrayLiteral(index.map((r) => r.columns[i]!))),
      fieldSets: textArrayLiteral(index.map((r) => r.fieldSet?.id ?? null)),
      subjects: textArrayLiteral(index.flatMap((r) => r.subjects)),
      newSetIds: textArrayLiteral([...sets.keys()]),
      newSetPatterns: textArrayLiteral([...sets.values()])
    }
  }
}

export interface PostgresStoreOptions {
  /** The schema holding the ledger's tables: one schema, one ledger. */
  readonly schema: string
  readonly onCommitted?: CommitListener | undefined
  /**
   * A connection of the store's own pool was lost (PostgreSQL restarted, or
   * the connection was ended): the pool drops it and opens another when one
   * is next needed. Told once a connection.
   */
  readonly onConnectionLost?: ((error: Error) => void) | undefined
  /**
   * How long a write's statements, a read, or a new connection may wait for
   * the server (config.ts, ledgerPostgresTimeoutMs). Past it the write or
   * read fails and its connection is closed, not returned to the pool: a
   * server that stopped answering without closing its sockets (paused, cut
   * off by the network) would otherwise hold every write behind it until it
   * came back. Unset, they wait as long as the server takes (the audit CLI).
   * Creating or upgrading the schema is never cut short: an upgrade's
   * statements over a large ledger take as long as they take.
   */
  readonly timeoutMs?: number | undefined
}

/** node-postgres's error for a statement past its `query_timeout`. */
function isPastDeadline(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout'
}

/** The ledger's schema in a pool's database, and its transaction model. */
class PostgresDatabase implements SqlDatabase {
  readonly dialect: Dialect
  readonly #pool: pg.Pool
  readonly #onCommitted: CommitListener | undefined
  readonly #ownsPool: boolean
  readonly #schema: string
  readonly #lockKey: string
  /** SQL in this dialect, spelled once per text. */
  readonly #expanded = new Map<string, string>()
  /** Writes waiting for the next group commit, and whether one is under way. */
  readonly #pending: PendingWrite[] = []
  #committing: Promise<void> | undefined
  /** The ledger's tip as this instance's last append left it. */
  readonly #tip = new TipCache()
  readonly #timeoutMs: number | undefined

  constructor(pool: pg.Pool, options: PostgresStoreOptions, ownsPool: boolean) {
    this.dialect = postgresDialect(options.schema)
    this.#pool = pool
    this.#ownsPool = ownsPool
    this.#schema = options.schema
    this.#lockKey = chainLockKey(options.schema)
    this.#onCommitted = options.onCommitted
    this.#timeoutMs = options.timeoutMs
  }

  /**
   * A statement with the store's deadline (PostgresStoreOptions.timeoutMs).
   * node-postgres takes `query_timeout` on a query's config, though its
   * types leave it out there.
   */
  #timed(text: string, values: readonly unknown[] = [], rowMode?: 'array'): pg.QueryConfig {
    return { text, values: [...values], ...(rowMode === undefined ? {} : { rowMode }), query_timeout: this.#timeoutMs } as pg.QueryConfig
  }

  /**
   * Creates the schema and its tables if missing, and brings an older
   * ledger's up to this code's. A ledger already at this code's schema (its
   * mark, below, says so) is left alone, without a lock: another instance
   * starting while others write is the common case (a restart, a scale-up).
   *
   * Otherwise each statement runs in a transaction of its own, under a lock
   * that only other instances' upgrades take, never the chain's. A running
   * instance's write holds its rows' tables, then waits for the chain's lock;
   * an upgrade that held the chain's lock while it waited for a table (its
   * DDL locks each one, even where there is nothing to change) deadlocked
   * with every write in flight, and a new version could not start beside an
   * older one under load. A statement holding nothing that a write waits for
   * waits for the writes on its table to commit, and runs.
   */
  async create(): Promise<void> {
    const ddl = tablesSql(this.dialect) + addedColumnsSql() + indexesSql(this.dialect)
    const mark = `btb-ledger ${createHash('sha256').update(ddl).digest('base64url')}`
    const current = await this.#pool.query<{ mark: string | null }>("SELECT obj_description(to_regnamespace($1), 'pg_namespace') AS mark", [this.#schema])
    if (current.rows[0]?.mark === mark) return
    // Two instances starting together must not run the same CREATE at once: it is not atomic in PostgreSQL.
    const upgrading = async (statement: string): Promise<void> =>
      this.#transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [upgradeLockKey(this.#schema)])
        await c.query(statement)
      })
    await upgrading(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`)
    for (const statement of ddl.split(/;\s*\n/)) if (statement.trim() !== '') await upgrading(statement)
    for (const statement of await this.#lz4Statements()) await upgrading(statement)
    await this.#rewriteOlderRows()
    // The mark of a schema made or brought up to date by this code: what it is checked against above.
    await upgrading(`COMMENT ON SCHEMA ${this.#schema} IS '${mark}'`)
  }

  /**
   * Rows of a ledger from before the Merkle tree or the field sets, rewritten
   * under the chain's lock, since an append must not chain onto them
   * meanwhile. Only a ledger that old has any; an upgrade from one is started
   * while no instance writes (docs/operators.md, "Configuration").
   */
  async #rewriteOlderRows(): Promise<void> {
    const treeless = async (c: Transaction) => (await c.query(`SELECT 1 FROM {audit} WHERE tree_nodes IS NULL LIMIT 1`)).rows.length > 0
    const fieldRows = async (c: Transaction) => (await c.query('SELECT to_regclass($1) AS old', [`${this.#schema}.audit_fields`])).rows[0]?.old != null
    const needed = async (c: Transaction) => (await treeless(c)) || (await fieldRows(c))
    if (!(await this.#transaction(needed))) return
    await this.#transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [this.#lockKey])
      // A ledger written before the Merkle tree gets its tree nodes (sql/ledger.ts).
      if (await treeless(c)) await runAsync(fillTreeNodes(), (step) => this.#stepOn(c, step))
      // One written with a row per field pattern and entry gets field sets instead (audit-index.ts, FieldSet).
      if (await fieldRows(c)) {
        await runAsync(fillFieldSets(), (step) => this.#stepOn(c, step))
        await c.query('DROP TABLE {audit_fields}')
      }
    })
  }

  /**
   * What compresses the large columns (an entry, a sealed message) with lz4
   * where the server has it (PostgreSQL 14 and later, built with it), not
   * with the default pglz, which took a sixth of the server's time under
   * appends (docs/measurements.md, "The ledger on PostgreSQL"). Rows already
   * written keep their compression; both read the same.
   */
  async #lz4Statements(): Promise<string[]> {
    const columns = (
      await this.#pool.query<{ table_name: string; column_name: string }>(
        `SELECT c.relname AS table_name, a.attname AS column_name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = $1::regnamespace AND (c.relname, a.attname) IN (('audit', 'entry'), ('outbox', 'sealed')) AND a.attcompression <> 'l'
           AND EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))`,
        [this.#schema]
      )
    ).rows
    return columns.map(({ table_name, column_name }) => `ALTER TABLE ${this.#schema}.${table_name} ALTER COLUMN ${column_name} SET COMPRESSION lz4`)
  }

  /** A write's statement, on a transaction's connection. */
  async #stepOn(c: Transaction, step: Step): Promise<StepResult> {
    if (step.op === 'append') throw new Error('no entry is appended here')
    const result = await c.query(step.sql, step.values)
    return { changes: result.rowCount ?? 0, rows: result.rows }
  }

  #sql(text: string): string {
    let sql = this.#expanded.get(text)
    if (sql === undefined) {
      sql = this.dialect.text(text)
      this.#expanded.set(text, sql)
    }
    return sql
  }

  async all<R = Row>(sql: string, values: readonly SqlValue[] = []): Promise<R[]> {
    // The pool closes a connection whose query failed, a timed-out one with it.
    return (await this.#pool.query(this.#timed(this.#sql(sql), values))).rows as R[]
  }

  async tuples<R extends readonly unknown[]>(sql: string, values: readonly SqlValue[] = []): Promise<R[]> {
    return (await this.#pool.query(this.#timed(this.#sql(sql), values, 'array'))).rows as unknown as R[]
  }

  async run(sql: string, values: readonly SqlValue[] = []): Promise<number> {
    return (await this.#pool.query(this.#timed(this.#sql(sql), values))).rowCount ?? 0
  }

  write<T>(write: Write<T>, options: WriteOptions = {}): Promise<T> {
    return this.#write(
      (c) =>
        runAsync(write, async (step) => {
          if (step.op !== 'append') return this.#stepOn(c, step)
          c.append(step.entry)
          return NO_RESULT
        }),
      options
    )
  }

  async #transaction<T>(work: (c: Transaction) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect()
    const tx: Transaction = { query: (text, values = []) => client.query(this.#sql(text), [...values]) }
    try {
      await client.query('BEGIN')
      const result = await work(tx)
      await client.query('COMMIT')
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      client.release()
    }
  }

  /**
   * Group commit: writes that arrive while a batch is committing wait for the
   * next one, and share its transaction, each in its own savepoint (taken at
   * its first statement) so that one that fails leaves the others whole. The
   * chain lock is then taken once for the whole batch, not once per entry:
   * what bounds appends across every instance is how long the lock is held.
   * No caller hears back before the commit that holds its write.
   */
  #write<T>(work: (c: WriteContext) => Promise<T>, { alone = false, durable = false }: WriteOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, alone, durable, resolve: resolve as (value: unknown) => void, reject })
      this.#committing ??= this.#commitPending()
    })
  }

  async #commitPending(): Promise<void> {
    // Started from #write: wait a turn, so that the writes of this one share the batch.
    await new Promise((resolve) => setImmediate(resolve))
    try {
      while (this.#pending.length > 0) await this.#commitBatch(this.#pending.splice(0, this.#nextBatchSize()))
    } finally {
      this.#committing = undefined
    }
  }

  /**
   * At most MAX_BATCH writes, up to the first that must be alone; that one,
   * when it is first. A write alone (a chunk of the retention purge) that
   * runs past the deadline then rolls back only itself: in a shared batch it
   * failed every write beside it (an agency's accept, a delivery's record),
   * on every run (docs/operators.md, "Configuration", MESSAGE_RETENTION_DAYS).
   */
  #nextBatchSize(): number {
    if (this.#pending[0]!.alone) return 1
    const next = this.#pending.findIndex((op) => op.alone)
    return next === -1 ? MAX_BATCH : Math.min(next, MAX_BATCH)
  }

  async #commitBatch(batch: PendingWrite[]): Promise<void> {
    let client: pg.PoolClient
    try {
      client = await this.#pool.connect()
    } catch (error) {
      for (const op of batch) op.reject(error)
      return
    }
    const query: Statement = (text, values) => client.query(this.#timed(text, values))
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    const entries: SerialisedEntry[] = []
    // The last write's savepoint, left for the next write to release as it
    // takes its own, in the same round trip: COMMIT releases the last one.
    // Each round trip on the batch's connection waits for the one before, and
    // an accepted message made four (its savepoint, its two rows, the
    // release) where it now makes three (docs/measurements.md, "What bounds
    // ingest: the event loop").
    let open = false
    try {
      // A witness answers only once its state is on disk (C2SP tlog-witness;
      // docs/operators.md, LEDGER_SYNCHRONOUS): the database's or the role's
      // synchronous_commit may be off for the ledger's other writes.
      await query(batch.some((op) => op.durable) ? 'BEGIN; SET LOCAL synchronous_commit = on' : 'BEGIN')
      for (const op of batch) {
        let savepoint = false
        const appended: SerialisedEntry[] = []
        const context: WriteContext = {
          query: async (text, values = []) => {
            if (!savepoint && batch.length > 1) {
              await query(open ? 'RELEASE SAVEPOINT write; SAVEPOINT write' : 'SAVEPOINT write')
              savepoint = true
              open = true
            }
            return query(this.#sql(text), values)
          },
          // Serialised now, not at the batch's end: an entry that cannot be
          // written fails its own write, not the batch.
          append: (entry) => {
            appended.push(serialised(entry))
          }
        }
        try {
          const value = await op.work(context)
          entries.push(...appended)
          outcomes.push({ ok: true, value })
        } catch (error) {
          // Alone in its batch, a write that fails takes the transaction with
          // it; so does one past its deadline, whose connection is still
          // waiting on the server.
          if (batch.length === 1 || isPastDeadline(error)) throw error
          if (savepoint) {
            await query('ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write')
            open = false
          }
          outcomes.push({ ok: false, error })
        }
      }
      if (entries.length > 0) await this.#append(query, prepareAppend(entries))
      await query('COMMIT')
    } catch (error) {
      // A connection whose statement is past its deadline is closed, not
      // rolled back: the ROLLBACK would wait behind that statement. The
      // server rolls back a transaction whose connection closes before its
      // COMMIT arrives. One that timed out in the COMMIT itself may yet have
      // committed: its writers hear a 503 and send again, and are answered
      // as a repeat (docs/operators.md, LEDGER_POSTGRES_TIMEOUT_MS).
      const closing = isPastDeadline(error)
        ? error
        : await query('ROLLBACK').then(
            () => undefined,
            (rollbackError: unknown) => rollbackError
          )
      // A truthy argument has the pool close the connection instead of keeping it.
      client.release(closing as Error | undefined)
      for (const op of batch) op.reject(error)
      return
    }
    client.release()
    if (entries.length > 0) this.#onCommitted?.(entries.map((e) => e.entry))
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) op.resolve(outcome.value)
      else op.reject(outcome.error)
    })
  }

  /**
   * Appends to the one chain every instance shares. The advisory lock makes
   * batches take turns until commit; the head is read in its own statement
   * after the lock is held, because under READ COMMITTED a statement sees the
   * database as it was when the statement began: a head read in the statement
   * that waited for the lock could be one another instance has since moved.
   * The lock is taken last in every transaction, after any row it writes, so
   * whoever holds it never waits on a row lock: no deadlock.
   */
  async #append(query: Statement, batch: PreparedAppend): Promise<void> {
    await query('SELECT pg_advisory_xact_lock($1)', [this.#lockKey])
    const row = (await query<{ seq: string; hash: string }>(this.#sql(HEAD))).rows[0]
    const head: Head | undefined = row === undefined ? undefined : { seq: Number(row.seq), hash: row.hash }
    const tx: Transaction = { query: (text, values) => query(this.#sql(text), values) }
    const edge = this.#tip.edgeAt(head) ?? (await runAsync(readEdge(head!.seq), (step) => this.#stepOn(tx, step)))
    const links = chainLinks({ head, edge }, batch.texts)
    const { literals } = batch
    await query(this.#sql(INSERT_AUDIT), [
      links.map((l) => l.seq),
      literals.entries,
      links.map((l) => l.prevHash),
      links.map((l) => l.hash),
      links.map((l) => l.treeNodes),
      ...literals.columns,
      literals.fieldSets,
      literals.subjects,
      batch.subjectCounts.flatMap((count, i) => Array<number>(count).fill(links[i]!.seq)),
      literals.newSetIds,
      literals.newSetPatterns
    ])
    // Remembered before the commit: if it fails, the head will not be where this edge ends, and it is read again.
    this.#tip.remember(links, edge)
  }

  async close(): Promise<void> {
    await this.#committing
    if (this.#ownsPool) await this.#pool.end()
  }
}

export class PostgresStore extends SqlStore {
  readonly #db: PostgresDatabase

  /** `pool` stays the caller's to end, unless the store was made by `open`. */
  constructor(pool: pg.Pool, options: PostgresStoreOptions, ownsPool = false) {
    const db = new PostgresDatabase(pool, options, ownsPool)
    super(db)
    this.#db = db
  }

  static open(connectionString: string, options: PostgresStoreOptions, poolSize = 10): PostgresStore {
    // Named after its schema, so that pg_stat_activity says whose ledger each connection holds.
    const pool = new pg.Pool({
      connectionString,
      max: poolSize,
      application_name: `btb-ledger ${options.schema}`,
      // A new connection, or a free one, within the same deadline as a statement.
      connectionTimeoutMillis: options.timeoutMs,
      // A session left in a transaction, its instance frozen (a paused VM, a
      // machine cut off) while it holds the chain's lock, is ended by the
      // server after the same deadline: its write is rolled back, as one past
      // its timeout is, and the other instances go on (docs/operators.md,
      // "Configuration"). An instance sends a transaction's statements back to
      // back, so a live one is never idle in one for so long.
      ...(options.timeoutMs === undefined ? {} : { idle_in_transaction_session_timeout: options.timeoutMs })
    })
    // node-postgres emits a lost connection's error on its client, whether
    // idle in the pool or checked out by a query or transaction (which also
    // fails, and is answered as any failed write is); with no listener there,
    // the process ends. A client may emit more than one as its socket closes:
    // it reports the first. The pool re-emits an idle one's, already reported.
    pool.on('connect', (client) => {
      let reported = false
      client.on('error', (error) => {
        if (reported) return
        reported = true
        options.onConnectionLost?.(error)
      })
    })
    pool.on('error', () => {})
    return new PostgresStore(pool, options, true)
  }

  /** Creates the schema and its tables if missing. */
  create(): Promise<void> {
    return this.#db.create()
  }
}
