// docker/compose.yaml as Docker Compose reads it: `${VAR:-default}`
// interpolated from an environment, the `x-` fragments merged in and dropped,
// and every service key checked against those docker/podman-sandbox.ts
// implements, so the file the Docker user runs stays the one source of truth.
// test/docker-compose.test.ts reads it so too, with no variable set.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'

const composeFile = join(import.meta.dirname, 'compose.yaml')

interface Build {
  context: string
  dockerfile?: string
  target?: string
  args?: Record<string, string>
}
export interface Service {
  image?: string
  build?: Build
  command?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  ports?: string[]
  networks?: Record<string, { aliases?: string[] } | null>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[]; interval?: string; timeout?: string; start_period?: string; retries?: number }
  init?: boolean
  read_only?: boolean
  tmpfs?: string[]
  cap_drop?: string[]
  security_opt?: string[]
  stop_grace_period?: string
}
export interface Compose {
  name: string
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}

const SERVICE_KEYS = new Set([
  'image',
  'build',
  'command',
  'environment',
  'volumes',
  'ports',
  'networks',
  'depends_on',
  'healthcheck',
  'init',
  'read_only',
  'tmpfs',
  'cap_drop',
  'security_opt',
  'stop_grace_period'
])

/** `${VAR}` and `${VAR:-default}`, as compose interpolates them. */
function interpolate(value: unknown, env: Readonly<Record<string, string | undefined>>): unknown {
  if (typeof value === 'string')
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
      const v = env[name]
      return v !== undefined && v !== '' ? v : (fallback ?? '')
    })
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]))
  return value
}

/** Seconds in compose's duration syntax (`10s`, `1m30s`, `500ms`). */
export function durationSeconds(duration: string): number {
  let total = 0
  for (const [, n, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    total += Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as 'ms' | 's' | 'm' | 'h']
  return total
}

/** How long compose (and podman) wait after SIGTERM before killing a service: its stop_grace_period, else 10 s. */
export function stopGraceSeconds(service: Pick<Service, 'stop_grace_period'>): number {
  return service.stop_grace_period === undefined ? 10 : durationSeconds(service.stop_grace_period)
}

export function readCompose(env: Readonly<Record<string, string | undefined>>): Compose {
  const raw = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as Record<string, unknown>
  const compose = interpolate(Object.fromEntries(Object.entries(raw).filter(([k]) => !k.startsWith('x-'))), env) as Compose
  for (const [name, s] of Object.entries(compose.services)) {
    const unknown = Object.keys(s).filter((k) => !SERVICE_KEYS.has(k))
    if (unknown.length > 0)
      throw new Error(`docker/podman-sandbox.ts does not implement ${unknown.join(', ')} (service ${name}): teach it, or run the file with Docker`)
  }
  return compose
}

/** Services in an order where each comes after everything it depends on. */
export function startOrder(compose: Compose): string[] {
  const order: string[] = []
  const visit = (name: string, path: string[]): void => {
    if (order.includes(name)) return
    if (path.includes(name)) throw new Error(`depends_on cycle: ${[...path, name].join(' -> ')}`)
    for (const dep of Object.keys(compose.services[name]?.depends_on ?? {})) visit(dep, [...path, name])
    order.push(name)
  }
  for (const name of Object.keys(compose.services)) visit(name, [])
  return order
}

/** The host URLs of the gateways: each gateway service's published port. */
export function gatewayUrls(compose: Compose): Record<'CA' | 'US', string> {
  const urls: Partial<Record<'CA' | 'US', string>> = {}
  for (const s of Object.values(compose.services)) {
    const country = s.environment?.GATEWAY_COUNTRY
    if ((country !== 'CA' && country !== 'US') || s.command !== undefined) continue
    const [ip, port] = (s.ports?.[0] ?? '').split(':')
    urls[country] = `https://${ip}:${port}`
  }
  if (urls.CA === undefined || urls.US === undefined) throw new Error('the compose file publishes no port for a CA or US gateway')
  return urls as Record<'CA' | 'US', string>
}
