// The real processes a fault acts on: a private redis-server and the two
// gateways, each `node gateway/server.ts` with its own environment. Faults
// need to kill them (-9), stop them cleanly and start them again on the same
// files, so each one is a small handle that remembers how it was started.
//
// Nothing here listens anywhere but 127.0.0.1, and every port is picked by
// a free-port probe: never the sandbox's fixed 8441/8442/944x.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createSecureContext } from 'node:tls'
import { Redis } from 'ioredis'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { ENV_SCHEMA } from '../gateway/config.ts'
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../gateway/node-flags.ts'

const { Agent, request } = undiciModule()
type Agent = InstanceType<typeof Agent>

export const ROOT = resolve(import.meta.dirname, '..')
export const KEYS_DIR = join(ROOT, 'keys-example')
export type Country = 'CA' | 'US'

/**
 * Polls `check` until it returns a value, or throws after `timeoutMs`. Every
 * wait of the harness is one of these: a condition, never a fixed sleep.
 */
export async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/** An outage of a given length: the scenario itself, not a wait for a condition. */
export function hold(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * Every child still running. If the harness is stopped (Ctrl-C, a test
 * runner's timeout), they are killed with it: a gateway or a Redis left
 * behind would hold its port and keep writing.
 */
const live = new Set<ChildProcess>()
let guarded = false

function track(child: ChildProcess): ChildProcess {
  live.add(child)
  child.once('exit', () => live.delete(child))
  if (!guarded) {
    guarded = true
    process.once('exit', killAllNow)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        killAllNow()
        // Ours alone: do what the signal would have done without us.
        if (process.listenerCount(signal) === 1) {
          process.removeAllListeners(signal)
          process.kill(process.pid, signal)
        }
      })
    }
  }
  return child
}

/** SIGKILL to every child still running, synchronously (it runs in an exit handler). */
export function killAllNow(): void {
  for (const child of live) child.kill('SIGKILL')
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((r) => child.once('exit', () => r()))
}

/** Opens a log file for appending: every incarnation of a process writes to the same file, in order. */
function logFd(path: string): number {
  return openSync(path, 'a')
}

// ---------------------------------------------------------------- Redis

export type AofMode = 'off' | 'everysec' | 'always'

export interface RedisOptions {
  readonly port: number
  readonly dir: string
  /** AOF off (nothing survives a restart), or on with this fsync policy. */
  readonly aof: AofMode
}

/** A redis-server of our own: noeviction, no RDB snapshots, AOF as asked. */
export class RedisServer {
  readonly opts: RedisOptions
  readonly url: string
  #child: ChildProcess | undefined

  constructor(opts: RedisOptions) {
    this.opts = opts
    this.url = `redis://127.0.0.1:${opts.port}`
    mkdirSync(opts.dir, { recursive: true })
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  async start(): Promise<void> {
    const aof = this.opts.aof === 'off' ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', this.opts.aof]
    const fd = logFd(join(this.opts.dir, 'redis.log'))
    this.#child = track(
      spawn(
        'redis-server',
        [
          '--port',
          String(this.opts.port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          ...aof,
          // The setting the gateway requires (docs/operators.md, "Redis"); --dir holds the AOF across restarts.
          '--maxmemory-policy',
          'noeviction',
          '--dir',
          this.opts.dir
        ],
        { stdio: ['ignore', fd, fd] }
      )
    )
    closeSync(fd)
    const child = this.#child
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: see ${join(this.opts.dir, 'redis.log')}`)
        return (await this.answers()) ? true : undefined
      },
      15_000,
      `redis-server on port ${this.opts.port}`
    )
  }

  /** PONG, and not still loading an AOF. */
  async answers(): Promise<boolean> {
    const r = new Redis(this.url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
    r.on('error', () => {
      /* refused: the answer is no */
    })
    try {
      await r.connect()
      return (await r.ping()) === 'PONG'
    } catch {
      return false
    } finally {
      r.disconnect()
    }
  }

  /** kill -9: no chance to write anything more. */
  async kill9(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    child.kill('SIGKILL')
    await exited(child)
  }

  /**
   * A clean stop that keeps nothing: SHUTDOWN NOSAVE. With AOF off and no
   * snapshots, the next start is empty, like a FLUSHALL, but Redis itself
   * went down in order (closing its clients' connections).
   */
  async shutdownNoSave(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
    r.on('error', () => {
      /* the connection ends with the server */
    })
    try {
      await r.connect()
      await r.call('SHUTDOWN', 'NOSAVE').catch(() => {
        /* the server closes the connection instead of answering */
      })
    } finally {
      r.disconnect()
    }
    await exited(child)
  }

  /** Key count and memory in use: what the soak watches for growth. */
  async stats(): Promise<{ keys: number; usedMemory: number }> {
    const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    r.on('error', () => {
      /* reported by the caller */
    })
    try {
      await r.connect()
      const keys = await r.dbsize()
      const info = await r.info('memory')
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN)
      return { keys, usedMemory: used }
    } finally {
      r.disconnect()
    }
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited(child)
  }
}

// ---------------------------------------------------------------- gateways

/** Settings a fault run may change; everything else is the gateway's default. */
export interface GatewaySettings {
  readonly relayIntervalMs?: number
  readonly deliveryBackoffMs?: number
  readonly deliveryAttempts?: number
  readonly deliveryTimeoutMs?: number
  readonly workerConcurrency?: number
  readonly pipelineThreads?: number
  readonly queueLockMs?: number
  readonly queueStalledCheckMs?: number
  readonly logLevel?: string
}

export interface GatewayProcessOptions {
  readonly country: Country
  readonly port: number
  readonly partnerUrl: string
  readonly redisUrl: string
  readonly dir: string
  /** System id (`US/CBP/ades`) -> webhook URL. */
  readonly webhooks: Readonly<Record<string, string>>
  readonly keys: { readonly seal: string; readonly audit: string; readonly pseudonym: string }
  readonly settings: GatewaySettings
}

/** The CA certificates of both countries: enough to reach either gateway's /healthz and /metrics. */
function bothCas(): string[] {
  return [readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem'), 'utf8'), readFileSync(join(KEYS_DIR, 'US', 'ca.crt.pem'), 'utf8')]
}

/**
 * One gateway, as `node <GATEWAY_NODE_FLAGS> gateway/server.ts`. Its ledger,
 * queue prefix and keys stay the same across restarts: a restart is the same
 * gateway coming back.
 */
export class GatewayProcess {
  readonly opts: GatewayProcessOptions
  readonly url: string
  readonly ledgerPath: string
  readonly logPath: string
  readonly prefix: string
  /** How many times it was started (1 + restarts). */
  incarnations = 0
  #child: ChildProcess | undefined
  #probe: Agent | undefined

  constructor(opts: GatewayProcessOptions) {
    this.opts = opts
    this.url = `https://127.0.0.1:${opts.port}`
    this.ledgerPath = join(opts.dir, `ledger-${opts.country}.sqlite`)
    this.logPath = join(opts.dir, `gateway-${opts.country}.log`)
    this.prefix = `faults:${opts.country}`
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  env(): Record<string, string> {
    // The caller's environment may name a PostgreSQL ledger, another Redis,
    // a port: none of the gateway's own variables is inherited, so the run
    // is exactly what is written here.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !(k in ENV_SCHEMA.properties))) as Record<
      string,
      string
    >
    const s = this.opts.settings
    const optional = (name: string, value: number | string | undefined): Record<string, string> => (value === undefined ? {} : { [name]: String(value) })
    return {
      ...inherited,
      ...GATEWAY_ENV,
      GATEWAY_COUNTRY: this.opts.country,
      GATEWAY_TRUST_FILE: join(KEYS_DIR, this.opts.country, 'trust.json'),
      // The committed example material does not change under us.
      TRUST_WATCH: 'false',
      HOST: '127.0.0.1',
      PORT: String(this.opts.port),
      PARTNER_URL: this.opts.partnerUrl,
      REDIS_URL: this.opts.redisUrl,
      QUEUE_PREFIX: this.prefix,
      LEDGER_PATH: this.ledgerPath,
      GATEWAY_SEAL_KEY: this.opts.keys.seal,
      GATEWAY_AUDIT_KEY: this.opts.keys.audit,
      GATEWAY_PSEUDONYM_KEY: this.opts.keys.pseudonym,
      AGENCY_WEBHOOKS: JSON.stringify(this.opts.webhooks),
      // Node's on-disk compile cache: a gateway's start-up is mostly CPU, and
      // the faults start twenty of them; the cache changes nothing else.
      NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'btb-faults-node-compile-cache'),
      // info: Fastify logs every request, which is how /v1/exchange calls are counted (count.ts).
      LOG_LEVEL: s.logLevel ?? 'info',
      ...optional('RELAY_INTERVAL_MS', s.relayIntervalMs),
      ...optional('DELIVERY_BACKOFF_MS', s.deliveryBackoffMs),
      ...optional('DELIVERY_ATTEMPTS', s.deliveryAttempts),
      ...optional('DELIVERY_TIMEOUT_MS', s.deliveryTimeoutMs),
      ...optional('WORKER_CONCURRENCY', s.workerConcurrency),
      ...optional('PIPELINE_THREADS', s.pipelineThreads),
      ...optional('QUEUE_LOCK_MS', s.queueLockMs),
      ...optional('QUEUE_STALLED_CHECK_MS', s.queueStalledCheckMs)
    }
  }

  /**
   * Starts it and waits until /healthz answers (it listens only once built,
   * ledger and queues included). A process that exits while starting is
   * started again, up to `tries` times, as a supervisor (systemd,
   * Kubernetes) would; each such exit is kept in `failedStarts` and shown in
   * the report, so a restart policy never hides a problem.
   */
  async start(timeoutMs = 60_000, tries = 3): Promise<void> {
    if (this.running) throw new Error(`gateway ${this.opts.country} is already running`)
    for (let attempt = 1; ; attempt++) {
      const fd = logFd(this.logPath)
      // With the heap limits it runs with everywhere else (npm start, the sandbox, the image).
      // The IPC channel ends when this harness does, however it ends (a test
      // runner's timeout kills it with no teardown): the gateway then stops
      // too (gateway/server.ts) instead of outliving the run.
      const child = track(
        spawn(process.execPath, [...GATEWAY_NODE_FLAGS, join(ROOT, 'gateway', 'server.ts')], { cwd: ROOT, env: this.env(), stdio: ['ignore', fd, fd, 'ipc'] })
      )
      child.channel?.unref()
      closeSync(fd)
      this.#child = child
      this.incarnations++
      const up = await until(
        async () => {
          if (child.exitCode !== null) return 'exited' as const
          return (await this.healthy()) ? ('up' as const) : undefined
        },
        timeoutMs,
        `gateway ${this.opts.country} to answer /healthz`,
        100
      )
      if (up === 'up') return
      const why = `gateway ${this.opts.country} exited with ${child.exitCode} while starting: ${this.logTail(3)}`
      this.failedStarts.push(why)
      if (attempt >= tries) throw new Error(why)
    }
  }

  /** Exits during start-up that were started again. */
  readonly failedStarts: string[] = []

  /** The last lines of its log, for an error message (the run's directory may be gone by the time it is read). */
  logTail(lines: number): string {
    try {
      return readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return '(no log)'
    }
  }

  async healthy(): Promise<boolean> {
    // One TLS context for every probe: one built per attempt was a context every 100 ms while a gateway started.
    this.#probe ??= new Agent({ connect: { secureContext: createSecureContext({ ca: bothCas() }) }, keepAliveTimeout: 1000 })
    try {
      const res = await request(`${this.url}/healthz`, { dispatcher: this.#probe, headersTimeout: 2000, bodyTimeout: 2000 })
      await res.body.text()
      return res.statusCode === 200
    } catch {
      return false
    }
  }

  /** kill -9: whatever was not committed is gone, whatever was committed must carry on after a restart. */
  async kill9(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    child.kill('SIGKILL')
    await exited(child)
  }

  /** SIGTERM, the way an orchestrator stops it: it finishes the deliveries in hand and exits. */
  async stop(graceMs = 60_000): Promise<void> {
    const child = this.#child
    if (child === undefined || !this.running) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited(child)
    clearTimeout(timer)
  }

  async close(): Promise<void> {
    await this.stop(15_000)
    await this.#probe?.close()
    this.#probe = undefined
  }
}
