import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { type ConfigError, configFromEnv } from '../gateway/config.ts'
import { keptFiles } from './lib/kept-code.ts'

const key = Buffer.alloc(32, 7).toString('base64')
const good = {
  GATEWAY_COUNTRY: 'CA',
  GATEWAY_TRUST_FILE: 'keys-example/CA/trust.json',
  GATEWAY_SEAL_KEY: key,
  GATEWAY_AUDIT_KEY: key,
  GATEWAY_PSEUDONYM_KEY: key
}

t.test('a complete environment gives a config with defaults', async (t) => {
  const config = configFromEnv(good)
  t.equal(config.port, 8441)
  t.equal(config.redisUrl, 'redis://127.0.0.1:6379')
  t.equal(config.queuePrefix, 'btb:CA')
  t.equal(config.sealKey.length, 32)
  t.equal(config.redisChecks, 'refuse')
})

t.test('LEDGER_SYNCHRONOUS sets how the SQLite ledger makes a commit durable: normal unless set, full, nothing else', async (t) => {
  t.equal(configFromEnv(good).ledgerSynchronous, 'normal')
  t.equal(configFromEnv({ ...good, LEDGER_SYNCHRONOUS: 'full' }).ledgerSynchronous, 'full')
  t.throws(() => configFromEnv({ ...good, LEDGER_SYNCHRONOUS: 'extra' }), /LEDGER_SYNCHRONOUS: must be one of normal, full/)
})

t.test('a bad or missing setting is named in the error', async (t) => {
  t.throws(() => configFromEnv({ ...good, GATEWAY_SEAL_KEY: undefined }), /GATEWAY_SEAL_KEY/)
  t.throws(() => configFromEnv({ ...good, PORT: 'eighty' }), /PORT/)
  t.throws(() => configFromEnv({ ...good, REDIS_URL: 'http://x' }), /REDIS_URL/)
  t.throws(() => configFromEnv({ ...good, AGENCY_WEBHOOKS: '{' }), /AGENCY_WEBHOOKS/)
})

t.test('every problem is named at once, text becomes the type each setting names, and the rest of the environment is dropped', async (t) => {
  const config = configFromEnv({ ...good, PORT: '9000', RUN_WORKERS: 'false', TRUST_WATCH: 'true', NOT_A_SETTING: 'x' })
  t.equal(config.port, 9000)
  t.equal(config.runWorkers, false)
  t.equal(config.trustWatch, true)
  const err = t.throws(() => configFromEnv({ ...good, PORT: 'eighty', LOG_LEVEL: 'loud', GATEWAY_AUDIT_KEY: undefined })) as ConfigError
  t.same([...err.problems].sort(), [
    'GATEWAY_AUDIT_KEY: is required (32 random bytes, base64 (e.g. `openssl rand -base64 32`))',
    'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    'PORT: must be integer (got "eighty")'
  ])
  t.equal(err.code, 'CONFIG_INVALID')
  t.same(configFromEnv({ ...good }), configFromEnv(good), 'the environment given is not changed by reading it')
})

// The environment's validator is kept as the message schemas' are
// (gateway/lib/validator-cache.ts): written by the first process that reads
// the environment, read by the next, judging as compiled.
t.test('the environment validator is read from the validator cache when the compile cache is on', async (t) => {
  const read = (cacheDir: string | undefined): unknown => {
    const script = `
      import { configFromEnv } from ${JSON.stringify(join(import.meta.dirname, '..', 'gateway', 'config.ts'))}
      const verdict = (env) => { try { const c = configFromEnv(env); return [c.port, c.runWorkers, c.logLevel, c.queuePrefix] } catch (e) { return e.problems } }
      const good = ${JSON.stringify(good)}
      process.stdout.write(JSON.stringify([verdict({ ...good, PORT: '9000', RUN_WORKERS: 'false' }), verdict({ ...good, PORT: 'eighty' })]))
    `
    const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: undefined, NODE_COMPILE_CACHE: cacheDir }
    if (cacheDir === undefined) env.NODE_DISABLE_COMPILE_CACHE = '1'
    return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' }))
  }
  const dir = mkdtempSync(join(tmpdir(), 'btb-environment-validator-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const expected = [[9000, false, 'info', 'btb:CA'], ['PORT: must be integer (got "eighty")']]
  t.same(read(undefined), expected, 'compiled in memory (the cache off)')
  t.same(read(dir), expected, 'compiled and written')
  const files = keptFiles(dir, 'ajv-validators').filter((f) => basename(f).startsWith('environment-'))
  t.equal(files.length, 1, 'one file for the environment')
  const written = statSync(files[0]!).mtimeMs
  t.same(read(dir), expected, 'read back: the same verdicts')
  t.equal(statSync(files[0]!).mtimeMs, written, 'and the file was read, not written again')
})
