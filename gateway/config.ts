// The gateway's settings. Only the entry file (server.ts) reads the
// environment; tests build a GatewayConfig directly.
import type { ErrorObject, ValidateFunction } from 'ajv'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { ajvModule } from './lib/lazy-packages.ts'
import { ENVIRONMENT_AJV_OPTIONS } from './lib/ajv-options.ts'
import { validatorSet } from './lib/validator-cache.ts'
import { IJsonError, parseIJson } from './lib/i-json.ts'
import type { TrustStore } from './trust/trust-store.ts'

/** SQLite's `synchronous` for the ledger, in WAL mode. */
export type LedgerSynchronous = 'normal' | 'full'

export interface GatewayConfig {
  readonly trustFile: string
  /** Reload the trust file when it is replaced (SIGHUP always reloads it). */
  readonly trustWatch: boolean
  /** Log (and show in /metrics) certificates expiring within this many days. */
  readonly certExpiryWarnDays: number
  readonly host: string
  readonly port: number
  readonly redisUrl: string
  /** BullMQ key prefix: several gateways (or tests) can share one Redis. */
  readonly queuePrefix: string
  readonly ledgerPath: string
  /**
   * How SQLite makes a commit durable (docs/operators.md, "Configuration"):
   * 'normal' survives the end of any process, kill -9 included; 'full' also
   * a power loss or a crash of the host, at one fsync of the WAL a group
   * commit. Not used with PostgreSQL, whose own setting
   * (`synchronous_commit`) rules there.
   */
  readonly ledgerSynchronous: LedgerSynchronous
  /**
   * When set, the ledger and outbox live in PostgreSQL instead of SQLite at
   * `ledgerPath`: several gateway instances of one country share one ledger.
   */
  readonly ledgerPostgresUrl: string | undefined
  /** The PostgreSQL schema holding this gateway's ledger (one schema, one ledger). */
  readonly ledgerPostgresSchema: string
  /**
   * How long a ledger write or read on PostgreSQL, or a new connection to
   * it, may wait for the server: past it, the write is refused as any failed
   * write is (a 503, nothing accepted) and its connection closed, where a
   * server that stopped answering without closing its connections (paused,
   * cut off) held every submission until it came back.
   */
  readonly ledgerPostgresTimeoutMs: number
  /** AES-256-GCM key for queue job data and the outbox. */
  readonly sealKey: Buffer
  /** HMAC key for ledger digests. */
  readonly auditKey: Buffer
  /** HMAC key for pseudonymised fields. */
  readonly pseudonymKey: Buffer
  readonly clockSkewSeconds: number
  readonly messageMaxAgeSeconds: number
  readonly tokenTtlSeconds: number
  readonly bodyLimitBytes: number
  readonly deliveryAttempts: number
  readonly deliveryBackoffMs: number
  readonly deliveryTimeoutMs: number
  /**
   * How long a closing gateway may take, at most, from SIGTERM to exit
   * (docs/operators.md, "Shutdown"): the requests still in hand to the
   * partner and the agencies are abandoned at two thirds of it.
   */
  readonly shutdownTimeoutMs: number
  readonly relayIntervalMs: number
  readonly workerConcurrency: number
  /**
   * Bytes of messages the delivery workers of both queues hold at once,
   * each its sealed copy and what it opens to (docs/operators.md,
   * "Sizing"): a bulk load's batches wait for room, single messages are
   * never held by it.
   */
  readonly deliveryBudgetBytes: number
  /**
   * Bytes of request bodies read and checked at once (docs/operators.md,
   * "Sizing"): past it, a request waits before its body is read; one body
   * larger than this still goes, alone.
   */
  readonly intakeBudgetBytes: number
  /** BullMQ's job lock and stalled-job check: how soon the jobs of a killed worker move again. */
  readonly queueLockMs: number
  readonly queueStalledCheckMs: number
  /**
   * How long the gateway waits for Redis to answer a command of its own (an
   * add, a count), not a worker's blocking wait: past it, the command fails
   * as if Redis were down, where a Redis that stopped answering without
   * closing its connections held requests open until it came back.
   */
  readonly redisCommandTimeoutMs: number
  readonly runWorkers: boolean
  /**
   * Gateway processes sharing the port (gateway/cluster.ts): each a whole
   * gateway on the same ledger, Redis and keys. 1 runs the gateway in the
   * process started.
   */
  readonly processes: number
  /** Worker threads that prepare large messages off the event loop (0: none), and what counts as large. */
  readonly pipelineThreads: number
  readonly pipelineWorkerMinBytes: number
  /** 'refuse' stops start-up when Redis could evict jobs; 'warn' only logs. */
  readonly redisChecks: 'refuse' | 'warn'
  /** Signed checkpoints of the ledger head: after this many entries, or this long. */
  readonly checkpointEveryEntries: number
  readonly checkpointEveryMs: number
  /** A partner cosignature older than this is warned of by the ledger's verification. */
  readonly cosignatureMaxAgeMs: number
  /** Message records and dead letters older than this are purged (P5), unless under a legal hold. */
  readonly messageRetentionDays: number
  readonly purgeEveryMs: number
  /** Whether /readyz fails while the partner gateway is unreachable. */
  readonly readyRequiresPartner: boolean
  /** Overrides the partner URL of the trust file (tests, docker). */
  readonly partnerUrl: string | undefined
  /** Overrides agency webhooks of the trust file: `CA/CBSA/pik-primary` -> URL. */
  readonly webhooks: Readonly<Record<string, string>>
  readonly logLevel: string
}

export const ENV_SCHEMA = {
  type: 'object',
  // The rest of the environment is not the gateway's: dropped, not refused.
  additionalProperties: false,
  required: ['GATEWAY_TRUST_FILE', 'GATEWAY_SEAL_KEY', 'GATEWAY_AUDIT_KEY', 'GATEWAY_PSEUDONYM_KEY'],
  properties: {
    GATEWAY_COUNTRY: { type: 'string', enum: ['CA', 'US'] },
    GATEWAY_TRUST_FILE: { type: 'string', minLength: 1 },
    TRUST_WATCH: { type: 'boolean', default: true },
    CERT_EXPIRY_WARN_DAYS: { type: 'integer', minimum: 1, maximum: 365, default: 30 },
    // Not empty: Node would listen on every interface.
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8441 },
    REDIS_URL: { type: 'string', pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' },
    QUEUE_PREFIX: { type: 'string', default: '' },
    LEDGER_PATH: { type: 'string', minLength: 1, default: 'data/ledger.sqlite' },
    LEDGER_POSTGRES_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    LEDGER_POSTGRES_SCHEMA: { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,62}$' },
    LEDGER_POSTGRES_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
    LEDGER_SYNCHRONOUS: { type: 'string', enum: ['normal', 'full'], default: 'normal' },
    GATEWAY_SEAL_KEY: { type: 'string', pattern: '^[A-Za-z0-9+/_-]{43}=?$' },
    GATEWAY_AUDIT_KEY: { type: 'string', pattern: '^[A-Za-z0-9+/_-]{43}=?$' },
    GATEWAY_PSEUDONYM_KEY: { type: 'string', pattern: '^[A-Za-z0-9+/_-]{43}=?$' },
    CLOCK_SKEW_SECONDS: { type: 'integer', minimum: 0, maximum: 3600, default: 300 },
    MESSAGE_MAX_AGE_SECONDS: { type: 'integer', minimum: 1, maximum: 86400, default: 900 },
    TOKEN_TTL_SECONDS: { type: 'integer', minimum: 30, maximum: 3600, default: 300 },
    BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 67108864, default: 8388608 },
    DELIVERY_ATTEMPTS: { type: 'integer', minimum: 1, maximum: 100, default: 12 },
    DELIVERY_BACKOFF_MS: { type: 'integer', minimum: 10, maximum: 3600000, default: 1000 },
    DELIVERY_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 10000 },
    SHUTDOWN_TIMEOUT_MS: { type: 'integer', minimum: 1500, maximum: 600000, default: 9000 },
    RELAY_INTERVAL_MS: { type: 'integer', minimum: 100, maximum: 3600000, default: 5000 },
    WORKER_CONCURRENCY: { type: 'integer', minimum: 1, maximum: 1000, default: 32 },
    DELIVERY_BUDGET_BYTES: { type: 'integer', minimum: 65536, maximum: 1073741824, default: 4194304 },
    INTAKE_BUDGET_BYTES: { type: 'integer', minimum: 65536, maximum: 1073741824, default: 8388608 },
    QUEUE_LOCK_MS: { type: 'integer', minimum: 5000, maximum: 600000, default: 15000 },
    QUEUE_STALLED_CHECK_MS: { type: 'integer', minimum: 1000, maximum: 600000, default: 10000 },
    REDIS_COMMAND_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
    RUN_WORKERS: { type: 'boolean', default: true },
    GATEWAY_PROCESSES: { type: 'integer', minimum: 1, maximum: 64, default: 1 },
    PIPELINE_THREADS: { type: 'integer', minimum: 0, maximum: 64, default: 1 },
    PIPELINE_WORKER_MIN_BYTES: { type: 'integer', minimum: 0, maximum: 67108864, default: 65536 },
    REDIS_CHECKS: { type: 'string', enum: ['refuse', 'warn'], default: 'refuse' },
    CHECKPOINT_EVERY_ENTRIES: { type: 'integer', minimum: 1, maximum: 10000000, default: 1000 },
    CHECKPOINT_EVERY_MS: { type: 'integer', minimum: 1000, maximum: 86400000, default: 60000 },
    COSIGNATURE_MAX_AGE_MS: { type: 'integer', minimum: 1000, maximum: 2592000000, default: 3600000 },
    MESSAGE_RETENTION_DAYS: { type: 'integer', minimum: 1, maximum: 3650, default: 90 },
    PURGE_EVERY_MS: { type: 'integer', minimum: 60000, maximum: 604800000, default: 3600000 },
    PARTNER_URL: { type: 'string', pattern: '^https://' },
    READY_REQUIRES_PARTNER: { type: 'boolean', default: true },
    AGENCY_WEBHOOKS: { type: 'string', default: '{}' },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' }
  }
} as const

interface Env {
  GATEWAY_TRUST_FILE: string
  TRUST_WATCH: boolean
  CERT_EXPIRY_WARN_DAYS: number
  HOST: string
  PORT: number
  REDIS_URL: string
  QUEUE_PREFIX: string
  LEDGER_PATH: string
  LEDGER_POSTGRES_URL?: string
  LEDGER_POSTGRES_SCHEMA?: string
  LEDGER_POSTGRES_TIMEOUT_MS: number
  LEDGER_SYNCHRONOUS: LedgerSynchronous
  GATEWAY_SEAL_KEY: string
  GATEWAY_AUDIT_KEY: string
  GATEWAY_PSEUDONYM_KEY: string
  CLOCK_SKEW_SECONDS: number
  MESSAGE_MAX_AGE_SECONDS: number
  TOKEN_TTL_SECONDS: number
  BODY_LIMIT_BYTES: number
  DELIVERY_ATTEMPTS: number
  DELIVERY_BACKOFF_MS: number
  DELIVERY_TIMEOUT_MS: number
  SHUTDOWN_TIMEOUT_MS: number
  RELAY_INTERVAL_MS: number
  WORKER_CONCURRENCY: number
  DELIVERY_BUDGET_BYTES: number
  INTAKE_BUDGET_BYTES: number
  QUEUE_LOCK_MS: number
  QUEUE_STALLED_CHECK_MS: number
  REDIS_COMMAND_TIMEOUT_MS: number
  RUN_WORKERS: boolean
  GATEWAY_PROCESSES: number
  PIPELINE_THREADS: number
  PIPELINE_WORKER_MIN_BYTES: number
  REDIS_CHECKS: 'refuse' | 'warn'
  CHECKPOINT_EVERY_ENTRIES: number
  CHECKPOINT_EVERY_MS: number
  COSIGNATURE_MAX_AGE_MS: number
  MESSAGE_RETENTION_DAYS: number
  PURGE_EVERY_MS: number
  PARTNER_URL?: string
  READY_REQUIRES_PARTNER: boolean
  AGENCY_WEBHOOKS: string
  LOG_LEVEL: string
}

/** Every bad or missing setting, one line each, naming the setting (and never echoing a secret). */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID'
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(`invalid configuration (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const SECRETS = new Set(['GATEWAY_SEAL_KEY', 'GATEWAY_AUDIT_KEY', 'GATEWAY_PSEUDONYM_KEY'])
const KEY_HINT = '32 random bytes, base64 (e.g. `openssl rand -base64 32`)'
/** Settings that are URLs, which may carry a password: one that does not parse is named, never shown. */
const URLS = ['REDIS_URL', 'LEDGER_POSTGRES_URL', 'PARTNER_URL'] as const
/** The integer settings: read from their text only when it is decimal digits (Ajv's coercion takes `0x1F90` and `1e3`). */
const INTEGERS = Object.entries(ENV_SCHEMA.properties).flatMap(([name, spec]) => (spec.type === 'integer' ? [name] : []))

/** A setting's value as an error may show it: a URL's password, whatever the URL's form, is masked. */
function shownValue(name: string, value: string): string {
  return (URLS as readonly string[]).includes(name) ? value.replace(/^([^@]*:)[^@]*@/, '$1***@') : value
}

function describe(problem: ErrorObject, env: NodeJS.ProcessEnv): string {
  if (problem.keyword === 'required') {
    const name = String(problem.params.missingProperty)
    return `${name}: is required${SECRETS.has(name) ? ` (${KEY_HINT})` : ''}`
  }
  const name = problem.instancePath.replace(/^\//, '')
  const value = env[name]
  const shown = SECRETS.has(name) || value === undefined ? '' : ` (got ${JSON.stringify(shownValue(name, value))})`
  if (SECRETS.has(name)) return `${name}: must be ${KEY_HINT}`
  if (problem.keyword === 'enum') return `${name}: must be one of ${(problem.params.allowedValues as string[]).join(', ')}${shown}`
  return `${name}: ${problem.message ?? 'is not valid'}${shown}`
}

function key32(name: string, value: string, problems: string[]): Buffer {
  const key = Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64')
  if (key.length !== 32) problems.push(`${name}: must be ${KEY_HINT}`)
  return key
}

/**
 * The environment's validator: compiled, or read from the validator cache
 * (lib/validator-cache.ts), when the environment is first read. A gateway
 * process reads it once; compiling it was about a tenth of the CPU a
 * gateway spent starting (docs/measurements.md, "The test suite's time").
 */
let validateEnvironment: ValidateFunction<Env> | undefined
function environmentValidator(): ValidateFunction<Env> {
  validateEnvironment ??= validatorSet({
    name: 'environment',
    source: [ENVIRONMENT_AJV_OPTIONS, ENV_SCHEMA],
    keys: ['environment'],
    build: (codeOptions) => new (ajvModule().Ajv)({ ...ENVIRONMENT_AJV_OPTIONS, ...codeOptions }).addSchema(ENV_SCHEMA, 'environment')
  }).get('environment') as ValidateFunction<Env>
  return validateEnvironment
}

type GatewayCountry = 'CA' | 'US'

/**
 * The gateway's country, which names its default queue prefix and PostgreSQL
 * schema: GATEWAY_COUNTRY, else the trust file's (docs/operators.md, "Configuration").
 * Without either, the two countries' gateways would share one prefix and one
 * schema on a shared Redis or PostgreSQL, and take each other's jobs. A trust
 * file that cannot be read is the trust store's to report, at start-up or in
 * `--check-config`; here it leaves the placeholder `gw`.
 */
function gatewayCountry(named: GatewayCountry | undefined, trustFile: string, problems: string[]): string {
  let own: unknown
  try {
    own = (JSON.parse(readFileSync(resolve(trustFile), 'utf8')) as { country?: unknown }).country
  } catch {
    own = undefined
  }
  const inFile = own === 'CA' || own === 'US' ? own : undefined
  if (named !== undefined && inFile !== undefined && named !== inFile) problems.push(`GATEWAY_COUNTRY: is ${named} but the trust file is for ${inFile}`)
  return named ?? inFile ?? 'gw'
}

const WEBHOOKS_SHAPE = 'AGENCY_WEBHOOKS: must be a JSON object of system id (`CA/CBSA/pik-primary`) to https:// URL'

/**
 * AGENCY_WEBHOOKS, read as I-JSON (lib/i-json.ts): JSON.parse would keep the
 * last of a system named twice, silently, and the operator could not tell
 * which webhook is in force. Each entry whose URL is not an https:// URL
 * (pushes go over mutual TLS, docs/integrators.md) is named. Whether each
 * system is one the trust file lists is `webhookSystemProblems`'s to say,
 * once the trust store is loaded.
 */
function agencyWebhooks(text: string, problems: string[]): Record<string, string> {
  let parsed: unknown
  try {
    parsed = parseIJson(text)
  } catch (err) {
    if (err instanceof IJsonError && err.code === 'DUPLICATE_MEMBER') problems.push(`AGENCY_WEBHOOKS: names a system twice: ${err.message}`)
    else problems.push(`${WEBHOOKS_SHAPE}: ${(err as Error).message}`)
    return {}
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(WEBHOOKS_SHAPE)
    return {}
  }
  const webhooks: Record<string, string> = {}
  for (const [system, url] of Object.entries(parsed)) {
    // A webhook's URL may carry a password: shown masked, as the other URLs are.
    const got = `got ${typeof url === 'string' ? JSON.stringify(url.replace(/^([^@]*:)[^@]*@/, '$1***@')) : JSON.stringify(url)}`
    if (typeof url === 'string' && !URL.canParse(url)) problems.push(`AGENCY_WEBHOOKS: ${system}: is not a valid URL (${got})`)
    else if (typeof url !== 'string' || new URL(url).protocol !== 'https:')
      problems.push(`AGENCY_WEBHOOKS: ${system}: must be an https:// URL: pushes go over mutual TLS (${got})`)
    else webhooks[system] = url
  }
  return webhooks
}

/**
 * The entries of AGENCY_WEBHOOKS that name no agency system of the trust
 * file, one line each (docs/operators.md, "Configuration"). Such an entry
 * overrides nothing: a mistyped id would leave pushes going to the trust
 * file's webhook while the operator believes otherwise. A system the trust
 * file lists but has revoked is known: it takes no pushes, override or not,
 * and revoking it must not make the next start fail. Refused at start
 * (app.ts) and by `--check-config`; a trust reload that removes such a
 * system is warned of (plugins/partner.ts), not refused.
 */
export function webhookSystemProblems(webhooks: Readonly<Record<string, string>>, trust: TrustStore): string[] {
  const listed = [...trust.listedAgencies].sort().join(', ') || 'none'
  const partner = trust.country === 'CA' ? 'US' : 'CA'
  // The commonest slip: one environment given to both countries' gateways.
  return unknownWebhookSystems(webhooks, trust).map((system) =>
    system.startsWith(`${partner}/`)
      ? `AGENCY_WEBHOOKS: ${system} is a system of the partner's country: this gateway pushes to ${trust.country}'s systems only (give it to the ${partner} gateway)`
      : `AGENCY_WEBHOOKS: ${system} is not an agency system of the trust file (it lists ${listed})`
  )
}

/** The systems AGENCY_WEBHOOKS names that the trust file does not list. */
export function unknownWebhookSystems(webhooks: Readonly<Record<string, string>>, trust: TrustStore): string[] {
  return Object.keys(webhooks).filter((system) => !trust.listedAgencies.has(system))
}

/** Reads and validates the environment; throws a ConfigError naming every bad setting. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  // A copy: validation fills in defaults, turns text into numbers and booleans, and drops what is not a setting.
  const read: Record<string, unknown> = { ...env }
  const validate = environmentValidator()
  const notDigits = INTEGERS.flatMap((name) => {
    const value = env[name]
    return value === undefined || /^[0-9]+$/.test(value) ? [] : [`${name}: must be a whole number in decimal digits (got ${JSON.stringify(value)})`]
  })
  if (!validate(read) || notDigits.length > 0) {
    const others = (validate.errors ?? []).filter((p) => !notDigits.some((line) => line.startsWith(`${p.instancePath.replace(/^\//, '')}: `)))
    throw new ConfigError([...notDigits, ...others.map((p) => describe(p, env))])
  }
  const e = read as unknown as Env
  const problems: string[] = []
  for (const name of URLS) {
    const value = e[name]
    if (value !== undefined && !URL.canParse(value)) problems.push(`${name}: is not a valid URL`)
  }
  const country = gatewayCountry(env.GATEWAY_COUNTRY as GatewayCountry | undefined, e.GATEWAY_TRUST_FILE, problems)
  const webhooks = agencyWebhooks(e.AGENCY_WEBHOOKS, problems)
  // A message is known again by its id only while its record is kept: one
  // purged while a copy of it could still pass the freshness check (its
  // createdAt up to CLOCK_SKEW_SECONDS ahead when it came, then
  // MESSAGE_MAX_AGE_SECONDS and the skew again behind) would be taken as a
  // new message, and done twice (docs/operators.md, "Configuration").
  const freshSeconds = e.MESSAGE_MAX_AGE_SECONDS + 2 * e.CLOCK_SKEW_SECONDS
  if (e.MESSAGE_RETENTION_DAYS * 86_400 <= freshSeconds) {
    problems.push(
      `MESSAGE_RETENTION_DAYS: ${e.MESSAGE_RETENTION_DAYS} day${e.MESSAGE_RETENTION_DAYS === 1 ? '' : 's'} is no longer than a submission stays fresh ` +
        `(MESSAGE_MAX_AGE_SECONDS plus twice CLOCK_SKEW_SECONDS, ${freshSeconds} s): a repeat sent after its record was purged would be taken as a new message`
    )
  }
  const sealKey = key32('GATEWAY_SEAL_KEY', e.GATEWAY_SEAL_KEY, problems)
  const auditKey = key32('GATEWAY_AUDIT_KEY', e.GATEWAY_AUDIT_KEY, problems)
  const pseudonymKey = key32('GATEWAY_PSEUDONYM_KEY', e.GATEWAY_PSEUDONYM_KEY, problems)
  if (problems.length > 0) throw new ConfigError(problems)
  const queuePrefix = e.QUEUE_PREFIX === '' ? `btb:${country}` : e.QUEUE_PREFIX
  return {
    trustFile: resolve(e.GATEWAY_TRUST_FILE),
    trustWatch: e.TRUST_WATCH,
    certExpiryWarnDays: e.CERT_EXPIRY_WARN_DAYS,
    host: e.HOST,
    port: e.PORT,
    redisUrl: e.REDIS_URL,
    queuePrefix,
    ledgerPath: resolve(e.LEDGER_PATH),
    ledgerSynchronous: e.LEDGER_SYNCHRONOUS,
    ledgerPostgresUrl: e.LEDGER_POSTGRES_URL,
    ledgerPostgresSchema: e.LEDGER_POSTGRES_SCHEMA ?? `btb_${country.toLowerCase()}`,
    ledgerPostgresTimeoutMs: e.LEDGER_POSTGRES_TIMEOUT_MS,
    sealKey,
    auditKey,
    pseudonymKey,
    clockSkewSeconds: e.CLOCK_SKEW_SECONDS,
    messageMaxAgeSeconds: e.MESSAGE_MAX_AGE_SECONDS,
    tokenTtlSeconds: e.TOKEN_TTL_SECONDS,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    deliveryAttempts: e.DELIVERY_ATTEMPTS,
    deliveryBackoffMs: e.DELIVERY_BACKOFF_MS,
    deliveryTimeoutMs: e.DELIVERY_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    relayIntervalMs: e.RELAY_INTERVAL_MS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    deliveryBudgetBytes: e.DELIVERY_BUDGET_BYTES,
    intakeBudgetBytes: e.INTAKE_BUDGET_BYTES,
    queueLockMs: e.QUEUE_LOCK_MS,
    queueStalledCheckMs: e.QUEUE_STALLED_CHECK_MS,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    runWorkers: e.RUN_WORKERS,
    processes: e.GATEWAY_PROCESSES,
    pipelineThreads: e.PIPELINE_THREADS,
    pipelineWorkerMinBytes: e.PIPELINE_WORKER_MIN_BYTES,
    redisChecks: e.REDIS_CHECKS,
    checkpointEveryEntries: e.CHECKPOINT_EVERY_ENTRIES,
    checkpointEveryMs: e.CHECKPOINT_EVERY_MS,
    cosignatureMaxAgeMs: e.COSIGNATURE_MAX_AGE_MS,
    messageRetentionDays: e.MESSAGE_RETENTION_DAYS,
    purgeEveryMs: e.PURGE_EVERY_MS,
    partnerUrl: e.PARTNER_URL,
    readyRequiresPartner: e.READY_REQUIRES_PARTNER,
    webhooks,
    logLevel: e.LOG_LEVEL
  }
}

/**
 * When, after a gateway starts closing, the requests still in hand to the
 * partner and the agencies are abandoned: at two thirds of SHUTDOWN_TIMEOUT_MS,
 * leaving the last third to give their jobs back to the queue and to close
 * the queues and the ledger. A partner that never answers (a container
 * stopped, its address gone) would otherwise hold the close past an
 * orchestrator's stop timeout, and the process would be killed with its
 * outcomes unwritten (docs/operators.md, "Shutdown").
 */
export function abandonRequestsAfterMs(shutdownTimeoutMs: number): number {
  return Math.floor((shutdownTimeoutMs * 2) / 3)
}
