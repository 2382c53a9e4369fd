// The validator cache (gateway/lib/validator-cache.ts): where Node's compile
// cache is on, Ajv's generated validators are written once and read by the
// next process; they judge exactly as compiled ones; a changed schema gets a
// file of its own; a damaged file is generated again; with the compile cache
// off, nothing is written. Each case runs in a fresh process, since a process
// has one compile cache directory for its life.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keptFiles } from './lib/kept-code.ts'

const MODULE = join(import.meta.dirname, '..', 'gateway', 'lib', 'validator-cache.ts')

/** Validates `inputs` against an integer-and-date schema (maximum `max`) in a new process; answers the verdicts and what it did. */
function run(cacheDir: string | undefined, max: number, inputs: unknown[], extraEnv: Record<string, string> = {}): { verdicts: Array<boolean | string> } {
  const script = `
    import { Ajv2020 } from 'ajv/dist/2020.js'
    import ajvFormats from 'ajv-formats'
    import { validatorSet } from ${JSON.stringify(MODULE)}
    const schema = { type: 'object', properties: { n: { type: 'integer', maximum: ${max} }, on: { type: 'string', format: 'date' } }, required: ['n'], additionalProperties: false }
    const set = validatorSet({ name: 'case', source: schema, keys: ['case'], build: (code) => { const ajv = new Ajv2020({ strict: true, ...code }); ajvFormats.default(ajv); return ajv.addSchema(schema, 'case') } })
    const validate = set.get('case')
    const verdicts = ${JSON.stringify(inputs)}.map((x) => validate(x) || validate.errors[0].keyword)
    process.stdout.write(JSON.stringify({ verdicts }))
  `
  const env = { ...process.env }
  delete env.NODE_COMPILE_CACHE
  if (cacheDir !== undefined) env.NODE_COMPILE_CACHE = cacheDir
  Object.assign(env, extraEnv)
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..'), env, encoding: 'utf8' })
  return JSON.parse(out) as { verdicts: Array<boolean | string> }
}

const generated = (cacheDir: string): string[] => keptFiles(cacheDir, 'ajv-validators')

const INPUTS = [{ n: 3 }, { n: 11 }, { n: '3' }, { n: 1, on: '2026-02-30' }, { n: 1, on: '2026-12-01' }, { n: 1, x: 1 }, {}]
const EXPECTED = [true, 'maximum', 'type', 'format', true, 'additionalProperties', 'required']

t.test('written by the first process, read by the next, judging as compiled', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-validator-cache-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.same(run(undefined, 10, INPUTS).verdicts, EXPECTED, 'compiled in memory (the cache off)')
  t.same(run(dir, 10, INPUTS).verdicts, EXPECTED, 'compiled and written')
  const files = generated(dir)
  t.equal(files.length, 1, 'one file for the set')
  const written = statSync(files[0]!).mtimeMs
  t.same(run(dir, 10, INPUTS).verdicts, EXPECTED, 'read back: the same verdicts')
  t.equal(statSync(files[0]!).mtimeMs, written, 'and the file was read, not written again')

  t.same(
    run(dir, 2, INPUTS).verdicts,
    ['maximum', 'maximum', 'type', 'format', true, 'additionalProperties', 'required'],
    'a changed schema is judged by itself'
  )
  t.same(run(dir, 2, [{ n: 3 }]).verdicts, ['maximum'], 'its maximum, not the cached one')
  t.equal(generated(dir).length, 2, 'in a file of its own')
})

t.test('a damaged file is generated again; with the compile cache off nothing is written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-validator-cache-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  run(dir, 10, [])
  const [file] = generated(dir)
  writeFileSync(file!, 'exports.case = (')
  t.same(run(dir, 10, INPUTS).verdicts, EXPECTED, 'a truncated file: compiled again, the same verdicts')
  t.not(readFileSync(file!, 'utf8'), 'exports.case = (', 'and written again')
  t.same(run(dir, 10, INPUTS).verdicts, EXPECTED, 'whole: read back, the same verdicts')
  writeFileSync(file!, 'exports.other = () => true')
  t.same(run(dir, 10, INPUTS).verdicts, EXPECTED, 'a file without the validator asked for: compiled again')

  const off = mkdtempSync(join(tmpdir(), 'btb-validator-cache-off-'))
  t.teardown(() => rmSync(off, { recursive: true, force: true }))
  t.same(run(off, 10, INPUTS, { NODE_DISABLE_COMPILE_CACHE: '1' }).verdicts, EXPECTED, 'compiled in memory')
  t.same(generated(off), [], 'and nothing written when the compile cache is turned off')
})
