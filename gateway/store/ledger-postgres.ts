// The store for deployments with several gateway instances: one PostgreSQL
// ledger that every instance appends to. Same tables and the same meaning as
// the SQLite store; one chain, however many writers.
import { createHash } from 'node:crypto'
import pg from 'pg'
import { GENESIS_HASH, chainHash, serialiseEntry } from './audit-chain.ts'
import {
  AUDIT_COLUMNS, auditColumnValues, auditColumns, auditFieldPatterns, auditSubjects, normaliseInstant, searchSql
} from './audit-index.ts'
import type {
  AuditEntry, AuditIndexRows, AuditQuery, Checkpoint, CommitListener, DeadLetterCursor, DeliveryAttempt, Direction, GatewayStore, LegalHold, MessageRecord,
  OutboxItem, PartnerCheckpoint, PurgeCounts, StoredAuditEntry
} from './records.ts'
import { purgeEntry } from './records.ts'
import { toOutbox, toRecord, type MessageRow, type OutboxRow } from './message-rows.ts'

function schemaSql(): string {
  return `
CREATE TABLE IF NOT EXISTS {messages} (
  direction TEXT NOT NULL,
  id TEXT NOT NULL,
  digest TEXT NOT NULL,
  kind TEXT NOT NULL,
  purpose TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  status TEXT NOT NULL,
  accepted_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  attempts TEXT NOT NULL DEFAULT '[]',
  receipt TEXT,
  correlation_id TEXT,
  policy_version TEXT,
  PRIMARY KEY (direction, id)
);
CREATE INDEX IF NOT EXISTS messages_retention ON {messages} (status, updated_at);
CREATE TABLE IF NOT EXISTS {outbox} (
  direction TEXT NOT NULL,
  id TEXT NOT NULL,
  target TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (direction, id)
);
CREATE INDEX IF NOT EXISTS outbox_created ON {outbox} (created_at);
CREATE TABLE IF NOT EXISTS {audit} (
  seq BIGINT PRIMARY KEY,
  entry TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  ${AUDIT_COLUMNS.map((c) => `${c} TEXT`).join(',\n  ')}
);
CREATE TABLE IF NOT EXISTS {audit_subjects} (
  subject TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (subject, seq)
);
CREATE TABLE IF NOT EXISTS {audit_fields} (
  path_pattern TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (path_pattern, seq)
);
CREATE TABLE IF NOT EXISTS {checkpoints} (
  seq BIGINT PRIMARY KEY,
  hash TEXT NOT NULL,
  at TEXT NOT NULL,
  jws TEXT NOT NULL,
  countersignature TEXT
);
CREATE TABLE IF NOT EXISTS {partner_checkpoints} (
  partner TEXT NOT NULL,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL,
  at TEXT NOT NULL,
  jws TEXT NOT NULL,
  countersignature TEXT NOT NULL,
  PRIMARY KEY (partner, seq)
);
CREATE TABLE IF NOT EXISTS {legal_holds} (
  ref TEXT PRIMARY KEY,
  message_id TEXT,
  subject TEXT,
  reason TEXT NOT NULL,
  placed_at TEXT NOT NULL,
  released_at TEXT
);
-- PostgreSQL indexes do not end with the row's key by themselves: (column, seq)
-- makes "column = ? AND seq > ? ORDER BY seq" one range read. Countries are
-- not indexed: nearly every entry names both.
CREATE INDEX IF NOT EXISTS audit_at ON {audit} (at);
CREATE INDEX IF NOT EXISTS audit_event ON {audit} (event, seq);
CREATE INDEX IF NOT EXISTS audit_direction ON {audit} (direction, seq);
CREATE INDEX IF NOT EXISTS audit_kind ON {audit} (kind, seq);
CREATE INDEX IF NOT EXISTS audit_purpose ON {audit} (purpose, seq);
CREATE INDEX IF NOT EXISTS audit_code ON {audit} (code, seq) WHERE code IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_message ON {audit} (message_id, seq);
CREATE INDEX IF NOT EXISTS audit_policy ON {audit} (policy_version, seq);
CREATE INDEX IF NOT EXISTS audit_from_agency ON {audit} (from_agency, seq);
CREATE INDEX IF NOT EXISTS audit_to_agency ON {audit} (to_agency, seq);
`
}

/** See the SQLite store: the same rule, with PostgreSQL placeholders. */
const PURGEABLE = `m.updated_at < $1 AND m.status IN ('delivered', 'dead-lettered', 'discarded') AND NOT EXISTS (
  SELECT 1 FROM {legal_holds} h WHERE h.released_at IS NULL AND (
    h.message_id = m.id OR (h.subject IS NOT NULL AND EXISTS (
      SELECT 1 FROM {audit} a JOIN {audit_subjects} s ON s.subject = h.subject AND s.seq = a.seq WHERE a.message_id = m.id))))`

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * The advisory lock that serialises appends to one ledger. Derived from the
 * schema, so that two ledgers in one database do not wait on each other.
 */
function chainLockKey(schema: string): string {
  return createHash('sha256').update(`btb-audit-chain:${schema}`).digest().readBigInt64BE(0).toString()
}

// BIGINT comes back as a string from pg (it may exceed 2^53); a ledger's seq never will.
interface AuditRow { seq: string; entry: string; prev_hash: string; hash: string }

function toStored(row: AuditRow): StoredAuditEntry {
  return { seq: Number(row.seq), hash: row.hash, prevHash: row.prev_hash, entry: JSON.parse(row.entry) as AuditEntry }
}

interface CheckpointRow { seq: string; hash: string; at: string; jws: string; countersignature: string | null }

function toCheckpoint(row: CheckpointRow): Checkpoint {
  return { seq: Number(row.seq), hash: row.hash, at: row.at, jws: row.jws, countersignature: row.countersignature }
}

interface PartnerCheckpointRow { partner: string; seq: string; hash: string; at: string; jws: string; countersignature: string }

function toPartnerCheckpoint(row: PartnerCheckpointRow): PartnerCheckpoint {
  return { partner: row.partner, seq: Number(row.seq), hash: row.hash, at: row.at, jws: row.jws, countersignature: row.countersignature }
}

interface LegalHoldRow { ref: string; message_id: string | null; subject: string | null; reason: string; placed_at: string; released_at: string | null }

function toLegalHold(row: LegalHoldRow): LegalHold {
  return { ref: row.ref, messageId: row.message_id, subject: row.subject, reason: row.reason, placedAt: row.placed_at, releasedAt: row.released_at }
}

/** A transaction's connection, with the same `{table}` expansion as the store's queries. */
interface Transaction {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>
}

/** A write's view of the batch it runs in: its statements, and the entries it appends. */
interface WriteContext extends Transaction {
  append(entry: AuditEntry): void
}

/** An entry and the text the chain hashes. */
interface SerialisedEntry {
  readonly entry: AuditEntry
  readonly text: string
}

interface PendingWrite {
  readonly work: (c: WriteContext) => Promise<unknown>
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

/** At most this many writes share a transaction. */
const MAX_BATCH = 256

/** Every entry of a batch, its index rows with it, in one statement: arrays in, rows out. */
const INSERT_AUDIT = `WITH entry AS (
    INSERT INTO {audit} (seq, entry, prev_hash, hash, ${AUDIT_COLUMNS.join(', ')})
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], ${AUDIT_COLUMNS.map((_, i) => `$${i + 5}::text[]`).join(', ')})
  ), subjects AS (
    INSERT INTO {audit_subjects} (subject, seq) SELECT * FROM unnest($${AUDIT_COLUMNS.length + 5}::text[], $${AUDIT_COLUMNS.length + 6}::bigint[])
  )
  INSERT INTO {audit_fields} (path_pattern, seq) SELECT * FROM unnest($${AUDIT_COLUMNS.length + 7}::text[], $${AUDIT_COLUMNS.length + 8}::bigint[])`

export interface PostgresStoreOptions {
  /** The schema holding the ledger's tables: one schema, one ledger. */
  readonly schema: string
  readonly onCommitted?: CommitListener | undefined
}

export class PostgresStore implements GatewayStore {
  readonly #pool: pg.Pool
  readonly #onCommitted: CommitListener | undefined
  readonly #ownsPool: boolean
  readonly #schema: string
  readonly #lockKey: string
  /** SQL with its `{table}` names qualified by the schema, expanded once per text. */
  readonly #expanded = new Map<string, string>()
  /** Writes waiting for the next group commit, and whether one is under way. */
  readonly #pending: PendingWrite[] = []
  #committing: Promise<void> | undefined

  /** `pool` stays the caller's to end, unless the store was made by `open`. */
  constructor(pool: pg.Pool, options: PostgresStoreOptions, ownsPool = false) {
    if (!SCHEMA_NAME.test(options.schema)) throw new Error(`schema ${options.schema} is not a plain lower-case identifier`)
    this.#pool = pool
    this.#ownsPool = ownsPool
    this.#schema = options.schema
    this.#lockKey = chainLockKey(options.schema)
    this.#onCommitted = options.onCommitted
  }

  static open(connectionString: string, options: PostgresStoreOptions, poolSize = 10): PostgresStore {
    return new PostgresStore(new pg.Pool({ connectionString, max: poolSize }), options, true)
  }

  /** Creates the schema and its tables if missing. */
  async create(): Promise<void> {
    await this.#transaction(async (c) => {
      // Two instances starting together must not both run CREATE: it is not atomic in PostgreSQL.
      await c.query('SELECT pg_advisory_xact_lock($1)', [this.#lockKey])
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`)
      await c.query(this.#sql(schemaSql()))
    })
  }

  /** Every table is named with its schema: the pool may be shared, its search_path is not ours to set. */
  #sql(text: string): string {
    let sql = this.#expanded.get(text)
    if (sql === undefined) {
      sql = text.replace(/\{([a-z_]+)\}/g, (_, table: string) => `${this.#schema}.${table}`)
      this.#expanded.set(text, sql)
    }
    return sql
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.#pool.query<R>(this.#sql(text), values)).rows
  }

  async #transaction<T>(work: (c: Transaction) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect()
    const tx: Transaction = { query: (text, values = []) => client.query(this.#sql(text), values) }
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
  #write<T>(work: (c: WriteContext) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve: resolve as (value: unknown) => void, reject })
      this.#committing ??= this.#commitPending()
    })
  }

  async #commitPending(): Promise<void> {
    // Started from #write: wait a turn, so that the writes of this one share the batch.
    await new Promise((resolve) => setImmediate(resolve))
    try {
      while (this.#pending.length > 0) await this.#commitBatch(this.#pending.splice(0, MAX_BATCH))
    } finally {
      this.#committing = undefined
    }
  }

  async #commitBatch(batch: PendingWrite[]): Promise<void> {
    let client: pg.PoolClient
    try {
      client = await this.#pool.connect()
    } catch (error) {
      for (const op of batch) op.reject(error)
      return
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    const entries: SerialisedEntry[] = []
    try {
      await client.query('BEGIN')
      for (const op of batch) {
        let savepoint = false
        const appended: SerialisedEntry[] = []
        const context: WriteContext = {
          query: async (text, values = []) => {
            if (!savepoint && batch.length > 1) {
              await client.query('SAVEPOINT write')
              savepoint = true
            }
            return client.query(this.#sql(text), values)
          },
          // Serialised now, not at the batch's end: an entry that cannot be
          // written fails its own write, not the batch.
          append: (entry) => { appended.push({ entry, text: serialiseEntry(entry) }) }
        }
        try {
          const value = await op.work(context)
          if (savepoint) await client.query('RELEASE SAVEPOINT write')
          entries.push(...appended)
          outcomes.push({ ok: true, value })
        } catch (error) {
          // Alone in its batch, a write that fails takes the transaction with it.
          if (batch.length === 1) throw error
          if (savepoint) await client.query('ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write')
          outcomes.push({ ok: false, error })
        }
      }
      if (entries.length > 0) await this.#append(client, entries)
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      client.release()
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
  async #append(client: pg.PoolClient, entries: readonly SerialisedEntry[]): Promise<void> {
    await client.query('SELECT pg_advisory_xact_lock($1)', [this.#lockKey])
    const head = (await client.query<{ seq: string; hash: string }>(this.#sql('SELECT seq, hash FROM {audit} ORDER BY seq DESC LIMIT 1'))).rows[0]
    let seq = head === undefined ? 0 : Number(head.seq)
    let prevHash = head?.hash ?? GENESIS_HASH
    const rows = { seq: [] as number[], entry: [] as string[], prevHash: [] as string[], hash: [] as string[] }
    const columns: Array<Array<string | null>> = AUDIT_COLUMNS.map(() => [])
    const subjects = { subject: [] as string[], seq: [] as number[] }
    const fields = { pattern: [] as string[], seq: [] as number[] }
    for (const { entry, text } of entries) {
      seq++
      const hash = chainHash(prevHash, text)
      rows.seq.push(seq)
      rows.entry.push(text)
      rows.prevHash.push(prevHash)
      rows.hash.push(hash)
      auditColumnValues(auditColumns(entry)).forEach((value, i) => columns[i]!.push(value))
      for (const s of auditSubjects(entry)) { subjects.subject.push(s); subjects.seq.push(seq) }
      for (const f of auditFieldPatterns(entry)) { fields.pattern.push(f); fields.seq.push(seq) }
      prevHash = hash
    }
    await client.query(this.#sql(INSERT_AUDIT), [
      rows.seq, rows.entry, rows.prevHash, rows.hash, ...columns, subjects.subject, subjects.seq, fields.pattern, fields.seq
    ])
  }

  async findMessage(direction: Direction, id: string): Promise<MessageRecord | undefined> {
    const [row] = await this.#query<MessageRow>('SELECT * FROM {messages} WHERE direction = $1 AND id = $2', [direction, id])
    return row === undefined ? undefined : toRecord(row)
  }

  async accept(record: MessageRecord, outbox: OutboxItem, audit: AuditEntry): Promise<boolean> {
    return this.#write(async (c) => {
      const inserted = await c.query(`INSERT INTO {messages} (direction, id, digest, kind, purpose, sender, recipient, status,
        accepted_at, updated_at, attempts, receipt, correlation_id, policy_version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`, [
        record.direction, record.id, record.digest, record.kind, record.purpose, record.sender, record.recipient,
        record.status, record.acceptedAt, record.updatedAt, JSON.stringify(record.attempts), record.receipt,
        record.correlationId, record.policyVersion
      ])
      if (inserted.rowCount === 0) return false
      await c.query('INSERT INTO {outbox} (direction, id, target, sealed, created_at) VALUES ($1, $2, $3, $4, $5)',
        [outbox.direction, outbox.id, outbox.target, outbox.sealed, outbox.createdAt])
      c.append(audit)
      return true
    })
  }

  async recordAttempt(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry | null): Promise<boolean> {
    // The attempt is appended in SQL, so that two workers recording at once lose neither.
    return this.#write(async (c) => {
      const { rowCount } = await c.query(`UPDATE {messages} SET attempts = (attempts::jsonb || jsonb_build_array($1::jsonb))::text, updated_at = $2
        WHERE direction = $3 AND id = $4 AND status = 'accepted'`, [JSON.stringify(attempt), attempt.at, direction, id])
      if (rowCount === 0) return false
      if (audit !== null) c.append(audit)
      return true
    })
  }

  async markDelivered(direction: Direction, id: string, receipt: string | null, audit: AuditEntry): Promise<boolean> {
    // The row lock the UPDATE takes makes a concurrent second delivery wait, then find it delivered.
    return this.#write(async (c) => {
      const { rowCount } = await c.query(`UPDATE {messages} SET status = 'delivered', receipt = coalesce($1, receipt), updated_at = $2
        WHERE direction = $3 AND id = $4 AND status <> 'delivered'`, [receipt, audit.at, direction, id])
      if (rowCount === 0) return false
      await c.query('DELETE FROM {outbox} WHERE direction = $1 AND id = $2', [direction, id])
      c.append(audit)
      return true
    })
  }

  async markDeadLettered(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry): Promise<boolean> {
    // The outbox item stays (sealed) so that an operator can resend it.
    return this.#write(async (c) => {
      const { rowCount } = await c.query(`UPDATE {messages} SET status = 'dead-lettered', attempts = (attempts::jsonb || jsonb_build_array($1::jsonb))::text,
        updated_at = $2 WHERE direction = $3 AND id = $4 AND status = 'accepted'`, [JSON.stringify(attempt), attempt.at, direction, id])
      if (rowCount === 0) return false
      c.append(audit)
      return true
    })
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#write(async (c) => c.append(entry))
  }

  async outboxItem(direction: Direction, id: string): Promise<OutboxItem | undefined> {
    const [row] = await this.#query<OutboxRow>('SELECT * FROM {outbox} WHERE direction = $1 AND id = $2', [direction, id])
    return row === undefined ? undefined : toOutbox(row)
  }

  async pendingOutbox(before: string, limit: number): Promise<OutboxItem[]> {
    // Dead-lettered items stay in the outbox for an operator, but are not re-driven.
    const rows = await this.#query<OutboxRow>(`SELECT o.* FROM {outbox} o JOIN {messages} m ON m.direction = o.direction AND m.id = o.id
      WHERE m.status = 'accepted' AND o.created_at < $1 ORDER BY o.created_at LIMIT $2`, [before, limit])
    return rows.map(toOutbox)
  }

  async auditIndexRows(fromSeq: number, toSeq: number): Promise<AuditIndexRows> {
    const subjects = await this.#query<{ seq: string | number; subject: string }>('SELECT seq, subject FROM {audit_subjects} WHERE seq BETWEEN $1 AND $2', [fromSeq, toSeq])
    const fields = await this.#query<{ seq: string | number; path_pattern: string }>('SELECT seq, path_pattern FROM {audit_fields} WHERE seq BETWEEN $1 AND $2', [fromSeq, toSeq])
    const columns = await this.#query<Record<string, string | null> & { seq: string | number }>(
      `SELECT seq, ${AUDIT_COLUMNS.join(', ')} FROM {audit} WHERE seq BETWEEN $1 AND $2 ORDER BY seq`, [fromSeq, toSeq])
    return {
      subjects: subjects.map((r) => `${Number(r.seq)} ${r.subject}`),
      fields: fields.map((r) => `${Number(r.seq)} ${r.path_pattern}`),
      columns: columns.map((r) => ({ seq: Number(r.seq), values: AUDIT_COLUMNS.map((c) => r[c] ?? null) }))
    }
  }

  async auditEntries(afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    const rows = await this.#query<AuditRow>('SELECT seq, entry, prev_hash, hash FROM {audit} WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit])
    return rows.map(toStored)
  }

  async auditEntry(seq: number): Promise<StoredAuditEntry | undefined> {
    const [row] = await this.#query<AuditRow>('SELECT seq, entry, prev_hash, hash FROM {audit} WHERE seq = $1', [seq])
    return row === undefined ? undefined : toStored(row)
  }

  async searchAudit(query: AuditQuery, afterSeq: number, limit: number): Promise<StoredAuditEntry[]> {
    const { sql, values } = searchSql(query, afterSeq, limit, 'postgres', (table) => `{${table}}`)
    return (await this.#query<AuditRow>(sql, values)).map(toStored)
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    const [row] = await this.#query<{ seq: string; hash: string }>('SELECT seq, hash FROM {audit} ORDER BY seq DESC LIMIT 1')
    return row === undefined ? undefined : { seq: Number(row.seq), hash: row.hash }
  }

  async addCheckpoint(cp: Omit<Checkpoint, 'countersignature'>): Promise<boolean> {
    const rows = await this.#query('INSERT INTO {checkpoints} (seq, hash, at, jws) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING seq',
      [cp.seq, cp.hash, cp.at, cp.jws])
    return rows.length > 0
  }

  async setCountersignature(seq: number, jws: string): Promise<void> {
    await this.#query('UPDATE {checkpoints} SET countersignature = $1 WHERE seq = $2', [jws, seq])
  }

  async checkpoints(afterSeq: number, limit: number): Promise<Checkpoint[]> {
    return (await this.#query<CheckpointRow>('SELECT * FROM {checkpoints} WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit])).map(toCheckpoint)
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    const [row] = await this.#query<CheckpointRow>('SELECT * FROM {checkpoints} ORDER BY seq DESC LIMIT 1')
    return row === undefined ? undefined : toCheckpoint(row)
  }

  async keepPartnerCheckpoint(cp: PartnerCheckpoint): Promise<boolean> {
    const rows = await this.#query(`INSERT INTO {partner_checkpoints} (partner, seq, hash, at, jws, countersignature)
      VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING seq`, [cp.partner, cp.seq, cp.hash, cp.at, cp.jws, cp.countersignature])
    return rows.length > 0
  }

  async partnerCheckpoints(partner: string, afterSeq: number, limit: number): Promise<PartnerCheckpoint[]> {
    const rows = await this.#query<PartnerCheckpointRow>('SELECT * FROM {partner_checkpoints} WHERE partner = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [partner, afterSeq, limit])
    return rows.map(toPartnerCheckpoint)
  }

  async latestPartnerCheckpoint(partner: string): Promise<PartnerCheckpoint | undefined> {
    const [row] = await this.#query<PartnerCheckpointRow>('SELECT * FROM {partner_checkpoints} WHERE partner = $1 ORDER BY seq DESC LIMIT 1', [partner])
    return row === undefined ? undefined : toPartnerCheckpoint(row)
  }

  async deadLetters(direction: Direction | undefined, after: DeadLetterCursor | undefined, limit: number): Promise<MessageRecord[]> {
    // COLLATE "C": the cursor must order as SQLite does (bytewise), whatever the database's locale.
    const rows = await this.#query<MessageRow>(`SELECT * FROM {messages} WHERE status = 'dead-lettered'
      AND ($1::text IS NULL OR direction = $1)
      AND (updated_at COLLATE "C", direction COLLATE "C", id COLLATE "C") > ($2, $3, $4)
      ORDER BY updated_at COLLATE "C", direction COLLATE "C", id COLLATE "C" LIMIT $5`,
    [direction ?? null, after?.updatedAt ?? '', after?.direction ?? '', after?.id ?? '', limit])
    return rows.map(toRecord)
  }

  async countDeadLetters(): Promise<Record<Direction, number>> {
    const rows = await this.#query<{ direction: Direction; n: string }>(`SELECT direction, count(*) AS n FROM {messages}
      WHERE status = 'dead-lettered' GROUP BY direction`)
    const counts = { outbound: 0, inbound: 0 }
    for (const row of rows) counts[row.direction] = Number(row.n)
    return counts
  }

  async requeueDeadLetter(direction: Direction, id: string, audit: AuditEntry): Promise<boolean> {
    // A conditional UPDATE: of two operators resending at once, one changes the row and the other finds it accepted.
    return this.#write(async (c) => {
      const changed = await c.query(`UPDATE {messages} m SET status = 'accepted', attempts = '[]', updated_at = $1
        WHERE m.direction = $2 AND m.id = $3 AND m.status = 'dead-lettered'
        AND EXISTS (SELECT 1 FROM {outbox} o WHERE o.direction = m.direction AND o.id = m.id)`, [audit.at, direction, id])
      if (changed.rowCount === 0) return false
      c.append(audit)
      return true
    })
  }

  async discardDeadLetter(direction: Direction, id: string, audit: AuditEntry): Promise<boolean> {
    return this.#write(async (c) => {
      const changed = await c.query(`UPDATE {messages} SET status = 'discarded', updated_at = $1
        WHERE direction = $2 AND id = $3 AND status = 'dead-lettered'`, [audit.at, direction, id])
      if (changed.rowCount === 0) return false
      // Nothing will send it again, so nothing personal is kept for it (P5).
      await c.query('DELETE FROM {outbox} WHERE direction = $1 AND id = $2', [direction, id])
      c.append(audit)
      return true
    })
  }

  async addLegalHold(hold: LegalHold): Promise<boolean> {
    const rows = await this.#query(`INSERT INTO {legal_holds} (ref, message_id, subject, reason, placed_at, released_at)
      VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING ref`,
    [hold.ref, hold.messageId, hold.subject, hold.reason, hold.placedAt, hold.releasedAt])
    return rows.length > 0
  }

  async releaseLegalHold(ref: string, at: string): Promise<boolean> {
    const rows = await this.#query('UPDATE {legal_holds} SET released_at = $1 WHERE ref = $2 AND released_at IS NULL RETURNING ref', [at, ref])
    return rows.length > 0
  }

  async legalHolds(): Promise<LegalHold[]> {
    return (await this.#query<LegalHoldRow>('SELECT * FROM {legal_holds} ORDER BY placed_at, ref')).map(toLegalHold)
  }

  async purge(before: string, audit: AuditEntry): Promise<PurgeCounts> {
    return this.#write(async (c) => {
      // One statement, one snapshot: a hold placed meanwhile protects a message
      // and its outbox item together, never one without the other.
      const [row] = (await c.query<{ messages: string; outbox: string }>(`WITH doomed AS (
          SELECT m.direction, m.id FROM {messages} m WHERE ${PURGEABLE} FOR UPDATE
        ), outbox_gone AS (
          DELETE FROM {outbox} o USING doomed d WHERE o.direction = d.direction AND o.id = d.id RETURNING 1
        ), messages_gone AS (
          DELETE FROM {messages} m USING doomed d WHERE m.direction = d.direction AND m.id = d.id RETURNING 1
        )
        SELECT (SELECT count(*) FROM messages_gone) AS messages, (SELECT count(*) FROM outbox_gone) AS outbox`,
      [normaliseInstant(before)])).rows
      const counts = { messages: Number(row!.messages), outbox: Number(row!.outbox) }
      if (counts.messages + counts.outbox > 0) c.append(purgeEntry(audit, counts))
      return counts
    })
  }

  async close(): Promise<void> {
    await this.#committing
    if (this.#ownsPool) await this.#pool.end()
  }
}
