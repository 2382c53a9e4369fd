// Builds real gateways for tests: real TLS listeners on loopback (or, for
// tests that only call routes, app.inject() with a real certificate), a real
// Redis (each test its own queue prefix, removed afterwards), a real SQLite
// ledger in a temporary directory, the committed example PKI.
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../faults/free-port.ts'
import type { RedisServer } from '../faults/processes.ts'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppDependencies } from '../gateway/app.ts'
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../gateway/node-flags.ts'
import type { GatewayConfig } from '../gateway/config.ts'
import { AgencyClient, loadAgencyCredentials, type AgencyCredentials, type HttpResult } from '../sandbox/agency-client.ts'
import type { PresentedCertificate } from '../gateway/pipeline/authenticate-client.ts'
import { SYSTEMS, type SystemName } from '../sandbox/example-systems.ts'
import type { SampleRoute } from '../sandbox/sample-messages.ts'
import type { MockAgency } from '../sandbox/mock-agency.ts'
import type { Agent } from 'undici'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'

// The app, the mock agencies, a private redis-server's handle and the Redis
// client are imported by the helpers that use them, when first called: about
// a third of the test files use none of them, and importing the app alone
// costs a process about 0.5 s of CPU (docs/architecture.md, "The test suite").
// undici is loaded with the first client that needs it (gateway/lib/lazy-packages.ts).

export const KEYS_DIR = join(import.meta.dirname, '..', 'keys-example')
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** The tests' PostgreSQL database: one name, PG_URL, for every test that needs it (.ci/run creates it). */
export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export { SYSTEMS, type SystemName }

interface Teardown {
  teardown(fn: () => unknown): void
}

// Below the kernel's ephemeral range, so that no outgoing connection takes a
// port between its choice and the listen (faults/free-port.ts says why): a
// port from listen(0) was taken so, and a gateway's listen failed EADDRINUSE.
export { freePort }

/**
 * A partner nothing answers: port 1 is privileged, so it is never a free port
 * another test is given and then listens on, and nothing on the machine
 * listens there. A port from freePort() here was taken, now and then, by a
 * test running beside it, whose server answered instead of refusing.
 */
export const UNREACHABLE_URL = 'https://127.0.0.1:1'

/** A Redis of the test's own (faults/processes.ts), keeping nothing on disk, that it can pause or kill: started, and stopped and removed afterwards. */
export async function privateRedis(t: Teardown): Promise<RedisServer> {
  const { RedisServer } = await import('../faults/processes.ts')
  const redis = new RedisServer({ port: await freePort(), dir: mkdtempSync(join(tmpdir(), 'btb-redis-')), aof: 'off' })
  t.teardown(async () => {
    await redis.stop()
    rmSync(redis.opts.dir, { recursive: true, force: true })
  })
  await redis.start()
  return redis
}

/** Free ports, all different. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}

export interface SandboxSetting {
  /** The environment that puts `npm run sandbox` on these ports, in this directory, under this queue prefix. */
  readonly env: Record<string, string>
  readonly ports: { readonly CA: number; readonly US: number }
  /** The mock agency systems' webhook ports, in trust-file order: CA's two, then the U.S.'s two. */
  readonly mockPorts: readonly number[]
  /** Where sandbox.json and sandbox-run/ are written (removed afterwards). */
  readonly dir: string
  readonly queuePrefix: string
}

/** A sandbox of its own (sandbox/run.ts): free ports, a directory, a queue prefix; its queues are dropped afterwards. */
export async function sandboxSetting(t: Teardown): Promise<SandboxSetting> {
  const [ca, us, ...mockPorts] = await freePorts(6)
  const dir = mkdtempSync(join(tmpdir(), 'btb-sandbox-'))
  const queuePrefix = `test-sandbox-${randomUUID()}`
  t.teardown(async () => {
    rmSync(dir, { recursive: true, force: true })
    for (const c of ['CA', 'US']) await dropQueuePrefix(`${queuePrefix}:${c}`)
  })
  return {
    env: {
      CA_PORT: String(ca),
      US_PORT: String(us),
      CA_MOCK_PORTS: mockPorts.slice(0, 2).join(','),
      US_MOCK_PORTS: mockPorts.slice(2).join(','),
      SANDBOX_DIR: dir,
      SANDBOX_QUEUE_PREFIX: queuePrefix
    },
    ports: { CA: ca!, US: us! },
    mockPorts,
    dir,
    queuePrefix
  }
}

/** How long `npm run sandbox` may take to start and send its sample traffic. */
const SANDBOX_READY_MS = 120_000

export interface RunningSandbox {
  readonly setting: SandboxSetting
  /** What it printed up to the line that says it keeps running. */
  readonly output: string
  /** Its gateways' process ids, from that output. */
  readonly pids: { readonly CA: number; readonly US: number }
}

/**
 * `npm run sandbox` on a setting of its own (sandboxSetting), with `env` on
 * top; resolves once it says it keeps running, as a user sees it do. Stopped
 * with SIGINT, and waited for, at teardown; with an IPC channel, it also stops
 * when this process is gone.
 */
export async function runningSandbox(t: Teardown, env: Record<string, string> = {}): Promise<RunningSandbox> {
  const setting = await sandboxSetting(t)
  const child = spawn(process.execPath, ['sandbox/run.ts'], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, ...setting.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // Registered after sandboxSetting's own: runs first, so the sandbox is gone before its directory and queues are.
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGINT')
    await exited
  })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    // A sandbox that neither gets ready nor exits (a port taken, Redis gone) fails its caller rather than holding it.
    const timer = setTimeout(() => reject(new Error(`the sandbox was not ready after ${SANDBOX_READY_MS / 1000} s:\n${output.slice(-2000)}`)), SANDBOX_READY_MS)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      if (output.includes('keeps running for your own client')) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the sandbox exited (${code}) before it was ready:\n${output.slice(-2000)}`))
    })
  })
  const pids = /gateways\s+CA \S+ \(pid (\d+)\)\s+US \S+ \(pid (\d+)\)/.exec(output)
  if (pids === null) throw new Error(`the sandbox did not name its gateways' processes:\n${output.slice(-2000)}`)
  return { setting, output, pids: { CA: Number(pids[1]), US: Number(pids[2]) } }
}

/**
 * The ledger directories testConfig made in this process. startGateway and
 * injectGateway remove theirs at teardown; a test that builds an app or a
 * store from a config itself has no such teardown, so whatever is left is
 * removed when the process exits (test/test-config-dirs.test.ts).
 */
const ledgerDirs = new Set<string>()
process.once('exit', () => {
  for (const dir of ledgerDirs) rmSync(dir, { recursive: true, force: true })
})

export function testConfig(country: 'CA' | 'US', overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  const dir = mkdtempSync(join(tmpdir(), `btb-${country}-`))
  ledgerDirs.add(dir)
  return {
    trustFile: join(KEYS_DIR, country, 'trust.json'),
    // The committed example material never changes under a test; tests of
    // live reload point at their own copy and turn this on.
    trustWatch: false,
    certExpiryWarnDays: 30,
    host: '127.0.0.1',
    port: 0,
    redisUrl: REDIS_URL,
    queuePrefix: `test-${randomUUID()}`,
    ledgerPath: join(dir, 'ledger.sqlite'),
    ledgerSynchronous: 'normal',
    ledgerPostgresUrl: undefined,
    ledgerPostgresSchema: `btb_${country.toLowerCase()}`,
    ledgerPostgresTimeoutMs: 5000,
    sealKey: randomBytes(32),
    auditKey: randomBytes(32),
    pseudonymKey: randomBytes(32),
    clockSkewSeconds: 300,
    messageMaxAgeSeconds: 900,
    tokenTtlSeconds: 300,
    bodyLimitBytes: 8 * 1024 * 1024,
    deliveryAttempts: 3,
    deliveryBackoffMs: 50,
    deliveryTimeoutMs: 5000,
    shutdownTimeoutMs: 9000,
    relayIntervalMs: 60_000,
    workerConcurrency: 8,
    deliveryBudgetBytes: 8 * 1024 * 1024,
    intakeBudgetBytes: 8 * 1024 * 1024,
    queueLockMs: 15_000,
    queueStalledCheckMs: 10_000,
    redisCommandTimeoutMs: 5000,
    runWorkers: true,
    processes: 1,
    // No worker thread unless a test asks for one (batch-audit.test.ts does):
    // starting one compiles every schema again, and few tests send a message
    // large enough to use it. Gateways run as processes keep the default.
    pipelineThreads: 0,
    pipelineWorkerMinBytes: 65536,
    redisChecks: 'warn',
    checkpointEveryEntries: 1000,
    checkpointEveryMs: 60_000,
    cosignatureMaxAgeMs: 3_600_000,
    messageRetentionDays: 90,
    purgeEveryMs: 3_600_000,
    partnerUrl: undefined,
    readyRequiresPartner: true,
    webhooks: {},
    logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides
  }
}

/** Deletes every Redis key under a queue prefix. */
export async function dropQueuePrefix(prefix: string): Promise<void> {
  const { dropQueuePrefix: drop } = await import('../gateway/queue/drop-prefix.ts')
  await drop(REDIS_URL, prefix)
}

export async function startGateway(
  t: Teardown,
  config: GatewayConfig,
  deps: AppDependencies = {}
): Promise<{ app: FastifyInstance; url: string; config: GatewayConfig }> {
  const { buildApp } = await import('../gateway/app.ts')
  const app = await buildApp(config, deps)
  t.teardown(async () => {
    await app.close()
    await dropQueuePrefix(config.queuePrefix)
    rmSync(join(config.ledgerPath, '..'), { recursive: true, force: true })
  })
  await app.listen({ host: '127.0.0.1', port: config.port })
  const { port } = app.server.address() as { port: number }
  return { app, url: `https://127.0.0.1:${port}`, config }
}

/**
 * Which client certificate an injected request presents: its DER, in base64.
 * Read only by `injectedPeerCertificate`, which only injectGateway passes to
 * the app; a gateway built any other way never looks at this header.
 */
export const TEST_PEER_HEADER = 'x-test-peer-certificate'

/**
 * The injected certificate source of injectGateway: the certificate named by
 * TEST_PEER_HEADER, if it chains to a root the gateway trusts and is within
 * its validity (what Node's TLS stack checks before `socket.authorized`);
 * undefined otherwise, as for a TLS client that presented none.
 */
export function injectedPeerCertificate(request: FastifyRequest): PresentedCertificate | undefined {
  const value = request.headers[TEST_PEER_HEADER]
  if (typeof value !== 'string') return undefined
  const cert = new X509Certificate(Buffer.from(value, 'base64'))
  const now = Date.now()
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return undefined
  const chains = request.server.trust.tls.ca.some((pem) => {
    const root = new X509Certificate(pem)
    return cert.checkIssued(root) && cert.verify(root.publicKey)
  })
  return chains ? { raw: cert.raw, valid_to: cert.validTo } : undefined
}

/** The header that makes an injected request present this certificate (PEM). */
export function presenting(certPem: string): Record<string, string> {
  return { [TEST_PEER_HEADER]: new X509Certificate(certPem).raw.toString('base64') }
}

const injected = new Map<string, FastifyInstance>()

/**
 * A gateway whose routes are called with `app.inject()`, not over a socket:
 * the same app as startGateway's, with callers identified from the
 * certificate an injected request names (`presenting`). Its `url` is
 * understood by `client()`, and by nothing that opens a connection.
 */
export async function injectGateway(
  t: Teardown,
  config: GatewayConfig,
  deps: AppDependencies = {}
): Promise<{ app: FastifyInstance; url: string; config: GatewayConfig }> {
  const { buildApp } = await import('../gateway/app.ts')
  const app = await buildApp(config, { peerCertificate: injectedPeerCertificate, ...deps })
  const url = `inject://${config.queuePrefix}`
  injected.set(url, app)
  t.teardown(async () => {
    injected.delete(url)
    await app.close()
    await dropQueuePrefix(config.queuePrefix)
    rmSync(join(config.ledgerPath, '..'), { recursive: true, force: true })
  })
  return { app, url, config }
}

/** An agency client whose requests go through `app.inject()`, presenting its certificate. */
export class InjectedAgencyClient extends AgencyClient {
  readonly #app: FastifyInstance
  readonly #peer: Record<string, string>

  constructor(creds: AgencyCredentials, app: FastifyInstance, baseUrl: string) {
    super(creds, baseUrl)
    this.#app = app
    this.#peer = presenting(creds.cert)
  }

  override async call(method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): Promise<HttpResult> {
    const res = await this.#app.inject({ method, url: path, ...(body === undefined ? {} : { payload: body }), headers: { ...headers, ...this.#peer } })
    const answered = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v]))
    return { status: res.statusCode, headers: answered, body: res.body, json: <T>() => JSON.parse(res.body) as T }
  }
}

/** An agency system's client of a gateway: over mutual TLS for startGateway's, through inject() for injectGateway's. */
/**
 * An undici dispatcher presenting one of the example identities of `country`
 * (`privacy-officers/po-1`, `operators/ops-1`, `agencies/CBSA-pik-primary`),
 * trusting that country's root; closed when the test ends.
 */
export function identityAgent(t: Teardown, country: 'CA' | 'US', identity: string, keysDir = KEYS_DIR): Agent {
  const dir = join(keysDir, country, identity)
  const agent = new (undiciModule().Agent)({
    connect: {
      cert: readFileSync(join(dir, 'client.crt.pem')),
      key: readFileSync(join(dir, 'client.key.pem')),
      ca: readFileSync(join(keysDir, country, 'ca.crt.pem'))
    }
  })
  t.teardown(() => agent.close())
  return agent
}

export function client(t: Teardown, name: SystemName, baseUrl: string, keysDir = KEYS_DIR): AgencyClient {
  const s = SYSTEMS[name]
  const creds = loadAgencyCredentials(keysDir, s.country, s.agency, s.system)
  const app = injected.get(baseUrl)
  const c = app === undefined ? new AgencyClient(creds, baseUrl) : new InjectedAgencyClient(creds, app, baseUrl)
  t.teardown(() => c.close())
  return c
}

export function jwks(country: 'CA' | 'US', keysDir = KEYS_DIR): { keys: any[] } {
  return JSON.parse(readFileSync(join(keysDir, country, 'jwks.json'), 'utf8'))
}

/** A private copy of the example PKI, for tests that change trust material while gateways run. */
export function copyKeys(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'btb-keys-'))
  cpSync(KEYS_DIR, dir, { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A stand-in for the US gateway, as the CA gateway sees it: the US gateway's
 * certificate (so the partner pin holds), asking for CA client certificates.
 * `handle` answers each request; the server closes when the test ends.
 */
export async function standInPartner(t: Teardown, handle: (req: IncomingMessage, res: ServerResponse) => void, keysDir = KEYS_DIR): Promise<{ url: string }> {
  const server = createHttpsServer(
    {
      cert: readFileSync(join(keysDir, 'US', 'gateway.crt.pem')),
      key: readFileSync(join(keysDir, 'US', 'gateway.key.pem')),
      ca: readFileSync(join(keysDir, 'CA', 'ca.crt.pem')),
      requestCert: true,
      rejectUnauthorized: true
    },
    handle
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  )
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}` }
}

export interface Exchange {
  readonly ca: { app: FastifyInstance; url: string; config: GatewayConfig }
  readonly us: { app: FastifyInstance; url: string; config: GatewayConfig }
  readonly clients: Record<SystemName, AgencyClient>
  readonly mocks: Record<SystemName, MockAgency>
}

/**
 * Two gateways and four mock agency systems, wired together. With `keysDir`
 * (a `copyKeys` copy) the gateways watch their trust files there.
 */
export async function startExchange(
  t: Teardown,
  overrides: Partial<GatewayConfig> | ((country: 'CA' | 'US') => Partial<GatewayConfig>) = {},
  matchRates = { CA: 0.02, US: 0.5 },
  deps: AppDependencies = {},
  keysDir = KEYS_DIR
): Promise<Exchange> {
  const ports = { CA: await freePort(), US: await freePort() }
  const base = { CA: `https://127.0.0.1:${ports.CA}`, US: `https://127.0.0.1:${ports.US}` }
  const clients = {} as Record<SystemName, AgencyClient>
  const mocks = {} as Record<SystemName, MockAgency>
  const { startMockAgency } = await import('../sandbox/mock-agency.ts')
  for (const name of Object.keys(SYSTEMS) as SystemName[]) {
    const country = SYSTEMS[name].country
    clients[name] = client(t, name, base[country], keysDir)
    mocks[name] = await startMockAgency({
      client: clients[name],
      port: 0,
      gatewayJwks: jwks(country, keysDir),
      partnerJwks: jwks(country === 'CA' ? 'US' : 'CA', keysDir),
      matchRate: matchRates[country]
    })
    t.teardown(() => mocks[name].close())
  }
  const webhooks = (country: 'CA' | 'US'): Record<string, string> =>
    Object.fromEntries(
      (Object.keys(SYSTEMS) as SystemName[])
        .filter((n) => SYSTEMS[n].country === country)
        .map((n) => [`${country}/${SYSTEMS[n].agency}/${SYSTEMS[n].system}`, mocks[n].url])
    )
  const own = (country: 'CA' | 'US'): Partial<GatewayConfig> => (typeof overrides === 'function' ? overrides(country) : overrides)
  const keys = (country: 'CA' | 'US'): Partial<GatewayConfig> =>
    keysDir === KEYS_DIR ? {} : { trustFile: join(keysDir, country, 'trust.json'), trustWatch: true }
  const ca = await startGateway(t, testConfig('CA', { port: ports.CA, partnerUrl: base.US, webhooks: webhooks('CA'), ...keys('CA'), ...own('CA') }), deps)
  const us = await startGateway(t, testConfig('US', { port: ports.US, partnerUrl: base.CA, webhooks: webhooks('US'), ...keys('US'), ...own('US') }), deps)
  return { ca, us, clients, mocks }
}

/** A sample a test sent on an exchange: its route, its id and envelope. */
export interface SentSample {
  readonly route: SampleRoute
  readonly id: string
  readonly envelope: Record<string, unknown>
}

/** The example system of `country`'s `agency`. */
export function systemNamed(country: string, agency: string): SystemName {
  return (Object.keys(SYSTEMS) as SystemName[]).find((n) => SYSTEMS[n].country === country && SYSTEMS[n].agency === agency)!
}

/**
 * The envelope a test sends on a sample route of `ex`: the kind's sample, or
 * for a match response the answer to the partner's match request sent before
 * it (one of `sent`), once that request is delivered: a gateway takes no
 * match response that answers no request (gateway/intake/correlation.ts).
 */
export async function sampleOnRoute(ex: Exchange, route: SampleRoute, sent: readonly SentSample[]): Promise<Record<string, unknown>> {
  const { requestAnswered, sampleAnswer, sampleEnvelope } = await import('../sandbox/sample-messages.ts')
  const request = route.kind === 'biometric.match-response' ? requestAnswered(route, sent) : undefined
  if (request === undefined) return sampleEnvelope(route.kind, route.from.country, route.to)
  const asker = ex.clients[systemNamed(request.route.from.country, request.route.from.agency)]
  await eventually(
    async () => ((await asker.status(request.id)).json<{ status: string }>().status === 'delivered' ? true : undefined),
    15_000,
    `delivery of the match request ${request.id}`
  )
  return sampleAnswer(route, request.envelope)
}

/**
 * What a gateway run as its own process (`node gateway/server.ts`) needs: a
 * ledger directory, a queue prefix and keys of its own (all removed
 * afterwards), the environment that configures it, and the same settings as a
 * GatewayConfig, to restart it in-process on the same ledger.
 */
export function gatewayProcess(t: Teardown, country: 'CA' | 'US', port: number, env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), `btb-process-${country}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const prefix = `test-${randomUUID()}`
  t.teardown(() => dropQueuePrefix(prefix))
  const keys = { seal: randomBytes(32), audit: randomBytes(32), pseudonym: randomBytes(32) }
  const ledgerPath = join(dir, 'ledger.sqlite')
  return {
    prefix,
    ledgerPath,
    entry: join(import.meta.dirname, '..', 'gateway', 'server.ts'),
    /** What to run: node with the gateway's heap limits, then the entry file. */
    args: [...GATEWAY_NODE_FLAGS, join(import.meta.dirname, '..', 'gateway', 'server.ts')],
    env: {
      ...process.env,
      ...GATEWAY_ENV,
      GATEWAY_COUNTRY: country,
      GATEWAY_TRUST_FILE: join(KEYS_DIR, country, 'trust.json'),
      PORT: String(port),
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      LEDGER_PATH: ledgerPath,
      GATEWAY_SEAL_KEY: keys.seal.toString('base64'),
      GATEWAY_AUDIT_KEY: keys.audit.toString('base64'),
      GATEWAY_PSEUDONYM_KEY: keys.pseudonym.toString('base64'),
      REDIS_CHECKS: 'warn',
      ...env
    },
    config: { port, ledgerPath, queuePrefix: prefix, sealKey: keys.seal, auditKey: keys.audit, pseudonymKey: keys.pseudonym }
  }
}

import { eventually } from './lib/eventually.ts'

export { eventually }

/**
 * An access token from a gateway process that is still starting: asked for
 * until the process listens and answers (a refused connection is "not yet").
 * The bound is the one test/gateway-processes.test.ts gives a start: beside
 * the faults' seventeen gateways, on two cores, a start took over 20 s.
 */
export function tokenOnceListening(agency: AgencyClient, timeoutMs = 60_000): Promise<string> {
  return eventually(
    async () => {
      try {
        return await agency.token()
      } catch {
        return undefined
      }
    },
    timeoutMs,
    'the gateway process to listen'
  )
}

/** What a script printed, and how it ended. */
export interface ScriptRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a Node script from the repository's root, as its user would (`node <args>`), and collects what it printed. */
export function runScript(args: readonly string[]): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/**
 * Runs an ES module's source in a process of its own and answers what it
 * printed; throws, with its stderr, if it exits with an error. The source is
 * written to a file, not passed with --eval: a process started with
 * --input-type cannot start worker threads from files (the ledger's, the
 * pipeline's). It imports the project's modules by their file URLs.
 */
export async function runModule(source: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'btb-module-'))
  try {
    const file = join(dir, 'module.mjs')
    writeFileSync(file, source)
    const { code, stdout, stderr } = await runScript([file])
    if (code !== 0) throw new Error(`the module exited with ${code}: ${stderr.slice(-2000)}`)
    return stdout
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
