// sandbox.json: what an integrator's own client needs to talk to the sandbox.
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

type Country = 'CA' | 'US'

interface TrustAgency {
  agency: string
  system: string
  kinds: string[]
  purposes: string[]
  webhook?: string
  keys: Array<{ kid: string; alg: string }>
}

export interface ManifestOptions {
  /** Paths in the manifest are relative to this directory (where sandbox.json is written). */
  readonly root: string
  readonly keysDir: string
  readonly urls: Readonly<Record<Country, string>>
  readonly redisUrl: string
  readonly logs?: Readonly<Record<Country, string>>
  /** Webhooks by system id (`CA/CBSA/pik-primary`) where they differ from the trust file's. */
  readonly webhooks?: Readonly<Record<string, string>>
}

export function buildManifest(opts: ManifestOptions): Record<string, unknown> {
  const rel = (path: string): string => relative(opts.root, path)
  const gateway = (c: Country) => {
    const trust = JSON.parse(readFileSync(join(opts.keysDir, c, 'trust.json'), 'utf8')) as { agencies: TrustAgency[] }
    return {
      url: opts.urls[c],
      caCert: rel(join(opts.keysDir, c, 'ca.crt.pem')),
      jwks: rel(join(opts.keysDir, c, 'jwks.json')),
      endpoints: { token: `${opts.urls[c]}/v1/token`, messages: `${opts.urls[c]}/v1/messages`, status: `${opts.urls[c]}/v1/messages/{id}` },
      ...(opts.logs ? { logs: rel(opts.logs[c]) } : {}),
      agencySystems: trust.agencies.map((a) => {
        const dir = join(opts.keysDir, c, 'agencies', `${a.agency}-${a.system}`)
        return {
          agency: a.agency,
          system: a.system,
          kinds: a.kinds,
          purposes: a.purposes,
          webhook: opts.webhooks?.[`${c}/${a.agency}/${a.system}`] ?? a.webhook,
          kid: a.keys[0]?.kid,
          alg: a.keys[0]?.alg,
          clientCert: rel(join(dir, 'client.crt.pem')),
          clientKey: rel(join(dir, 'client.key.pem')),
          signingKey: rel(join(dir, 'signing.private.jwk.json'))
        }
      })
    }
  }
  return {
    note: 'EXAMPLE material for the sandbox only',
    redisUrl: opts.redisUrl,
    gateways: { CA: gateway('CA'), US: gateway('US') }
  }
}
