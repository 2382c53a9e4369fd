// sandbox.json: what an integrator's own client needs to talk to the sandbox
// (docs/integrators.md, "The sandbox"): each gateway's URL, the CA to trust
// and the gateway's own TLS certificate (the one a webhook receiver pins),
// each agency system's credentials and where each kind it may send goes (the
// partner agency it names as `to`, the system there that receives it, the
// authorities it may cite), and the privacy officers' and operators'
// credentials.
import { X509Certificate, createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { policies } from '../policies/index.ts'
import type { Kind } from '../schemas/index.ts'
import { receiverFor } from '../gateway/pipeline/prepare-inbound.ts'

type Country = 'CA' | 'US'

interface TrustAgency {
  agency: string
  system: string
  kinds: string[]
  purposes: string[]
  webhook?: string
  keys: Array<{ kid: string; alg: string }>
}

interface TrustFile {
  agencies: TrustAgency[]
  privacyOfficers?: Array<{ name: string }>
  operators?: Array<{ name: string }>
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
  const trustOf = (c: Country): TrustFile => JSON.parse(readFileSync(join(opts.keysDir, c, 'trust.json'), 'utf8')) as TrustFile
  const webhookOf = (c: Country, a: TrustAgency): string | undefined => opts.webhooks?.[`${c}/${a.agency}/${a.system}`] ?? a.webhook

  /**
   * Where each kind a system may send goes, for each of its purposes: the
   * partner agencies the kind's outbound policy lets receive it (the `to` of
   * the envelope), the partner's system that receives it (the one the
   * partner gateway picks, gateway/pipeline/prepare-inbound.ts), and the
   * authorities a sender of this country may cite (policies/authorities.ts).
   */
  const routes = (c: Country, a: TrustAgency) => {
    const partner: Country = c === 'CA' ? 'US' : 'CA'
    const partnerSystems = trustOf(partner).agencies
    const receivers = partnerSystems
      .filter((p) => webhookOf(partner, p) !== undefined)
      .map((p) => ({ id: `${partner}/${p.agency}/${p.system}`, agency: p.agency, kinds: new Set(p.kinds) }))
    const partnerAgencies = new Set(partnerSystems.map((p) => p.agency))
    return a.kinds.flatMap((kind) =>
      a.purposes.flatMap((purpose) => {
        const rules = policies[kind as Kind]?.purposes[purpose]
        if (rules?.outbound === undefined) return []
        return rules.outbound.recipients
          .filter((agency) => partnerAgencies.has(agency))
          .map((agency) => ({
            kind,
            purpose,
            to: { country: partner, agency },
            receivingSystem: receiverFor(receivers, agency, kind)?.id ?? null,
            legalAuthorities: [...rules.legalAuthoritiesByCountry[c]],
            agreementRefs: [...rules.agreementRefs]
          }))
      })
    )
  }

  const people = (c: Country, dir: string, list: Array<{ name: string }> | undefined) =>
    (list ?? []).map((p) => ({
      name: p.name,
      clientCert: rel(join(opts.keysDir, c, dir, p.name, 'client.crt.pem')),
      clientKey: rel(join(opts.keysDir, c, dir, p.name, 'client.key.pem'))
    }))

  const gateway = (c: Country) => {
    const trust = trustOf(c)
    const certPath = join(opts.keysDir, c, 'gateway.crt.pem')
    const cert = new X509Certificate(readFileSync(certPath))
    return {
      url: opts.urls[c],
      caCert: rel(join(opts.keysDir, c, 'ca.crt.pem')),
      // The certificate the gateway presents, as a server and when it pushes
      // to a webhook: a receiver lets in this one only (guide, step 7).
      gatewayCert: rel(certPath),
      gatewayCertSha256: createHash('sha256').update(cert.raw).digest('base64url'),
      jwks: rel(join(opts.keysDir, c, 'jwks.json')),
      partnerJwks: rel(join(opts.keysDir, c, 'partner', 'jwks.json')),
      endpoints: { token: `${opts.urls[c]}/v1/token`, messages: `${opts.urls[c]}/v1/messages`, status: `${opts.urls[c]}/v1/messages/{id}` },
      ...(opts.logs ? { logs: rel(opts.logs[c]) } : {}),
      agencySystems: trust.agencies.map((a) => {
        const dir = join(opts.keysDir, c, 'agencies', `${a.agency}-${a.system}`)
        return {
          agency: a.agency,
          system: a.system,
          kinds: a.kinds,
          purposes: a.purposes,
          webhook: webhookOf(c, a),
          kid: a.keys[0]?.kid,
          alg: a.keys[0]?.alg,
          clientCert: rel(join(dir, 'client.crt.pem')),
          clientKey: rel(join(dir, 'client.key.pem')),
          signingKey: rel(join(dir, 'signing.private.jwk.json')),
          routes: routes(c, a)
        }
      }),
      // The audit API's and the operators' callers (docs/privacy-officers.md, docs/operators.md).
      privacyOfficers: people(c, 'privacy-officers', trust.privacyOfficers),
      operators: people(c, 'operators', trust.operators)
    }
  }
  return {
    note: 'EXAMPLE material for the sandbox only',
    redisUrl: opts.redisUrl,
    gateways: { CA: gateway('CA'), US: gateway('US') }
  }
}
