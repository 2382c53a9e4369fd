// Legal holds (P9) and the retention purge (P5) they hold back. One SQL text
// for both databases, but the purge: see below.
import { normaliseInstant } from '../audit-index.ts'
import { purgeEntry, type AuditEntry, type HoldsAndRetention, type LegalHold, type PurgeCounts } from '../records.ts'
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
 * The holds covering a traveller digest (its one placeholder, twice): on the
 * digest itself, or on a message an entry naming the digest is about. The
 * subject index (audit_subjects) finds the entries; their message ids the holds.
 */
const COVERING = `SELECT h.* FROM {legal_holds} h WHERE h.subject = ? OR h.message_id IN (
    SELECT a.message_id FROM {audit_subjects} s JOIN {audit} a ON a.seq = s.seq WHERE s.subject = ? AND a.message_id IS NOT NULL)
  ORDER BY h.placed_at, h.ref`

/**
 * The messages retention may purge: finished, not touched since the bound
 * (its one placeholder), and covered by no active legal hold, whether the
 * hold names the message or a traveller digest one of its audit entries carries.
 */
const PURGEABLE = `m.updated_at < ? AND m.status IN ('delivered', 'dead-lettered', 'discarded', 'withdrawn') AND NOT EXISTS (
  SELECT 1 FROM {legal_holds} h WHERE h.released_at IS NULL AND (
    h.message_id = m.id OR (h.subject IS NOT NULL AND EXISTS (
      SELECT 1 FROM {audit} a JOIN {audit_subjects} s ON s.subject = h.subject AND s.seq = a.seq WHERE a.message_id = m.id))))`

/**
 * PostgreSQL: one statement, one snapshot, so that a hold placed meanwhile
 * protects a message and its outbox item together, never one without the other.
 */
const PURGE_IN_ONE = `WITH doomed AS (
    SELECT m.direction, m.id FROM {messages} m WHERE ${PURGEABLE} FOR UPDATE
  ), outbox_gone AS (
    DELETE FROM {outbox} o USING doomed d WHERE o.direction = d.direction AND o.id = d.id RETURNING 1
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
 * SQLite has neither data-modifying WITH nor DELETE … USING, and needs
 * neither: its write lock is held from the first statement, so both see the same rows.
 */
function* purgeInTwo(bound: string): Write<PurgeCounts> {
  const outbox = yield* run(`DELETE FROM {outbox} WHERE (direction, id) IN (SELECT m.direction, m.id FROM {messages} m WHERE ${PURGEABLE})`, [bound])
  const messages = yield* run(`DELETE FROM {messages} AS m WHERE ${PURGEABLE}`, [bound])
  return { messages, outbox }
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

  purge(before: string, audit: AuditEntry): Promise<PurgeCounts> {
    const bound = normaliseInstant(before)
    const inOne = this.#db.dialect.name === 'postgres'
    return this.#db.write(
      (function* () {
        let counts: PurgeCounts
        if (inOne) {
          // A hold placed while the purge runs waits for it to commit, and one
          // placed before is seen: under READ COMMITTED the purge's statement
          // would not see a hold committed after it began, and would delete
          // a message whose hold was already confirmed to the officer.
          yield* run('LOCK TABLE {legal_holds} IN SHARE MODE', [])
          const [row] = yield* all<{ messages: string; outbox: string }>(PURGE_IN_ONE, [bound])
          counts = { messages: Number(row!.messages), outbox: Number(row!.outbox) }
        } else {
          counts = yield* purgeInTwo(bound)
        }
        if (counts.messages > 0) yield* run(PURGE_SUPERSESSIONS, [])
        // A run that removed nothing changed nothing: no entry, and the head stays where it was.
        if (counts.messages + counts.outbox > 0) yield* append(purgeEntry(audit, counts))
        return counts
      })()
    )
  }
}
