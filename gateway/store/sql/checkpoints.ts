// This gateway's checkpoints and the partner's it countersigned: one SQL text
// for both databases. Each write is one statement, committed on its own.
import type { Checkpoint, CheckpointRepository, PartnerCheckpoint } from '../records.ts'
import type { SqlBackend } from './program.ts'

// A seq is BIGINT in PostgreSQL, which pg gives as a string.
interface CheckpointRow {
  seq: number | string
  hash: string
  at: string
  jws: string
  countersignature: string | null
}

function toCheckpoint(row: CheckpointRow): Checkpoint {
  return { seq: Number(row.seq), hash: row.hash, at: row.at, jws: row.jws, countersignature: row.countersignature }
}

interface PartnerCheckpointRow extends CheckpointRow {
  partner: string
  countersignature: string
}

function toPartnerCheckpoint(row: PartnerCheckpointRow): PartnerCheckpoint {
  return { ...toCheckpoint(row), partner: row.partner, countersignature: row.countersignature }
}

export class SqlCheckpointRepository implements CheckpointRepository {
  readonly #db: SqlBackend

  constructor(db: SqlBackend) {
    this.#db = db
  }

  async addCheckpoint(cp: Omit<Checkpoint, 'countersignature'>): Promise<boolean> {
    return (
      (await this.#db.run('INSERT INTO {checkpoints} (seq, hash, at, jws) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', [cp.seq, cp.hash, cp.at, cp.jws])) > 0
    )
  }

  async setCountersignature(seq: number, jws: string): Promise<void> {
    await this.#db.run('UPDATE {checkpoints} SET countersignature = ? WHERE seq = ?', [jws, seq])
  }

  async checkpoints(afterSeq: number, limit: number): Promise<Checkpoint[]> {
    return (await this.#db.all<CheckpointRow>('SELECT * FROM {checkpoints} WHERE seq > ? ORDER BY seq LIMIT ?', [afterSeq, limit])).map(toCheckpoint)
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    const [row] = await this.#db.all<CheckpointRow>('SELECT * FROM {checkpoints} ORDER BY seq DESC LIMIT 1')
    return row === undefined ? undefined : toCheckpoint(row)
  }

  async keepPartnerCheckpoint(cp: PartnerCheckpoint): Promise<boolean> {
    return (
      (await this.#db.run(
        `INSERT INTO {partner_checkpoints} (partner, seq, hash, at, jws, countersignature)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [cp.partner, cp.seq, cp.hash, cp.at, cp.jws, cp.countersignature]
      )) > 0
    )
  }

  async partnerCheckpoints(partner: string, afterSeq: number, limit: number): Promise<PartnerCheckpoint[]> {
    const rows = await this.#db.all<PartnerCheckpointRow>('SELECT * FROM {partner_checkpoints} WHERE partner = ? AND seq > ? ORDER BY seq LIMIT ?', [
      partner,
      afterSeq,
      limit
    ])
    return rows.map(toPartnerCheckpoint)
  }

  async latestPartnerCheckpoint(partner: string): Promise<PartnerCheckpoint | undefined> {
    const [row] = await this.#db.all<PartnerCheckpointRow>('SELECT * FROM {partner_checkpoints} WHERE partner = ? ORDER BY seq DESC LIMIT 1', [partner])
    return row === undefined ? undefined : toPartnerCheckpoint(row)
  }
}
