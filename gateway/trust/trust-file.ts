/**
 * The trust file (`trust.json`): everything one gateway needs to know about
 * whom it trusts, and with which keys it speaks (docs/architecture.md, "Trust").
 *
 * One file per gateway. All file paths inside it are relative to the
 * directory that holds the trust file itself, so a country directory such as
 * `keys-example/CA/` can be mounted anywhere (or into a container) as is.
 *
 * A gateway trusts only:
 * - its own agency CA (`agencyCa`) for agency, privacy-officer and operator client
 *   certificates, and only for the subjects registered here;
 * - the partner gateway's certificate, pinned by `partner.gatewayCertSha256`,
 *   for `/v1/exchange` (in both directions), chained to `partner.ca`;
 * - the signing keys registered here, by `kid`, for each signer.
 *
 * Rotation: list two keys (two `kid`s) for a signer while both are valid;
 * for the gateway's own keys, `activeKid` says which one signs. Revocation:
 * add the certificate fingerprint or the `kid` to `revoked`, which wins over
 * any registration.
 *
 * This module holds types only (plus the version constant); loading and
 * checking a trust file is done elsewhere.
 */

/** The trust-file format version this code reads and writes. */
export const TRUST_FILE_VERSION = 1

/** A country running a gateway (ISO 3166-1 alpha-2). */
export type Country = 'CA' | 'US'

/** JWS algorithms on the allow-list (docs/architecture.md, "The pipeline, one message", the JWS step). */
export type SigningAlg = 'ES256' | 'EdDSA'

/**
 * base64url (no padding) SHA-256 of a certificate's DER encoding: the
 * RFC 8705 `x5t#S256` value. Node: `createHash('sha256')
 * .update(new X509Certificate(pem).raw).digest('base64url')`.
 */
export type CertSha256 = string

/** A path relative to the directory holding the trust file. */
export type RelativePath = string

/** An ES256 (ECDSA P-256, SHA-256) public JWK. */
export interface Es256PublicJwk {
  kty: 'EC'
  crv: 'P-256'
  x: string
  y: string
  kid: string
  alg: 'ES256'
  use: 'sig'
}

/** An EdDSA (Ed25519) public JWK. */
export interface EdDsaPublicJwk {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  kid: string
  alg: 'EdDSA'
  use: 'sig'
}

/** A public signing JWK; `kid`, `alg` and `use: "sig"` are always set. */
export type PublicSigningJwk = Es256PublicJwk | EdDsaPublicJwk

/** A private signing JWK (the public JWK plus the private part `d`). */
export type PrivateSigningJwk = (Es256PublicJwk & { d: string }) | (EdDsaPublicJwk & { d: string })

/** A JSON Web Key Set of public signing keys, as published by a gateway. */
export interface Jwks {
  keys: PublicSigningJwk[]
}

/**
 * The subject attributes that identify a client certificate. The
 * certificate must chain to `agencyCa`; then these attributes of its subject
 * must equal the values here, exactly.
 */
export interface CertSubject {
  /** Organisation: the agency (`CBSA`) or office (`CA Privacy Office`). */
  O: string
  /** Organisational unit: the system (`pik-primary`) or role (`privacy-officer`). */
  OU: string
  /** Common name, e.g. `pik-primary.cbsa.ca`, `po-1.privacy.ca`. */
  CN: string
}

/** A public signing key registered for a signer (an agency system or the partner gateway). */
export interface RegisteredKey {
  /** Must equal `jwk.kid` and the `kid` in the JWS protected header. */
  kid: string
  /** Must equal `jwk.alg`; a JWS whose header names another `alg` is refused. */
  alg: SigningAlg
  /** The public key itself, inline. */
  jwk: PublicSigningJwk
}

/**
 * A key no longer in use, kept to verify what it signed while it was: the
 * ledger checkpoints a gateway's key signed, the cosignatures a partner's
 * key made (docs/operators.md, "Keys and trust CLI").
 */
export interface RetiredKey extends RegisteredKey {
  /** When the keys CLI retired it (RFC 3339). A cosignature it made later is refused; absent in files written before it was kept. */
  retiredAt?: string
}

/** Alias of `RegisteredKey` (a `{ kid, alg, jwk }` entry of a trust file). */
export type TrustFileKey = RegisteredKey

/** One of this gateway's own signing keys. */
export interface GatewaySigningKey {
  kid: string
  alg: SigningAlg
  /** File holding the private JWK (a `PrivateSigningJwk`), mode 0600. */
  privateJwk: RelativePath
}

/** This gateway's own identity. */
export interface GatewayIdentity {
  /**
   * PEM certificate used both as the TLS server certificate (towards agencies
   * and the partner) and as the client certificate when calling the partner
   * gateway and agency webhooks. Issued by this country's root CA.
   */
  tlsCert: RelativePath
  /** PKCS#8 PEM private key of `tlsCert`, mode 0600. */
  tlsKey: RelativePath
  /**
   * Signing keys: the active one, plus any still being published during a
   * rotation. Their public halves are what the partner lists in its
   * `partner.keys`.
   */
  signingKeys: GatewaySigningKey[]
  /** The `kid` of the key that signs what this gateway sends; one of `signingKeys`. */
  activeKid: string
  /**
   * Public halves of keys retired by rotation: never accepted for messages or
   * tokens again, kept only to verify the ledger checkpoints they signed.
   */
  retiredKeys?: RetiredKey[]
  /**
   * The TLS certificate and key this gateway will present next, during a
   * rotation (docs/operators.md, "Renewing a gateway's TLS certificate"): the
   * partner pins it beside the current one, then activate-gateway-cert
   * puts it in use.
   */
  nextTlsCert?: RelativePath
  nextTlsKey?: RelativePath
}

/** An agency system allowed to submit (and receive) messages through this gateway. */
export interface AgencyRegistration {
  /** Agency code, e.g. `CBSA`, `IRCC`, `CBP`, `USCIS` (envelope `from.agency` / `to.agency`). */
  agency: string
  /** System name within the agency, e.g. `pik-primary` (envelope `from.system`). */
  system: string
  /** Subject its client certificate must carry. */
  certSubject: CertSubject
  /**
   * Fingerprint of the certificate issued to this system at registration.
   * It is what an access token is bound to (`cnf.x5t#S256`), what an
   * operator can pin, and what `revoked.certSha256` names to revoke it.
   */
  certSha256: CertSha256
  /** Keys it signs envelopes with (two during a rotation). */
  keys: RegisteredKey[]
  /** Message kinds it may send and receive, e.g. `entry-exit.record`. */
  kinds: string[]
  /** Purposes it may state, e.g. `entry-exit-verification`. */
  purposes: string[]
  /**
   * HTTPS URL where the gateway pushes inbound messages for this system
   * (over mTLS: the gateway presents `gateway.tlsCert`; the receiver's
   * server certificate must chain to `agencyCa`).
   */
  webhook: string
}

/** A privacy officer allowed to read the audit ledger (`/v1/audit…`). */
export interface PrivacyOfficerRegistration {
  /** A short name for the officer's credential, e.g. `po-1`. */
  name: string
  /** Subject its client certificate must carry (OU `privacy-officer`). */
  certSubject: CertSubject
  /** Fingerprint of the certificate issued to the officer. */
  certSha256: CertSha256
}

/**
 * An operator of this gateway: may read `/metrics` and manage dead letters
 * (`/v1/operations/…`). It sees message metadata only, never payloads.
 */
export interface OperatorRegistration {
  /** A short name for the operator's credential, e.g. `ops-1`. */
  name: string
  /** Subject its client certificate must carry (OU `operator`). */
  certSubject: CertSubject
  /** Fingerprint of the certificate issued to the operator. */
  certSha256: CertSha256
}

/** Revocations; they win over every registration above. */
export interface Revocations {
  /** Certificates (agency, privacy officer, partner gateway) no longer accepted. */
  certSha256: CertSha256[]
  /** Signing keys no longer accepted, whoever they are registered to. */
  kids: string[]
}

/** The partner country's gateway. */
export interface PartnerTrust {
  country: Country
  /** Base URL of the partner gateway; messages go to `${url}/v1/exchange`. */
  url: string
  /** The partner's root CA (PEM): its gateway certificate chains to it. */
  ca: RelativePath
  /** A copy of the partner gateway's certificate (PEM), for reference. */
  gatewayCert: RelativePath
  /**
   * Pin: the partner gateway's certificate must have exactly this
   * fingerprint, both when it calls `/v1/exchange` and when this gateway
   * calls it.
   */
  gatewayCertSha256: CertSha256
  /**
   * During the partner's certificate renewal: a copy of the certificate it
   * will present next, and its pin, taken beside the current one both ways
   * until promote-partner-cert makes it the only one.
   */
  nextGatewayCert?: RelativePath
  nextGatewayCertSha256?: CertSha256
  /** The partner gateway's public signing keys (its JWKS). */
  keys: RegisteredKey[]
  /** Partner keys it has since retired: kept only to verify its countersignatures in the ledger. */
  retiredKeys?: RetiredKey[]
}

/** The whole trust file. */
export interface TrustFile {
  /** Format version; `TRUST_FILE_VERSION`. */
  version: typeof TRUST_FILE_VERSION
  /**
   * True for generated sandbox material (`keys-example/`): its private keys
   * are public knowledge. A production gateway must refuse such a file.
   */
  example: boolean
  /** The country whose gateway this file configures. */
  country: Country
  gateway: GatewayIdentity
  /**
   * This country's root CA (PEM). Agency and privacy-officer client
   * certificates and agency webhook server certificates must chain to it.
   */
  agencyCa: RelativePath
  agencies: AgencyRegistration[]
  privacyOfficers: PrivacyOfficerRegistration[]
  /** Optional: a gateway with no operators registered has no operator endpoints in use. */
  operators?: OperatorRegistration[]
  revoked: Revocations
  partner: PartnerTrust
}
