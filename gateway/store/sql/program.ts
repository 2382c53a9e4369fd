// A write is written once, as a generator of steps (a statement, or an entry
// to append to the ledger), and each store runs it in its own transaction
// model: SQLite synchronously, inside its group commit's savepoint;
// PostgreSQL asynchronously, on its batch's connection. The write's logic and
// its SQL are shared; how a transaction is had is not.
import type { AuditEntry } from '../records.ts'
import type { Dialect, SqlValue } from './dialect.ts'

export type Row = Record<string, unknown>

export type Step =
  /** A statement whose rows are wanted. */
  | { readonly op: 'all'; readonly sql: string; readonly values: readonly SqlValue[] }
  /** A statement whose count of changed rows is wanted. */
  | { readonly op: 'run'; readonly sql: string; readonly values: readonly SqlValue[] }
  /** An entry for the ledger, chained in the same transaction (each store has its own way: see its `append`). */
  | { readonly op: 'append'; readonly entry: AuditEntry }

export interface StepResult {
  readonly changes: number
  readonly rows: readonly Row[]
}

export const NO_RESULT: StepResult = { changes: 0, rows: [] }

/** A write: steps out, their results in, its value at the end. */
export type Write<T> = Generator<Step, T, StepResult>

export function* run(sql: string, values: readonly SqlValue[]): Write<number> {
  return (yield { op: 'run', sql, values }).changes
}

export function* all<R = Row>(sql: string, values: readonly SqlValue[]): Write<R[]> {
  return (yield { op: 'all', sql, values }).rows as R[]
}

export function* append(entry: AuditEntry): Write<void> {
  yield { op: 'append', entry }
}

/** Runs a write whose steps are answered synchronously (SQLite). */
export function runSync<T>(write: Write<T>, step: (s: Step) => StepResult): T {
  let next = write.next()
  while (next.done !== true) next = write.next(step(next.value))
  return next.value
}

/** Runs a write whose steps are answered asynchronously (PostgreSQL). */
export async function runAsync<T>(write: Write<T>, step: (s: Step) => Promise<StepResult>): Promise<T> {
  let next = write.next()
  while (next.done !== true) next = write.next(await step(next.value))
  return next.value
}

/**
 * What the repositories need of a database. Statements are in the shared
 * form (`?`, `{table}`): the backend spells them in its dialect.
 */
export interface SqlBackend {
  readonly dialect: Dialect
  /** A read, outside any write's transaction: it sees only what was committed. */
  all<R = Row>(sql: string, values?: readonly SqlValue[]): Promise<R[]>
  /**
   * The same read, each row an array of its columns in the order the
   * statement names them: for verification's pages of 19 columns a row,
   * where naming each column of each row was about a quarter of the read
   * (docs/architecture.md, "The verifiable ledger").
   */
  tuples<R extends readonly unknown[]>(sql: string, values?: readonly SqlValue[]): Promise<R[]>
  /** One statement that appends nothing to the ledger, committed on its own; the count of rows it changed. */
  run(sql: string, values?: readonly SqlValue[]): Promise<number>
  /**
   * A write that may append to the ledger, in the backend's group commit:
   * no caller hears back before the commit that holds its write.
   */
  write<T>(write: Write<T>, options?: WriteOptions): Promise<T>
}

export interface WriteOptions {
  /** Roughly what the write puts on disk, for backends that bound a commit by size. */
  readonly bytes?: number
  /**
   * On disk before its caller hears back, whatever the ledger's own setting:
   * what a witness answers with must survive a power loss (C2SP
   * tlog-witness; sql/checkpoints.ts). SQLite's `synchronous = NORMAL` syncs
   * only at a checkpoint of its WAL; PostgreSQL's `synchronous_commit` may be
   * off for the database or the role.
   */
  readonly durable?: boolean
  /**
   * In a transaction of its own, shared with no other write: for a write
   * that may run long (a chunk of the retention purge, sql/holds.ts). On
   * PostgreSQL a write past LEDGER_POSTGRES_TIMEOUT_MS takes its whole batch
   * with it (ledger-postgres.ts); alone, it fails only itself.
   */
  readonly alone?: boolean
}
