// The trust configuration, parsed once into what the hot path needs: KeyObjects
// and certificate thumbprints in maps. Nothing here is re-read per message.
import { X509Certificate, createPublicKey, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { sha256 } from '../lib/digest.ts'
import type { SigningAlgorithm, SigningKey, VerificationKey } from '../jws/signing-key.ts'
import { isAllowedAlgorithm, keyMisfit } from '../jws/signing-key.ts'
import type { RetiredKey, TrustFileKey } from './trust-file.ts'
import { checkTrustFile } from './trust-schema.ts'

export type Country = 'CA' | 'US'

export interface AgencySystem {
  /** `CA/CBSA/pik-primary`: how the system is named in logs, tokens and the ledger. */
  readonly id: string
  readonly country: Country
  readonly agency: string
  readonly system: string
  readonly certSha256: string
  readonly kinds: ReadonlySet<string>
  readonly purposes: ReadonlySet<string>
  readonly webhook: string | undefined
}

export interface PrivacyOfficer {
  readonly id: string
  readonly certSha256: string
}

export interface Operator {
  readonly id: string
  readonly certSha256: string
}

export interface TrustStore {
  readonly country: Country
  readonly partnerCountry: Country
  readonly example: boolean
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string[] }
  readonly agencyCa: X509Certificate
  readonly gatewayCert: X509Certificate
  /** The key this gateway signs with now; others may still verify during rotation. */
  readonly signingKey: SigningKey
  readonly ownKeys: ReadonlyMap<string, VerificationKey>
  /** Own keys, current and retired: what the ledger's checkpoints may be signed with. */
  readonly ownLedgerKeys: ReadonlyMap<string, VerificationKey>
  /**
   * Own keys, current and retired but not revoked: the ledger's keys as
   * GET /.well-known/ledger-keys.json publishes them. A revoked key may have
   * leaked, and a checkpoint whoever holds it signs would pass for the
   * ledger's offline (docs/privacy-officers.md, "Checking a disclosure
   * report offline").
   */
  readonly publishedLedgerKeys: ReadonlyMap<string, VerificationKey>
  /** The agency systems in force (none whose certificate is revoked), by id. */
  readonly agencies: ReadonlyMap<string, AgencySystem>
  readonly agenciesByCert: ReadonlyMap<string, AgencySystem>
  /** Every agency system the trust file lists, by id, revoked or not: what AGENCY_WEBHOOKS may name (config.ts, webhookSystemProblems). */
  readonly listedAgencies: ReadonlySet<string>
  readonly agencyKeys: ReadonlyMap<string, VerificationKey>
  readonly privacyOfficersByCert: ReadonlyMap<string, PrivacyOfficer>
  readonly operatorsByCert: ReadonlyMap<string, Operator>
  readonly revokedCerts: ReadonlySet<string>
  readonly partner: {
    readonly country: Country
    readonly url: string
    readonly ca: string
    readonly caCert: X509Certificate
    /** The partner gateway's certificate, as the trust file's copy has it (the pin is what is checked). */
    readonly gatewayCert: X509Certificate
    readonly gatewayCertSha256: string
    /** During the partner's certificate renewal, its next certificate, pinned beside `gatewayCert`. */
    readonly nextGatewayCert?: X509Certificate
    /**
     * Every certificate the partner gateway may present, as caller and as
     * server: the pinned one, and during its renewal the next one too
     * (docs/operators.md, "Renewing a gateway's TLS certificate").
     */
    readonly gatewayCertPins: readonly string[]
    readonly keys: ReadonlyMap<string, VerificationKey>
    /**
     * Partner keys, current and retired but not revoked: what its
     * cosignatures may be signed with (a retired key's, only before it was
     * retired). Its checkpoints are signed with `keys`, its current ones.
     */
    readonly ledgerKeys: ReadonlyMap<string, VerificationKey>
  }
}

/** Whether `ca` issued `cert`: named as its issuer, and its signature verifies under the CA's key. */
export function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey)
}

export function gatewayOwner(country: Country): string {
  return `gateway:${country}`
}

/** Throws unless the key can do the algorithm its entry registers it for (signing-key.ts, keyMisfit). */
function checkKeyFits(entry: { readonly kid: string; readonly alg: SigningAlgorithm }, key: KeyObject, jwkAlg: unknown): void {
  const misfit = keyMisfit(entry.alg, key, jwkAlg)
  if (misfit !== undefined) throw new Error(`trust file: key ${entry.kid} is registered for ${entry.alg}, but ${misfit}`)
}

function verificationKey(entry: TrustFileKey | RetiredKey, owner: string): VerificationKey {
  if (!isAllowedAlgorithm(entry.alg)) throw new Error(`trust file: key ${entry.kid} uses ${entry.alg}, which is not allowed`)
  const key = { kid: entry.kid, alg: entry.alg, owner, key: createPublicKey({ key: entry.jwk as never, format: 'jwk' }) }
  checkKeyFits(entry, key.key, (entry.jwk as { alg?: unknown }).alg)
  if (!('retiredAt' in entry) || entry.retiredAt === undefined) return key
  const retiredAt = Math.floor(Date.parse(entry.retiredAt) / 1000)
  // The schema's pattern lets through a day or an hour no calendar has.
  if (!Number.isSafeInteger(retiredAt)) throw new Error(`trust file: key ${entry.kid} has retiredAt ${entry.retiredAt}, which is no time`)
  return { ...key, retiredAt }
}

/**
 * A private JWK file read as JSON. A reader's syntax error quotes the text
 * around the fault, which here is key material, and the message reaches the
 * start's fatal line and a refused reload's log line: the file is named
 * instead, with nothing of what is in it.
 */
function privateJwk(text: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new Error(`trust file: ${what} is not JSON`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`trust file: ${what} is not a JWK object`)
  return value as Record<string, unknown>
}

export function loadTrustStore(trustFilePath: string, pending: ReadonlyMap<string, string> = new Map()): TrustStore {
  const base = dirname(resolve(trustFilePath))
  // The shape first (schemas/trust.schema.json); then what no schema can say:
  // that the key material parses, that activeKid is a signing key, that a kid is registered once.
  const file = checkTrustFile(JSON.parse(readFileSync(trustFilePath, 'utf8')), trustFilePath)
  // `pending`: the files a change of the keys CLI writes with the trust file,
  // by absolute path, read in place of what is on disk (trust-edit.ts).
  const read = (path: string): string => pending.get(resolve(base, path)) ?? readFileSync(resolve(base, path), 'utf8')
  const country = file.country
  const revokedKids = new Set(file.revoked.kids)
  const revokedCerts = new Set(file.revoked.certSha256)

  const signingEntries = file.gateway.signingKeys.map((entry) => {
    if (!isAllowedAlgorithm(entry.alg)) throw new Error(`trust file: gateway key ${entry.kid} uses ${entry.alg}`)
    const jwk = privateJwk(read(entry.privateJwk), `gateway key ${entry.kid}: its private key file ${entry.privateJwk}`)
    const key: KeyObject = createPrivateKey({ key: jwk as never, format: 'jwk' })
    checkKeyFits(entry, key, jwk.alg)
    return { kid: entry.kid, alg: entry.alg, key }
  })
  const signingKey = signingEntries.find((k) => k.kid === file.gateway.activeKid)
  if (signingKey === undefined) throw new Error(`trust file: activeKid ${file.gateway.activeKid} is not among the gateway's signing keys`)
  if (revokedKids.has(signingKey.kid)) throw new Error(`trust file: activeKid ${signingKey.kid} is revoked`)
  const ownLedgerKeys = new Map<string, VerificationKey>()
  for (const k of signingEntries) {
    ownLedgerKeys.set(k.kid, { kid: k.kid, alg: k.alg, owner: gatewayOwner(country), key: createPublicKey(k.key) })
  }
  // A revoked key of this gateway's own is refused as an agency's or the
  // partner's is: no access token it signed is taken, and the JWKS no longer
  // publishes it. The checkpoints it signed while it was active stay
  // verifiable by the ledger's keys, as a retired key's do.
  const ownKeys = new Map([...ownLedgerKeys].filter(([kid]) => !revokedKids.has(kid)))
  for (const k of file.gateway.retiredKeys ?? []) {
    if (!ownLedgerKeys.has(k.kid)) ownLedgerKeys.set(k.kid, verificationKey(k, gatewayOwner(country)))
  }
  const publishedLedgerKeys = new Map([...ownLedgerKeys].filter(([kid]) => !revokedKids.has(kid)))

  const agencies = new Map<string, AgencySystem>()
  const agenciesByCert = new Map<string, AgencySystem>()
  const agencyKeys = new Map<string, VerificationKey>()
  const listedAgencies = new Set<string>()
  for (const a of file.agencies) {
    const system: AgencySystem = {
      id: `${country}/${a.agency}/${a.system}`,
      country,
      agency: a.agency,
      system: a.system,
      certSha256: a.certSha256,
      kinds: new Set(a.kinds),
      purposes: new Set(a.purposes),
      webhook: a.webhook === '' ? undefined : a.webhook
    }
    listedAgencies.add(system.id)
    // A system whose certificate is revoked is neither a caller nor a receiver.
    if (!revokedCerts.has(a.certSha256)) {
      agencies.set(system.id, system)
      agenciesByCert.set(a.certSha256, system)
    }
    for (const k of a.keys) {
      if (revokedKids.has(k.kid)) continue
      if (agencyKeys.has(k.kid)) throw new Error(`trust file: kid ${k.kid} is registered twice`)
      agencyKeys.set(k.kid, verificationKey(k, system.id))
    }
  }

  const privacyOfficersByCert = new Map<string, PrivacyOfficer>()
  for (const po of file.privacyOfficers) {
    if (!revokedCerts.has(po.certSha256)) privacyOfficersByCert.set(po.certSha256, { id: `${country}/privacy-officer/${po.name}`, certSha256: po.certSha256 })
  }

  const operatorsByCert = new Map<string, Operator>()
  for (const op of file.operators ?? []) {
    if (!revokedCerts.has(op.certSha256)) operatorsByCert.set(op.certSha256, { id: `${country}/operator/${op.name}`, certSha256: op.certSha256 })
  }

  const partnerCountry = file.partner.country
  const partnerKeys = new Map<string, VerificationKey>()
  for (const k of file.partner.keys) {
    if (!revokedKids.has(k.kid)) partnerKeys.set(k.kid, verificationKey(k, gatewayOwner(partnerCountry)))
  }

  // A revoked key, one that leaked, verifies nothing the partner says it signed:
  // a later cosignature of this ledger covers the entries an earlier one did.
  const partnerLedgerKeys = new Map(partnerKeys)
  for (const k of file.partner.retiredKeys ?? []) {
    if (!partnerLedgerKeys.has(k.kid) && !revokedKids.has(k.kid)) partnerLedgerKeys.set(k.kid, verificationKey(k, gatewayOwner(partnerCountry)))
  }

  const tlsCert = read(file.gateway.tlsCert)
  const tlsKey = read(file.gateway.tlsKey)
  const agencyCaPem = read(file.agencyCa)
  const partnerCaPem = read(file.partner.ca)
  const gatewayCert = new X509Certificate(tlsCert)
  // Otherwise only the HTTPS server, as it starts, would find out: the
  // check of the configuration and the keys CLI load the file this way too.
  if (!gatewayCert.checkPrivateKey(createPrivateKey(tlsKey))) {
    throw new Error(`trust file: gateway.tlsKey ${file.gateway.tlsKey} is not the key of gateway.tlsCert ${file.gateway.tlsCert}`)
  }
  const partnerCaCert = new X509Certificate(partnerCaPem)
  // The copy is what the partner certificate's expiry is watched by (keys
  // expiry, /metrics): it must be the one pinned, and of the partner's CA.
  const pinnedCopy = (member: 'gatewayCert' | 'nextGatewayCert', copy: string, pin: string): X509Certificate => {
    const cert = new X509Certificate(read(copy))
    if (sha256(cert.raw) !== pin) throw new Error(`trust file: partner.${member} ${copy} is not the pinned certificate (partner.${member}Sha256)`)
    if (!issuedBy(cert, partnerCaCert)) {
      throw new Error(`trust file: partner.${member} ${copy} is not issued by the partner's CA (partner.ca)`)
    }
    return cert
  }
  const partnerGatewayCert = pinnedCopy('gatewayCert', file.partner.gatewayCert, file.partner.gatewayCertSha256)
  const { nextGatewayCert, nextGatewayCertSha256 } = file.partner
  const partnerNextGatewayCert =
    nextGatewayCert !== undefined && nextGatewayCertSha256 !== undefined ? pinnedCopy('nextGatewayCert', nextGatewayCert, nextGatewayCertSha256) : undefined
  return {
    country,
    partnerCountry,
    example: file.example === true,
    tls: { cert: tlsCert, key: tlsKey, ca: [agencyCaPem, partnerCaPem] },
    agencyCa: new X509Certificate(agencyCaPem),
    gatewayCert,
    signingKey,
    ownKeys,
    ownLedgerKeys,
    publishedLedgerKeys,
    agencies,
    agenciesByCert,
    listedAgencies,
    agencyKeys,
    privacyOfficersByCert,
    operatorsByCert,
    revokedCerts,
    partner: {
      country: partnerCountry,
      url: file.partner.url,
      ca: partnerCaPem,
      caCert: partnerCaCert,
      gatewayCert: partnerGatewayCert,
      gatewayCertSha256: file.partner.gatewayCertSha256,
      ...(partnerNextGatewayCert === undefined ? {} : { nextGatewayCert: partnerNextGatewayCert }),
      gatewayCertPins: nextGatewayCertSha256 === undefined ? [file.partner.gatewayCertSha256] : [file.partner.gatewayCertSha256, nextGatewayCertSha256],
      keys: partnerKeys,
      ledgerKeys: partnerLedgerKeys
    }
  }
}

/**
 * What a reload changed, in words for the log: keys and identities added or
 * removed, and revocations. Never names a person: only kids, system ids and
 * certificate thumbprints.
 */
export function describeTrustChange(before: TrustStore, after: TrustStore): string[] {
  const changes: string[] = []
  const diff = (what: string, a: Iterable<string>, b: Iterable<string>): void => {
    const was = new Set(a)
    const now = new Set(b)
    for (const x of now) if (!was.has(x)) changes.push(`${what} added: ${x}`)
    for (const x of was) if (!now.has(x)) changes.push(`${what} removed: ${x}`)
  }
  diff('gateway signing key', before.ownKeys.keys(), after.ownKeys.keys())
  if (before.signingKey.kid !== after.signingKey.kid) changes.push(`active signing key: ${before.signingKey.kid} -> ${after.signingKey.kid}`)
  diff('partner signing key', before.partner.keys.keys(), after.partner.keys.keys())
  diff('agency signing key', before.agencyKeys.keys(), after.agencyKeys.keys())
  diff('agency certificate', before.agenciesByCert.keys(), after.agenciesByCert.keys())
  diff('privacy officer certificate', before.privacyOfficersByCert.keys(), after.privacyOfficersByCert.keys())
  diff('operator certificate', before.operatorsByCert.keys(), after.operatorsByCert.keys())
  diff('revoked certificate', before.revokedCerts, after.revokedCerts)
  diff('partner gateway certificate pin', before.partner.gatewayCertPins, after.partner.gatewayCertPins)
  if (before.partner.url !== after.partner.url) changes.push(`partner URL: ${before.partner.url} -> ${after.partner.url}`)
  if (before.tls.cert !== after.tls.cert) changes.push('gateway TLS certificate changed')
  return changes
}

/** RFC 8705 §3.1: the `x5t#S256` thumbprint of a certificate. */
export function certThumbprint(der: Uint8Array): string {
  return sha256(der)
}
