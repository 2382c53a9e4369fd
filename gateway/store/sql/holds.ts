// Legal holds (P9) and the retention purge (P5) they hold back. One SQL text
// for both databases, but the purge's chunk: see below.
import { normaliseInstant } from '../audit-index.ts'
import {
  PURGE_CHUNK_MESSAGES,
  purgeEntry,
  type AuditEntry,
  type Direction,
  type HoldsAndRetention,
  type LegalHold,
  type PurgeCounts,
  type PurgeOptions,
  type SealedCopyFate
} from '../records.ts'
import type { Dialect } from './dialect.ts'
import { all, append, run, type SqlBackend, type Write } from './program.ts'

interface LegalHoldRow {
  ref: string
  /** Absent from a ledger opened read-only before its migration (ledger-sqlite.ts). */
  complaint_ref?: string | null
  message_id: string | null
  subject: string | null
  reason: string
  placed_at: string
  released_at: string | null
}

function toLegalHold(row: LegalHoldRow): LegalHold {
  return {
    ref: row.ref,
    complaintRef: row.complaint_ref ?? null,
    messageId: row.message_id,
    subject: row.subject,
    reason: row.reason,
    placedAt: row.placed_at,
    releasedAt: row.released_at
  }
}

/**
 * The messages a traveller's entries are about, and, back along the
 * supersessions, every message one of these corrects or retracts: an
 * original corrected to another document number is named by the old number
 * only, and its correction by both (intake/intake.ts), so whatever covers
 * the traveller by the new number reaches the original through it
 * (docs/privacy-officers.md, "More of the API"). `from` is the messages to
 * start from: a SELECT of (direction, id).
 */
function andWhatTheySupersede(name: string, from: string): string {
  return `${name}(direction, id) AS (
    ${from}
    UNION
    SELECT sp.direction, sp.original FROM {supersessions} sp JOIN ${name} ON sp.direction = ${name}.direction AND sp.superseded_by = ${name}.id
  )`
}

/**
 * The holds covering a traveller digest (its one placeholder, twice): on the
 * digest itself, or on a message an entry naming the digest is about, or on
 * one such a message supersedes. The subject index (audit_subjects) finds the
 * entries; their message ids the holds.
 */
const COVERING = `WITH RECURSIVE ${andWhatTheySupersede(
  'named',
  'SELECT a.direction, a.message_id FROM {audit_subjects} s JOIN {audit} a ON a.seq = s.seq WHERE s.subject = ? AND a.message_id IS NOT NULL'
)}
  SELECT h.* FROM {legal_holds} h WHERE h.subject = ? OR h.message_id IN (SELECT id FROM named)
  ORDER BY h.placed_at, h.ref`

/**
 * The messages an active legal hold covers: those it names by id, those an
 * entry naming its traveller digest is about, and what each of these supersedes.
 * A hold's own message is taken by its id, each way, whether its record is
 * left or not: a correction purged before the hold was placed on it (nothing
 * held it) still links to the original it corrects, which the hold keeps
 * (docs/privacy-officers.md, "More of the API").
 */
const HELD = andWhatTheySupersede(
  'held',
  `SELECT d.direction, h.message_id FROM {legal_holds} h CROSS JOIN (SELECT 'outbound' AS direction UNION ALL SELECT 'inbound') d
      WHERE h.released_at IS NULL AND h.message_id IS NOT NULL
    UNION
    SELECT a.direction, a.message_id FROM {legal_holds} h JOIN {audit_subjects} s ON s.subject = h.subject JOIN {audit} a ON a.seq = s.seq
      WHERE h.released_at IS NULL AND a.message_id IS NOT NULL`
)

/** Message `m` is covered by no active legal hold (HELD, which the statement names in its WITH). */
const UNHELD = 'NOT EXISTS (SELECT 1 FROM held WHERE held.direction = m.direction AND held.id = m.id)'

/**
 * The messages retention may purge: finished, not touched since the bound
 * (its one placeholder), and held by no one.
 */
const PURGEABLE = `m.updated_at < ? AND m.status IN ('delivered', 'dead-lettered', 'discarded', 'withdrawn') AND ${UNHELD}`

/**
 * The messages, however recent, nothing will send (discarded, withdrawn)
 * whose sealed copy a legal hold kept (deleteUnsentCopy) and no longer keeps:
 * the purge deletes their copies with those of the messages it purges. `m`
 * the messages, `o` their outbox items. No row lock: neither status changes
 * but to `delivered`, which deletes the copy too.
 */
const RELEASED_COPIES = `{outbox} o JOIN {messages} m ON m.direction = o.direction AND m.id = o.id
  WHERE m.status IN ('discarded', 'withdrawn') AND ${UNHELD}`

/**
 * PostgreSQL: one chunk (its second placeholder: how many messages, at most)
 * in one statement, one snapshot, so that a hold placed meanwhile protects a
 * message and its outbox item together, never one without the other.
 * A message another transaction is writing is left to the next run (SKIP
 * LOCKED): it is being touched, not finished and left alone. Waited for, it
 * deadlocked with another instance's batch that wrote it and then placed a
 * legal hold, which waits for the purge's lock on the holds, and PostgreSQL
 * failed the purge (RETENTION_FAILED) or the batch.
 */
const PURGE_CHUNK_IN_ONE = `WITH RECURSIVE ${HELD}, doomed AS (
    SELECT m.direction, m.id FROM {messages} m WHERE ${PURGEABLE} LIMIT ? FOR UPDATE SKIP LOCKED
  ), outbox_gone AS (
    DELETE FROM {outbox} o WHERE (o.direction, o.id) IN (SELECT direction, id FROM doomed UNION SELECT m.direction, m.id FROM ${RELEASED_COPIES})
    RETURNING 1
  ), messages_gone AS (
    DELETE FROM {messages} m USING doomed d WHERE m.direction = d.direction AND m.id = d.id RETURNING 1
  )
  SELECT (SELECT count(*) FROM messages_gone) AS messages, (SELECT count(*) FROM outbox_gone) AS outbox`

/**
 * A supersession (ids only) goes once neither of its messages is left: while
 * one is, its record shows the link (sql/messages.ts, findMessage).
 */
const PURGE_SUPERSESSIONS = `DELETE FROM {supersessions} AS s WHERE NOT EXISTS (
  SELECT 1 FROM {messages} m WHERE m.direction = s.direction AND m.id IN (s.original, s.superseded_by))`

/**
 * SQLite's chunk: the first `limit` purgeable messages in key order, the
 * same rows for both statements below.
 */
const CHUNK = `SELECT m.direction, m.id FROM {messages} m WHERE ${PURGEABLE} ORDER BY m.direction, m.id LIMIT ?`

/**
 * SQLite has neither data-modifying WITH nor DELETE … USING, and needs
 * neither: its write lock is held from the first statement, so both see the
 * same rows, and CHUNK, in key order, picks the same messages for both.
 */
function* purgeChunkInTwo(bound: string, limit: number): Write<PurgeCounts> {
  const outbox = yield* run(
    `WITH RECURSIVE ${HELD} DELETE FROM {outbox} WHERE (direction, id) IN (SELECT direction, id FROM (${CHUNK}) UNION SELECT m.direction, m.id FROM ${RELEASED_COPIES})`,
    [bound, limit]
  )
  const messages = yield* run(`WITH RECURSIVE ${HELD} DELETE FROM {messages} WHERE (direction, id) IN (${CHUNK})`, [bound, limit])
  return { messages, outbox }
}

/** One chunk of a purge, and its ledger entry, in one transaction. */
function* purgeChunk(inOne: boolean, bound: string, limit: number, audit: AuditEntry): Write<PurgeCounts> {
  let counts: PurgeCounts
  if (inOne) {
    // A hold placed while the chunk runs waits for it to commit, and one
    // placed before is seen: under READ COMMITTED the chunk's statement
    // would not see a hold committed after it began, and would delete
    // a message whose hold was already confirmed to the officer.
    yield* run('LOCK TABLE {legal_holds} IN SHARE MODE', [])
    const [row] = yield* all<{ messages: string; outbox: string }>(PURGE_CHUNK_IN_ONE, [bound, limit])
    counts = { messages: Number(row!.messages), outbox: Number(row!.outbox) }
  } else {
    counts = yield* purgeChunkInTwo(bound, limit)
  }
  if (counts.messages > 0) yield* run(PURGE_SUPERSESSIONS, [])
  // A chunk that removed nothing changed nothing: no entry, and the head stays where it was.
  if (counts.messages + counts.outbox > 0) yield* append(purgeEntry(audit, counts))
  return counts
}

/** Whether an active legal hold covers one message: its two placeholders are the direction and id. */
const IS_HELD = `WITH RECURSIVE ${HELD} SELECT 1 AS held FROM held WHERE held.direction = ? AND held.id = ? LIMIT 1`

/**
 * Deletes the sealed copy of a message nothing will send (just discarded or
 * withdrawn, in the same write), unless an active legal hold covers the
 * message: a hold keeps a message and its sealed copy together (P9), and the
 * first purge after its release deletes the copy (RELEASED_COPIES;
 * docs/privacy-officers.md, "More of the API"). On PostgreSQL the holds are
 * locked first, as the purge locks them: a hold placed meanwhile waits for
 * this write, and one the store has confirmed is seen.
 */
export function* deleteUnsentCopy(dialect: Dialect, direction: Direction, id: string): Write<SealedCopyFate> {
  if (dialect.name === 'postgres') yield* run('LOCK TABLE {legal_holds} IN SHARE MODE', [])
  const held = yield* all(IS_HELD, [direction, id])
  if (held.length > 0) return 'kept-under-hold'
  yield* run('DELETE FROM {outbox} WHERE direction = ? AND id = ?', [direction, id])
  return 'deleted'
}

export class SqlHoldsAndRetention implements HoldsAndRetention {
  readonly #db: SqlBackend

  constructor(db: SqlBackend) {
    this.#db = db
  }

  addLegalHold(hold: LegalHold, audit?: AuditEntry): Promise<boolean> {
    return this.#db.write(
      (function* () {
        const placed = yield* run(
          `INSERT INTO {legal_holds} (ref, complaint_ref, message_id, subject, reason, placed_at, released_at)
          VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          [hold.ref, hold.complaintRef, hold.messageId, hold.subject, hold.reason, hold.placedAt, hold.releasedAt]
        )
        if (placed > 0 && audit !== undefined) yield* append(audit)
        return placed > 0
      })()
    )
  }

  releaseLegalHold(ref: string, at: string, audit?: AuditEntry): Promise<LegalHold | undefined> {
    return this.#db.write(
      (function* () {
        const [row] = yield* all<LegalHoldRow>('UPDATE {legal_holds} SET released_at = ? WHERE ref = ? AND released_at IS NULL RETURNING *', [at, ref])
        if (row === undefined) return undefined
        if (audit !== undefined) yield* append(audit)
        return toLegalHold(row)
      })()
    )
  }

  async legalHolds(): Promise<LegalHold[]> {
    return (await this.#db.all<LegalHoldRow>('SELECT * FROM {legal_holds} ORDER BY placed_at, ref')).map(toLegalHold)
  }

  async legalHoldsCovering(subject: string): Promise<LegalHold[]> {
    return (await this.#db.all<LegalHoldRow>(COVERING, [subject, subject])).map(toLegalHold)
  }

  /**
   * Chunk after chunk, each alone in its transaction (WriteOptions.alone),
   * until one finds fewer messages than it may take. A backlog deleted in
   * one statement outlasted LEDGER_POSTGRES_TIMEOUT_MS on every run, and
   * took the writes batched with it down too; a chunk is bounded, and one
   * that fails fails only itself (docs/operators.md, "Configuration").
   */
  async purge(before: string, audit: AuditEntry, options: PurgeOptions = {}): Promise<PurgeCounts> {
    const limit = options.chunkMessages ?? PURGE_CHUNK_MESSAGES
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`chunkMessages must be a positive integer (got ${String(limit)})`)
    const bound = normaliseInstant(before)
    const inOne = this.#db.dialect.name === 'postgres'
    let messages = 0
    let outbox = 0
    for (;;) {
      const chunk = await this.#db.write(purgeChunk(inOne, bound, limit, audit), { alone: true })
      messages += chunk.messages
      outbox += chunk.outbox
      if (chunk.messages < limit) return { messages, outbox }
    }
  }
}
