// A retention purge (P5) that fails keeps personal data past its retention:
// the operator must hear of it, by an alert in the log and by a metric, not
// find out from a ledger that stopped shrinking (docs/operators.md, "Metrics
// and health").
import t from 'tap'
import { scratchSchema } from './lib/scratch-schema.ts'
import { eventually, PG_URL, startGateway, testConfig } from './helper.ts'

interface LogLine {
  readonly level: number
  readonly msg: string
  readonly alert?: string
  readonly err?: { readonly message: string }
}

t.test('a failed purge run is logged at error with RETENTION_FAILED, and counted', async (t) => {
  const { pool, schema } = scratchSchema(t, 't_retention')
  const lines: LogLine[] = []
  const gw = await startGateway(t, testConfig('CA', { purgeEveryMs: 200, logLevel: 'info', ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schema }), {
    logStream: {
      write: (line) => {
        lines.push(JSON.parse(line) as LogLine)
      }
    }
  })
  // The purge's table gone from under it: each run fails, as one past LEDGER_POSTGRES_TIMEOUT_MS did.
  await pool.query(`ALTER TABLE ${schema}.messages RENAME TO messages_elsewhere`)
  const failed = await eventually(() => lines.find((l) => l.alert === 'RETENTION_FAILED'), 10_000, 'a failed run to be logged')
  t.equal(failed.level, 50, 'at error')
  t.equal(failed.msg, 'retention purge failed: personal data is kept past MESSAGE_RETENTION_DAYS until a run succeeds')
  t.match(failed.err?.message, /messages/, 'with what failed')
  t.match(await gw.app.metrics.scrape(), /btb_retention_purges_total\{outcome="failed"\} [1-9]/, 'and counted')

  await pool.query(`ALTER TABLE ${schema}.messages_elsewhere RENAME TO messages`)
  await eventually(
    async () => (/btb_retention_purges_total\{outcome="completed"\} [1-9]/.test(await gw.app.metrics.scrape()) ? true : undefined),
    10_000,
    'a run to complete'
  )
  t.pass('a run that completes is counted too')
})
