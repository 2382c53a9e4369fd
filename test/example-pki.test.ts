// The example PKI (keys-example/): a fresh set made by the generator into a
// temporary directory, and the committed set, both checked with node:crypto
// (never with node-forge), jose, and real mTLS handshakes.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { CompactSign, compactVerify, importJWK } from 'jose'
import t from 'tap'
import { certSha256, generateExamplePki } from '../tools/generate-example-pki.ts'
import type { Country, PrivateSigningJwk, PublicSigningJwk, TrustFile } from '../gateway/trust/trust-file.ts'

type TT = Parameters<Parameters<typeof t.test>[0]>[0]

const COMMITTED = fileURLToPath(new URL('../keys-example/', import.meta.url))
const COUNTRIES: Country[] = ['CA', 'US']
const EKU_SERVER = '1.3.6.1.5.5.7.3.1'
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2'
const HOUR = 3600_000
const DAY = 24 * HOUR

const read = (file: string): Promise<string> => readFile(file, 'utf8')
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await read(file)) as T
const b64url = (s: string): string => Buffer.from(s).toString('base64url')

function subjectOf(cert: X509Certificate): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of cert.subject.split('\n')) {
    const i = line.indexOf('=')
    out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

interface Checked {
  dir: string
  trust: TrustFile
  ca: X509Certificate
}

interface CheckOptions {
  /** A set generated just now: check the validity window and the file modes exactly. */
  fresh?: { days: number; at: number }
}

/** Everything the trust files of one set promise, checked against the files. */
async function checkSet(t: TT, out: string, opts: CheckOptions = {}): Promise<Record<Country, Checked>> {
  const sets = {} as Record<Country, Checked>
  for (const C of COUNTRIES) {
    const dir = path.join(out, C)
    const trust = await readJson<TrustFile>(path.join(dir, 'trust.json'))
    sets[C] = { dir, trust, ca: new X509Certificate(await read(path.join(dir, trust.agencyCa))) }
  }

  const checkLeaf = (cert: X509Certificate, ca: X509Certificate, what: string): void => {
    t.ok(cert.verify(ca.publicKey), `${what}: signed by its country root`)
    t.ok(cert.checkIssued(ca), `${what}: issued by its country root (names and key identifiers)`)
    t.equal(cert.ca, false, `${what}: not a CA`)
    t.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/, `${what}: positive 16-byte serial`)
    t.equal(cert.publicKey.asymmetricKeyType, 'rsa', `${what}: RSA key`)
    t.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 2048, `${what}: 2048 bits`)
    const now = Date.now()
    t.ok(cert.validFromDate.getTime() <= now && now < cert.validToDate.getTime(), `${what}: valid now`)
    if (opts.fresh) {
      const { at, days } = opts.fresh
      t.ok(Math.abs(cert.validFromDate.getTime() - (at - HOUR)) < 5 * 60_000, `${what}: valid from now - 1 h`)
      t.ok(Math.abs(cert.validToDate.getTime() - (at + days * DAY)) < 5 * 60_000, `${what}: valid ${days} days`)
    }
  }
  const checkKeyPair = async (certFile: string, keyFile: string, what: string): Promise<X509Certificate> => {
    const cert = new X509Certificate(await read(certFile))
    const keyPem = await read(keyFile)
    t.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/, `${what}: key is PKCS#8 PEM`)
    t.ok(cert.checkPrivateKey(createPrivateKey(keyPem)), `${what}: key matches certificate`)
    await checkSecret(keyFile, what)
    return cert
  }
  const checkSecret = async (file: string, what: string): Promise<void> => {
    if (!opts.fresh) return // git does not keep file modes other than +x
    t.equal((await stat(file)).mode & 0o777, 0o600, `${what}: ${path.basename(file)} is mode 0600`)
  }
  const checkSigning = async (privateFile: string, registered: { kid: string; alg: string; jwk: PublicSigningJwk }, what: string): Promise<void> => {
    const priv = await readJson<PrivateSigningJwk>(privateFile)
    await checkSecret(privateFile, what)
    t.equal(priv.kid, registered.kid, `${what}: private JWK kid`)
    t.equal(registered.jwk.kid, registered.kid, `${what}: public JWK kid`)
    t.equal(priv.alg, registered.alg, `${what}: private JWK alg`)
    t.equal(registered.jwk.alg, registered.alg, `${what}: public JWK alg`)
    t.equal(priv.use, 'sig', `${what}: private JWK use`)
    t.equal(registered.jwk.use, 'sig', `${what}: public JWK use`)
    t.notOk('d' in registered.jwk, `${what}: registered JWK is public`)
    const { d: _d, ...pubOfPriv } = priv
    t.same(pubOfPriv, registered.jwk, `${what}: registered JWK is the private key's public half`)
    const signer = await importJWK(priv, priv.alg)
    const verifier = await importJWK(registered.jwk, registered.alg)
    const jws = await new CompactSign(new TextEncoder().encode('{"probe":true}')).setProtectedHeader({ alg: registered.alg, kid: registered.kid }).sign(signer)
    const { protectedHeader } = await compactVerify(jws, verifier, { algorithms: [registered.alg] })
    t.equal(protectedHeader.kid, registered.kid, `${what}: signs and verifies`)
  }

  for (const C of COUNTRIES) {
    const { dir, trust, ca } = sets[C]
    const P: Country = C === 'CA' ? 'US' : 'CA'
    const c = C.toLowerCase()
    const file = (rel: string): string => path.join(dir, rel)

    t.equal(trust.version, 1, `${C}: version`)
    t.equal(trust.example, true, `${C}: marked as example`)
    t.equal(trust.country, C, `${C}: country`)

    // Root CA
    t.equal(ca.ca, true, `${C}: root is a CA`)
    t.ok(ca.verify(ca.publicKey), `${C}: root is self-signed`)
    t.same(subjectOf(ca), { C, O: `Beyond the Border Gateway (EXAMPLE ${C})`, CN: `BTB Example ${C} Root CA` }, `${C}: root subject`)
    t.equal(ca.subject, ca.issuer, `${C}: root issuer`)
    const caKey = await checkKeyPair(file('ca.crt.pem'), file('ca.key.pem'), `${C} root`)
    t.equal(caKey.fingerprint256, ca.fingerprint256, `${C}: agencyCa is ca.crt.pem`)

    // Gateway TLS certificate
    const gw = await checkKeyPair(file(trust.gateway.tlsCert), file(trust.gateway.tlsKey), `${C} gateway`)
    checkLeaf(gw, ca, `${C} gateway`)
    t.same(subjectOf(gw), { C, O: `${C} Gateway`, CN: `${c}-gateway.btb.example` }, `${C} gateway: subject`)
    for (const host of ['localhost', `${c}-gateway.btb.example`, `${c}-gateway`]) {
      t.equal(gw.checkHost(host), host, `${C} gateway: SAN DNS ${host}`)
    }
    t.equal(gw.checkIP('127.0.0.1'), '127.0.0.1', `${C} gateway: SAN IP 127.0.0.1`)
    t.equal(gw.checkIP('::1'), '::1', `${C} gateway: SAN IP ::1`)
    t.equal(gw.checkHost('evil.example'), undefined, `${C} gateway: no other names`)
    t.same([...(gw.keyUsage ?? [])].sort(), [EKU_SERVER, EKU_CLIENT], `${C} gateway: serverAuth + clientAuth`)

    // Gateway signing key(s), published in jwks.json, and in the partner's trust file
    const jwks = await readJson<{ keys: PublicSigningJwk[] }>(file('jwks.json'))
    const partnerTrust = sets[P].trust
    t.ok(
      trust.gateway.signingKeys.some((k) => k.kid === trust.gateway.activeKid),
      `${C}: activeKid is one of signingKeys`
    )
    t.match(trust.gateway.activeKid, new RegExp(`^${c}-gateway-\\d{8}-[0-9a-f]{4}$`), `${C}: gateway kid format`)
    for (const k of trust.gateway.signingKeys) {
      t.equal(k.alg, 'ES256', `${C} gateway key: ES256`)
      t.equal(k.privateJwk, `gateway.signing.${k.kid}.private.jwk.json`, `${C} gateway key: file name`)
      const published = jwks.keys.find((j) => j.kid === k.kid)
      t.ok(published, `${C} gateway key ${k.kid}: in jwks.json`)
      if (!published) continue
      await checkSigning(file(k.privateJwk), { kid: k.kid, alg: k.alg, jwk: published }, `${C} gateway key`)
      t.same(partnerTrust.partner.keys.find((pk) => pk.kid === k.kid)?.jwk, published, `${C} gateway key: registered with ${P}`)
    }
    t.same(await readJson(path.join(sets[P].dir, 'partner/jwks.json')), jwks, `${P}/partner/jwks.json is a copy of ${C}/jwks.json`)

    // Agency systems
    const expectedAgencies = C === 'CA' ? ['CBSA/pik-primary', 'IRCC/gcms-biometrics'] : ['CBP/ades', 'USCIS/ident-gateway']
    t.same(
      trust.agencies.map((a) => `${a.agency}/${a.system}`),
      expectedAgencies,
      `${C}: agencies`
    )
    for (const a of trust.agencies) {
      const what = `${C} ${a.agency}/${a.system}`
      const adir = `agencies/${a.agency}-${a.system}`
      const lower = a.agency.toLowerCase()
      const cert = await checkKeyPair(file(`${adir}/client.crt.pem`), file(`${adir}/client.key.pem`), what)
      checkLeaf(cert, ca, what)
      t.same(a.certSubject, { O: a.agency, OU: a.system, CN: `${a.system}.${lower}.${c}` }, `${what}: registered subject`)
      t.same(subjectOf(cert), { C, ...a.certSubject }, `${what}: certificate subject`)
      t.equal(a.certSha256, certSha256(cert.raw), `${what}: certSha256`)
      t.equal(a.certSha256, Buffer.from(cert.fingerprint256.replaceAll(':', ''), 'hex').toString('base64url'), `${what}: certSha256 = fingerprint256`)
      t.equal(cert.checkIP('127.0.0.1'), '127.0.0.1', `${what}: SAN IP 127.0.0.1`)
      t.equal(cert.checkIP('::1'), '::1', `${what}: SAN IP ::1`)
      t.equal(cert.checkHost('localhost'), 'localhost', `${what}: SAN DNS localhost`)
      t.equal(cert.checkHost(`${c}-${lower}-${a.system}`), `${c}-${lower}-${a.system}`, `${what}: SAN DNS service name`)
      t.same([...(cert.keyUsage ?? [])].sort(), [EKU_SERVER, EKU_CLIENT], `${what}: serverAuth + clientAuth`)
      t.equal(a.keys.length, 1, `${what}: one key`)
      const key = a.keys[0]!
      t.equal(key.alg, a.agency === 'CBSA' || a.agency === 'CBP' ? 'ES256' : 'EdDSA', `${what}: signing alg`)
      t.same(await readJson(file(`${adir}/signing.public.jwk.json`)), key.jwk, `${what}: signing.public.jwk.json is the registered key`)
      await checkSigning(file(`${adir}/signing.private.jwk.json`), key, what)
      const entryExit = a.agency === 'CBSA' || a.agency === 'CBP'
      t.same(
        a.kinds,
        entryExit
          ? ['entry-exit.record', 'entry-exit.batch', 'traveller.designation', 'traveller.designation-batch', 'biometric.match-response']
          : [
              'biometric.match-request',
              'biometric.match-response',
              'entry-exit.record',
              'entry-exit.batch',
              'traveller.designation',
              'traveller.designation-batch'
            ],
        `${what}: kinds, those it sends and those the policies let the partner send it`
      )
      t.same(
        a.purposes,
        entryExit
          ? ['entry-exit-verification', 'residency-determination', 'removal-enforcement', 'trusted-traveller-vetting', 'business-traveller-facilitation']
          : ['immigration-examination', 'asylum-claim'],
        `${what}: purposes`
      )
      t.match(a.webhook, /^https:\/\/127\.0\.0\.1:944[1-4]\/v1\/inbox$/, `${what}: webhook`)
    }
    t.same(
      trust.agencies.map((a) => a.webhook),
      C === 'CA'
        ? ['https://127.0.0.1:9441/v1/inbox', 'https://127.0.0.1:9442/v1/inbox']
        : ['https://127.0.0.1:9443/v1/inbox', 'https://127.0.0.1:9444/v1/inbox'],
      `${C}: webhooks`
    )

    // Privacy officers
    t.same(
      trust.privacyOfficers.map((o) => o.name),
      ['po-1'],
      `${C}: privacy officers`
    )
    for (const o of trust.privacyOfficers) {
      const what = `${C} privacy officer ${o.name}`
      const odir = `privacy-officers/${o.name}`
      const cert = await checkKeyPair(file(`${odir}/client.crt.pem`), file(`${odir}/client.key.pem`), what)
      checkLeaf(cert, ca, what)
      t.same(o.certSubject, { O: `${C} Privacy Office`, OU: 'privacy-officer', CN: `${o.name}.privacy.${c}` }, `${what}: registered subject`)
      t.same(subjectOf(cert), { C, ...o.certSubject }, `${what}: certificate subject`)
      t.equal(o.certSha256, certSha256(cert.raw), `${what}: certSha256`)
      t.same(cert.keyUsage, [EKU_CLIENT], `${what}: clientAuth only`)
    }

    t.same(trust.revoked, { certSha256: [], kids: [] }, `${C}: nothing revoked`)

    // Partner: copies of the other country's public material, pinned
    const partnerDir = sets[P].dir
    t.equal(trust.partner.country, P, `${C}: partner country`)
    t.equal(trust.partner.url, P === 'US' ? 'https://127.0.0.1:8442' : 'https://127.0.0.1:8441', `${C}: partner url`)
    t.equal(await read(file(trust.partner.ca)), await read(path.join(partnerDir, 'ca.crt.pem')), `${C}: partner CA copy`)
    t.equal(await read(file(trust.partner.gatewayCert)), await read(path.join(partnerDir, 'gateway.crt.pem')), `${C}: partner gateway cert copy`)
    const partnerGw = new X509Certificate(await read(file(trust.partner.gatewayCert)))
    t.equal(trust.partner.gatewayCertSha256, certSha256(partnerGw.raw), `${C}: partner gateway pin`)
    t.ok(partnerGw.verify(new X509Certificate(await read(file(trust.partner.ca))).publicKey), `${C}: partner gateway cert chains to partner CA`)
    t.notOk(partnerGw.verify(ca.publicKey), `${C}: partner gateway cert does not chain to own CA`)
  }
  return sets
}

interface Side {
  authorized: boolean
  error: string | undefined
  peerCN: string | undefined
}

/** One mTLS handshake on 127.0.0.1; reports what each side concluded about the other. */
async function handshake(
  server: { cert: string; key: string; ca: string[] },
  client: { cert: string; key: string; ca: string[] }
): Promise<{ server: Side; client: Side }> {
  let resolveServer: (side: Side) => void = () => {}
  const serverSide = new Promise<Side>((resolve) => {
    resolveServer = resolve
  })
  const srv = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: false }, (socket) => {
    const err = socket.authorizationError
    resolveServer({
      authorized: socket.authorized,
      error: err === null || err === undefined ? undefined : String(err),
      peerCN: socket.getPeerCertificate().subject?.CN as string | undefined
    })
    socket.end()
  })
  srv.on('tlsClientError', (err) => resolveServer({ authorized: false, error: err.message, peerCN: undefined }))
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  try {
    const { port } = srv.address() as AddressInfo
    const clientSide = await new Promise<Side>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ...client, rejectUnauthorized: false }, () => {
        const err = socket.authorizationError
        resolve({
          authorized: socket.authorized,
          error: err === null || err === undefined ? undefined : String(err),
          peerCN: socket.getPeerCertificate().subject?.CN as string | undefined
        })
        socket.on('error', () => {})
        socket.end()
      })
      socket.once('error', reject)
    })
    return { server: await serverSide, client: clientSide }
  } finally {
    await new Promise((resolve) => srv.close(resolve))
  }
}

async function checkHandshakes(t: TT, out: string, stranger?: { cert: string; key: string }): Promise<void> {
  const f = (rel: string): Promise<string> => read(path.join(out, rel))
  const caRoot = await f('CA/ca.crt.pem')
  const usRoot = await f('US/ca.crt.pem')
  const caGateway = { cert: await f('CA/gateway.crt.pem'), key: await f('CA/gateway.key.pem') }
  // The CA gateway's listener: its own agency CA and the partner's CA.
  const caGatewayServer = { ...caGateway, ca: [caRoot, usRoot] }

  const cbsa = await handshake(caGatewayServer, {
    cert: await f('CA/agencies/CBSA-pik-primary/client.crt.pem'),
    key: await f('CA/agencies/CBSA-pik-primary/client.key.pem'),
    ca: [caRoot]
  })
  t.same(cbsa.server, { authorized: true, error: undefined, peerCN: 'pik-primary.cbsa.ca' }, 'CA gateway accepts the CBSA client cert')
  t.same(cbsa.client, { authorized: true, error: undefined, peerCN: 'ca-gateway.btb.example' }, 'CBSA accepts the CA gateway (IP SAN 127.0.0.1)')

  const usGw = await handshake(caGatewayServer, {
    cert: await f('US/gateway.crt.pem'),
    key: await f('US/gateway.key.pem'),
    ca: [await f('US/partner/ca.crt.pem')]
  })
  t.same(usGw.server, { authorized: true, error: undefined, peerCN: 'us-gateway.btb.example' }, 'CA gateway accepts the US gateway as client')
  t.same(
    usGw.client,
    { authorized: true, error: undefined, peerCN: 'ca-gateway.btb.example' },
    'US gateway accepts the CA gateway, trusting its partner/ca.crt.pem'
  )

  const po = await handshake(caGatewayServer, {
    cert: await f('CA/privacy-officers/po-1/client.crt.pem'),
    key: await f('CA/privacy-officers/po-1/client.key.pem'),
    ca: [caRoot]
  })
  t.same(po.server, { authorized: true, error: undefined, peerCN: 'po-1.privacy.ca' }, 'CA gateway accepts the privacy officer')

  // The CA gateway pushing to the CBSA webhook receiver (agency cert as server cert).
  const webhook = await handshake(
    {
      cert: await f('CA/agencies/CBSA-pik-primary/client.crt.pem'),
      key: await f('CA/agencies/CBSA-pik-primary/client.key.pem'),
      ca: [caRoot]
    },
    { ...caGateway, ca: [caRoot] }
  )
  t.same(webhook.server, { authorized: true, error: undefined, peerCN: 'ca-gateway.btb.example' }, 'CBSA webhook receiver accepts the CA gateway')
  t.same(webhook.client, { authorized: true, error: undefined, peerCN: 'pik-primary.cbsa.ca' }, 'CA gateway accepts the CBSA webhook server cert')

  // A US agency is not a CA-gateway client by chain alone: the US root is trusted at
  // the TLS layer (for the partner gateway), so the gateway must check the pin/subject.
  // What the TLS layer must refuse is a certificate from an unrelated CA.
  if (stranger) {
    const other = await handshake(caGatewayServer, { ...stranger, ca: [caRoot] })
    t.equal(other.server.authorized, false, 'CA gateway refuses a client cert from another PKI')
    t.match(other.server.error, /^UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)$/, 'because it does not chain to a trusted root')
  }
}

t.test('a fresh set', async (t) => {
  const out = await mkdtemp(path.join(tmpdir(), 'btb-pki-'))
  t.teardown(() => rm(out, { recursive: true, force: true }))
  // Only CA/, US/ and README.md are replaced: other things under --out stay.
  await mkdir(path.join(out, 'CA'), { recursive: true })
  await writeFile(path.join(out, 'CA', 'stale.txt'), 'old')
  await writeFile(path.join(out, 'keep.txt'), 'mine')

  const at = Date.now()
  const result = await generateExamplePki({ out, days: 30 })
  t.comment(`generated in ${result.elapsedMs.toFixed(0)} ms`)
  t.equal(result.out, out)
  t.equal(await read(path.join(out, 'keep.txt')), 'mine', 'files other than CA/, US/, README.md are left alone')
  await t.rejects(stat(path.join(out, 'CA', 'stale.txt')), { code: 'ENOENT' }, 'CA/ is wiped first')
  t.ok(result.files.includes('README.md') && result.files.includes('CA/trust.json'), 'reports the files written')

  const readme = await read(path.join(out, 'README.md'))
  t.match(readme, /EXAMPLE MATERIAL — NEVER USE IN PRODUCTION/, 'README warns')
  t.match(readme, /npm run keys:example/, 'README says how to regenerate')

  const sets = await checkSet(t, out, { fresh: { days: 30, at } })
  for (const C of COUNTRIES) t.same(sets[C].trust, result.countries[C].trust, `${C}: returned trust equals trust.json`)

  const committed = {
    cert: await read(path.join(COMMITTED, 'CA/agencies/CBSA-pik-primary/client.crt.pem')),
    key: await read(path.join(COMMITTED, 'CA/agencies/CBSA-pik-primary/client.key.pem'))
  }
  await checkHandshakes(t, out, committed)

  // A second run replaces everything: new roots, new kids.
  const again = await generateExamplePki({ out, days: 30 })
  t.not(again.countries.CA.trust.gateway.activeKid, result.countries.CA.trust.gateway.activeKid, 'a new run makes new keys')
  t.not(again.countries.CA.trust.partner.gatewayCertSha256, result.countries.CA.trust.partner.gatewayCertSha256, 'and new certificates')
  t.equal(again.files.length, result.files.length, 'same files')
})

t.test('the committed keys-example/ set', async (t) => {
  await checkSet(t, COMMITTED)
  const out = await mkdtemp(path.join(tmpdir(), 'btb-pki-stranger-'))
  t.teardown(() => rm(out, { recursive: true, force: true }))
  await generateExamplePki({ out, days: 1 })
  await checkHandshakes(t, COMMITTED, {
    cert: await read(path.join(out, 'US/gateway.crt.pem')),
    key: await read(path.join(out, 'US/gateway.key.pem'))
  })
})

t.test('options are checked', async (t) => {
  const out = path.join(tmpdir(), `btb-pki-never-${b64url(String(Date.now()))}`)
  await t.rejects(generateExamplePki({ out, days: 0 }), RangeError)
  await t.rejects(generateExamplePki({ out, days: 1.5 }), RangeError)
  await t.rejects(stat(out), { code: 'ENOENT' }, 'nothing written on bad options')
})
