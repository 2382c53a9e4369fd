// docker/compose.yaml and docker/Dockerfile, checked without a Docker engine:
// every gateway setting is one the gateway reads and accepts, every mounted
// or named file exists, host names resolve to the service that presents a
// certificate carrying that name, ports do not clash, Redis is durable, and
// the image runs as a non-root user with a health check and no dev packages.
import t from 'tap'
import { execFile, execFileSync } from 'node:child_process'
import { X509Certificate, createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { builtinModules } from 'node:module'
import { dirname, join, posix, relative, resolve } from 'node:path'
import { ENV_SCHEMA, configFromEnv, type GatewayConfig } from '../gateway/config.ts'
import { readCompose, stopGraceSeconds } from '../docker/compose-file.ts'

const root = resolve(import.meta.dirname, '..')
const dockerDir = join(root, 'docker')
const composeFile = join(dockerDir, 'compose.yaml')
const dockerfile = join(dockerDir, 'Dockerfile')

// --- the compose file ---------------------------------------------------------

interface Service {
  image?: string
  build?: { context?: string; dockerfile?: string; target?: string } | string
  command?: string[] | string
  environment?: Record<string, unknown> | string[]
  volumes?: Array<string | { type?: string; source?: string; target: string; read_only?: boolean }>
  ports?: Array<string | number | { target: number; published?: string | number; host_ip?: string; protocol?: string }>
  networks?: Record<string, { aliases?: string[] } | null> | string[]
  depends_on?: Record<string, { condition?: string }> | string[]
  healthcheck?: { test?: string[] | string; disable?: boolean }
  stop_grace_period?: string
}
interface Compose {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}

// As Docker Compose reads it with none of its variables set: every
// `${VAR:-default}` at its default (the official images, ports 8441 and 8442).
const compose = readCompose({}) as unknown as Compose
const services = Object.entries(compose.services)

interface Mount {
  readonly source: string
  readonly target: string
  readonly bind: boolean
  readonly readOnly: boolean
}

function mounts(service: Service): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = '', mode = ''] = v.split(':')
      const bind = source.startsWith('.') || source.startsWith('/') || source.startsWith('~')
      return { source, target, bind, readOnly: mode.split(',').includes('ro') }
    }
    const bind = v.type === 'bind'
    return { source: v.source ?? '', target: v.target, bind, readOnly: v.read_only === true }
  })
}

/** A path inside the container, mapped to the repository through the service's bind mounts. */
function hostPath(service: Service, containerPath: string): string | undefined {
  for (const m of mounts(service)) {
    if (!m.bind) continue
    const rel = posix.relative(m.target, containerPath)
    if (rel === '' || (!rel.startsWith('..') && !posix.isAbsolute(rel))) return resolve(dockerDir, m.source, rel)
  }
  return undefined
}

function environment(service: Service): Record<string, string> {
  const env: Record<string, string> = {}
  const raw = service.environment ?? {}
  if (Array.isArray(raw)) throw new Error('write environment as a map, not a list')
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new Error(`${k}: quote the value (compose passes strings; got ${typeof v})`)
    env[k] = v
  }
  return env
}

function command(service: Service): string[] | undefined {
  if (service.command === undefined) return undefined
  if (typeof service.command === 'string') throw new Error('write command in the exec (list) form')
  return service.command
}

/** Host name -> the service it resolves to: service names and network aliases. */
const hosts = new Map<string, string>()
for (const [name, service] of services) {
  hosts.set(name, name)
  if (service.networks !== undefined && !Array.isArray(service.networks)) {
    for (const net of Object.values(service.networks))
      for (const alias of net?.aliases ?? []) {
        if (hosts.has(alias)) throw new Error(`host name ${alias} is claimed twice`)
        hosts.set(alias, name)
      }
  }
}

// The gateways run the image's own command (gateway/server.ts); the mock
// agencies run mock-agency-process.ts from the Dockerfile's sandbox target.
interface Gateway {
  readonly name: string
  readonly service: Service
  readonly env: Record<string, string>
  readonly country: 'CA' | 'US'
}
const gateways: Gateway[] = services
  .filter(([, s]) => s.build !== undefined && command(s) === undefined)
  .map(([name, service]) => {
    const env = environment(service)
    return { name, service, env, country: env.GATEWAY_COUNTRY as 'CA' | 'US' }
  })
const gatewayOf = (country: string): Gateway => {
  const g = gateways.find((x) => x.country === country)
  if (g === undefined) throw new Error(`no ${country} gateway service`)
  return g
}

interface MockAgencies {
  readonly name: string
  readonly service: Service
  readonly country: 'CA' | 'US'
  readonly gatewayUrl: URL
  readonly keysDir: string
}
const MOCK_SCRIPT = 'sandbox/mock-agency-process.ts'
const mockAgencies: MockAgencies[] = services
  .filter(([, s]) => command(s)?.includes(MOCK_SCRIPT) === true)
  .map(([name, service]) => {
    const args = command(service)!
    const [country, gatewayUrl, keysDir = ''] = args.slice(args.indexOf(MOCK_SCRIPT) + 1)
    return { name, service, country: country as 'CA' | 'US', gatewayUrl: new URL(gatewayUrl ?? ''), keysDir }
  })

// --- trust files and certificates -----------------------------------------------

interface TrustFile {
  country: string
  gateway: { tlsCert: string; tlsKey: string; signingKeys: Array<{ privateJwk: string }> }
  agencyCa: string
  agencies: Array<{ agency: string; system: string; webhook?: string }>
  partner: { country: string; ca: string; gatewayCert: string; gatewayCertSha256: string }
}

function trustFileOf(g: Gateway): { path: string; trust: TrustFile } {
  const path = hostPath(g.service, g.env.GATEWAY_TRUST_FILE ?? '')
  if (path === undefined) throw new Error(`${g.name}: GATEWAY_TRUST_FILE is not inside a bind mount`)
  return { path, trust: JSON.parse(readFileSync(path, 'utf8')) as TrustFile }
}

function certificate(path: string): X509Certificate {
  return new X509Certificate(readFileSync(path))
}

function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4))
}

/** The certificate a gateway service presents as a TLS server. */
function gatewayCertPath(g: Gateway): string {
  const { path, trust } = trustFileOf(g)
  return resolve(dirname(path), trust.gateway.tlsCert)
}

/** The certificate a mock agency system presents on its webhook (agency-client.ts's layout). */
function agencyCertPath(m: MockAgencies, agency: string, system: string): string {
  const keys = hostPath(m.service, m.keysDir)
  if (keys === undefined) throw new Error(`${m.name}: keys dir ${m.keysDir} is not inside a bind mount`)
  return join(keys, m.country, 'agencies', `${agency}-${system}`, 'client.crt.pem')
}

/** The variables the gateway reads, from its own schema. */
function envSchemaNames(): { properties: Set<string>; required: Set<string> } {
  return { properties: new Set(Object.keys(ENV_SCHEMA.properties)), required: new Set<string>(ENV_SCHEMA.required) }
}

// --- the Dockerfile -------------------------------------------------------------

function buildTarget(service: Service): string | undefined {
  return typeof service.build === 'object' ? service.build.target : undefined
}

interface Instruction {
  readonly op: string
  readonly args: string
}
interface Stage {
  readonly from: string
  readonly name: string | undefined
  readonly instructions: Instruction[]
}

function dockerfileStages(): Stage[] {
  const text = readFileSync(dockerfile, 'utf8')
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l))
  const joined = lines.join('\n').replace(/\\\n/g, ' ')
  const args = new Map<string, string>()
  const stages: Stage[] = []
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line)
    if (m === null) continue
    const op = m[1]!.toUpperCase()
    const rest = m[2]!.trim()
    if (op === 'ARG' && stages.length === 0) {
      const [k = '', v = ''] = rest.split('=')
      args.set(k, v)
      continue
    }
    if (op === 'FROM') {
      const [image = '', as, name] = rest.split(/\s+/)
      const from = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args.get(a ?? b ?? '') ?? '')
      // A stage built FROM an earlier one has that stage's base image and everything it did.
      const parent = stages.find((s) => s.name === from)
      stages.push({ from: parent?.from ?? from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [...(parent?.instructions ?? [])] })
      continue
    }
    stages.at(-1)?.instructions.push({ op, args: rest })
  }
  return stages
}

// --- the tests --------------------------------------------------------------------

t.test('the compose file has the services of the sandbox', async (t) => {
  t.same(gateways.map((g) => g.country).sort(), ['CA', 'US'], 'one gateway per country')
  t.same(mockAgencies.map((m) => m.country).sort(), ['CA', 'US'], 'one mock-agencies service per country')
  t.ok(compose.services.redis, 'redis')
  t.ok(compose.services.postgres, 'postgres (for the ledger store to come)')
  for (const [name, s] of services) {
    if (s.build === undefined) continue
    const build = typeof s.build === 'string' ? { context: s.build } : s.build
    t.equal(resolve(dockerDir, build.context ?? '.'), root, `${name} builds with the repository root as context`)
    t.equal(resolve(root, build.dockerfile ?? 'Dockerfile'), dockerfile, `${name} builds docker/Dockerfile`)
  }
  const stages = dockerfileStages()
  const final = stages.at(-1)!
  for (const g of gateways) {
    t.ok([undefined, final.name].includes(buildTarget(g.service)), `${g.name} runs the production image (the Dockerfile's last stage, ${final.name})`)
  }
  for (const m of mockAgencies) {
    const target = buildTarget(m.service)
    t.ok(
      target !== undefined && target !== final.name && stages.some((s) => s.name === target),
      `${m.name} runs a sandbox target of its own (${target}), not the production image`
    )
  }
  const tags = new Map<string, string | undefined>()
  for (const [name, s] of services) {
    if (s.build === undefined || s.image === undefined) continue
    const target = buildTarget(s)
    t.ok(!tags.has(s.image) || tags.get(s.image) === target, `${name}: image ${s.image} is not also the tag of another target`)
    tags.set(s.image, target)
  }
})

t.test('(a) every gateway setting is in the env schema and accepted by configFromEnv', async (t) => {
  const schema = envSchemaNames()
  t.ok(schema.properties.size > 10, `read ${schema.properties.size} variables from the env schema`)
  const configs = new Map<string, GatewayConfig>()
  for (const g of gateways) {
    for (const name of Object.keys(g.env)) t.ok(schema.properties.has(name), `${g.name}: ${name} is a variable the gateway reads`)
    for (const name of schema.required) t.ok(name in g.env, `${g.name}: required ${name} is set`)
    for (const name of ['GATEWAY_COUNTRY', 'HOST', 'PORT', 'PARTNER_URL', 'REDIS_URL', 'QUEUE_PREFIX', 'LEDGER_PATH', 'AGENCY_WEBHOOKS', 'REDIS_CHECKS']) {
      t.ok(name in g.env, `${g.name}: ${name} is set explicitly`)
    }
    const { path } = trustFileOf(g)
    let config: GatewayConfig | undefined
    t.doesNotThrow(() => {
      config = configFromEnv({ ...g.env, GATEWAY_TRUST_FILE: path })
    }, `${g.name}: configFromEnv accepts its environment`)
    if (config === undefined) continue
    configs.set(g.name, config)
    t.equal(config.host, '0.0.0.0', `${g.name} listens on every interface of its container`)
    t.equal(config.redisChecks, 'refuse', `${g.name} refuses to start on a Redis that could lose jobs`)
    // A gateway killed mid-close leaves its deliveries' outcomes unwritten (docs/operators.md, "Shutdown").
    const grace = stopGraceSeconds(g.service)
    t.ok(config.shutdownTimeoutMs < grace * 1000, `${g.name}: closes within ${config.shutdownTimeoutMs} ms, before it is killed at ${grace} s`)
    t.equal(hosts.get(new URL(config.redisUrl).hostname), 'redis', `${g.name} uses the redis service`)
    t.equal(
      new Set([config.sealKey.toString('hex'), config.auditKey.toString('hex'), config.pseudonymKey.toString('hex')]).size,
      3,
      `${g.name}: seal, audit and pseudonym keys differ`
    )
    const ledger = mounts(g.service).find((m) => !m.bind && !posix.relative(m.target, g.env.LEDGER_PATH ?? '').startsWith('..'))
    t.ok(ledger, `${g.name}: LEDGER_PATH is on a named volume`)
  }
  const all = [...configs.values()]
  t.equal(new Set(all.map((c) => c.queuePrefix)).size, all.length, 'queue prefixes differ between gateways')
  const keys = all.flatMap((c) => [c.sealKey, c.auditKey, c.pseudonymKey].map((k) => k.toString('hex')))
  t.equal(new Set(keys).size, keys.length, 'no key is shared between gateways')
  t.equal(new Set(gateways.map((g) => mounts(g.service).find((m) => !m.bind)?.source)).size, gateways.length, 'each gateway has its own ledger volume')
})

t.test('(b) every mounted and named file exists in the repository', async (t) => {
  const declared = new Set(Object.keys(compose.volumes ?? {}))
  for (const [name, s] of services) {
    for (const m of mounts(s)) {
      if (m.bind) {
        t.ok(existsSync(resolve(dockerDir, m.source)), `${name}: ${m.source} exists`)
        if (m.target === '/keys') t.ok(m.readOnly, `${name}: keys are mounted read-only`)
      } else {
        t.ok(declared.has(m.source), `${name}: volume ${m.source} is declared`)
      }
    }
  }
  for (const g of gateways) {
    const { path, trust } = trustFileOf(g)
    t.ok(existsSync(path), `${g.name}: trust file ${relative(root, path)}`)
    t.equal(trust.country, g.country, `${g.name}: the trust file is the ${g.country} one`)
    const named = [
      trust.gateway.tlsCert,
      trust.gateway.tlsKey,
      trust.agencyCa,
      trust.partner.ca,
      trust.partner.gatewayCert,
      ...trust.gateway.signingKeys.map((k) => k.privateJwk)
    ]
    for (const file of named) t.ok(existsSync(resolve(dirname(path), file)), `${g.name}: ${file} (named by the trust file) exists`)
  }
  for (const m of mockAgencies) {
    t.ok(existsSync(join(root, MOCK_SCRIPT)), `${m.name}: ${MOCK_SCRIPT} exists`)
    const keys = hostPath(m.service, m.keysDir)
    t.ok(keys !== undefined && statSync(keys).isDirectory(), `${m.name}: keys dir ${m.keysDir} is mounted`)
    if (keys === undefined) continue
    for (const file of ['trust.json', 'jwks.json', 'ca.crt.pem', 'partner/jwks.json'])
      t.ok(existsSync(join(keys, m.country, file)), `${m.name}: ${m.country}/${file}`)
    const trust = JSON.parse(readFileSync(join(keys, m.country, 'trust.json'), 'utf8')) as TrustFile
    for (const a of trust.agencies.filter((x) => x.webhook !== undefined)) {
      const dir = join(keys, m.country, 'agencies', `${a.agency}-${a.system}`)
      for (const file of ['client.crt.pem', 'client.key.pem', 'signing.private.jwk.json'])
        t.ok(existsSync(join(dir, file)), `${m.name}: ${relative(root, join(dir, file))}`)
    }
  }
})

t.test('(c) published host ports do not clash and stay on loopback', async (t) => {
  const seen = new Map<string, string>()
  for (const [name, s] of services) {
    for (const p of s.ports ?? []) {
      t.type(p, 'string', `${name}: ports written as "host_ip:host_port:container_port" strings`)
      if (typeof p !== 'string') continue
      const m = /^(?:([\d.]+):)?(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(p)
      t.ok(m, `${name}: ${p} has an explicit host IP and ports`)
      if (m === null) continue
      const [, ip, published, target, protocol = 'tcp'] = m
      t.equal(ip, '127.0.0.1', `${name}: ${p} is published on 127.0.0.1 only`)
      const key = `${published}/${protocol}`
      t.notOk(seen.has(key), `${name}: host port ${key} is not also published by ${seen.get(key) ?? 'another service'}`)
      seen.set(key, name)
      const gw = gateways.find((g) => g.name === name)
      if (gw !== undefined) t.equal(target, gw.env.PORT, `${name}: publishes the port it listens on`)
    }
  }
  for (const g of gateways) t.ok((g.service.ports ?? []).length > 0, `${g.name} is reachable from the host`)
})

t.test('(d) every URL host is a service or alias and is named by the certificate presented there', async (t) => {
  for (const g of gateways) {
    const partner = gatewayOf(g.country === 'CA' ? 'US' : 'CA')
    const url = new URL(g.env.PARTNER_URL ?? '')
    t.equal(url.protocol, 'https:', `${g.name}: PARTNER_URL is https`)
    t.equal(hosts.get(url.hostname), partner.name, `${g.name}: PARTNER_URL host ${url.hostname} is the ${partner.name} service`)
    t.equal(url.port, partner.env.PORT, `${g.name}: PARTNER_URL port is the one ${partner.name} listens on`)
    const cert = certificate(gatewayCertPath(partner))
    t.ok(dnsNames(cert).includes(url.hostname), `${g.name}: ${partner.name}'s certificate names ${url.hostname} (${dnsNames(cert).join(', ')})`)
    const pinned = createHash('sha256').update(cert.raw).digest('base64url')
    t.equal(pinned, trustFileOf(g).trust.partner.gatewayCertSha256, `${g.name} pins the certificate ${partner.name} presents`)

    const { trust } = trustFileOf(g)
    const webhooks = JSON.parse(g.env.AGENCY_WEBHOOKS ?? '{}') as Record<string, string>
    const withWebhook = trust.agencies.filter((a) => a.webhook !== undefined)
    t.same(
      Object.keys(webhooks).sort(),
      withWebhook.map((a) => `${g.country}/${a.agency}/${a.system}`).sort(),
      `${g.name}: AGENCY_WEBHOOKS overrides every webhook of the trust file (their 127.0.0.1 URLs are another container)`
    )
    for (const a of withWebhook) {
      const id = `${g.country}/${a.agency}/${a.system}`
      const override = webhooks[id]
      if (override === undefined) continue
      const hook = new URL(override)
      const original = new URL(a.webhook!)
      t.equal(hook.protocol, 'https:', `${id}: webhook is https`)
      const target = mockAgencies.find((m) => m.name === hosts.get(hook.hostname))
      t.ok(target, `${id}: webhook host ${hook.hostname} is a mock-agencies service or alias`)
      if (target === undefined) continue
      t.equal(target.country, g.country, `${id}: ${hook.hostname} runs the ${g.country} mock agencies`)
      t.equal(hook.port, original.port, `${id}: port ${hook.port} is the one the mock listens on (from the trust file)`)
      t.equal(hook.pathname, original.pathname, `${id}: path ${hook.pathname}`)
      const names = dnsNames(certificate(agencyCertPath(target, a.agency, a.system)))
      t.ok(names.includes(hook.hostname), `${id}: its certificate names ${hook.hostname} (${names.join(', ')})`)
    }
  }
  for (const m of mockAgencies) {
    const g = gatewayOf(m.country)
    t.equal(m.gatewayUrl.protocol, 'https:', `${m.name}: gateway URL is https`)
    t.equal(hosts.get(m.gatewayUrl.hostname), g.name, `${m.name}: gateway host ${m.gatewayUrl.hostname} is the ${g.name} service`)
    t.equal(m.gatewayUrl.port, g.env.PORT, `${m.name}: gateway port is the one ${g.name} listens on`)
    const names = dnsNames(certificate(gatewayCertPath(g)))
    t.ok(names.includes(m.gatewayUrl.hostname), `${m.name}: ${g.name}'s certificate names ${m.gatewayUrl.hostname}`)
    t.equal(environment(m.service).HOST, '0.0.0.0', `${m.name}: asks for every interface (HOST)`)
  }
})

t.test('start order waits for health, and every awaited service has a health check', async (t) => {
  const imageHasHealthcheck = dockerfileStages()
    .at(-1)!
    .instructions.some((i) => i.op === 'HEALTHCHECK')
  for (const [name, s] of services) {
    const deps = s.depends_on ?? {}
    t.notOk(Array.isArray(deps), `${name}: depends_on names conditions`)
    if (Array.isArray(deps)) continue
    for (const [dep, { condition }] of Object.entries(deps)) {
      t.equal(condition, 'service_healthy', `${name} waits for ${dep} to be healthy`)
      const target = compose.services[dep]
      t.ok(target, `${name}: ${dep} is a service`)
      const checked = target?.healthcheck?.test !== undefined || (target?.build !== undefined && imageHasHealthcheck && target.healthcheck?.disable !== true)
      t.ok(checked, `${dep} has a health check`)
    }
  }
  for (const g of gateways) t.ok(Object.keys(g.service.depends_on ?? {}).includes('redis'), `${g.name} starts after redis`)
  for (const m of mockAgencies) {
    const test = m.service.healthcheck?.test
    t.ok(Array.isArray(test), `${m.name} replaces the image's gateway health check`)
    if (!Array.isArray(test)) continue
    const keys = hostPath(m.service, m.keysDir)!
    const trust = JSON.parse(readFileSync(join(keys, m.country, 'trust.json'), 'utf8')) as TrustFile
    const ports = trust.agencies.flatMap((a) => (a.webhook === undefined ? [] : [new URL(a.webhook).port]))
    t.same(test.slice(test.indexOf('listening') + 1).sort(), ports.sort(), `${m.name}: checks the webhook ports of the trust file`)
  }
})

t.test('(e) redis is durable and never evicts', async (t) => {
  const redis = compose.services.redis!
  const args = command(redis) ?? []
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name)
    return i < 0 ? undefined : args[i + 1]
  }
  t.match(redis.image ?? '', /^redis:7\.0/, 'Redis 7.0 (what the durability design assumes)')
  t.equal(compose.services.postgres?.image, 'postgres:15', 'by default, the official PostgreSQL 15 image')
  const raw = readFileSync(composeFile, 'utf8')
  for (const [name, official] of [
    ['REDIS_IMAGE', 'redis:7.0'],
    ['POSTGRES_IMAGE', 'postgres:15'],
    ['NODE_IMAGE', 'node:24-bookworm-slim']
  ])
    t.match(raw, `\${${name}:-${official}}`, `${name} (a local stand-in, docker/standins.sh) defaults to the official ${official}`)
  t.equal(args[0], 'redis-server')
  t.equal(flag('--appendonly'), 'yes', 'AOF on')
  t.equal(flag('--appendfsync'), 'everysec', 'AOF fsync every second')
  t.equal(flag('--maxmemory-policy'), 'noeviction', 'noeviction for BullMQ')
  t.ok(
    mounts(redis).some((m) => m.target === '/data' && !m.bind),
    'its data is on a named volume'
  )
  t.match(([redis.healthcheck?.test ?? []] as string[][]).flat().join(' '), /redis-cli ping/, 'health check: redis-cli ping')
  t.match(([compose.services.postgres?.healthcheck?.test ?? []] as string[][]).flat().join(' '), /pg_isready/, 'postgres health check: pg_isready')
})

t.test('(f) the Dockerfile: slim Node 24, production dependencies, non-root, health check', async (t) => {
  const stages = dockerfileStages()
  t.ok(stages.length >= 2, 'multi-stage')
  for (const s of stages) t.equal(s.from, 'node:24-bookworm-slim', `stage ${s.name ?? '?'} is node:24-bookworm-slim`)
  const all = stages.flatMap((s) => s.instructions)
  const npmCi = all.filter((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))
  t.ok(npmCi.length > 0 && npmCi.every((i) => /--omit=dev\b/.test(i.args)), 'npm ci --omit=dev')
  const final = stages.at(-1)!
  const ops = (op: string): Instruction[] => final.instructions.filter((i) => i.op === op)
  const user = ops('USER').at(-1)?.args
  t.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `runs as a non-root user (${user})`)
  t.equal(user, 'node', 'the node user of the base image')
  t.ok(ops('HEALTHCHECK').length === 1, 'one HEALTHCHECK')
  t.match(ops('HEALTHCHECK')[0]?.args ?? '', /CMD \["node", "docker\/healthcheck\.ts"\]/, 'probed with node itself')
  t.ok(
    ops('ENV').some((i) => /\bNODE_ENV=production\b/.test(i.args)),
    'NODE_ENV=production'
  )
  t.ok(
    ops('EXPOSE').some((i) => /\b8441\b/.test(i.args)),
    'EXPOSE 8441'
  )
  const cmd = JSON.parse(ops('CMD').at(-1)?.args ?? '[]') as string[]
  t.same([cmd[0], cmd.at(-1)], ['node', 'gateway/server.ts'], 'runs the server with node, not npm (its heap limits: test/node-flags.test.ts)')
  const copies = ops('COPY')
  t.ok(
    copies.some((c) => /--from=deps\b/.test(c.args) && /node_modules/.test(c.args)),
    'node_modules from the deps stage'
  )
  const copied: string[] = []
  for (const stage of stages) {
    for (const c of stage.instructions.filter((i) => i.op === 'COPY')) {
      const sources = c.args
        .split(/\s+/)
        .filter((p) => !p.startsWith('--'))
        .slice(0, -1)
      t.notOk(
        sources.some((s) => /keys-example/.test(s)),
        `${c.args}: no key material in the image`
      )
      if (/--from=/.test(c.args)) continue
      for (const s of sources) t.ok(existsSync(join(root, s)), `COPY source ${s} exists`)
      if (stage === final) copied.push(...sources)
    }
  }
  t.same([...copied].sort(), ['docker/healthcheck.ts', 'gateway', 'package.json', 'policies', 'schemas'], 'the final stage copies only what the service needs')
})

/** The files a stage copies from the build context (not from other stages). */
function copiedSources(stage: Stage): string[] {
  return stage.instructions
    .filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))
    .flatMap((c) =>
      c.args
        .split(/\s+/)
        .filter((p) => !p.startsWith('--'))
        .slice(0, -1)
    )
}

t.test('everything an image runs is in that image, and no dev dependency is imported', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  const builtins = new Set(builtinModules)
  const stages = dockerfileStages()
  const sandboxTarget = mockAgencies.map((m) => buildTarget(m.service)).find((x) => x !== undefined)
  const images: Array<{ stage: Stage | undefined; entries: string[] }> = [
    // The production image runs the server and the health probe.
    { stage: stages.at(-1), entries: [join(root, 'gateway', 'server.ts'), join(dockerDir, 'healthcheck.ts')] },
    // The sandbox image runs the mock agencies and the probe's `listening` check.
    { stage: stages.find((s) => s.name === sandboxTarget), entries: [join(root, MOCK_SCRIPT), join(dockerDir, 'healthcheck.ts')] }
  ]
  for (const { stage, entries } of images) {
    t.ok(stage, `a stage for ${relative(root, entries[0]!)}`)
    if (stage === undefined) continue
    const inImage = copiedSources(stage).map((p) => join(root, p))
    const seen = new Set<string>()
    const bare = new Map<string, string>()
    const queue = [...entries]
    while (queue.length > 0) {
      const file = queue.pop()!
      if (seen.has(file)) continue
      seen.add(file)
      t.ok(
        inImage.some((p) => file === p || !relative(p, file).startsWith('..')),
        `${relative(root, file)} is copied into the ${stage.name} image`
      )
      const source = readFileSync(file, 'utf8')
      const specifiers = [
        ...[...source.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
        ...[...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!)
      ]
      for (const spec of specifiers) {
        if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec))
        else if (!spec.startsWith('node:') && !builtins.has(spec)) {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
          bare.set(name, relative(root, file))
        }
      }
    }
    t.ok(seen.size > (stage === stages.at(-1) ? 20 : 3), `${stage.name}: followed the imports of ${seen.size} files`)
    for (const [name, from] of bare) t.ok(name in pkg.dependencies, `${name} (imported by ${from}) is a production dependency`)
  }
})

t.test('the health probe trusts the CA of the trust file and needs a 200', async (t) => {
  const node = process.execPath
  const probe = (env: Record<string, string>, ...args: string[]): Promise<number> =>
    new Promise((done) => {
      execFile(node, [join(dockerDir, 'healthcheck.ts'), ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (err) =>
        done(err === null ? 0 : typeof err.code === 'number' ? err.code : -1)
      )
    })
  const caDir = join(root, 'keys-example', 'CA')
  let status = 200
  const server = createServer({ cert: readFileSync(join(caDir, 'gateway.crt.pem')), key: readFileSync(join(caDir, 'gateway.key.pem')) }, (req, res) => {
    res.writeHead(req.url === '/healthz' ? status : 404, { 'content-type': 'application/json' }).end('{"status":"ok"}')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const port = String((server.address() as AddressInfo).port)
  const trustFile = (c: string): string => join(root, 'keys-example', c, 'trust.json')
  t.equal(await probe({ PORT: port, GATEWAY_TRUST_FILE: trustFile('CA') }), 0, 'healthy gateway: exit 0')
  t.equal(await probe({ PORT: port, GATEWAY_TRUST_FILE: trustFile('US') }), 1, 'a certificate from another CA: exit 1')

  // A production certificate names the gateway's DNS name, not 127.0.0.1, where the probe connects.
  const scratch = mkdtempSync(join(tmpdir(), 'btb-healthcheck-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  // A certificate of the country's CA made out to the DNS name alone, as a production one is: `<name>.key.pem` and `<name>.crt.pem`.
  writeFileSync(join(scratch, 'san.cnf'), 'subjectAltName=DNS:gateway.example.ca\n')
  const issueDnsOnly = (name: string): void => {
    const file = (part: string): string => join(scratch, `${name}.${part}.pem`)
    const subject = ['-subj', '/CN=gateway.example.ca', '-keyout', file('key'), '-out', file('csr')]
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', ...subject], { stdio: 'ignore' })
    const ca = ['-CA', join(caDir, 'ca.crt.pem'), '-CAkey', join(caDir, 'ca.key.pem'), '-CAcreateserial', '-CAserial', join(scratch, 'ca.srl')]
    execFileSync('openssl', ['x509', '-req', '-in', file('csr'), ...ca, '-days', '2', '-extfile', join(scratch, 'san.cnf'), '-out', file('crt')], {
      stdio: 'ignore'
    })
  }
  issueDnsOnly('dns')
  writeFileSync(join(scratch, 'trust.json'), JSON.stringify({ agencyCa: join(caDir, 'ca.crt.pem'), gateway: { tlsCert: 'dns.crt.pem' } }))
  const dnsOnly = createServer({ cert: readFileSync(join(scratch, 'dns.crt.pem')), key: readFileSync(join(scratch, 'dns.key.pem')) }, (_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
  )
  await new Promise<void>((r) => dnsOnly.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => dnsOnly.close(() => r())))
  const dnsPort = String((dnsOnly.address() as AddressInfo).port)
  t.equal(await probe({ PORT: dnsPort, GATEWAY_TRUST_FILE: join(scratch, 'trust.json') }), 0, 'its own certificate, made out to a DNS name only: exit 0')
  t.equal(
    await probe({ PORT: port, GATEWAY_TRUST_FILE: join(scratch, 'trust.json') }),
    1,
    "another certificate of the same CA, not made out to the gateway's names: exit 1"
  )
  // A renewal activated in the file before the gateway reloads it: the same names, another key.
  issueDnsOnly('next')
  writeFileSync(join(scratch, 'trust.json'), JSON.stringify({ agencyCa: join(caDir, 'ca.crt.pem'), gateway: { tlsCert: 'next.crt.pem' } }))
  t.equal(
    await probe({ PORT: dnsPort, GATEWAY_TRUST_FILE: join(scratch, 'trust.json') }),
    0,
    'a renewed certificate in the file, the old one still served: exit 0'
  )
  t.equal(await probe({ PORT: port }), 1, 'no trust file: exit 1')
  status = 503
  t.equal(await probe({ PORT: port, GATEWAY_TRUST_FILE: trustFile('CA') }), 1, 'not 200: exit 1')
  t.equal(await probe({}, 'listening', port), 0, 'listening: a port that accepts')
  const closed = await new Promise<number>((r) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port
      s.close(() => r(p))
    })
  })
  t.equal(await probe({}, 'listening', port, String(closed)), 1, 'listening: a closed port fails')
})

// The container sandbox's command line: what it does not know it refuses
// before anything is built or started, as the other sandbox commands do.
t.test('npm run sandbox:containers: --help prints its usage, an unknown flag or verb is refused, and nothing is built', async (t) => {
  const run = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      // No podman on PATH: a command that got as far as building would fail on it, not print its usage.
      execFile(process.execPath, [join(dockerDir, 'podman-sandbox.ts'), ...args], { env: { ...process.env, PATH: '/nonexistent' } }, (err, stdout, stderr) =>
        done({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stdout, stderr })
      )
    })
  const help = await run('--help')
  t.equal(help.code, 0, help.stderr)
  t.match(help.stdout, /usage: npm run sandbox:containers -- \[up\] \[--standins\] \[--samples\] \[--once\] \| down/)
  t.match(help.stdout, /--standins/, 'each flag explained')
  for (const args of [['--frobnicate'], ['up', '--sample'], ['start']]) {
    const refused = await run(...args)
    t.equal(refused.code, 2, `${args.join(' ')}: a usage error`)
    t.match(refused.stderr, /usage: npm run sandbox:containers/, `${args.join(' ')}: with the usage`)
    t.notMatch(refused.stdout, /image|built/, `${args.join(' ')}: nothing built`)
  }
})
