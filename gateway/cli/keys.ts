/**
 * The operator's keys and trust tool (docs/architecture.md,
 * "Trust"). Every change to a trust
 * file is validated and written atomically; a running gateway reloads it at
 * once (it watches the file; `kill -HUP` also works), so revocation and
 * rotation need no restart.
 *
 *   npm run keys -- <command> [options]     (`npm run keys -- help`)
 */
import { X509Certificate } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { policies } from '../../policies/index.ts'
import { KINDS, type Kind } from '../../schemas/index.ts'
import { expiryOf, type CertificateExpiry } from '../trust/cert-expiry.ts'
import * as pki from '../trust/pki.ts'
import type {
  AgencyRegistration,
  CertSubject,
  Country,
  GatewaySigningKey,
  Jwks,
  PrivateSigningJwk,
  PublicSigningJwk,
  RegisteredKey,
  SigningAlg,
  TrustFile
} from '../trust/trust-file.ts'
import {
  TrustChange,
  TrustEditError,
  commitTrustChanges,
  finishInterruptedChange,
  lockTrustFile,
  partnerKeysFromJwks,
  readTrustFile,
  registeredKids
} from '../trust/trust-edit.ts'
import { issuedBy } from '../trust/trust-store.ts'

const USAGE = `usage: npm run keys -- <command> [options]

Certificate authority
  create-ca --dir <dir> --country CA|US [--days 3650] [--organisation <O>]
      A new country root CA: <dir>/ca.crt.pem and <dir>/ca.key.pem (0600).

Agency systems and people (signed by the CA next to the trust file, or --ca-key)
  issue-agency --trust <trust.json> --agency <CODE> --system <name> --kinds <k,..> --purposes <p,..>
               [--webhook https://..] [--alg ES256|EdDSA] [--days 825] [--replace]
      A client certificate and a signing key, registered in the trust file.
      --replace re-issues an existing system and revokes its old certificate and keys.
  issue-client --trust <trust.json> --role privacy-officer|operator --name <name> [--days 825]
  rotate-agency-key --trust <trust.json> --agency <CODE> --system <name> [--alg ES256|EdDSA]
      Adds a new signing key; the old one stays valid until retire-key.
  revoke --trust <trust.json> (--agency <CODE> --system <name> | --name <officer/operator> | --cert <x5t#S256> | --kid <kid>)
         [--partner-trust <partner's trust.json>]
      Revokes at once: certificates and every key of the system named.
      A gateway key (--kid) is revoked in the partner's trust file too with
      --partner-trust; without it, the partner runs revoke --kid itself.

Gateway signing keys (two kids valid during the overlap)
  rotate-gateway-key --trust <trust.json> [--partner-trust <partner's trust.json>]
      Adds a new key, published but not yet signing; writes jwks.json for the partner.
  activate-gateway-key --trust <trust.json> --kid <kid>
      Signs with <kid> from now on (once the partner has imported it).
  retire-key --trust <trust.json> --kid <kid> [--partner-trust <partner's trust.json>]
      Removes a gateway key that no longer signs, or an agency's older key.
  export-jwks --trust <trust.json> [--out <file>]
      The JWKS the partner needs (this gateway's public signing keys but revoked ones).
  import-partner-jwks --trust <trust.json> --jwks <file>
      Replaces the partner's keys with the JWKS it published.

Gateway TLS certificates (both pinned by the partner during the overlap)
  rotate-gateway-cert --trust <trust.json> [--days 825] [--partner-trust <partner's trust.json>]
      Issues this gateway's next TLS certificate (same names), not yet in use;
      the partner pins it beside the current one.
  activate-gateway-cert --trust <trust.json> [--partner-trust <partner's trust.json>]
      Presents the next certificate from now on (once the partner pins it).
  pin-partner-cert --trust <trust.json> --cert-file <partner's next gateway.crt.pem>
      Takes the partner gateway's next certificate beside its current one.
  promote-partner-cert --trust <trust.json>
      The partner's next certificate becomes the only one pinned.

Expiry
  expiry --trust <trust.json> [--warn-days 30] [--json]
      Every certificate under the trust file's directory; exit 1 if any has
      expired or expires within --warn-days.
`

const OPTIONS = {
  trust: { type: 'string' },
  'partner-trust': { type: 'string' },
  dir: { type: 'string' },
  country: { type: 'string' },
  organisation: { type: 'string' },
  days: { type: 'string' },
  agency: { type: 'string' },
  system: { type: 'string' },
  kinds: { type: 'string' },
  purposes: { type: 'string' },
  webhook: { type: 'string' },
  alg: { type: 'string' },
  replace: { type: 'boolean', default: false },
  role: { type: 'string' },
  name: { type: 'string' },
  cert: { type: 'string' },
  'cert-file': { type: 'string' },
  kid: { type: 'string' },
  out: { type: 'string' },
  jwks: { type: 'string' },
  'ca-key': { type: 'string' },
  'warn-days': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values']

/** A usage mistake: said plainly, with the usage. */
class UsageError extends Error {}

function required(values: Values, name: keyof Values): string {
  const value = values[name]
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`)
  return value
}

function integer(values: Values, name: 'days' | 'warn-days', fallback: number, max: number): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}`)
  return Number(raw)
}

function signingAlg(values: Values, fallback: SigningAlg): SigningAlg {
  const alg = values.alg ?? fallback
  if (alg !== 'ES256' && alg !== 'EdDSA') throw new UsageError('--alg must be ES256 or EdDSA')
  return alg
}

function list(values: Values, name: 'kinds' | 'purposes'): string[] {
  const items = required(values, name)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (items.length === 0) throw new UsageError(`--${name} needs at least one value`)
  return [...new Set(items)]
}

const SLUG = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/
function slug(values: Values, name: 'agency' | 'system' | 'name'): string {
  const value = required(values, name)
  if (!SLUG.test(value)) throw new UsageError(`--${name} must be letters, digits and hyphens`)
  return value
}

/** Where a trust file's own material lives. */
class CountryDir {
  readonly trustFile: string
  readonly dir: string
  readonly file: TrustFile
  /** What the command writes, held back until save (trust-edit.ts, commitTrustChanges). */
  change: TrustChange
  constructor(trustFile: string) {
    this.trustFile = path.resolve(trustFile)
    this.dir = path.dirname(this.trustFile)
    this.file = readTrustFile(this.trustFile)
    this.change = new TrustChange(this.trustFile, this.file)
  }
  issuer(caKey: string | undefined) {
    const certFile = path.join(this.dir, this.file.agencyCa)
    const keyFile = caKey ?? path.join(path.dirname(certFile), 'ca.key.pem')
    if (!existsSync(keyFile)) throw new UsageError(`the CA private key ${keyFile} is not there: give --ca-key`)
    return pki.loadIssuer(certFile, keyFile)
  }
  /** A file (relative to the trust file's directory) written with the trust file by save, or not at all. */
  write(rel: string, content: string, secret = false): void {
    this.change.write(rel, content, secret)
  }
  /** A file deleted once the trust file is written, or, refused, kept. */
  remove(rel: string): void {
    this.change.remove(rel)
  }
  /** A file as this command leaves it: the one it writes, or the one on disk. */
  read(rel: string): string {
    return this.change.read(rel)
  }
  save(): Promise<void> {
    return saveAll(this)
  }
}

/** Each trust file with the files written with it, or, refused, nothing at all. */
async function saveAll(...dirs: CountryDir[]): Promise<void> {
  await commitTrustChanges(dirs.map((d) => d.change))
  for (const d of dirs) d.change = new TrustChange(d.trustFile, d.file)
}

/** Where a command writes: the process's streams, or a test's strings (main's second argument). */
export interface CliOutput {
  readonly stdout: { write(text: string): unknown }
  readonly stderr: { write(text: string): unknown }
}

/** What a command is given besides its options: lines for the user, and the streams under them. */
class Say {
  readonly io: CliOutput
  /** Set by a command that finished but has something to report (expiry: certificates due). */
  exitCode = 0
  constructor(io: CliOutput) {
    this.io = io
  }
  line(text = ''): void {
    this.io.stdout.write(`${text}\n`)
  }
}

function revokeRegistration(file: TrustFile, certs: string[], kids: string[]): void {
  file.revoked.certSha256 = [...new Set([...file.revoked.certSha256, ...certs])]
  file.revoked.kids = [...new Set([...file.revoked.kids, ...kids])]
}

function writeSigningKey(c: CountryDir, dir: string, key: pki.SigningKey): void {
  c.write(`${dir}/signing.private.jwk.json`, pki.json(key.privateJwk), true)
  c.write(`${dir}/signing.private.pem`, pki.signingKeyPem(key.privateJwk), true)
  c.write(`${dir}/signing.public.jwk.json`, pki.json(key.publicJwk))
}

// ---------------------------------------------------------------------------

async function createCa(values: Values, say: Say): Promise<void> {
  const dir = path.resolve(required(values, 'dir'))
  const country = required(values, 'country')
  if (country !== 'CA' && country !== 'US') throw new UsageError('--country must be CA or US')
  // The certificate as well as the key: once the key is offline, as it should be, the certificate is still the country's root.
  for (const file of ['ca.key.pem', 'ca.crt.pem']) {
    if (existsSync(path.join(dir, file))) throw new TrustEditError('CA_EXISTS', `${dir}/${file} exists: a CA is never overwritten`)
  }
  const days = integer(values, 'days', 3650, 7300)
  const ca = await pki.issueRootCa(country, days, {
    O: values.organisation ?? `Beyond the Border Gateway ${country}`,
    CN: `BTB ${country} Root CA`
  })
  // Checked above, and again as each is put in place: another create-ca run
  // into the directory meanwhile made the CA there, and this one is refused.
  const w = new pki.Writer(dir)
  const exists = (err: unknown): unknown =>
    (err as NodeJS.ErrnoException).code === 'EEXIST' ? new TrustEditError('CA_EXISTS', `${dir} has a CA: a CA is never overwritten`) : err
  await w.create('ca.crt.pem', ca.certPem).catch((err: unknown) => {
    throw exists(err)
  })
  await w.create('ca.key.pem', ca.keyPem, true).catch(async (err: unknown) => {
    await rm(path.join(dir, 'ca.crt.pem'), { force: true })
    throw exists(err)
  })
  const cert = new X509Certificate(ca.certPem)
  say.line(`created the ${country} root CA in ${dir}`)
  say.line(`  subject   ${cert.subject.replaceAll('\n', ', ')}`)
  say.line(`  x5t#S256  ${ca.sha256}`)
  say.line(`  expires   ${new Date(cert.validTo).toISOString()}`)
  say.line(`  ca.key.pem is the country's most sensitive secret: keep it offline.`)
}

async function issueAgency(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const agency = slug(values, 'agency').toUpperCase()
  const system = slug(values, 'system')
  const kinds = list(values, 'kinds')
  for (const kind of kinds) {
    if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown kind ${kind}; kinds are ${KINDS.join(', ')}`)
  }
  const purposes = list(values, 'purposes')
  // A purpose is one of a kind's in the policy registry: a system registered
  // for another (a typo) would be issued, then refused every message it sends for the purpose meant.
  const known = [...new Set(kinds.flatMap((kind) => Object.keys(policies[kind as Kind].purposes)))]
  for (const purpose of purposes) {
    if (!known.includes(purpose)) {
      throw new UsageError(`unknown purpose ${purpose} for ${kinds.join(', ')}; ${kinds.length === 1 ? 'its' : 'their'} purposes are ${known.join(', ')}`)
    }
  }
  const webhook = values.webhook
  if (webhook !== undefined && !/^https:\/\//.test(webhook)) throw new UsageError('--webhook must be an https:// URL')
  const alg = signingAlg(values, 'ES256')
  const days = integer(values, 'days', 825, 825)
  const existing = c.file.agencies.find((a) => a.agency === agency && a.system === system)
  if (existing !== undefined && !values.replace) {
    throw new TrustEditError(
      'SYSTEM_EXISTS',
      `${agency}/${system} is already registered: use --replace to re-issue it (its old certificate and keys are revoked)`
    )
  }

  const country = c.file.country
  const lc = country.toLowerCase()
  const subject: CertSubject = { O: agency, OU: system, CN: `${system}.${agency.toLowerCase()}.${lc}` }
  const [ca, signing] = await Promise.all([c.issuer(values['ca-key']), pki.makeSigningKey(`${lc}-${agency.toLowerCase()}-${system}-${pki.kidStamp()}`, alg)])
  const tls = await pki.issueServerClient(ca, {
    subject: { C: country, ...subject },
    altNames: [pki.dns('localhost'), pki.dns(`${lc}-${agency.toLowerCase()}-${system}`), pki.ip('127.0.0.1'), pki.ip('::1')],
    days
  })

  // Written with the trust file, or not at all: a re-issue refused keeps the
  // key and certificate the trust file still names.
  const dir = `agencies/${agency}-${system}`
  c.write(`${dir}/client.crt.pem`, tls.certPem)
  c.write(`${dir}/client.key.pem`, tls.keyPem, true)
  writeSigningKey(c, dir, signing)

  const registration: AgencyRegistration = {
    agency,
    system,
    certSubject: subject,
    certSha256: tls.sha256,
    keys: [pki.registered(signing)],
    kinds,
    purposes,
    webhook: webhook ?? existing?.webhook ?? ''
  }
  if (existing !== undefined) {
    revokeRegistration(
      c.file,
      [existing.certSha256],
      existing.keys.map((k) => k.kid)
    )
    c.file.agencies = c.file.agencies.map((a) => (a === existing ? registration : a))
  } else {
    c.file.agencies.push(registration)
  }
  await c.save()
  say.line(`${existing ? 're-issued' : 'issued'} ${country}/${agency}/${system}`)
  say.line(`  certificate  ${path.join(c.dir, dir, 'client.crt.pem')} (x5t#S256 ${tls.sha256})`)
  say.line(`  signing key  ${signing.kid} (${alg}) in ${path.join(c.dir, dir)}/signing.private.{jwk.json,pem}`)
  if (existing) say.line(`  revoked      the old certificate ${existing.certSha256} and kids ${existing.keys.map((k) => k.kid).join(', ')}`)
  if (registration.webhook === '') say.line('  no webhook: messages for this system cannot be pushed until one is set')
  say.line('  hand the private files to the agency over a secure channel, then delete them here.')
}

async function issueClientCommand(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const role = required(values, 'role')
  if (role !== 'privacy-officer' && role !== 'operator') throw new UsageError('--role must be privacy-officer or operator')
  const name = slug(values, 'name')
  const days = integer(values, 'days', 825, 825)
  const registry = role === 'operator' ? (c.file.operators ??= []) : c.file.privacyOfficers
  if (registry.some((r) => r.name === name)) throw new TrustEditError('NAME_EXISTS', `${role} ${name} is already registered`)
  const country = c.file.country
  const lc = country.toLowerCase()
  const subject: CertSubject =
    role === 'operator'
      ? { O: `${country} Gateway Operations`, OU: 'operator', CN: `${name}.operations.${lc}` }
      : { O: `${country} Privacy Office`, OU: 'privacy-officer', CN: `${name}.privacy.${lc}` }
  const tls = await pki.issueClient(await c.issuer(values['ca-key']), { subject: { C: country, ...subject }, days })
  const dir = `${role === 'operator' ? 'operators' : 'privacy-officers'}/${name}`
  c.write(`${dir}/client.crt.pem`, tls.certPem)
  c.write(`${dir}/client.key.pem`, tls.keyPem, true)
  registry.push({ name, certSubject: subject, certSha256: tls.sha256 })
  await c.save()
  say.line(`issued ${role} ${name}: ${path.join(c.dir, dir)}/client.{crt,key}.pem (x5t#S256 ${tls.sha256})`)
}

async function rotateAgencyKey(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const agency = slug(values, 'agency').toUpperCase()
  const system = slug(values, 'system')
  const reg = c.file.agencies.find((a) => a.agency === agency && a.system === system)
  if (reg === undefined) throw new TrustEditError('SYSTEM_UNKNOWN', `${agency}/${system} is not registered`)
  const current = reg.keys.at(-1)
  const key = await pki.makeSigningKey(
    `${c.file.country.toLowerCase()}-${agency.toLowerCase()}-${system}-${pki.kidStamp()}`,
    signingAlg(values, current?.alg ?? 'ES256')
  )
  const dir = `agencies/${agency}-${system}`
  // The key being replaced stays on disk under its kid until it is retired.
  // Both are written with the trust file, or, refused, neither.
  const currentFile = path.join(c.dir, dir, 'signing.private.jwk.json')
  if (current !== undefined && existsSync(currentFile)) {
    const old = JSON.parse(readFileSync(currentFile, 'utf8')) as PrivateSigningJwk
    if (old.kid === current.kid) c.write(`${dir}/signing.${old.kid}.private.jwk.json`, pki.json(old), true)
  }
  writeSigningKey(c, dir, key)
  reg.keys.push(pki.registered(key))
  await c.save()
  say.line(`${agency}/${system} now has ${reg.keys.length} valid signing keys: ${reg.keys.map((k) => k.kid).join(', ')}`)
  say.line(`  new key ${key.kid} in ${path.join(c.dir, dir)}/signing.private.{jwk.json,pem}`)
  if (current) say.line(`  once nothing signed with ${current.kid} is in flight: npm run keys -- retire-key --trust ${c.trustFile} --kid ${current.kid}`)
}

async function revoke(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const f = c.file
  // The partner registers this gateway's keys only: nothing else of ours is its to revoke.
  if (values['partner-trust'] !== undefined && values.kid === undefined) {
    throw new UsageError("--partner-trust goes with --kid: the partner registers this gateway's keys only")
  }
  // One thing at a time: with two named, one alone was revoked, and the
  // answer went on to say a --kid it never revoked was revoked on both sides.
  const named = [values.agency ?? values.system, values.name, values.cert, values.kid].filter((v) => v !== undefined)
  if (named.length > 1) throw new UsageError('say one thing to revoke: --agency and --system, --name, --cert or --kid')
  const partner = partnerDir(values, f.country)
  let what: string
  if (values.agency !== undefined || values.system !== undefined) {
    const agency = slug(values, 'agency').toUpperCase()
    const system = slug(values, 'system')
    const reg = f.agencies.find((a) => a.agency === agency && a.system === system)
    if (reg === undefined) throw new TrustEditError('SYSTEM_UNKNOWN', `${agency}/${system} is not registered`)
    revokeRegistration(
      f,
      [reg.certSha256],
      reg.keys.map((k) => k.kid)
    )
    what = `${agency}/${system}: certificate ${reg.certSha256} and kids ${reg.keys.map((k) => k.kid).join(', ')}`
  } else if (values.name !== undefined) {
    const name = slug(values, 'name')
    // Every registration of the name: one person may be an operator and a
    // privacy officer, and revoking one of the two left the other in force.
    const regs = [
      ...f.privacyOfficers.filter((r) => r.name === name).map((r) => ({ role: 'privacy officer', ...r })),
      ...(f.operators ?? []).filter((r) => r.name === name).map((r) => ({ role: 'operator', ...r }))
    ]
    if (regs.length === 0) throw new TrustEditError('NAME_UNKNOWN', `no privacy officer or operator is named ${name}`)
    revokeRegistration(
      f,
      regs.map((r) => r.certSha256),
      []
    )
    what = regs.map((r) => `${r.role} ${name}: certificate ${r.certSha256}`).join('; ')
  } else if (values.cert !== undefined) {
    if (!/^[A-Za-z0-9_-]{43}$/.test(values.cert)) throw new UsageError('--cert must be a base64url SHA-256 thumbprint (x5t#S256)')
    // As for --kid: a thumbprint this file does not know is a mistyped one, and revoking it would change nothing.
    if (!registeredCerts(c).has(values.cert)) throw new TrustEditError('CERT_UNKNOWN', `${values.cert} is registered nowhere here: nothing was revoked`)
    revokeRegistration(f, [values.cert], [])
    what = `certificate ${values.cert}`
  } else if (values.kid !== undefined) {
    if (values.kid === f.gateway.activeKid) throw new TrustEditError('KEY_ACTIVE', `${values.kid} is this gateway's active key: rotate first`)
    if (partner !== undefined && !gatewayKids(f).has(values.kid)) {
      throw new TrustEditError('KEY_NOT_GATEWAYS', `${values.kid} is not one of this gateway's keys: the partner registers no other of ours`)
    }
    // A kid this file does not know is a mistyped one: "revoked" would leave
    // the leaked key trusted while the operator takes it as done.
    const owner = registeredKids(f).get(values.kid) ?? retiredKids(f).get(values.kid)
    if (owner === undefined) throw new TrustEditError('KEY_UNKNOWN', `${values.kid} is registered nowhere here: nothing was revoked`)
    revokeRegistration(f, [], [values.kid])
    what = `kid ${values.kid} (${owner})`
  } else {
    throw new UsageError('say what to revoke: --agency and --system, --name, --cert or --kid')
  }
  // A key of this gateway's own leaves the key set it publishes, and the
  // partner's file when given (only then: see KEY_NOT_GATEWAYS): both sides or, refused, neither.
  const jwks = values.kid !== undefined && gatewayKids(f).has(values.kid) ? gatewayJwks(c) : undefined
  if (jwks !== undefined) {
    c.write('jwks.json', pki.json(jwks))
    if (partner !== undefined) importPartnerKeys(partner, jwks, revokedGatewayKids(f))
  }
  await saveAll(c, ...(partner === undefined ? [] : [partner]))
  say.line(`revoked ${what}`)
  say.line('  a running gateway refuses it from its next request.')
  if (jwks === undefined) return
  say.line(`  published without it: ${path.join(c.dir, 'jwks.json')} (${jwks.keys.length} keys)`)
  if (partner !== undefined) {
    say.line(`  revoked in the partner's ${path.resolve(values['partner-trust']!)} too: the partner gateway refuses it from its next request`)
  } else {
    say.line(`  the partner still takes it until it runs revoke --kid ${values.kid} (or run this again with --partner-trust <its trust.json>)`)
  }
}

/** Every kid this gateway signs or signed with: its signing keys and the ones it retired. */
function gatewayKids(f: TrustFile): Set<string> {
  return new Set([...f.gateway.signingKeys, ...(f.gateway.retiredKeys ?? [])].map((k) => k.kid))
}

/** Every certificate thumbprint the trust file names: its callers', the partner gateway's pinned ones and this gateway's own. */
function registeredCerts(c: CountryDir): Set<string> {
  const f = c.file
  const own = [f.gateway.tlsCert, f.gateway.nextTlsCert].flatMap((file) =>
    file === undefined ? [] : [pki.certSha256(readFileSync(path.join(c.dir, file), 'utf8'))]
  )
  return new Set([
    ...[...f.agencies, ...f.privacyOfficers, ...(f.operators ?? [])].map((r) => r.certSha256),
    f.partner.gatewayCertSha256,
    ...(f.partner.nextGatewayCertSha256 === undefined ? [] : [f.partner.nextGatewayCertSha256]),
    ...own
  ])
}

/** The kids kept only to verify the ledger's checkpoints and cosignatures: this gateway's retired keys, and the partner's it dropped. */
function retiredKids(f: TrustFile): Map<string, string> {
  return new Map([
    ...(f.gateway.retiredKeys ?? []).map((k): [string, string] => [k.kid, `gateway ${f.country}, retired`]),
    ...(f.partner.retiredKeys ?? []).map((k): [string, string] => [k.kid, `partner gateway ${f.partner.country}, dropped`])
  ])
}

/** This gateway's own keys it revoked: the partner must revoke them too, not merely drop them (docs/operators.md, "Keys and trust CLI"). */
function revokedGatewayKids(f: TrustFile): string[] {
  const own = gatewayKids(f)
  return f.revoked.kids.filter((kid) => own.has(kid))
}

function publicJwkOf(c: CountryDir, key: GatewaySigningKey): PublicSigningJwk {
  const { d: _private, ...publicJwk } = JSON.parse(c.read(key.privateJwk)) as PrivateSigningJwk
  return publicJwk
}

/**
 * The key set handed to the partner (export-jwks, and jwks.json written by
 * rotate-gateway-key, retire-key and revoke): this gateway's signing keys
 * but the revoked ones, as GET /.well-known/jwks.json publishes them. A
 * revoked key handed over would be trusted by the partner again.
 */
function gatewayJwks(c: CountryDir): Jwks {
  const revoked = new Set(c.file.revoked.kids)
  return { keys: c.file.gateway.signingKeys.filter((k) => !revoked.has(k.kid)).map((k) => publicJwkOf(c, k)) }
}

/** The partner's keys from now on; the ones it dropped are kept for verifying its countersignatures only. */
function replacePartnerKeys(file: TrustFile, keys: RegisteredKey[]): void {
  // Both sides' key sets are called jwks.json: this side's own, taken for
  // the partner's, would trust this gateway's keys as the partner's and
  // refuse every envelope the partner signs.
  const ownKeys = [...file.gateway.signingKeys, ...(file.gateway.retiredKeys ?? []), ...file.agencies.flatMap((a) => a.keys)]
  const own = keys.find((k) => ownKeys.some((o) => o.kid === k.kid))
  if (own !== undefined) {
    throw new TrustEditError(
      'JWKS_NOT_PARTNERS',
      `key ${own.kid} is this gateway's own (or one of its agencies'), not the partner's: is this the partner's JWKS?`
    )
  }
  const retiredAt = new Date().toISOString()
  const dropped = file.partner.keys.filter((old) => !keys.some((k) => k.kid === old.kid)).map((old) => ({ ...old, retiredAt }))
  const retired = [...(file.partner.retiredKeys ?? []), ...dropped].filter((r) => !keys.some((k) => k.kid === r.kid))
  file.partner.keys = keys
  file.partner.retiredKeys = retired
}

/**
 * The partner's trust file named by `--partner-trust`, read and checked
 * before anything is written on this side: a command refused for it leaves
 * both files as they were (TrustEditError).
 */
function partnerDir(values: Values, from: Country): CountryDir | undefined {
  const partnerTrust = values['partner-trust']
  if (partnerTrust === undefined) return undefined
  const p = new CountryDir(partnerTrust)
  if (p.file.partner.country !== from) throw new UsageError(`${partnerTrust} is not the trust file of ${from}'s partner`)
  return p
}

/**
 * The partner's trust file given `jwks` and the revocations of our keys
 * (`revokedKids`): a key left out of the set is only retired there, kept to
 * verify the cosignatures it dates before, which whoever holds a leaked
 * key can backdate; a revoked one verifies nothing.
 */
function importPartnerKeys(p: CountryDir, jwks: Jwks, revokedKids: string[]): void {
  replacePartnerKeys(p.file, partnerKeysFromJwks(jwks))
  revokeRegistration(p.file, [], revokedKids)
  p.write(path.join(path.dirname(p.file.partner.gatewayCert), 'jwks.json'), pki.json(jwks))
}

async function rotateGatewayKey(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const partner = partnerDir(values, c.file.country)
  const kid = `${c.file.country.toLowerCase()}-gateway-${pki.kidStamp()}`
  const key = await pki.makeSigningKey(kid, 'ES256')
  const file = `gateway.signing.${kid}.private.jwk.json`
  c.write(file, pki.json(key.privateJwk), true)
  c.file.gateway.signingKeys.push({ kid, alg: key.alg, privateJwk: file })
  const jwks = gatewayJwks(c)
  c.write('jwks.json', pki.json(jwks))
  if (partner !== undefined) importPartnerKeys(partner, jwks, revokedGatewayKids(c.file))
  // Both sides, the new private key and the key sets or, refused, none of them.
  await saveAll(c, ...(partner === undefined ? [] : [partner]))
  say.line(`added gateway signing key ${kid}; ${c.file.gateway.activeKid} still signs`)
  say.line(`  published: ${path.join(c.dir, 'jwks.json')} (${jwks.keys.length} keys)`)
  if (partner !== undefined) {
    say.line(`  imported into the partner's ${path.resolve(values['partner-trust']!)}`)
  } else {
    say.line(`  next: the partner runs import-partner-jwks with that file, then here: activate-gateway-key --kid ${kid}`)
  }
}

async function activateGatewayKey(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const kid = required(values, 'kid')
  if (!c.file.gateway.signingKeys.some((k) => k.kid === kid)) throw new TrustEditError('KEY_UNKNOWN', `${kid} is not one of this gateway's signing keys`)
  if (c.file.revoked.kids.includes(kid)) throw new TrustEditError('KEY_REVOKED', `${kid} is revoked: rotate to a new key`)
  const previous = c.file.gateway.activeKid
  c.file.gateway.activeKid = kid
  await c.save()
  say.line(`gateway ${c.file.country} now signs with ${kid} (was ${previous})`)
  if (previous !== kid) say.line(`  ${previous} still verifies; retire it once the partner no longer needs it: retire-key --kid ${previous}`)
}

async function retireKey(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const kid = required(values, 'kid')
  const f = c.file
  const gatewayKey = f.gateway.signingKeys.find((k) => k.kid === kid)
  if (gatewayKey !== undefined) {
    if (f.gateway.activeKid === kid) throw new TrustEditError('KEY_ACTIVE', `${kid} is the active key: activate another first`)
    const partner = partnerDir(values, f.country)
    const publicJwk = publicJwkOf(c, gatewayKey)
    f.gateway.signingKeys = f.gateway.signingKeys.filter((k) => k !== gatewayKey)
    // The ledger's checkpoints it signed must stay verifiable.
    f.gateway.retiredKeys = [...(f.gateway.retiredKeys ?? []), { kid, alg: gatewayKey.alg, jwk: publicJwk, retiredAt: new Date().toISOString() }]
    c.remove(gatewayKey.privateJwk)
    const jwks = gatewayJwks(c)
    c.write('jwks.json', pki.json(jwks))
    if (partner !== undefined) importPartnerKeys(partner, jwks, revokedGatewayKids(f))
    // Both sides or, refused, neither: the private key is deleted only once both are written.
    await saveAll(c, ...(partner === undefined ? [] : [partner]))
    say.line(`retired gateway key ${kid}; its private key is deleted`)
    if (partner !== undefined) {
      say.line(`  removed from the partner's ${path.resolve(values['partner-trust']!)}`)
    } else {
      say.line(`  the partner imports the new ${path.join(c.dir, 'jwks.json')} to stop accepting it`)
    }
    return
  }
  const reg = f.agencies.find((a) => a.keys.some((k) => k.kid === kid))
  if (reg === undefined) throw new TrustEditError('KEY_UNKNOWN', `${kid} is neither a gateway key nor an agency key here`)
  if (reg.keys.length === 1) throw new TrustEditError('KEY_LAST', `${kid} is the only key of ${reg.agency}/${reg.system}: rotate first, or revoke`)
  reg.keys = reg.keys.filter((k) => k.kid !== kid)
  await c.save()
  await rm(path.join(c.dir, 'agencies', `${reg.agency}-${reg.system}`, `signing.${kid}.private.jwk.json`), { force: true })
  say.line(`retired ${reg.agency}/${reg.system} key ${kid}; it still has ${reg.keys.map((k) => k.kid).join(', ')}`)
}

async function exportJwks(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const jwks = gatewayJwks(c)
  if (values.out === undefined) {
    say.io.stdout.write(pki.json(jwks))
    return
  }
  await new pki.Writer(path.dirname(path.resolve(values.out))).write(path.basename(values.out), pki.json(jwks))
  say.line(`wrote ${jwks.keys.length} public keys (${jwks.keys.map((k) => k.kid).join(', ')}) to ${path.resolve(values.out)}`)
}

async function importPartnerJwks(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const file = required(values, 'jwks')
  let jwks: unknown
  try {
    jwks = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new TrustEditError('JWKS_INVALID', `cannot read ${file}: ${(err as Error).message}`)
  }
  const keys = partnerKeysFromJwks(jwks)
  const before = new Set(c.file.partner.keys.map((k) => k.kid))
  replacePartnerKeys(c.file, keys)
  await c.save()
  const added = keys.filter((k) => !before.has(k.kid)).map((k) => k.kid)
  const removed = [...before].filter((kid) => !keys.some((k) => k.kid === kid))
  say.line(`partner ${c.file.partner.country} keys: ${keys.map((k) => k.kid).join(', ')}`)
  if (added.length > 0) say.line(`  added ${added.join(', ')}`)
  if (removed.length > 0) {
    say.line(`  removed ${removed.join(', ')}: kept to verify the cosignatures they made before now`)
    say.line(`  a key the partner dropped because it leaked must be revoked here too: revoke --kid <kid>`)
  }
}

/** Every certificate file under the country directory, and the ones the trust file names. */
function certificatesUnder(c: CountryDir): CertificateExpiry[] {
  const found: CertificateExpiry[] = []
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(c.dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) walk(child)
      else if (entry.name.endsWith('.crt.pem')) found.push(expiryOf(child, new X509Certificate(readFileSync(path.join(c.dir, child)))))
    }
  }
  walk('')
  return found.sort((a, b) => a.daysLeft - b.daysLeft)
}

function expiry(values: Values, say: Say): void {
  const c = new CountryDir(required(values, 'trust'))
  const warnDays = integer(values, 'warn-days', 30, 3650)
  const certs = certificatesUnder(c)
  const status = (e: CertificateExpiry): string => (e.daysLeft < 0 ? 'EXPIRED' : e.daysLeft <= warnDays ? 'WARN' : 'ok')
  if (values.json) {
    say.io.stdout.write(pki.json(certs.map((e) => ({ ...e, daysLeft: Math.floor(e.daysLeft), status: status(e) }))))
  } else {
    const width = Math.max(...certs.map((e) => e.name.length))
    say.line(`certificates of gateway ${c.file.country} (warning ${warnDays} days ahead)`)
    for (const e of certs) {
      say.line(`  ${status(e).padEnd(7)} ${e.name.padEnd(width)}  ${e.notAfter.slice(0, 10)}  ${String(Math.floor(e.daysLeft)).padStart(5)} days`)
    }
  }
  const due = certs.filter((e) => status(e) !== 'ok')
  if (due.length > 0) {
    say.io.stderr.write(`keys: ${due.length} certificate(s) expired or expiring within ${warnDays} days\n`)
    say.exitCode = 1
  }
}

/** A certificate's subject and names, for its successor: `C=CA\nO=…\nCN=…` and `DNS:…, IP Address:…`. */
function successorOf(cert: X509Certificate): { subject: pki.SubjectSpec; altNames: pki.AltName[] } {
  const subject = Object.fromEntries(cert.subject.split('\n').map((line) => line.split('=', 2) as [string, string])) as unknown as pki.SubjectSpec
  const altNames = (cert.subjectAltName ?? '').split(', ').flatMap((name): pki.AltName[] => {
    if (name.startsWith('DNS:')) return [pki.dns(name.slice('DNS:'.length))]
    if (name.startsWith('IP Address:')) return [pki.ip(name.slice('IP Address:'.length))]
    return []
  })
  return { subject, altNames }
}

const NEXT_TLS_CERT = 'gateway.next.crt.pem'
const NEXT_TLS_KEY = 'gateway.next.key.pem'
const NEXT_PARTNER_CERT = 'gateway.next.crt.pem'

/** The partner's next certificate pinned beside its current one (pin-partner-cert), written when `p` is saved. */
function pinPartnerCertificate(p: CountryDir, pem: string): string {
  const cert = new X509Certificate(pem)
  const partnerCa = new X509Certificate(readFileSync(path.join(p.dir, p.file.partner.ca)))
  if (!issuedBy(cert, partnerCa)) {
    throw new TrustEditError('CERT_NOT_PARTNERS', "the certificate is not issued by the partner's CA (partner.ca)")
  }
  const pin = pki.certSha256(pem)
  if (p.file.revoked.certSha256.includes(pin)) throw new TrustEditError('CERT_REVOKED', `${pin} is revoked`)
  const copy = path.join(path.dirname(p.file.partner.gatewayCert), NEXT_PARTNER_CERT)
  p.write(copy, pem)
  p.file.partner.nextGatewayCert = copy
  p.file.partner.nextGatewayCertSha256 = pin
  return pin
}

/** The partner's next certificate made the only one pinned (promote-partner-cert), written when `p` is saved. */
function promotePartnerCertificate(p: CountryDir): string {
  const { nextGatewayCert, nextGatewayCertSha256 } = p.file.partner
  if (nextGatewayCert === undefined || nextGatewayCertSha256 === undefined) {
    throw new TrustEditError('NO_NEXT_CERT', "no next certificate of the partner's is pinned: pin-partner-cert first")
  }
  // The copy is checked against the pin on load: written with the trust file, or, refused, not at all.
  p.write(p.file.partner.gatewayCert, p.read(nextGatewayCert))
  p.remove(nextGatewayCert)
  p.file.partner.gatewayCertSha256 = nextGatewayCertSha256
  delete p.file.partner.nextGatewayCert
  delete p.file.partner.nextGatewayCertSha256
  return nextGatewayCertSha256
}

async function rotateGatewayCert(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const partner = partnerDir(values, c.file.country)
  if (c.file.gateway.nextTlsCert !== undefined) {
    throw new TrustEditError('NEXT_CERT_EXISTS', `a next certificate is already issued (${c.file.gateway.nextTlsCert}): activate-gateway-cert first`)
  }
  const current = new X509Certificate(readFileSync(path.join(c.dir, c.file.gateway.tlsCert)))
  const issued = await pki.issueServerClient(await c.issuer(values['ca-key']), { ...successorOf(current), days: integer(values, 'days', 825, 3650) })
  c.write(NEXT_TLS_CERT, issued.certPem)
  c.write(NEXT_TLS_KEY, issued.keyPem, true)
  c.file.gateway.nextTlsCert = NEXT_TLS_CERT
  c.file.gateway.nextTlsKey = NEXT_TLS_KEY
  if (partner !== undefined) pinPartnerCertificate(partner, issued.certPem)
  // Both sides or, refused for either, neither.
  await saveAll(c, ...(partner === undefined ? [] : [partner]))
  say.line(
    `issued gateway ${c.file.country}'s next TLS certificate ${path.join(c.dir, NEXT_TLS_CERT)} (x5t#S256 ${issued.sha256}); the current one is still presented`
  )
  if (partner !== undefined) {
    say.line(`  pinned beside the current one in the partner's ${path.resolve(values['partner-trust']!)}`)
  } else {
    say.line(`  next: the partner runs pin-partner-cert --cert-file with that file, then here: activate-gateway-cert`)
  }
}

async function activateGatewayCert(values: Values, say: Say): Promise<void> {
  const c = new CountryDir(required(values, 'trust'))
  const partner = partnerDir(values, c.file.country)
  const { nextTlsCert, nextTlsKey } = c.file.gateway
  if (nextTlsCert === undefined || nextTlsKey === undefined) throw new TrustEditError('NO_NEXT_CERT', 'no next TLS certificate: rotate-gateway-cert first')
  const pem = c.read(nextTlsCert)
  const pin = pki.certSha256(pem)
  // The partner's file, when given, is checked first: a refusal leaves both as they were.
  if (partner !== undefined && !(partner.file.partner.nextGatewayCertSha256 === pin || partner.file.partner.gatewayCertSha256 === pin)) {
    throw new TrustEditError('NOT_PINNED', `the partner has not pinned ${pin}: pin-partner-cert there first`)
  }
  // The key and certificate in force are overwritten with the trust file, or,
  // refused, kept: a gateway started meanwhile presents the one the partner pins.
  c.write(c.file.gateway.tlsKey, c.read(nextTlsKey), true)
  c.write(c.file.gateway.tlsCert, pem)
  c.remove(nextTlsCert)
  c.remove(nextTlsKey)
  delete c.file.gateway.nextTlsCert
  delete c.file.gateway.nextTlsKey
  // A partner that promoted it already (the NOT_PINNED check takes that) has nothing left to do.
  const promote = partner !== undefined && partner.file.partner.nextGatewayCertSha256 === pin
  if (promote) promotePartnerCertificate(partner)
  await saveAll(c, ...(promote ? [partner] : []))
  say.line(`gateway ${c.file.country} presents its new TLS certificate (x5t#S256 ${pin}) from the next reload; the old key is overwritten`)
  if (partner !== undefined) {
    say.line(`  the partner's ${path.resolve(values['partner-trust']!)} now pins it alone`)
  } else {
    say.line('  next: the partner runs promote-partner-cert once this gateway presents it')
  }
}

async function pinPartnerCert(values: Values, say: Say): Promise<void> {
  const p = new CountryDir(required(values, 'trust'))
  const file = required(values, 'cert-file')
  const pin = pinPartnerCertificate(p, readFileSync(file, 'utf8'))
  await p.save()
  say.line(`pinned the partner gateway's next certificate ${pin} beside ${p.file.partner.gatewayCertSha256}: both are taken until promote-partner-cert`)
}

async function promotePartnerCert(values: Values, say: Say): Promise<void> {
  const p = new CountryDir(required(values, 'trust'))
  const previous = p.file.partner.gatewayCertSha256
  const pin = promotePartnerCertificate(p)
  await p.save()
  say.line(`the partner gateway's certificate ${pin} is now the only one pinned (was ${previous})`)
}

const COMMANDS: Record<string, (values: Values, say: Say) => Promise<void> | void> = {
  'create-ca': createCa,
  'issue-agency': issueAgency,
  'issue-client': issueClientCommand,
  'rotate-agency-key': rotateAgencyKey,
  revoke,
  'rotate-gateway-key': rotateGatewayKey,
  'activate-gateway-key': activateGatewayKey,
  'retire-key': retireKey,
  'export-jwks': exportJwks,
  'import-partner-jwks': importPartnerJwks,
  'rotate-gateway-cert': rotateGatewayCert,
  'activate-gateway-cert': activateGatewayCert,
  'pin-partner-cert': pinPartnerCert,
  'promote-partner-cert': promotePartnerCert,
  expiry
}

/** The commands that read a trust file and change none. */
const READ_ONLY: ReadonlySet<string> = new Set(['export-jwks', 'expiry'])

export async function main(argv: string[], io: CliOutput = process): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    io.stderr.write(`keys: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  const [command, ...rest] = parsed.positionals
  if (command === undefined || command === 'help' || parsed.values.help) {
    io.stdout.write(USAGE)
    return command === undefined && !parsed.values.help ? 2 : 0
  }
  const run = COMMANDS[command]
  if (run === undefined || rest.length > 0) {
    io.stderr.write(`keys: ${run === undefined ? `unknown command ${command}` : `unexpected ${rest.join(' ')}`}\n\n${USAGE}`)
    return 2
  }
  const unlocks: Array<() => void> = []
  try {
    // Every trust file a command changes is held from before it is read until
    // it is written: see lockTrustFile.
    if (!READ_ONLY.has(command)) {
      const files = new Set([parsed.values.trust, parsed.values['partner-trust']].flatMap((f) => (f === undefined || f === '' ? [] : [path.resolve(f)])))
      for (const file of files) unlocks.push(lockTrustFile(file))
      // A command stopped among its renames left files in place that the
      // trust file does not name yet: that change is finished (or undone)
      // first, and this one is not made on top of it, since the operator
      // may be running again the very command that was stopped.
      for (const file of files) {
        const interrupted = await finishInterruptedChange(file, [...files])
        if (interrupted === undefined) continue
        io.stderr.write(
          interrupted.outcome === 'finished'
            ? `keys ${command}: a keys command was stopped while putting its change in place (${interrupted.journal}); that change is now in place in full: ${interrupted.files.join(', ')}. Nothing else was done: run this command again if it is still needed [TRUST_CHANGE_FINISHED]\n`
            : `keys ${command}: a keys command was stopped before putting its change in place (${interrupted.journal}); nothing of it was in place, and its staged files are deleted. Nothing else was done: run this command again if it is still needed [TRUST_CHANGE_UNDONE]\n`
        )
        return 1
      }
    }
    const say = new Say(io)
    await run(parsed.values, say)
    return say.exitCode
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`keys ${command}: ${err.message}\n\n${USAGE}`)
      return 2
    }
    const code = err instanceof TrustEditError ? ` [${err.code}]` : ''
    io.stderr.write(`keys ${command}: ${(err as Error).message}${code}\n`)
    return 1
  } finally {
    for (const unlock of unlocks) unlock()
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
