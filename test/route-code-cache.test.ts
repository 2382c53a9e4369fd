// The routes' validators and serializers (gateway/lib/schema-compilers.ts):
// where Node's compile cache is on, the code Ajv and fast-json-stringify
// generate for a route is written once and loaded by the next process; a
// route judges and answers exactly as one compiled in memory; a changed
// schema gets files of its own; a damaged file is generated again. Each case
// runs in a fresh process, since a process has one compile cache directory
// for its life.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keptFiles } from './lib/kept-code.ts'

const MODULE = join(import.meta.dirname, '..', 'gateway', 'lib', 'schema-compilers.ts')
const AJV_OPTIONS = join(import.meta.dirname, '..', 'gateway', 'lib', 'ajv-options.ts')

/** Answers from an app with one route (body limit `max`) in a new process, built with the gateway's compilers and Ajv options. */
function run(cacheDir: string | undefined, max: number, withPlugin = false): string[] {
  const script = `
    import Fastify from 'fastify'
    import { buildSerializer, buildValidator } from ${JSON.stringify(MODULE)}
    import { AJV_OPTIONS } from ${JSON.stringify(AJV_OPTIONS)}
    const plugins = ${withPlugin} ? [(ajv) => ajv.addKeyword('x-note')] : []
    const app = Fastify({ ajv: { customOptions: { ...AJV_OPTIONS }, plugins }, schemaController: { compilersFactory: { buildValidator, buildSerializer } } })
    app.post('/n', {
      schema: {
        querystring: { type: 'object', properties: { on: { type: 'string', format: 'date' } }, additionalProperties: false },
        body: { type: 'object', properties: { n: { type: 'integer', maximum: ${max} } }, required: ['n'], additionalProperties: false },
        response: { 200: { type: 'object', properties: { n: { type: 'integer' }, twice: { type: 'integer' } }, required: ['n'] } }
      }
    }, async (request) => ({ n: request.body.n, twice: request.body.n * 2, secret: 'not in the schema' }))
    const answers = []
    for (const [url, body] of [['/n', { n: 3 }], ['/n', { n: 11 }], ['/n', { n: '3' }], ['/n', {}], ['/n', { n: 1, x: 1 }], ['/n?on=2026-02-30', { n: 1 }], ['/n?on=2026-12-01', { n: 1 }]]) {
      const res = await app.inject({ method: 'POST', url, payload: body })
      answers.push(res.statusCode + ' ' + (res.statusCode === 200 ? res.body : res.json().message))
    }
    await app.close()
    process.stdout.write(JSON.stringify(answers))
  `
  const env = { ...process.env }
  delete env.NODE_COMPILE_CACHE
  if (cacheDir !== undefined) env.NODE_COMPILE_CACHE = cacheDir
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..'), env, encoding: 'utf8' })
  return JSON.parse(out) as string[]
}

const EXPECTED = [
  '200 {"n":3,"twice":6}',
  '400 body/n must be <= 10',
  '400 body/n must be integer',
  "400 body must have required property 'n'",
  '400 body must NOT have additional properties',
  '400 querystring/on must match format "date"',
  '200 {"n":1,"twice":2}'
]

t.test('written by the first process, loaded by the next, judging and answering as compiled', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-route-code-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.same(run(undefined, 10), EXPECTED, 'compiled in memory (the cache off)')
  t.same(keptFiles(dir, 'route-validators'), [], 'nothing kept yet')
  t.same(run(dir, 10), EXPECTED, 'compiled and kept')
  const validators = keptFiles(dir, 'route-validators')
  const serializers = keptFiles(dir, 'route-serializers')
  t.equal(validators.length, 2, 'a validator each for the body and the query string')
  t.equal(serializers.length, 1, 'a serializer for the one response')
  const written = [...validators, ...serializers].map((f) => statSync(f).mtimeMs)
  t.same(run(dir, 10), EXPECTED, 'loaded: the same answers, the extra member still left out')
  t.same(
    [...validators, ...serializers].map((f) => statSync(f).mtimeMs),
    written,
    'and the files were read, not written again'
  )

  t.same(run(dir, 2).slice(0, 2), ['400 body/n must be <= 2', '400 body/n must be <= 2'], 'a changed body schema is judged by itself')
  t.equal(keptFiles(dir, 'route-validators').length, 3, 'in a file of its own; the query string kept its own')
})

t.test('a damaged file is generated again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-route-code-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  run(dir, 10)
  for (const file of [...keptFiles(dir, 'route-validators'), ...keptFiles(dir, 'route-serializers')]) writeFileSync(file, 'module.exports = (')
  t.same(run(dir, 10), EXPECTED, 'truncated files: compiled again, the same answers')
  t.same(run(dir, 10), EXPECTED, 'and written whole again')
})

t.test('an app with an Ajv plugin, which no digest can tell apart, compiles its validators in memory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-route-code-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.same(run(dir, 10, true), EXPECTED, 'the same answers')
  t.same(keptFiles(dir, 'route-validators'), [], 'and no validator kept')
})

/**
 * In a new process with the cache at `cacheDir`: an app whose one response
 * is an `anyOf` (fast-json-stringify restores a validator for it, and that
 * loads Ajv), whether Ajv is loaded once the app is ready and once the route
 * has answered, and its answers.
 */
function runAnyOf(cacheDir: string): { ajvAtStart: boolean; ajvAfterAnswer: boolean; answers: string[] } {
  const script = `
    import Fastify from 'fastify'
    import { createRequire } from 'node:module'
    import { buildSerializer, buildValidator } from ${JSON.stringify(MODULE)}
    import { AJV_OPTIONS } from ${JSON.stringify(AJV_OPTIONS)}
    const ajvLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.endsWith('/node_modules/ajv/dist/core.js'))
    const app = Fastify({ ajv: { customOptions: { ...AJV_OPTIONS } }, schemaController: { compilersFactory: { buildValidator, buildSerializer } } })
    const item = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false }
    app.get('/item/:n', {
      schema: { response: { 200: { type: 'object', properties: { item: { anyOf: [{ type: 'null' }, item] } }, required: ['item'] } } }
    }, async (request) => ({ item: request.params.n === '0' ? null : { n: Number(request.params.n) } }))
    await app.ready()
    const ajvAtStart = ajvLoaded()
    const answers = []
    for (const n of ['0', '7']) answers.push((await app.inject({ url: '/item/' + n })).body)
    const ajvAfterAnswer = ajvLoaded()
    await app.close()
    process.stdout.write(JSON.stringify({ ajvAtStart, ajvAfterAnswer, answers }))
  `
  const env = { ...process.env, NODE_COMPILE_CACHE: cacheDir }
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..'), env, encoding: 'utf8' })
  return JSON.parse(out) as { ajvAtStart: boolean; ajvAfterAnswer: boolean; answers: string[] }
}

t.test('kept code is evaluated when its route first answers, so a process loads Ajv only for a route that needs it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-route-code-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const answers = ['{"item":null}', '{"item":{"n":7}}']
  const first = runAnyOf(dir)
  t.same(first.answers, answers, 'generated: both branches answered')
  t.equal(keptFiles(dir, 'route-serializers').length, 1, 'and kept')
  const kept = runAnyOf(dir)
  t.equal(kept.ajvAtStart, false, 'loaded from the cache: Ajv not loaded when the app is ready')
  t.same(kept.answers, answers, 'the same answers')
  t.equal(kept.ajvAfterAnswer, true, "and loaded by the route's first answer, whose anyOf needs it")
})
