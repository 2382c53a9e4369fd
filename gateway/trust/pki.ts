/**
 * The certificate and key primitives behind both the example PKI and the
 * operator's `keys` CLI: node-forge builds X.509 certificates (node:crypto
 * cannot), node:crypto generates their RSA keys and signs them (much faster
 * than forge's RSA in JavaScript), jose makes the JWS signing keys. Nothing
 * here signs or verifies messages.
 *
 * Certificates are RSA 2048 signed with SHA-256; signing keys are ES256 or
 * EdDSA (Ed25519) JWKs, also written as PKCS#8 PEM so that tools such as
 * openssl can sign with them.
 */
import { X509Certificate, createHash, createPrivateKey, generateKeyPair as nodeGenerateKeyPair, randomBytes, sign } from 'node:crypto'
import { chmod, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { exportJWK, generateKeyPair as joseGenerateKeyPair, type JWK } from 'jose'
import forge from 'node-forge'
import type { Country, PrivateSigningJwk, PublicSigningJwk, RegisteredKey, SigningAlg } from './trust-file.ts'

const generateRsa = promisify(nodeGenerateKeyPair)

// ---------------------------------------------------------------------------
// Certificates

export interface Issued {
  /** LF-terminated PEM */
  certPem: string
  /** PKCS#8 PEM */
  keyPem: string
  cert: forge.pki.Certificate
  sha256: string
}

export interface SubjectSpec {
  C: Country
  O: string
  OU?: string
  CN: string
}

export type AltName = { type: 2; value: string } | { type: 7; ip: string }

export const dns = (value: string): AltName => ({ type: 2, value })
export const ip = (address: string): AltName => ({ type: 7, ip: address })

/** Random positive 16-byte serial, minimally encoded (first byte 0x01..0x7f). */
function randomSerialHex(): string {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f || 0x01
  return bytes.toString('hex')
}

function subjectAttributes(s: SubjectSpec): forge.pki.CertificateField[] {
  const attrs: forge.pki.CertificateField[] = [
    { shortName: 'C', value: s.C },
    { shortName: 'O', value: s.O }
  ]
  if (s.OU !== undefined) attrs.push({ shortName: 'OU', value: s.OU })
  attrs.push({ shortName: 'CN', value: s.CN })
  return attrs
}

/** base64url(SHA-256(DER)): the RFC 8705 `x5t#S256` value. */
export function certSha256(pemOrDer: string | Buffer): string {
  const raw = typeof pemOrDer === 'string' ? new X509Certificate(pemOrDer).raw : pemOrDer
  return createHash('sha256').update(raw).digest('base64url')
}

export interface IssueOptions {
  subject: SubjectSpec
  /** Omit for a self-signed root CA. */
  issuer?: Issued
  days: number
  /** Extensions other than subject/authority key identifiers. */
  extensions: object[]
}

export async function issue(opts: IssueOptions): Promise<Issued> {
  const { privateKey, publicKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' }
  })
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey)
  cert.serialNumber = randomSerialHex()
  const now = Date.now()
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000)
  cert.validity.notAfter = new Date(now + opts.days * 24 * 60 * 60 * 1000)
  const subject = subjectAttributes(opts.subject)
  cert.setSubject(subject)
  cert.setIssuer(opts.issuer ? opts.issuer.cert.subject.attributes : subject)

  const extensions: object[] = [...opts.extensions, { name: 'subjectKeyIdentifier' }]
  if (opts.issuer) {
    // forge's `keyIdentifier: true` would use the subject's own key: name the issuer's explicitly.
    const issuerSki = opts.issuer.cert.generateSubjectKeyIdentifier().getBytes()
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: issuerSki })
  }
  cert.setExtensions(extensions)
  signCertificate(cert, opts.issuer ? opts.issuer.keyPem : privateKey)

  // Re-encode through node:crypto: checks that it parses, and gives LF line endings.
  const x509 = new X509Certificate(forge.pki.certificateToPem(cert))
  return { certPem: x509.toString(), keyPem: privateKey, cert, sha256: certSha256(x509.raw) }
}

/** forge exports `getTBSCertificate` (lib/x509.js); @types/node-forge does not declare it. */
type ForgePkiWithTbs = typeof forge.pki & { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 }

/**
 * What forge's `cert.sign(key, sha256)` does, with the RSA signature made by
 * node:crypto: forge's RSA in JavaScript, with the issuer's key read into
 * forge, took about 40 ms of CPU a certificate; the example PKI's twelve took
 * 1.0–1.1 s to make, and take 0.5–0.6 s (docs/measurements.md, the
 * twenty-sixth session).
 */
function signCertificate(cert: forge.pki.Certificate, issuerKeyPem: string): void {
  cert.md = forge.md.sha256.create()
  cert.signatureOid = cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption!
  const tbsCertificate = (forge.pki as ForgePkiWithTbs).getTBSCertificate(cert)
  // certificateToPem encodes this TBSCertificate, the one signed, not a new one.
  Object.assign(cert, { tbsCertificate })
  const tbs = Buffer.from(forge.asn1.toDer(tbsCertificate).getBytes(), 'binary')
  cert.signature = sign('sha256', tbs, issuerKeyPem).toString('binary')
}

export function issueRootCa(country: Country, days: number, names: { O: string; CN: string }): Promise<Issued> {
  return issue({
    subject: { C: country, ...names },
    days,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }
    ]
  })
}

/** A leaf certificate issued by `ca`: who it names, for how long. */
export interface LeafOptions {
  subject: SubjectSpec
  days: number
}

/** A certificate that is not a CA, for TLS: a client's, or with `altNames` a server's too. */
function issueLeaf(ca: Issued, { subject, days }: LeafOptions, altNames?: AltName[]): Promise<Issued> {
  const extensions =
    altNames === undefined
      ? [
          { name: 'keyUsage', digitalSignature: true, critical: true },
          { name: 'extKeyUsage', clientAuth: true }
        ]
      : [
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
          { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
          { name: 'subjectAltName', altNames }
        ]
  return issue({ subject, issuer: ca, days, extensions: [{ name: 'basicConstraints', cA: false, critical: true }, ...extensions] })
}

/** A certificate usable both as TLS server and TLS client certificate. */
export function issueServerClient(ca: Issued, options: LeafOptions & { altNames: AltName[] }): Promise<Issued> {
  return issueLeaf(ca, options, options.altNames)
}

/** A TLS client-only certificate (privacy officers, operators). */
export function issueClient(ca: Issued, options: LeafOptions): Promise<Issued> {
  return issueLeaf(ca, options)
}

// ---------------------------------------------------------------------------
// Signing keys

export interface SigningKey {
  kid: string
  alg: SigningAlg
  privateJwk: PrivateSigningJwk
  publicJwk: PublicSigningJwk
}

function toSigningJwk(jwk: JWK, kid: string, alg: SigningAlg): PublicSigningJwk & { d?: string } {
  const base = { kid, alg, use: 'sig' as const }
  if (alg === 'ES256' && jwk.kty === 'EC' && jwk.crv === 'P-256' && jwk.x && jwk.y) {
    return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ...(jwk.d ? { d: jwk.d } : {}), ...base, alg }
  }
  if (alg === 'EdDSA' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.x) {
    return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, ...(jwk.d ? { d: jwk.d } : {}), ...base, alg }
  }
  throw new Error(`unexpected JWK for ${alg}: kty=${jwk.kty} crv=${jwk.crv}`)
}

export async function makeSigningKey(kid: string, alg: SigningAlg): Promise<SigningKey> {
  const { privateKey, publicKey } = await joseGenerateKeyPair(alg, { extractable: true })
  const priv = toSigningJwk(await exportJWK(privateKey), kid, alg)
  const pub = toSigningJwk(await exportJWK(publicKey), kid, alg)
  if (priv.d === undefined || 'd' in pub) throw new Error(`key export for ${kid} went wrong`)
  return { kid, alg, privateJwk: priv as PrivateSigningJwk, publicJwk: pub }
}

export function kidStamp(): string {
  const d = new Date()
  const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`
  return `${ymd}-${randomBytes(2).toString('hex')}`
}

export const registered = (k: SigningKey): RegisteredKey => ({ kid: k.kid, alg: k.alg, jwk: k.publicJwk })

/** A CA already on disk, ready to issue with. */
export async function loadIssuer(certFile: string, keyFile: string): Promise<Issued> {
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')])
  const cert = forge.pki.certificateFromPem(certPem)
  return { certPem, keyPem, cert, sha256: certSha256(certPem) }
}

/** PKCS#8 PEM of a private signing JWK, for tools (openssl) that do not read JWKs. */
export function signingKeyPem(jwk: PrivateSigningJwk): string {
  return createPrivateKey({ key: jwk as never, format: 'jwk' }).export({ format: 'pem', type: 'pkcs8' }) as string
}

// ---------------------------------------------------------------------------
// Files

export const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

/** Writes files under one directory; secrets get mode 0600, everything else 0644. */
export class Writer {
  readonly out: string
  readonly files: string[] = []
  constructor(out: string) {
    this.out = out
  }
  async write(rel: string, content: string, secret = false): Promise<void> {
    const file = path.join(this.out, rel)
    await mkdir(path.dirname(file), { recursive: true })
    // Written beside and renamed: a gateway watching the directory never reads half a file.
    const partial = `${file}.${randomBytes(4).toString('hex')}.partial`
    await writeFile(partial, content, { mode: secret ? 0o600 : 0o644 })
    await chmod(partial, secret ? 0o600 : 0o644) // in case the umask interfered
    await rename(partial, file)
    this.files.push(rel.split(path.sep).join('/'))
  }
  /**
   * As write, for a file that is never overwritten (a CA's): linked into
   * place, which fails with EEXIST when something is there already, even
   * one made a moment ago by another command.
   */
  async create(rel: string, content: string, secret = false): Promise<void> {
    const file = path.join(this.out, rel)
    await mkdir(path.dirname(file), { recursive: true })
    const partial = `${file}.${randomBytes(4).toString('hex')}.partial`
    try {
      await writeFile(partial, content, { mode: secret ? 0o600 : 0o644 })
      await chmod(partial, secret ? 0o600 : 0o644)
      await link(partial, file)
    } finally {
      await rm(partial, { force: true })
    }
    this.files.push(rel.split(path.sep).join('/'))
  }
}
