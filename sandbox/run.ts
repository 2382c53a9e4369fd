// `npm run sandbox`: both gateways, Redis-backed queues and a mock agency
// system on each side, as local processes; sends a sample of every kind both
// ways, prints what happened and writes sandbox.json for integrators' clients.
// `npm run sandbox -- --once` stops after the samples (CI, smoke tests).
// `npm run sandbox -- --help` prints USAGE: the environment variables that
// move its ports, files and queues (defaults: the ones docs/integrators.md names), so
// that two sandboxes (two test runs, say) can share a machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { dropQueuePrefix } from '../gateway/queue/drop-prefix.ts'
import type { Progress } from './progress.ts'
import { buildManifest } from './manifest.ts'
import { stopWithSupervisor } from '../gateway/cluster.ts'
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../gateway/node-flags.ts'
import { MockLines } from './mock-lines.ts'
import { sendSampleTraffic } from './sample-traffic.ts'
import { fillCheckoutCompileCache } from '../tools/fill-compile-cache.ts'

const { request } = undiciModule()

const USAGE = `usage: npm run sandbox [-- --once]

  --once          stop after the sample traffic (exit 0 if every sample was delivered
                  and pushed to its agency)
  --help          print this

Environment (all optional):
  CA_PORT         the CA gateway's port (default 8441)
  US_PORT         the U.S. gateway's port (default 8442)
  CA_MOCK_PORTS   the CA mock agency systems' webhook ports, comma-separated, in
                  the order of keys-example/CA/trust.json (default 9441,9442)
  US_MOCK_PORTS   the same for the U.S. (default 9443,9444)
  SANDBOX_DIR     where sandbox.json and sandbox-run/ (logs, ledgers) are
                  written (default: the repository root)
  SANDBOX_QUEUE_PREFIX
                  the Redis queue prefix; each gateway adds :CA or :US
                  (default sandbox, or sandbox-<CA_PORT> where CA_PORT moves the
                  CA gateway); an earlier run's queues under it are dropped
  REDIS_URL       the Redis to use (default redis://127.0.0.1:6379; if none
                  answers, redis-server is started on its port)
  AGENCY_WEBHOOKS, LOG_LEVEL and the rest of the gateway's environment are
                  passed on to both gateways; AGENCY_WEBHOOKS overrides the
                  mock agencies' webhooks, each system's at its own
                  country's gateway.
`
if (process.argv.includes('--help')) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const root = resolve(import.meta.dirname, '..')
const keysDir = join(root, 'keys-example')
const outDir = resolve(process.env.SANDBOX_DIR ?? root)
const runDir = join(outDir, 'sandbox-run')
/** A path as the banner names it: from the checkout's root, or whole when SANDBOX_DIR puts it elsewhere. */
const shown = (path: string): string => (relative(root, path).startsWith('..') ? path : relative(root, path))
const once = process.argv.includes('--once')
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

function portOf(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    process.stderr.write(`${name}=${value}: not a port\n\n${USAGE}`)
    process.exit(2)
  }
  return n
}
const ports = { CA: portOf('CA_PORT', process.env.CA_PORT, 8441), US: portOf('US_PORT', process.env.US_PORT, 8442) }
// A second sandbox is told to move its ports (docs/integrators.md, "The
// sandbox"), and two cannot hold one CA port: named by it, its queues are its
// own. Under one prefix, its start would drop the first one's queues, and each
// one's workers would take the other's jobs.
const queuePrefix = process.env.SANDBOX_QUEUE_PREFIX ?? (ports.CA === 8441 ? 'sandbox' : `sandbox-${ports.CA}`)

/** The mock agency systems of each country: their trust-file webhooks, on the ports *_MOCK_PORTS names. */
const mockWebhooks = Object.fromEntries(
  (['CA', 'US'] as const).flatMap((c) => {
    const systems = (
      JSON.parse(readFileSync(join(keysDir, c, 'trust.json'), 'utf8')) as { agencies: Array<{ agency: string; system: string; webhook?: string }> }
    ).agencies.filter((a) => a.webhook !== undefined)
    const given = process.env[`${c}_MOCK_PORTS`]
    const wanted = given === undefined || given === '' ? [] : given.split(',')
    if (wanted.length > 0 && wanted.length !== systems.length) {
      process.stderr.write(`${c}_MOCK_PORTS=${given}: ${systems.length} ports wanted, one per mock agency system\n\n${USAGE}`)
      process.exit(2)
    }
    return systems.map((a, i) => {
      const url = new URL(a.webhook!)
      url.port = String(portOf(`${c}_MOCK_PORTS`, wanted[i], Number(url.port)))
      return [`${c}/${a.agency}/${a.system}`, url.toString()] as const
    })
  })
) as Record<string, string>
/** The gateways and mock agencies: stopped first, and waited for. */
const children: ChildProcess[] = []
/** A Redis the sandbox started itself: stopped last, once nothing uses it (else the workers retry against it until killed). */
let ownRedis: ChildProcess | undefined
/** How long a child has to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000
/** While traffic is sent, its progress bar (stderr); lines printed meanwhile go above it. */
let progress: Progress | undefined

function say(line: string): void {
  if (progress !== undefined) progress.log(line)
  else process.stdout.write(`${line}\n`)
}

/** The pid a run directory names, if that process is still running. */
function runningWriter(pidFile: string): number | undefined {
  let pid: number
  try {
    pid = Number(readFileSync(pidFile, 'utf8'))
  } catch {
    return undefined
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return undefined
  try {
    process.kill(pid, 0)
    return pid
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
  redis.on('error', () => {
    /* a refused connection is the answer */
  })
  try {
    await redis.connect()
    return (await redis.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}

async function ensureRedis(): Promise<void> {
  if (await redisAnswers(redisUrl)) {
    say(`redis     ${redisUrl} answers`)
    return
  }
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (found.error !== undefined) {
    say(`No Redis answers at ${redisUrl}, and redis-server is not installed.`)
    say('Start one (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or point REDIS_URL at one, then run npm run sandbox again.')
    process.exit(1)
  }
  const port = new URL(redisUrl).port || '6379'
  const dir = join(runDir, 'redis')
  mkdirSync(dir, { recursive: true })
  // AOF on and noeviction: the settings the gateway expects in production.
  const child = spawn(
    'redis-server',
    ['--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction', '--dir', dir],
    { stdio: 'ignore' }
  )
  ownRedis = child
  for (let i = 0; i < 100 && !(await redisAnswers(redisUrl)); i++) await new Promise((r) => setTimeout(r, 100))
  say(`redis     started redis-server on port ${port} (AOF on, noeviction), data in ${relative(root, dir)}`)
}

function startProcess(name: string, args: string[], env: Record<string, string>): ChildProcess {
  const log = createWriteStream(join(runDir, `${name}.log`))
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout!.pipe(log)
  child.stderr!.pipe(log)
  children.push(child)
  // Started while Ctrl-C was being handled: stop() may no longer be waiting for it, and it must not outlive us.
  if (stopping) child.kill('SIGTERM')
  // A process killed by a signal exits with a null code: say so as well.
  child.on('exit', (code, signal) => {
    if (stopping || code === 0) return
    say(`${name} ${signal !== null ? `was killed by ${signal}` : `exited with ${code}`}: see ${shown(join(runDir, `${name}.log`))}`)
  })
  return child
}

/** The ports another process already listens on. */
async function portsInUse(wanted: readonly number[]): Promise<number[]> {
  const busy: number[] = []
  for (const port of wanted) {
    const server = createServer()
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (!free) busy.push(port)
  }
  return busy
}

/** How long a gateway of the sandbox may take to answer /healthz once started. */
const HEALTHY_WITHIN_MS = 90_000

async function waitHealthy(url: string): Promise<void> {
  const ca = [readFileSync(join(keysDir, 'CA', 'ca.crt.pem'), 'utf8'), readFileSync(join(keysDir, 'US', 'ca.crt.pem'), 'utf8')]
  const { Agent } = await import('undici')
  const agent = new Agent({ connect: { ca } })
  // A gateway builds in a second or two, but far longer on a machine whose
  // cores are all busy (a test suite beside it): a deadline, not a count of tries.
  const deadline = Date.now() + HEALTHY_WITHIN_MS
  try {
    while (Date.now() < deadline) {
      try {
        const res = await request(`${url}/healthz`, { dispatcher: agent })
        await res.body.text()
        if (res.statusCode === 200) return
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`${url} did not become healthy within ${HEALTHY_WITHIN_MS / 1000} s: see ${shown(join(runDir, '*.log'))}`)
  } finally {
    await agent.close()
  }
}

/** SIGTERM, then SIGKILL for whatever has not exited after STOP_GRACE_MS. */
async function terminate(processes: readonly ChildProcess[]): Promise<void> {
  const running = processes.filter((c) => c.exitCode === null && c.signalCode === null)
  const exited = running.map((c) => new Promise((r) => c.once('exit', r)))
  for (const child of running) child.kill('SIGTERM')
  const timer = setTimeout(() => {
    for (const child of running) child.kill('SIGKILL')
  }, STOP_GRACE_MS)
  await Promise.all(exited)
  clearTimeout(timer)
}

let stopping = false
async function stop(code: number): Promise<void> {
  if (stopping) return
  stopping = true
  // The gateways close their workers and ledgers while Redis still answers; Redis goes last.
  await terminate(children)
  if (ownRedis !== undefined) await terminate([ownRedis])
  process.exit(code)
}
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))
// Started over an IPC channel (a test, a harness): it stops, gateways and all,
// when the program that started it is gone, even killed without a word, so
// that no sandbox is left holding its ports and its Redis.
stopWithSupervisor()

// Another sandbox still running would otherwise answer our health checks and
// take our traffic, while we deleted its ledgers and queues.
const webhookPorts = Object.values(mockWebhooks).map((url) => Number(new URL(url).port))
const busy = await portsInUse([ports.CA, ports.US, ...webhookPorts])
if (busy.length > 0) {
  say(
    `Port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} on 127.0.0.1 already in use: is another sandbox still running? Stop it first (Ctrl-C in its terminal).`
  )
  process.exit(1)
}
// Nor may it delete the ledgers (open) and the manifest of one running from
// the same checkout on other ports: each names, in its run directory, the
// process that writes there.
const pidFile = join(runDir, 'sandbox.pid')
const writer = runningWriter(pidFile)
if (writer !== undefined) {
  say(`Another sandbox (pid ${writer}) writes to ${shown(outDir)}: stop it first, or give this one a SANDBOX_DIR of its own.`)
  process.exit(1)
}
rmSync(runDir, { recursive: true, force: true })
mkdirSync(runDir, { recursive: true })
writeFileSync(pidFile, `${process.pid}\n`)
say('Beyond the Border exchange gateway: sandbox (EXAMPLE keys from keys-example/)')
await ensureRedis()
// Jobs of an earlier run were sealed with that run's keys: start clean.
for (const prefix of [`${queuePrefix}:CA`, `${queuePrefix}:US`]) await dropQueuePrefix(redisUrl, prefix)

// The mock agencies' webhooks, where *_MOCK_PORTS moved them; AGENCY_WEBHOOKS, if given, wins.
let agencyWebhooks: Record<string, string>
try {
  agencyWebhooks = { ...mockWebhooks, ...(JSON.parse(process.env.AGENCY_WEBHOOKS ?? '{}') as Record<string, string>) }
} catch {
  say('AGENCY_WEBHOOKS: not JSON (a JSON object of system id to https:// URL)')
  await stop(2)
}

// The gateways strip no types themselves: their modules go into a compile
// cache first, as the image's do (docs/measurements.md, "Speed and memory"), which
// saves each of their threads Node's type stripper.
const compileCache = fillCheckoutCompileCache()
if (compileCache.error !== undefined) say(`compile cache: not filled, the gateways strip their own types (${compileCache.error})`)

const url = { CA: `https://127.0.0.1:${ports.CA}`, US: `https://127.0.0.1:${ports.US}` }
const gatewayPids = { CA: 0, US: 0 }
for (const country of ['CA', 'US'] as const) {
  const key = (): string => randomBytes(32).toString('base64')
  gatewayPids[country] =
    startProcess(`gateway-${country}`, [...GATEWAY_NODE_FLAGS, 'gateway/server.ts'], {
      ...GATEWAY_ENV,
      NODE_COMPILE_CACHE: compileCache.directory,
      GATEWAY_COUNTRY: country,
      GATEWAY_TRUST_FILE: join(keysDir, country, 'trust.json'),
      PORT: String(ports[country]),
      PARTNER_URL: url[country === 'CA' ? 'US' : 'CA'],
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: `${queuePrefix}:${country}`,
      // Each gateway pushes to its own country's systems only, and refuses
      // an override for any other (docs/operators.md, "Configuration"); one
      // of neither country reaches both, which name it as they refuse it.
      AGENCY_WEBHOOKS: JSON.stringify(
        Object.fromEntries(Object.entries(agencyWebhooks!).filter(([id]) => !id.startsWith(`${country === 'CA' ? 'US' : 'CA'}/`)))
      ),
      LEDGER_PATH: join(runDir, `ledger-${country}.sqlite`),
      GATEWAY_SEAL_KEY: key(),
      GATEWAY_AUDIT_KEY: key(),
      GATEWAY_PSEUDONYM_KEY: key(),
      DELIVERY_BACKOFF_MS: '200',
      REDIS_CHECKS: 'warn',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info'
    }).pid ?? 0
}
try {
  await Promise.all([waitHealthy(url.CA), waitHealthy(url.US)])
} catch (err) {
  say((err as Error).message)
  await stop(1)
}
say(`gateways  CA ${url.CA} (pid ${gatewayPids.CA})   US ${url.US} (pid ${gatewayPids.US})`)
/** Whether the sample traffic has been summed up: from then on, the mocks' lines are shown at most ten a second. */
let samplesDone = false
/** What the mock agencies have said: which listen, which messages they were pushed. */
const mockLines = new MockLines()
/** How long the mock agencies may take to listen, and a delivered sample's push to reach one. */
const MOCK_WAIT_MS = 30_000
for (const country of ['CA', 'US'] as const) {
  const child = startProcess(`mock-agencies-${country}`, ['sandbox/mock-agency-process.ts', country, url[country], keysDir], {
    MOCK_WEBHOOKS: JSON.stringify(Object.fromEntries(Object.entries(mockWebhooks).filter(([id]) => id.startsWith(`${country}/`))))
  })
  // A bulk load (npm run sandbox:load) makes the mocks print a line per
  // message: once the samples are summed up, show ten a second and count the
  // rest, which the log keeps. The samples' own lines are all shown: on a
  // busy machine they came in bursts of more than ten, and a hidden one was
  // never seen before `--once` exited.
  let second = 0
  let shown = 0
  let hidden = 0
  const flush = (): void => {
    if (hidden > 0) say(`          [mock ${country}] … and ${hidden} more (all in sandbox-run/mock-agencies-${country}.log)`)
    hidden = 0
  }
  setInterval(flush, 5000).unref()
  // Whole lines, however the pipe cuts them: a push's line cut in two would never be seen.
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line) return
    mockLines.read(line)
    const now = Math.floor(Date.now() / 1000)
    if (now !== second) {
      second = now
      shown = 0
    }
    if (!samplesDone || shown++ < 10) say(`          ${line}`)
    else hidden++
  })
}
const mockSystems = Object.keys(mockWebhooks).length
if (!(await mockLines.until(() => mockLines.listening === mockSystems, MOCK_WAIT_MS))) {
  say(`${mockLines.listening} of ${mockSystems} mock agency systems listening after ${MOCK_WAIT_MS / 1000} s: see sandbox-run/mock-agencies-*.log`)
  await stop(1)
}

// The manifest an integrator's own client reads.
const manifest = buildManifest({
  root: outDir,
  keysDir,
  urls: url,
  redisUrl,
  webhooks: agencyWebhooks!,
  logs: { CA: join(runDir, 'gateway-CA.log'), US: join(runDir, 'gateway-US.log') }
})
writeFileSync(join(outDir, 'sandbox.json'), `${JSON.stringify(manifest, null, 2)}\n`)
say(`manifest  ${shown(join(outDir, 'sandbox.json'))} (URLs, certificates, keys and kids of every agency system)`)

// The same traffic as the container sandbox sends (sandbox/sample-traffic.ts).
const samples = await sendSampleTraffic({ keysDir, urls: url, say, onProgress: (p) => (progress = p) })
const correctionFailed = samples.correctionFailed
let failures = samples.sent - samples.delivered
// A message delivered to the partner gateway is then pushed to its agency by
// that gateway's own queue: wait for the mocks to say so, unless
// AGENCY_WEBHOOKS sends the pushes to systems of the integrator's own.
if (process.env.AGENCY_WEBHOOKS === undefined) {
  const notPushed = (): string[] => samples.deliveredIds.filter((id) => !mockLines.pushed(id))
  if (!(await mockLines.until(() => notPushed().length === 0, MOCK_WAIT_MS))) {
    say(`\nNot pushed to the receiving agency within ${MOCK_WAIT_MS / 1000} s: ${notPushed().join(', ')}`)
    failures += notPushed().length
  }
}
samplesDone = true
say(`\n${samples.delivered} of ${samples.sent} samples delivered with the partner's signed receipt${correctionFailed ? '; the correction was not' : ''}.`)
failures += correctionFailed ? 1 : 0
say(`Logs: ${shown(join(runDir, '*.log'))}. Ledgers: ${shown(join(runDir, 'ledger-*.sqlite'))}.`)
if (once) await stop(failures === 0 ? 0 : 1)
say(`\nThe sandbox keeps running for your own client (see ${shown(join(outDir, 'sandbox.json'))} and the README). Ctrl-C stops it.`)
