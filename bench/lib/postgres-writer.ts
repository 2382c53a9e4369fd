// One writer of ledger-postgres.bench.ts, in a process of its own as each
// gateway instance of a deployment is (docs/operators.md, "Every core"): its
// own pool, and either the store's appends (the chain) or
// the baseline's bare INSERTs. It makes its entries and connects before it
// says it is ready, so that the timed phase holds only the writes.
//
// Parent → writer: the job, 'go', then 'close' once the parent has read the
// writer's CPU. Writer → parent: 'ready', then the phase's time or an error.
import pg from 'pg'
import { GENESIS_HASH, chainHash, serialiseEntry } from '../../gateway/store/audit-chain.ts'
import { PostgresStore } from '../../gateway/store/ledger-postgres.ts'
import { EntryMaker } from './ledger-entries.ts'

export interface WriterJob {
  readonly url: string
  readonly schema: string
  /** `store`: PostgresStore.appendAudit, `inFlight` at once. `raw`: the baseline table, `inFlight` rows a transaction. */
  readonly mode: 'store' | 'raw'
  readonly count: number
  readonly inFlight: number
  /** The first seq a raw writer uses: each raw writer has its own range. */
  readonly seqBase: number
}

export type WriterReply = { readonly ready: true } | { readonly ms: number } | { readonly error: string }

/** The baseline's table: the audit row's four own columns, its primary key and nothing else. */
export const RAW_TABLE = 'raw_audit'

/** The gateway's pool size for a PostgreSQL ledger (PostgresStore.open). */
const POOL_SIZE = 10

function reply(message: WriterReply): void {
  process.send!(message)
}

async function storeWrites(pool: pg.Pool, job: WriterJob): Promise<() => Promise<void>> {
  const store = new PostgresStore(pool, { schema: job.schema })
  const entries = new EntryMaker().batch(job.count)
  return async () => {
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < entries.length) await store.appendAudit(entries[next++]!)
    }
    await Promise.all(Array.from({ length: job.inFlight }, lane))
    await store.close()
  }
}

async function rawWrites(pool: pg.Pool, job: WriterJob): Promise<() => Promise<void>> {
  const rows = new EntryMaker().batch(job.count).map((e) => {
    const text = serialiseEntry(e)
    return { text, hash: chainHash(GENESIS_HASH, text) }
  })
  const insert = `INSERT INTO ${job.schema}.${RAW_TABLE} (seq, entry, prev_hash, hash)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])`
  return async () => {
    const client = await pool.connect()
    try {
      for (let i = 0; i < rows.length; i += job.inFlight) {
        const batch = rows.slice(i, i + job.inFlight)
        await client.query('BEGIN')
        await client.query(insert, [batch.map((_, k) => job.seqBase + i + k), batch.map((r) => r.text), batch.map((r) => r.hash), batch.map((r) => r.hash)])
        await client.query('COMMIT')
      }
    } finally {
      client.release()
    }
  }
}

process.once('message', async (job: WriterJob) => {
  const pool = new pg.Pool({ connectionString: job.url, max: POOL_SIZE })
  try {
    // Every connection the phase may use, opened now rather than inside it.
    const clients = await Promise.all(Array.from({ length: POOL_SIZE }, () => pool.connect()))
    for (const c of clients) c.release()
    const writes = job.mode === 'store' ? await storeWrites(pool, job) : await rawWrites(pool, job)
    process.once('message', async () => {
      try {
        const started = performance.now()
        await writes()
        reply({ ms: performance.now() - started })
      } catch (error) {
        reply({ error: (error as Error).stack ?? String(error) })
      }
      process.once('message', async () => {
        await pool.end()
        process.disconnect()
      })
    })
    reply({ ready: true })
  } catch (error) {
    reply({ error: (error as Error).stack ?? String(error) })
    await pool.end()
    process.disconnect()
  }
})
