// What a gateway does not use, it does not load at start: the PostgreSQL
// driver when its ledger is on SQLite (gateway/plugins/ledger.ts), piscina
// until a message needs a pipeline thread (gateway/pipeline/pipeline-pool.ts;
// the thread's start is seen in test/batch-audit.test.ts). Each
// gateway process, and each test process that builds one, paid about 27 ms
// of CPU to load them. Checked in a process of its own, built as the tests
// build a gateway, then with each one asked for.
//
// Ajv, its formats and Fastify's two schema compilers are loaded only to
// compile: where Node's compile cache already holds every validator and
// serializer (gateway/lib/lazy-packages.ts), a gateway loads only the runtime
// modules their kept code needs. undici is loaded with the first client that
// makes a request, in the gateway, the sandbox's agency client and the helper,
// and then only its Agent and request, not its index; Node's own copy of it,
// never.
//
// The same holds for the tests' own helper (test/helper.ts): a test file
// that takes only its constants, ports or script runners does not load the
// app, the mock agencies or Redis's client, which cost each such process
// about 0.3 s of CPU (docs/architecture.md, "The test suite").
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { PG_URL, runModule } from './helper.ts'

/** Source for the scripts below: `has(name)`, whether a package under node_modules is loaded in that process. */
const HAS_PACKAGE = `
  import { createRequire } from 'node:module'
  const has = (name) => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/node_modules/' + name + '/'))
`

/** The same, by file: `has(path)`, whether `node_modules/<path>` is loaded in that process. */
const HAS_FILE = `
  import { createRequire } from 'node:module'
  const has = (path) => Object.keys(createRequire(import.meta.url).cache).some((loaded) => loaded.endsWith('/node_modules/' + path))
`

/**
 * In a fresh process: builds a gateway on SQLite with no pipeline thread,
 * notes which of the packages are loaded, then one on PostgreSQL with a
 * thread, and notes them again.
 */
async function loadedByEach(schema: string): Promise<Array<{ pg: boolean; piscina: boolean; started: boolean }>> {
  const helper = pathToFileURL(join(import.meta.dirname, 'helper.ts')).href
  const app = pathToFileURL(join(import.meta.dirname, '..', 'gateway', 'app.ts')).href
  const script = `
    ${HAS_PACKAGE}
    import { buildApp } from ${JSON.stringify(app)}
    import { dropQueuePrefix, testConfig, PG_URL } from ${JSON.stringify(helper)}
    let app
    const loaded = () => ({ pg: has('pg'), piscina: has('piscina'), started: app.pipeline.started })
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

t.test(
  'with its validators and serializers kept, a gateway loads neither Ajv nor the compilers Fastify would use, nor undici (either copy) before a request to a peer',
  async (t) => {
    // The suite's cache (npm test sets it), or one of this test's own.
    if (process.env.NODE_COMPILE_CACHE === undefined) {
      const dir = mkdtempSync(join(tmpdir(), 'btb-lazy-ajv-'))
      process.env.NODE_COMPILE_CACHE = dir
      t.teardown(() => {
        delete process.env.NODE_COMPILE_CACHE
        rmSync(dir, { recursive: true, force: true })
      })
    }
    const helper = pathToFileURL(join(import.meta.dirname, 'helper.ts')).href
    const app = pathToFileURL(join(import.meta.dirname, '..', 'gateway', 'app.ts')).href
    const script = `
    ${HAS_FILE}
    import { buildApp } from ${JSON.stringify(app)}
    import { dropQueuePrefix, testConfig } from ${JSON.stringify(helper)}
    const config = testConfig('CA', { pipelineThreads: 0 })
    const app = await buildApp(config)
    await app.ready()
    const seen = {
      ajv: has('ajv/dist/core.js'),
      formats: has('ajv-formats/dist/index.js'),
      validatorCompiler: has('@fastify/ajv-compiler/index.js'),
      serializerCompiler: has('@fastify/fast-json-stringify-compiler/index.js'),
      undici: has('undici/index.js'),
      // Node's own copy, loaded by reading node:http's exports as an ES module does.
      nodeUndici: process.moduleLoadList.includes('NativeModule internal/deps/undici/undici')
    }
    await app.close()
    await dropQueuePrefix(config.queuePrefix)
    process.stdout.write(JSON.stringify(seen))
  `
    // The first build keeps whatever the cache lacked; the second is a gateway's start with all of it kept.
    await runModule(script)
    t.same(
      JSON.parse(await runModule(script)),
      { ajv: false, formats: false, validatorCompiler: false, serializerCompiler: false, undici: false, nodeUndici: false },
      'the second build: none of them'
    )
  }
)

t.test("a request to a peer loads undici's Agent and request, not its index nor Node's own copy", async (t) => {
  const helper = pathToFileURL(join(import.meta.dirname, 'helper.ts')).href
  const tlsClient = pathToFileURL(join(import.meta.dirname, '..', 'gateway', 'delivery', 'tls-client.ts')).href
  const script = `
    ${HAS_FILE}
    import { readFileSync } from 'node:fs'
    import { join } from 'node:path'
    import { TlsClient } from ${JSON.stringify(tlsClient)}
    import { KEYS_DIR, standInPartner } from ${JSON.stringify(helper)}
    const teardowns = []
    const { url } = await standInPartner({ teardown: (fn) => teardowns.push(fn) }, (req, res) => {
      let size = 0
      req.on('data', (chunk) => { size += chunk.length })
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, path: req.url, size })))
    })
    const read = (file) => readFileSync(join(KEYS_DIR, 'CA', file), 'utf8')
    const client = new TlsClient({ cert: read('gateway.crt.pem'), key: read('gateway.key.pem'), ca: readFileSync(join(KEYS_DIR, 'US', 'ca.crt.pem'), 'utf8'), timeoutMs: 5000 })
    const posted = await client.post(url + '/v1/exchange?batch=1', 'twelve bytes', 'text/plain')
    const got = await client.get(url + '/readyz')
    await client.close()
    for (const fn of teardowns) await fn()
    process.stdout.write(JSON.stringify({
      posted: JSON.parse(posted.body),
      got: JSON.parse(got.body),
      agent: has('undici/lib/dispatcher/agent.js'),
      index: has('undici/index.js'),
      nodeUndici: process.moduleLoadList.includes('NativeModule internal/deps/undici/undici')
    }))
  `
  t.same(
    JSON.parse(await runModule(script)),
    {
      posted: { method: 'POST', path: '/v1/exchange?batch=1', size: 12 },
      got: { method: 'GET', path: '/readyz', size: 0 },
      agent: true,
      index: false,
      nodeUndici: false
    },
    "a POST and a GET, each to its path and query, with undici's Agent and neither the index nor Node's copy loaded"
  )
})

t.test("the tests' helper loads the app, the mock agencies, Redis's client and undici only when a test asks for them", async (t) => {
  const helper = pathToFileURL(join(import.meta.dirname, 'helper.ts')).href
  const script = `
    ${HAS_PACKAGE}
    const helper = await import(${JSON.stringify(helper)})
    const loaded = () => ({ fastify: has('fastify'), bullmq: has('bullmq'), ioredis: has('ioredis'), undici: has('undici') })
    const seen = [loaded()]
    await helper.freePort()
    seen.push(loaded())
    await helper.dropQueuePrefix('test-lazy-helper-' + process.pid)
    seen.push(loaded())
    process.stdout.write(JSON.stringify(seen))
  `
  const [imported, portTaken, prefixDropped] = JSON.parse(await runModule(script)) as Array<Record<string, boolean>>
  t.same(imported, { fastify: false, bullmq: false, ioredis: false, undici: false }, 'imported: none of them')
  t.same(portTaken, { fastify: false, bullmq: false, ioredis: false, undici: false }, 'a free port taken: still none')
  t.same(prefixDropped, { fastify: false, bullmq: false, ioredis: true, undici: false }, "a queue prefix dropped: Redis's client, and only it")
})
