// The integrator's guide's client (docs/integrators.md, "A complete client in
// Node": node:https and node:crypto only) is run exactly as written, against
// two live gateways, CA→US and back US→CA.
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { buildManifest } from '../sandbox/manifest.ts'
import { policies } from '../policies/index.ts'
import type { Kind } from '../schemas/index.ts'
import { eventually, KEYS_DIR, REDIS_URL, startExchange } from './helper.ts'

const readme = readFileSync(join(import.meta.dirname, '..', 'docs', 'integrators.md'), 'utf8')
const block = /<!-- readme-client -->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1]

t.test("the integrator's guide client sends a message CA→US and US→CA and sees it delivered", async (t) => {
  t.ok(block, 'docs/integrators.md has the client block')
  const ex = await startExchange(t)
  const dir = mkdtempSync(join(tmpdir(), 'btb-readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'submit.mjs'), block!)
  writeFileSync(
    join(dir, 'sandbox.json'),
    JSON.stringify(buildManifest({ root: dir, keysDir: KEYS_DIR, urls: { CA: ex.ca.url, US: ex.us.url }, redisUrl: REDIS_URL }))
  )
  for (const [country, agency, receiver] of [
    ['CA', 'CBSA', ex.mocks.CBP],
    ['US', 'CBP', ex.mocks.CBSA]
  ] as const) {
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'submit.mjs'), join(dir, 'sandbox.json'), country, agency], { timeout: 30_000 })
    t.match(stdout, /^submitted 202 /m, `${country}: accepted`)
    t.match(stdout, /^delivered receipt: [0-9a-f-]{36} [A-Za-z0-9_-]{43}$/m, `${country}: delivered, with the partner's receipt`)
    const id = /"id":"([0-9a-f-]{36})"/.exec(stdout)![1]
    const pushed = await eventually(() => receiver.received.find((m) => m.id === id), 10_000, 'the push')
    t.equal(pushed.from, `${country}/${agency}/${country === 'CA' ? 'pik-primary' : 'ades'}`, `${country}: pushed to the partner's agency`)
  }
})

t.test('the manifest names what a client needs besides its own keys', async (t) => {
  interface Route {
    kind: string
    purpose: string
    to: { country: string; agency: string }
    receivingSystem: string | null
    legalAuthorities: string[]
  }
  interface ManifestGateway {
    gatewayCert: string
    gatewayCertSha256: string
    agencySystems: Array<{ agency: string; system: string; kinds: string[]; purposes: string[]; webhook?: string; routes: Route[] }>
    privacyOfficers: Array<{ name: string; clientCert: string; clientKey: string }>
    operators: Array<{ name: string; clientCert: string; clientKey: string }>
  }
  const dir = mkdtempSync(join(tmpdir(), 'btb-manifest-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const manifest = buildManifest({
    root: dir,
    keysDir: KEYS_DIR,
    urls: { CA: 'https://127.0.0.1:8441', US: 'https://127.0.0.1:8442' },
    redisUrl: REDIS_URL
  }) as {
    gateways: Record<'CA' | 'US', ManifestGateway>
  }
  for (const country of ['CA', 'US'] as const) {
    const g = manifest.gateways[country]
    const partner = manifest.gateways[country === 'CA' ? 'US' : 'CA']
    const partnerTrust = JSON.parse(readFileSync(join(KEYS_DIR, country === 'CA' ? 'US' : 'CA', 'trust.json'), 'utf8')) as {
      partner: { gatewayCertSha256: string }
    }
    t.ok(existsSync(join(dir, g.gatewayCert)), `${country}: the gateway's own TLS certificate`)
    t.equal(g.gatewayCertSha256, partnerTrust.partner.gatewayCertSha256, `${country}: its SHA-256, the one the partner pins`)
    for (const who of [...g.privacyOfficers, ...g.operators])
      t.ok(existsSync(join(dir, who.clientCert)) && existsSync(join(dir, who.clientKey)), `${country}: ${who.name}'s certificate and key`)
    t.ok(g.privacyOfficers.length > 0 && g.operators.length > 0, `${country}: a privacy officer and an operator`)
    for (const s of g.agencySystems) {
      // Its kinds are those it may send and receive: it sends those its purposes have a policy for.
      const sends = s.kinds.filter((k) => s.purposes.some((p) => policies[k as Kind]?.purposes[p]?.outbound !== undefined))
      t.same([...new Set(s.routes.map((r) => r.kind))].sort(), sends.sort(), `${country}/${s.agency}: a route for every kind it may send`)
      for (const r of s.routes) {
        const receiver = partner.agencySystems.find((p) => `${r.to.country}/${p.agency}/${p.system}` === r.receivingSystem)
        t.ok(
          receiver !== undefined && receiver.agency === r.to.agency && receiver.kinds.includes(r.kind) && receiver.webhook !== undefined,
          `${r.kind} (${r.purpose}) -> ${r.receivingSystem}, registered for it`
        )
        t.ok(r.legalAuthorities.length > 0, `${r.kind} (${r.purpose}): authorities ${country} may cite`)
      }
    }
  }
})
