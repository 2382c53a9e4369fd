/**
 * Generates the sandbox PKI and trust configuration (docs/architecture.md,
 * "Trust"):
 *
 *   node tools/generate-example-pki.ts [--out keys-example] [--days 825]
 *
 * For each country (CA, US): a root CA, the gateway's TLS certificate (server
 * and client), the gateway's JWS signing key, one client certificate and JWS
 * signing key per agency system, a privacy-officer and an operator client certificate, the
 * gateway's public JWKS, copies of the partner's public material, and the
 * `trust.json` tying it together (see gateway/trust/trust-file.ts).
 *
 * Every run makes a fresh set: `<out>/CA/`, `<out>/US/` and `<out>/README.md`
 * are deleted first (and nothing else under `<out>`).
 *
 * Certificates are RSA 2048 (node-forge builds RSA certificates only) signed
 * with SHA-256; keys are generated with node:crypto, which is much faster than
 * forge, and imported into forge only to sign. Signing keys are ES256 or
 * EdDSA (Ed25519) JWKs made with jose. THIS IS EXAMPLE MATERIAL: its private
 * keys end up in the repository.
 */
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import {
  TRUST_FILE_VERSION,
  type AgencyRegistration,
  type CertSubject,
  type Country,
  type Jwks,
  type SigningAlg,
  type TrustFile
} from '../gateway/trust/trust-file.ts'
import {
  Writer,
  dns,
  ip,
  issueClient,
  issueRootCa,
  issueServerClient,
  json,
  kidStamp,
  makeSigningKey,
  registered,
  signingKeyPem,
  type Issued,
  type SigningKey
} from '../gateway/trust/pki.ts'

export { certSha256 } from '../gateway/trust/pki.ts'

export interface GenerateExamplePkiOptions {
  /** Output directory; `CA/`, `US/` and `README.md` under it are replaced. */
  out: string
  /** Certificate validity in days from now (default 825). */
  days?: number
}

export interface GeneratedCountry {
  /** `<out>/<C>` */
  dir: string
  /** `<out>/<C>/trust.json` */
  trustFile: string
  trust: TrustFile
}

export interface GenerateExamplePkiResult {
  out: string
  countries: Record<Country, GeneratedCountry>
  /** Every file written, relative to `out`, sorted. */
  files: string[]
  elapsedMs: number
}

/** Who exists in each country, and what they may do. */
interface AgencySpec {
  agency: string
  system: string
  alg: SigningAlg
  kinds: string[]
  purposes: string[]
  webhook: string
}

const ENTRY_EXIT_KINDS = ['entry-exit.record', 'entry-exit.batch', 'traveller.designation', 'traveller.designation-batch']
const ENTRY_EXIT_PURPOSES = [
  'entry-exit-verification',
  'residency-determination',
  'removal-enforcement',
  'trusted-traveller-vetting',
  'business-traveller-facilitation'
]
const BIOMETRIC_KINDS = ['biometric.match-request', 'biometric.match-response']
// A system's kinds are those it may send and receive: the gateway pushes a
// kind only to a system registered for it (docs/operators.md, "Keys and trust
// CLI"). So each system also holds the kinds the policies let the partner send
// its agency that it does not send itself: border agencies receive match
// responses (immigration-examination), immigration agencies entry records
// (residency-determination) and designations (business-traveller-facilitation).
const BORDER_KINDS = [...ENTRY_EXIT_KINDS, 'biometric.match-response']
const IMMIGRATION_KINDS = [...BIOMETRIC_KINDS, ...ENTRY_EXIT_KINDS]
const BIOMETRIC_PURPOSES = ['immigration-examination', 'asylum-claim']

const COUNTRIES: readonly Country[] = ['CA', 'US']

const GATEWAY_URL: Record<Country, string> = {
  CA: 'https://127.0.0.1:8441',
  US: 'https://127.0.0.1:8442'
}

const AGENCIES: Record<Country, AgencySpec[]> = {
  CA: [
    {
      agency: 'CBSA',
      system: 'pik-primary',
      alg: 'ES256',
      kinds: BORDER_KINDS,
      purposes: ENTRY_EXIT_PURPOSES,
      webhook: 'https://127.0.0.1:9441/v1/inbox'
    },
    {
      agency: 'IRCC',
      system: 'gcms-biometrics',
      alg: 'EdDSA',
      kinds: IMMIGRATION_KINDS,
      purposes: BIOMETRIC_PURPOSES,
      webhook: 'https://127.0.0.1:9442/v1/inbox'
    }
  ],
  US: [
    {
      agency: 'CBP',
      system: 'ades',
      alg: 'ES256',
      kinds: BORDER_KINDS,
      purposes: ENTRY_EXIT_PURPOSES,
      webhook: 'https://127.0.0.1:9443/v1/inbox'
    },
    {
      agency: 'USCIS',
      system: 'ident-gateway',
      alg: 'EdDSA',
      kinds: IMMIGRATION_KINDS,
      purposes: BIOMETRIC_PURPOSES,
      webhook: 'https://127.0.0.1:9444/v1/inbox'
    }
  ]
}

const PRIVACY_OFFICERS = ['po-1']
const OPERATORS = ['ops-1']

const partnerOf = (country: Country): Country => (country === 'CA' ? 'US' : 'CA')

// ---------------------------------------------------------------------------
// One country's material

interface AgencyMaterial {
  spec: AgencySpec
  dirName: string
  tls: Issued
  subject: CertSubject
  signing: SigningKey
}

interface OfficerMaterial {
  name: string
  tls: Issued
  subject: CertSubject
}

interface CountryMaterial {
  country: Country
  ca: Issued
  gateway: Issued
  gatewaySigning: SigningKey
  agencies: AgencyMaterial[]
  officers: OfficerMaterial[]
  operators: OfficerMaterial[]
}

async function makeCountry(country: Country, days: number): Promise<CountryMaterial> {
  const c = country.toLowerCase()
  const ca = await issueRootCa(country, days, { O: `Beyond the Border Gateway (EXAMPLE ${country})`, CN: `BTB Example ${country} Root CA` })
  const loopback = [dns('localhost'), ip('127.0.0.1'), ip('::1')]

  const gatewayHost = `${c}-gateway.btb.example`
  const gatewayP = issueServerClient(ca, {
    subject: { C: country, O: `${country} Gateway`, CN: gatewayHost },
    altNames: [dns('localhost'), dns(gatewayHost), dns(`${c}-gateway`), ip('127.0.0.1'), ip('::1')],
    days
  })
  const gatewaySigningP = makeSigningKey(`${c}-gateway-${kidStamp()}`, 'ES256')

  const agenciesP = AGENCIES[country].map(async (spec): Promise<AgencyMaterial> => {
    const a = spec.agency.toLowerCase()
    const subject: CertSubject = { O: spec.agency, OU: spec.system, CN: `${spec.system}.${a}.${c}` }
    const [tls, signing] = await Promise.all([
      issueServerClient(ca, { subject: { C: country, ...subject }, altNames: [...loopback, dns(`${c}-${a}-${spec.system}`)], days }),
      makeSigningKey(`${c}-${a}-${spec.system}-${kidStamp()}`, spec.alg)
    ])
    return { spec, dirName: `${spec.agency}-${spec.system}`, tls, subject, signing }
  })

  const officersP = PRIVACY_OFFICERS.map(async (name): Promise<OfficerMaterial> => {
    const subject: CertSubject = { O: `${country} Privacy Office`, OU: 'privacy-officer', CN: `${name}.privacy.${c}` }
    return { name, subject, tls: await issueClient(ca, { subject: { C: country, ...subject }, days }) }
  })

  const operatorsP = OPERATORS.map(async (name): Promise<OfficerMaterial> => {
    const subject: CertSubject = { O: `${country} Gateway Operations`, OU: 'operator', CN: `${name}.operations.${c}` }
    return { name, subject, tls: await issueClient(ca, { subject: { C: country, ...subject }, days }) }
  })

  const [gateway, gatewaySigning, agencies, officers, operators] = await Promise.all([
    gatewayP,
    gatewaySigningP,
    Promise.all(agenciesP),
    Promise.all(officersP),
    Promise.all(operatorsP)
  ])
  return { country, ca, gateway, gatewaySigning, agencies, officers, operators }
}

function trustFileFor(self: CountryMaterial, partner: CountryMaterial): TrustFile {
  const gatewayJwkFile = `gateway.signing.${self.gatewaySigning.kid}.private.jwk.json`
  return {
    version: TRUST_FILE_VERSION,
    example: true,
    country: self.country,
    gateway: {
      tlsCert: 'gateway.crt.pem',
      tlsKey: 'gateway.key.pem',
      signingKeys: [{ kid: self.gatewaySigning.kid, alg: self.gatewaySigning.alg, privateJwk: gatewayJwkFile }],
      activeKid: self.gatewaySigning.kid
    },
    agencyCa: 'ca.crt.pem',
    agencies: self.agencies.map(
      (m): AgencyRegistration => ({
        agency: m.spec.agency,
        system: m.spec.system,
        certSubject: m.subject,
        certSha256: m.tls.sha256,
        keys: [registered(m.signing)],
        kinds: [...m.spec.kinds],
        purposes: [...m.spec.purposes],
        webhook: m.spec.webhook
      })
    ),
    privacyOfficers: self.officers.map((o) => ({ name: o.name, certSubject: o.subject, certSha256: o.tls.sha256 })),
    operators: self.operators.map((o) => ({ name: o.name, certSubject: o.subject, certSha256: o.tls.sha256 })),
    revoked: { certSha256: [], kids: [] },
    partner: {
      country: partner.country,
      url: GATEWAY_URL[partner.country],
      ca: 'partner/ca.crt.pem',
      gatewayCert: 'partner/gateway.crt.pem',
      gatewayCertSha256: partner.gateway.sha256,
      keys: [registered(partner.gatewaySigning)]
    }
  }
}

// ---------------------------------------------------------------------------
// Writing

async function writeCountry(w: Writer, self: CountryMaterial, partner: CountryMaterial, trust: TrustFile): Promise<void> {
  const C = self.country
  const jwks = (k: SigningKey): Jwks => ({ keys: [k.publicJwk] })

  await w.write(`${C}/ca.crt.pem`, self.ca.certPem)
  await w.write(`${C}/ca.key.pem`, self.ca.keyPem, true)
  await w.write(`${C}/gateway.crt.pem`, self.gateway.certPem)
  await w.write(`${C}/gateway.key.pem`, self.gateway.keyPem, true)
  await w.write(`${C}/${trust.gateway.signingKeys[0]!.privateJwk}`, json(self.gatewaySigning.privateJwk), true)
  await w.write(`${C}/jwks.json`, json(jwks(self.gatewaySigning)))

  for (const a of self.agencies) {
    const dir = `${C}/agencies/${a.dirName}`
    await w.write(`${dir}/client.crt.pem`, a.tls.certPem)
    await w.write(`${dir}/client.key.pem`, a.tls.keyPem, true)
    await w.write(`${dir}/signing.private.jwk.json`, json(a.signing.privateJwk), true)
    await w.write(`${dir}/signing.private.pem`, signingKeyPem(a.signing.privateJwk), true)
    await w.write(`${dir}/signing.public.jwk.json`, json(a.signing.publicJwk))
  }
  for (const o of self.officers) {
    const dir = `${C}/privacy-officers/${o.name}`
    await w.write(`${dir}/client.crt.pem`, o.tls.certPem)
    await w.write(`${dir}/client.key.pem`, o.tls.keyPem, true)
  }
  for (const o of self.operators) {
    const dir = `${C}/operators/${o.name}`
    await w.write(`${dir}/client.crt.pem`, o.tls.certPem)
    await w.write(`${dir}/client.key.pem`, o.tls.keyPem, true)
  }

  await w.write(`${C}/partner/ca.crt.pem`, partner.ca.certPem)
  await w.write(`${C}/partner/gateway.crt.pem`, partner.gateway.certPem)
  await w.write(`${C}/partner/jwks.json`, json(jwks(partner.gatewaySigning)))
  await w.write(`${C}/trust.json`, json(trust))
}

function readme(days: number, material: Record<Country, CountryMaterial>): string {
  const rows: string[] = []
  const row = (file: string, what: string): void => {
    rows.push(`| \`${file}\` | ${what} |`)
  }
  row('<C>/trust.json', 'Trust configuration of the `<C>` gateway (`gateway/trust/trust-file.ts`); paths inside are relative to `<C>/`.')
  row('<C>/ca.crt.pem', "Country root CA certificate: issues the gateway's and the agencies' certificates (`agencyCa`).")
  row('<C>/ca.key.pem', 'Root CA private key (PKCS#8). **Secret.**')
  row(
    '<C>/gateway.crt.pem',
    'Gateway TLS certificate, server *and* client (to the partner and to agency webhooks). SAN: `localhost`, `<c>-gateway.btb.example`, `<c>-gateway`, `127.0.0.1`, `::1`.'
  )
  row('<C>/gateway.key.pem', 'Gateway TLS private key (PKCS#8). **Secret.**')
  row('<C>/gateway.signing.<kid>.private.jwk.json', 'Gateway JWS signing key (ES256), private JWK. **Secret.**')
  row('<C>/jwks.json', "This gateway's public signing JWKS: what the partner gateway needs.")
  row(
    '<C>/agencies/<AGENCY>-<system>/client.crt.pem',
    "Agency system's client certificate (also a server certificate for its webhook receiver). SAN: `localhost`, `<c>-<agency>-<system>`, `127.0.0.1`, `::1`."
  )
  row('<C>/agencies/<AGENCY>-<system>/client.key.pem', 'Its TLS private key (PKCS#8). **Secret.**')
  row('<C>/agencies/<AGENCY>-<system>/signing.private.jwk.json', 'Its JWS signing key (ES256 or EdDSA/Ed25519), private JWK. **Secret.**')
  row(
    '<C>/agencies/<AGENCY>-<system>/signing.private.pem',
    'The same signing key as PKCS#8 PEM, for openssl (see docs/integrators.md, "With curl and openssl"). **Secret.**'
  )
  row('<C>/agencies/<AGENCY>-<system>/signing.public.jwk.json', 'Its public signing JWK (registered in `trust.json`).')
  row('<C>/privacy-officers/po-1/client.crt.pem', 'Privacy-officer client certificate (OU `privacy-officer`): may read `/v1/audit…`.')
  row('<C>/privacy-officers/po-1/client.key.pem', 'Its TLS private key (PKCS#8). **Secret.**')
  row('<C>/operators/ops-1/client.crt.pem', 'Operator client certificate (OU `operator`): may read `/metrics` and manage dead letters (`/v1/operations/…`).')
  row('<C>/operators/ops-1/client.key.pem', 'Its TLS private key (PKCS#8). **Secret.**')
  row('<C>/partner/ca.crt.pem', "Copy of the partner country's root CA certificate.")
  row('<C>/partner/gateway.crt.pem', "Copy of the partner gateway's certificate (pinned in `trust.json` by its SHA-256).")
  row('<C>/partner/jwks.json', "Copy of the partner gateway's public signing JWKS.")

  const systems: string[] = []
  for (const C of COUNTRIES) {
    const m = material[C]
    systems.push(`| ${C} | gateway | \`${m.gateway.cert.subject.getField('CN').value}\` | ES256 \`${m.gatewaySigning.kid}\` | ${GATEWAY_URL[C]} |`)
    for (const a of m.agencies) {
      systems.push(`| ${C} | ${a.spec.agency} \`${a.spec.system}\` | \`${a.subject.CN}\` | ${a.spec.alg} \`${a.signing.kid}\` | webhook ${a.spec.webhook} |`)
    }
    for (const o of m.officers) {
      systems.push(`| ${C} | privacy officer \`${o.name}\` | \`${o.subject.CN}\` | — | — |`)
    }
    for (const o of m.operators) {
      systems.push(`| ${C} | operator \`${o.name}\` | \`${o.subject.CN}\` | — | — |`)
    }
  }

  return `# keys-example/ — EXAMPLE MATERIAL

> **⚠️ EXAMPLE MATERIAL — NEVER USE IN PRODUCTION. ⚠️**
>
> Every private key in this directory is published in the repository, so
> anyone can impersonate these gateways, agencies, privacy officers and operators.
> It exists only for the sandbox, tests and local development. Every
> \`trust.json\` here says \`"example": true\`.
>
> Regenerate with \`npm run keys:example\`
> (\`node tools/generate-example-pki.ts --out keys-example --days ${days}\`);
> each run makes a completely fresh set (new CAs, keys and \`kid\`s).

Each country directory (\`CA/\`, \`US/\`) is self-contained, like a real
deployment: it holds that country's own secrets and only *copies* of the
partner's public material. Certificates are RSA 2048 / SHA-256 (valid for
${days} days from generation); JWS signing keys are ES256 or EdDSA (Ed25519)
JWKs. Private files are written with mode 0600 (git does not keep that mode).

## Files (\`<C>\` = \`CA\` or \`US\`, \`<c>\` = \`ca\` or \`us\`)

| File | What it is |
|---|---|
${rows.join('\n')}

## Identities in this set

| Country | Who | Certificate CN | Signing key | Endpoint |
|---|---|---|---|---|
${systems.join('\n')}
`
}

// ---------------------------------------------------------------------------

/** Generates a fresh example PKI under `out` (see the module comment). */
export async function generateExamplePki(options: GenerateExamplePkiOptions): Promise<GenerateExamplePkiResult> {
  const started = performance.now()
  const days = options.days ?? 825
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new RangeError(`days must be an integer from 1 to 3650, got ${days}`)
  }
  const out = path.resolve(options.out)

  const [ca, us] = await Promise.all([makeCountry('CA', days), makeCountry('US', days)])
  const material: Record<Country, CountryMaterial> = { CA: ca, US: us }

  // Everything is generated before anything is deleted: a failure leaves the old set in place.
  await mkdir(out, { recursive: true })
  for (const entry of [...COUNTRIES, 'README.md']) {
    await rm(path.join(out, entry), { recursive: true, force: true })
  }

  const w = new Writer(out)
  const countries = {} as Record<Country, GeneratedCountry>
  for (const C of COUNTRIES) {
    const trust = trustFileFor(material[C], material[partnerOf(C)])
    await writeCountry(w, material[C], material[partnerOf(C)], trust)
    countries[C] = { dir: path.join(out, C), trustFile: path.join(out, C, 'trust.json'), trust }
  }
  await w.write('README.md', readme(days, material))

  return { out, countries, files: [...w.files].sort(), elapsedMs: performance.now() - started }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'keys-example' },
      days: { type: 'string', default: '825' },
      help: { type: 'boolean', short: 'h', default: false }
    },
    strict: true
  })
  if (values.help) {
    process.stdout.write('usage: node tools/generate-example-pki.ts [--out keys-example] [--days 825]\n')
    return
  }
  const days = /^\d+$/.test(values.days) ? Number(values.days) : Number.NaN
  const result = await generateExamplePki({ out: values.out, days })
  process.stdout.write(
    `EXAMPLE PKI (never use in production) written to ${result.out} ` +
      `in ${(result.elapsedMs / 1000).toFixed(2)} s:\n` +
      result.files.map((f) => `  ${f}\n`).join('')
  )
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`generate-example-pki: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
