// A PostgreSQL ledger schema of the test's own, in the test database, and a
// pool to look into it; afterwards the schema is dropped and the pool ended.
// Its own module, not test/helper.ts: only the tests that use PostgreSQL
// load pg (test/lazy-modules.test.ts counts what a process loads).
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { GatewayConfig } from '../../gateway/config.ts'
import { PG_URL } from '../helper.ts'

export function scratchSchema(t: { teardown(fn: () => unknown): void }, prefix = 't', poolSize = 1): { pool: pg.Pool; schema: string } {
  const pool = new pg.Pool({ connectionString: PG_URL, max: poolSize })
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  })
  return { pool, schema }
}

/** Where a test's gateway keeps its ledger: each test that must hold on both runs once per item. */
export interface GatewayLedger {
  readonly name: string
  config(t: { teardown(fn: () => unknown): void }): Promise<Partial<GatewayConfig>>
}

export const GATEWAY_LEDGERS: readonly GatewayLedger[] = [
  { name: 'SQLite', config: async () => ({}) },
  {
    name: 'PostgreSQL',
    async config(t) {
      // Registered before the gateway's own teardown, so run after it (tap runs them last first).
      const { schema } = scratchSchema(t, 't')
      return { ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schema }
    }
  }
]
