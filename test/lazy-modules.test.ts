// What a gateway does not use, it does not load at start: the PostgreSQL
// driver when its ledger is on SQLite (gateway/plugins/ledger.ts), piscina
// until a message needs a pipeline thread (gateway/pipeline/pipeline-pool.ts;
// the thread's start is seen in test/batch-audit.test.ts). Each
// gateway process, and each test process that builds one, paid about 27 ms
// of CPU to load them. Checked in a process of its own, built as the tests
// build a gateway, then with each one asked for.
import t from 'tap'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { PG_URL, runModule } from './helper.ts'

/**
 * In a fresh process: builds a gateway on SQLite with no pipeline thread,
 * notes which of the packages are loaded, then one on PostgreSQL with a
 * thread, and notes them again.
 */
async function loadedByEach(schema: string): Promise<Array<{ pg: boolean; piscina: boolean; started: boolean }>> {
  const helper = pathToFileURL(join(import.meta.dirname, 'helper.ts')).href
  const app = pathToFileURL(join(import.meta.dirname, '..', 'gateway', 'app.ts')).href
  const script = `
    import { createRequire } from 'node:module'
    import { buildApp } from ${JSON.stringify(app)}
    import { dropQueuePrefix, testConfig, PG_URL } from ${JSON.stringify(helper)}
    let app
    const loaded = () => {
      const paths = Object.keys(createRequire(import.meta.url).cache)
      const has = (name) => paths.some((path) => path.includes('/node_modules/' + name + '/'))
      return { pg: has('pg'), piscina: has('piscina'), started: app.pipeline.started }
    }
    const seen = []
    for (const overrides of [{ pipelineThreads: 0 }, { pipelineThreads: 1, ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: ${JSON.stringify(schema)} }]) {
      const config = testConfig('CA', overrides)
      app = await buildApp(config)
      seen.push(loaded())
      await app.close()
      await dropQueuePrefix(config.queuePrefix)
    }
    process.stdout.write(JSON.stringify(seen))
  `
  return JSON.parse(await runModule(script)) as Array<{ pg: boolean; piscina: boolean; started: boolean }>
}

t.test('a gateway on SQLite loads no pg, and no gateway loads piscina or starts a pipeline thread before a message needs one', async (t) => {
  const schema = `btb_lazy_${process.pid}`
  const pool = new pg.Pool({ connectionString: PG_URL, max: 1 })
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  })
  const [sqlite, postgres] = await loadedByEach(schema)
  t.same(sqlite, { pg: false, piscina: false, started: false }, 'SQLite, no pipeline thread')
  t.same(postgres, { pg: true, piscina: false, started: false }, 'PostgreSQL, one pipeline thread configured: not started yet')
})
