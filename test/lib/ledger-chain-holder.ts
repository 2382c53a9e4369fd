// Holds a PostgreSQL ledger's chain lock from a connection of the test's own,
// so that every append the gateway makes, on whatever connection it uses or
// opens, waits: to the gateway, a statement that never returns, as on a
// PostgreSQL that is paused or cut off by the network. (Pausing the
// gateway's own backends raced with a connection its pool opened meanwhile.)
import type pg from 'pg'
import { chainLockKey } from '../../gateway/store/ledger-postgres.ts'

/** Takes the lock of `schema`'s chain; the function returned lets it go (again: nothing). */
export async function holdLedgerChain(pool: pg.Pool, schema: string): Promise<() => Promise<void>> {
  const holder = await pool.connect()
  await holder.query('BEGIN')
  await holder.query('SELECT pg_advisory_xact_lock($1)', [chainLockKey(schema)])
  let held = true
  return async () => {
    if (!held) return
    held = false
    await holder.query('COMMIT')
    holder.release()
  }
}
