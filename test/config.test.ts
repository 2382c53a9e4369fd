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

t.test('a retention no longer than a submission stays fresh is refused: a repeat sent after its record was purged would be taken as new', async (t) => {
  t.throws(
    () => configFromEnv({ ...good, MESSAGE_RETENTION_DAYS: '1', MESSAGE_MAX_AGE_SECONDS: '86400' }),
    /MESSAGE_RETENTION_DAYS: 1 day is no longer than a submission stays fresh \(MESSAGE_MAX_AGE_SECONDS plus twice CLOCK_SKEW_SECONDS, 87000 s\)/
  )
  t.throws(
    () => configFromEnv({ ...good, MESSAGE_RETENTION_DAYS: '1', MESSAGE_MAX_AGE_SECONDS: '85000', CLOCK_SKEW_SECONDS: '3600' }),
    /MESSAGE_RETENTION_DAYS/
  )
  t.equal(configFromEnv({ ...good, MESSAGE_RETENTION_DAYS: '1' }).messageRetentionDays, 1, 'a day is longer than the defaults’ 15 minutes and twice 5')
})

t.test('AGENCY_WEBHOOKS: each malformed entry is named, with what is wrong with it', async (t) => {
  const problems = (webhooks: string): readonly string[] => {
    const err = t.throws(() => configFromEnv({ ...good, AGENCY_WEBHOOKS: webhooks })) as ConfigError
    t.equal(err.code, 'CONFIG_INVALID')
    return err.problems
  }
  t.same(configFromEnv({ ...good, AGENCY_WEBHOOKS: '{"CA/CBSA/pik-primary":"https://cbsa.example:9441/v1/inbox"}' }).webhooks, {
    'CA/CBSA/pik-primary': 'https://cbsa.example:9441/v1/inbox'
  })
  t.same(
    problems('{"CA/CBSA/pik-primary":"https://a.example/v1/inbox","CA/CBSA/pik-primary":"https://b.example/v1/inbox"}'),
    ['AGENCY_WEBHOOKS: names a system twice: duplicate member name "CA/CBSA/pik-primary" at position 52 (RFC 7493 §2.3)'],
    'a system named twice: JSON.parse would keep the last, silently'
  )
  t.same(problems('{"CA/CBSA/pik-primary":"https://cbsa example/v1/inbox"}'), [
    'AGENCY_WEBHOOKS: CA/CBSA/pik-primary: is not a valid URL (got "https://cbsa example/v1/inbox")'
  ])
  t.same(problems('{"CA/CBSA/pik-primary":"http://cbsa.example/v1/inbox","CA/IRCC/gcms-biometrics":42}'), [
    'AGENCY_WEBHOOKS: CA/CBSA/pik-primary: must be an https:// URL: pushes go over mutual TLS (got "http://cbsa.example/v1/inbox")',
    'AGENCY_WEBHOOKS: CA/IRCC/gcms-biometrics: must be an https:// URL: pushes go over mutual TLS (got 42)'
  ])
  t.same(
    problems('{"CA/CBSA/pik-primary":"http://hook:S3cretPw@cbsa.example/v1/inbox"}'),
    ['AGENCY_WEBHOOKS: CA/CBSA/pik-primary: must be an https:// URL: pushes go over mutual TLS (got "http://hook:***@cbsa.example/v1/inbox")'],
    "a URL's password is not shown"
  )
  t.same(
    configFromEnv({ ...good, AGENCY_WEBHOOKS: '{"CA/CBSA/pik-primary":"HTTPS://cbsa.example/v1/inbox"}' }).webhooks,
    {
      'CA/CBSA/pik-primary': 'HTTPS://cbsa.example/v1/inbox'
    },
    'a scheme is case-insensitive (RFC 3986 §3.1)'
  )
  for (const notAnObject of ['[]', '"https://cbsa.example"', 'null'])
    t.same(problems(notAnObject), ['AGENCY_WEBHOOKS: must be a JSON object of system id (`CA/CBSA/pik-primary`) to https:// URL'], notAnObject)
  t.match(problems('{'), [/^AGENCY_WEBHOOKS: must be a JSON object of system id \(`CA\/CBSA\/pik-primary`\) to https:\/\/ URL: not valid JSON/])
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
    'PORT: must be a whole number in decimal digits (got "eighty")'
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
  const expected = [[9000, false, 'info', 'btb:CA'], ['PORT: must be a whole number in decimal digits (got "eighty")']]
  t.same(read(undefined), expected, 'compiled in memory (the cache off)')
  t.same(read(dir), expected, 'compiled and written')
  const files = keptFiles(dir, 'ajv-validators').filter((f) => basename(f).startsWith('environment-'))
  t.equal(files.length, 1, 'one file for the environment')
  const written = statSync(files[0]!).mtimeMs
  t.same(read(dir), expected, 'read back: the same verdicts')
  t.equal(statSync(files[0]!).mtimeMs, written, 'and the file was read, not written again')
})

t.test("the country, unless GATEWAY_COUNTRY names it, is the trust file's: it names the queue prefix and the PostgreSQL schema", async (t) => {
  const { GATEWAY_COUNTRY: _country, ...unnamed } = good
  const us = { ...unnamed, GATEWAY_TRUST_FILE: 'keys-example/US/trust.json' }
  t.equal(configFromEnv(unnamed).queuePrefix, 'btb:CA')
  t.equal(configFromEnv(us).queuePrefix, 'btb:US', 'not one prefix for both countries')
  t.equal(configFromEnv({ ...us, LEDGER_POSTGRES_URL: 'postgres://127.0.0.1/test' }).ledgerPostgresSchema, 'btb_us', 'nor one schema')
  t.throws(() => configFromEnv({ ...us, GATEWAY_COUNTRY: 'CA' }), /GATEWAY_COUNTRY: is CA but the trust file is for US/, 'a country the trust file contradicts')
})

t.test('a URL that does not parse is refused by name, and a password in one is never echoed', async (t) => {
  for (const [name, value] of [
    ['REDIS_URL', 'redis://admin:S3cretPw@[redis.internal'],
    ['REDIS_URL', 'redis:/admin:S3cretPw@redis.internal:6379'],
    ['LEDGER_POSTGRES_URL', 'postgresql://gw:S3cretPw@[db'],
    ['LEDGER_POSTGRES_URL', 'postgres:/gw:S3cretPw@db/ledger'],
    ['PARTNER_URL', 'https://gw:S3cretPw@[partner']
  ] as const) {
    const err = t.throws(() => configFromEnv({ ...good, [name]: value })) as ConfigError
    t.equal(err.code, 'CONFIG_INVALID', `${name}=${value.replace('S3cretPw', '***')}: CONFIG_INVALID`)
    t.match(err.message, new RegExp(`${name}: `), 'named')
    t.notMatch(err.message, /S3cretPw/, 'its password not echoed')
  }
})

t.test('an empty HOST, a number not written in decimal digits and one past any sensible size are refused', async (t) => {
  t.throws(() => configFromEnv({ ...good, HOST: '' }), /HOST: /, 'an empty HOST would listen on every interface')
  t.throws(() => configFromEnv({ ...good, PORT: '0x1F90' }), /PORT: must be a whole number in decimal digits \(got "0x1F90"\)/)
  t.throws(() => configFromEnv({ ...good, PORT: '1e3' }), /PORT: must be a whole number in decimal digits/)
  t.throws(() => configFromEnv({ ...good, PIPELINE_WORKER_MIN_BYTES: '1e30' }), /PIPELINE_WORKER_MIN_BYTES/)
  for (const name of ['PIPELINE_WORKER_MIN_BYTES', 'CHECKPOINT_EVERY_ENTRIES', 'CHECKPOINT_EVERY_MS', 'COSIGNATURE_MAX_AGE_MS', 'PURGE_EVERY_MS']) {
    t.throws(() => configFromEnv({ ...good, [name]: '100000000000000' }), new RegExp(`${name}: must be <=`), `${name} has a maximum`)
  }
  t.equal(configFromEnv({ ...good, PORT: '9000' }).port, 9000, 'digits are still read')
})
