// Dead letters: listed for an operator, resent or discarded. One SQL text
// for both databases.
import type { AuditEntry, DeadLetterCursor, DeadLetterRepository, Direction, MessageRecord, SealedCopyFate } from '../records.ts'
import { deleteUnsentCopy } from './holds.ts'
import { toRecord, type MessageRow } from './messages.ts'
import { append, run, type SqlBackend, type Write } from './program.ts'

export class SqlDeadLetterRepository implements DeadLetterRepository {
  readonly #db: SqlBackend

  constructor(db: SqlBackend) {
    this.#db = db
  }

  async deadLetters(direction: Direction | undefined, after: DeadLetterCursor | undefined, limit: number): Promise<MessageRecord[]> {
    // The (status, updated_at) index gives the dead letters in order; the rest of the key only breaks ties.
    const key = ['updated_at', 'direction', 'id'].map((c) => this.#db.dialect.bytewise(c)).join(', ')
    const rows = await this.#db.all<MessageRow>(
      `SELECT * FROM {messages} WHERE status = 'dead-lettered'
      ${direction === undefined ? '' : 'AND direction = ?'} AND (${key}) > (?, ?, ?)
      ORDER BY ${key} LIMIT ?`,
      [...(direction === undefined ? [] : [direction]), after?.updatedAt ?? '', after?.direction ?? '', after?.id ?? '', limit]
    )
    return rows.map(toRecord)
  }

  async countDeadLetters(): Promise<Record<Direction, number>> {
    const rows = await this.#db.all<{ direction: Direction; n: number | string }>(`SELECT direction, count(*) AS n FROM {messages}
      WHERE status = 'dead-lettered' GROUP BY direction`)
    const counts = { outbound: 0, inbound: 0 }
    for (const row of rows) counts[row.direction] = Number(row.n)
    return counts
  }

  requeueDeadLetter(direction: Direction, id: string, audit: AuditEntry): Promise<boolean> {
    // A conditional UPDATE: of two operators resending at once, one changes the row and the other finds it accepted.
    // The attempts before stay on the record: one that timed out may have
    // reached the far side, and a withdrawal or a status must still say so
    // (intake/supersession.ts, withdrawalEntry). The pause a far side asked
    // of an earlier attempt (Retry-After) does not: a resend goes at once,
    // and the relay's copy of it, if Redis loses the job, waits only its own delay (outbox-relay.ts).
    return this.#db.write(
      (function* () {
        const changed = yield* run(
          `UPDATE {messages} AS m SET status = 'accepted', updated_at = ?, not_before = NULL
        WHERE m.direction = ? AND m.id = ? AND m.status = 'dead-lettered'
        AND EXISTS (SELECT 1 FROM {outbox} o WHERE o.direction = m.direction AND o.id = m.id)`,
          [audit.at, direction, id]
        )
        if (changed === 0) return false
        yield* append(audit)
        return true
      })()
    )
  }

  discardDeadLetter(direction: Direction, id: string, audit: AuditEntry): Promise<SealedCopyFate | undefined> {
    const dialect = this.#db.dialect
    return this.#db.write(
      (function* (): Write<SealedCopyFate | undefined> {
        const changed = yield* run(
          `UPDATE {messages} SET status = 'discarded', updated_at = ?
        WHERE direction = ? AND id = ? AND status = 'dead-lettered'`,
          [audit.at, direction, id]
        )
        if (changed === 0) return undefined
        // Nothing will send it again, so nothing personal is kept for it (P5),
        // but what a legal hold keeps (P9): an operator cannot see holds
        // (docs/operators.md, "Dead letters").
        const fate = yield* deleteUnsentCopy(dialect, direction, id)
        yield* append(audit)
        return fate
      })()
    )
  }
}
