// The container sandbox with podman, from docker/compose.yaml itself
// (docs/integrators.md, "The same sandbox in containers").
//
//   npm run sandbox:containers -- [up] [--standins] [--samples] [--once]
//   npm run sandbox:containers -- down
//
// `up` builds the images the compose file builds, creates its network and
// volumes, and starts its services in the order of their depends_on, each
// waited for until its health check passes; then it writes sandbox.json for
// an agency client on the host. `--samples` then sends the sample traffic of
// `npm run sandbox` (sandbox/sample-traffic.ts); `--once` stops and removes
// the containers afterwards (the exit status says whether every sample was
// delivered). `down` removes the project's containers, network and volumes.
//
// Why not podman-compose: Debian's 1.0.3 ignores `depends_on` conditions
// (it starts a gateway before PostgreSQL answers) and gives a container no
// network alias but its service name (the mock agencies answer under the
// names their certificates carry). And podman 4.3 runs health checks from
// systemd timers, which a machine without systemd lacks: so this script runs
// them itself (`podman healthcheck run`). It reads the compose file and
// refuses any key it does not implement, so the file the Docker user runs
// stays the one source of truth.
//
// Environment: CA_PORT, US_PORT (host ports, default 8441, 8442);
// NODE_IMAGE, REDIS_IMAGE, POSTGRES_IMAGE (default the official images, or
// the local stand-ins of docker/standins.sh with --standins);
// COMPOSE_PROJECT_NAME (default the file's `name`: containers, network and
// volumes are prefixed with it); SANDBOX_DIR (where sandbox.json is written,
// default the repository root); SANDBOX_BUILD_CA_BUNDLE (a CA bundle mounted
// over the image's for the build's RUN steps, default the host's
// /etc/ssl/certs/ca-certificates.crt: npm ci must trust what this machine's
// egress presents).
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { buildManifest } from '../sandbox/manifest.ts'
import { sendSampleTraffic } from '../sandbox/sample-traffic.ts'
import { type Compose, durationSeconds, gatewayUrls, readCompose, type Service, startOrder } from './compose-file.ts'

const root = resolve(import.meta.dirname, '..')
const dockerDir = join(root, 'docker')

/** The names docker/standins.sh gives its images. */
export const STANDINS = {
  NODE_IMAGE: 'localhost/btb-standin/node:24-bookworm-slim',
  REDIS_IMAGE: 'localhost/btb-standin/redis:7.0',
  POSTGRES_IMAGE: 'localhost/btb-standin/postgres:15'
} as const

// --- podman -----------------------------------------------------------------

/** podman's complaint, on every container with a health check, that it has no systemd timers for it (see above). */
const TIMER_NOISE = /unable to get systemd connection/

function podman(args: string[], opts: { allowFail?: boolean } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 })
  const status = r.status ?? 1
  if (status !== 0 && opts.allowFail !== true) {
    const why = (r.stderr || r.stdout)
      .split('\n')
      .filter((l) => l.trim() !== '' && !TIMER_NOISE.test(l))
      .slice(-5)
      .join('\n')
    throw new Error(`podman ${args.slice(0, 3).join(' ')} … exited ${status}: ${why}`)
  }
  return { status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

const containerName = (project: string, service: string): string => `${project}-${service}`

/** `podman build` of every image the file builds; each image once, however many services run it. */
export function buildImages(compose: Compose, log: (line: string) => void): Array<{ image: string; seconds: number }> {
  const built = new Map<string, number>()
  const bundle = process.env.SANDBOX_BUILD_CA_BUNDLE ?? '/etc/ssl/certs/ca-certificates.crt'
  for (const [name, s] of Object.entries(compose.services)) {
    if (s.build === undefined) continue
    const image = s.image ?? `${compose.name}-${name}`
    if (built.has(image)) continue
    const context = resolve(dockerDir, s.build.context)
    const args = ['build', '--format', 'docker', '--network', 'host', '-t', image, '-f', resolve(context, s.build.dockerfile ?? 'Dockerfile')]
    if (s.build.target !== undefined) args.push('--target', s.build.target)
    for (const [k, v] of Object.entries(s.build.args ?? {})) args.push('--build-arg', `${k}=${v}`)
    // Only for the RUN steps: the bundle is not written into any layer.
    if (bundle !== '' && existsSync(bundle)) args.push('-v', `${bundle}:/etc/ssl/certs/ca-certificates.crt:ro`)
    args.push(context)
    const start = performance.now()
    podman(args)
    const took = (performance.now() - start) / 1000
    built.set(image, took)
    log(`image     ${image} built in ${took.toFixed(1)} s (${s.build.target ?? 'default'} target)`)
  }
  return [...built].map(([image, s]) => ({ image, seconds: s }))
}

function runArgs(compose: Compose, project: string, name: string, s: Service): string[] {
  const args = ['run', '--detach', '--name', containerName(project, name), '--label', `io.podman.compose.project=${project}`]
  args.push('--network', `${project}_default`, '--network-alias', name)
  for (const net of Object.values(s.networks ?? {})) for (const alias of net?.aliases ?? []) args.push('--network-alias', alias)
  for (const [k, v] of Object.entries(s.environment ?? {})) args.push('--env', `${k}=${v}`)
  for (const v of s.volumes ?? []) {
    const [source = '', target = '', mode] = v.split(':')
    const bind = source.startsWith('.') || source.startsWith('/')
    if (!bind && !(source in (compose.volumes ?? {}))) throw new Error(`${name}: volume ${source} is not declared`)
    const from = bind ? resolve(dockerDir, source) : `${project}_${source}`
    args.push('--volume', `${from}:${target}${mode === undefined ? '' : `:${mode}`}`)
  }
  for (const p of s.ports ?? []) args.push('--publish', p)
  if (s.init === true) args.push('--init')
  if (s.read_only === true) args.push('--read-only')
  for (const t of s.tmpfs ?? []) args.push('--tmpfs', t)
  for (const c of s.cap_drop ?? []) args.push('--cap-drop', c)
  for (const o of s.security_opt ?? []) args.push('--security-opt', o)
  if (s.stop_grace_period !== undefined) args.push('--stop-timeout', String(Math.ceil(durationSeconds(s.stop_grace_period))))
  const hc = s.healthcheck
  if (hc !== undefined) {
    const [kind, ...cmd] = hc.test
    // podman takes the exec form as a JSON array, the shell form as a string.
    args.push('--health-cmd', kind === 'CMD-SHELL' ? cmd.join(' ') : JSON.stringify(cmd))
    if (hc.interval !== undefined) args.push('--health-interval', hc.interval)
    if (hc.timeout !== undefined) args.push('--health-timeout', hc.timeout)
    if (hc.start_period !== undefined) args.push('--health-start-period', hc.start_period)
    if (hc.retries !== undefined) args.push('--health-retries', String(hc.retries))
  }
  args.push(s.image ?? `${compose.name}-${name}`, ...(s.command ?? []))
  return args
}

/** Runs the container's health check until it passes; fails at once if the container stopped. */
export async function waitHealthy(container: string, deadlineMs: number): Promise<number> {
  const start = performance.now()
  for (;;) {
    if (podman(['healthcheck', 'run', container], { allowFail: true }).status === 0) return performance.now() - start
    const state = podman(['inspect', container, '--format', '{{.State.Status}}'], { allowFail: true }).stdout.trim()
    if (state !== 'running') {
      // Both streams: the gateway logs JSON to stdout, and what ended it (an uncaught error) to stderr.
      const logs = podman(['logs', '--tail', '40', container], { allowFail: true })
      throw new Error(`${container} is ${state || 'gone'}:\n${logs.stdout.trim()}\n${logs.stderr.trim()}`)
    }
    if (performance.now() - start > deadlineMs) throw new Error(`${container}: not healthy after ${deadlineMs / 1000} s`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** Replaces a service's container with a new one, as the compose file (possibly changed) describes it. */
export function startContainer(compose: Compose, project: string, name: string): void {
  podman(['rm', '--force', '--time', '0', containerName(project, name)], { allowFail: true })
  podman(runArgs(compose, project, name, compose.services[name]!))
}

/** Starts (or restarts) the services, each after what it depends on is healthy. */
export async function up(compose: Compose, project: string, log: (line: string) => void): Promise<void> {
  if (podman(['network', 'exists', `${project}_default`], { allowFail: true }).status !== 0)
    podman(['network', 'create', '--label', `io.podman.compose.project=${project}`, `${project}_default`])
  for (const v of Object.keys(compose.volumes ?? {}))
    if (podman(['volume', 'exists', `${project}_${v}`], { allowFail: true }).status !== 0)
      podman(['volume', 'create', '--label', `io.podman.compose.project=${project}`, `${project}_${v}`])
  const healthy = new Set<string>()
  for (const name of startOrder(compose)) {
    const s = compose.services[name]!
    for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
      if (condition !== 'service_healthy' || healthy.has(dep)) continue
      const ms = await waitHealthy(containerName(project, dep), 180_000)
      healthy.add(dep)
      log(`healthy   ${dep} (${(ms / 1000).toFixed(1)} s)`)
    }
    startContainer(compose, project, name)
    log(`started   ${name}`)
  }
  for (const name of startOrder(compose)) {
    if (healthy.has(name)) continue
    const ms = await waitHealthy(containerName(project, name), 180_000)
    log(`healthy   ${name} (${(ms / 1000).toFixed(1)} s)`)
  }
}

export function down(project: string): void {
  const ids = podman(['ps', '--all', '--quiet', '--filter', `label=io.podman.compose.project=${project}`])
    .stdout.split('\n')
    .filter(Boolean)
  if (ids.length > 0) podman(['rm', '--force', '--time', '10', ...ids])
  podman(['network', 'rm', '--force', `${project}_default`], { allowFail: true })
  const vols = podman(['volume', 'ls', '--quiet', '--filter', `label=io.podman.compose.project=${project}`])
    .stdout.split('\n')
    .filter(Boolean)
  if (vols.length > 0) podman(['volume', 'rm', '--force', ...vols])
}

/** sandbox.json for a client on the host: the published URLs, the webhooks the gateways push to. */
export function writeManifest(compose: Compose, outDir: string): string {
  const webhooks: Record<string, string> = {}
  for (const s of Object.values(compose.services)) Object.assign(webhooks, JSON.parse(s.environment?.AGENCY_WEBHOOKS ?? '{}'))
  const redis = compose.services.redis
  const manifest = buildManifest({
    root: outDir,
    keysDir: join(root, 'keys-example'),
    urls: gatewayUrls(compose),
    // The gateways' Redis, by its service name: reachable inside the sandbox's network only.
    redisUrl: redis === undefined ? '' : 'redis://redis:6379',
    webhooks
  })
  const path = join(outDir, 'sandbox.json')
  writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`)
  return path
}

const USAGE = `usage: npm run sandbox:containers -- [up] [--standins] [--samples] [--once] | down

  up           build the images, start the services of docker/compose.yaml, write sandbox.json (the default)
  down         remove the project's containers, network and volumes
  --standins   use the local stand-ins of docker/standins.sh for the Node, Redis and PostgreSQL images
  --samples    then send the sample traffic of npm run sandbox
  --once       then stop and remove the containers (the exit status says whether every sample was delivered)
  --help       print this

Environment: CA_PORT, US_PORT, NODE_IMAGE, REDIS_IMAGE, POSTGRES_IMAGE, COMPOSE_PROJECT_NAME, SANDBOX_DIR,
SANDBOX_BUILD_CA_BUNDLE (docs/integrators.md, "The same sandbox in containers").
`

const OPTIONS = { standins: { type: 'boolean' }, samples: { type: 'boolean' }, once: { type: 'boolean' }, help: { type: 'boolean' } } as const

/** The verb and flags, or a usage error (exit 2) before anything is built or started; --help exits 0. */
function commandLine(argv: readonly string[]): { verb: 'up' | 'down'; flags: { standins: boolean; samples: boolean; once: boolean } } {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>
  const refuse = (why: string): never => {
    process.stderr.write(`${why}\n\n${USAGE}`)
    process.exit(2)
  }
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    return refuse((err as Error).message)
  }
  if (parsed.values.help === true) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  // `up` is the verb by default: npm run sandbox:containers -- --standins.
  const [verb = 'up', ...extra] = parsed.positionals
  if ((verb !== 'up' && verb !== 'down') || extra.length > 0) return refuse(`unknown command ${[verb, ...extra].join(' ')}`)
  return { verb, flags: { standins: parsed.values.standins === true, samples: parsed.values.samples === true, once: parsed.values.once === true } }
}

async function main(): Promise<void> {
  const { verb, flags } = commandLine(process.argv.slice(2))
  const env: Record<string, string | undefined> = { ...process.env }
  if (flags.standins) for (const [k, v] of Object.entries(STANDINS)) env[k] ??= v
  const compose = readCompose(env)
  const project = process.env.COMPOSE_PROJECT_NAME ?? compose.name
  const log = (line: string): void => void process.stdout.write(`${line}\n`)
  if (verb === 'down') {
    down(project)
    log(`removed   ${project}: containers, network and volumes`)
    return
  }
  if (flags.standins) {
    const r = spawnSync('sh', [join(dockerDir, 'standins.sh')], { stdio: 'inherit' })
    if (r.status !== 0) process.exit(1)
  }
  let ok = false
  try {
    buildImages(compose, log)
    await up(compose, project, log)
    const urls = gatewayUrls(compose)
    log(`gateways  CA ${urls.CA}   US ${urls.US}`)
    log(`manifest  ${writeManifest(compose, resolve(process.env.SANDBOX_DIR ?? root))}`)
    ok = true
    if (flags.samples) {
      const r = await sendSampleTraffic({ keysDir: join(root, 'keys-example'), urls, say: log })
      log(`\n${r.delivered} of ${r.sent} samples delivered with the partner's signed receipt${r.correctionFailed ? '; the correction was not' : ''}.`)
      ok = r.delivered === r.sent && !r.correctionFailed
    }
  } catch (err) {
    log(`failed    ${(err as Error).message}`)
  } finally {
    if (flags.once) {
      down(project)
      log(`removed   ${project}: containers, network and volumes`)
    } else log(`\nThe sandbox runs in containers until: npm run sandbox:containers -- down`)
  }
  process.exit(ok ? 0 : 1)
}

if (import.meta.main) await main()
