// /readyz checks the partner gateway too: an endpoint it answers only to this
// gateway's certificate, as it does deliveries, over the gateway's own mutual
// TLS with the pinned certificate, asked at most once every few seconds
// however many probes come; a partner that is not there, or that refuses this
// gateway, makes the gateway not ready, and the answer says why. So does a
// certificate of the trust in force that has expired.
import t from 'tap'
import { createHash, X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { join } from 'node:path'
import { client, copyKeys, eventually, KEYS_DIR, startExchange, startGateway, testConfig, UNREACHABLE_URL } from './helper.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { ip, issueServerClient, loadIssuer } from '../gateway/trust/pki.ts'
import { PARTNER_PROBE_PATH } from '../gateway/observability/partner-probe.ts'

interface Readiness {
  status: string
  checks: Record<string, string>
}

/** A TLS server that answers the partner probe, holding the given certificate, and counts who asked. */
async function fakePartner(t: { teardown(fn: () => unknown): void }, certPath: string, keyPath: string) {
  const seen = { probes: 0, clientCerts: [] as string[] }
  const server: Server = createServer(
    {
      cert: readFileSync(join(KEYS_DIR, certPath)),
      key: readFileSync(join(KEYS_DIR, keyPath)),
      // The CA gateway's certificate is issued by the CA root.
      ca: readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem')),
      requestCert: true,
      rejectUnauthorized: true
    },
    (req, res) => {
      if (req.url === PARTNER_PROBE_PATH) seen.probes++
      const peer = (req.socket as TLSSocket).getPeerCertificate()
      seen.clientCerts.push(createHash('sha256').update(peer.raw).digest('base64url'))
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
    }
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  t.teardown(() => (server.listening ? close() : undefined))
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}`, seen, close }
}

t.test('ready when Redis, the ledger, the keys and the partner gateway all answer', async (t) => {
  const ex = await startExchange(t)
  const res = await ex.clients.CBSA.call('GET', '/readyz')
  t.equal(res.status, 200)
  t.same(res.json<Readiness>(), { status: 'ready', checks: { redis: 'ok', ledger: 'ok', keys: 'ok', partner: 'ok' } })
  const us = await ex.clients.CBP.call('GET', '/readyz')
  t.equal(us.json<Readiness>().checks.partner, 'ok', 'and the other way round')
})

t.test("a partner that refuses this gateway's certificate makes it not ready, naming the refusal, as every delivery is refused", async (t) => {
  const keys = copyKeys(t)
  // The US gateway revokes the certificate it has pinned for the CA gateway:
  // it still answers anyone on /healthz, but takes nothing from the CA gateway.
  const usTrustFile = join(keys, 'US', 'trust.json')
  const us = JSON.parse(readFileSync(usTrustFile, 'utf8'))
  us.revoked.certSha256.push(us.partner.gatewayCertSha256)
  writeFileSync(usTrustFile, JSON.stringify(us, null, 2))
  const ex = await startExchange(t, { deliveryAttempts: 1 }, undefined, {}, keys)

  const cbsa = ex.clients.CBSA
  const out = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  t.equal((await cbsa.submit(await cbsa.sign(out))).status, 202)
  const refused = await eventually(
    async () => {
      const r = await ex.ca.app.store.findMessage('outbound', out.id as string)
      return r?.status === 'dead-lettered' ? r : undefined
    },
    20_000,
    'the delivery dead-lettered'
  )
  t.match(refused.attempts.at(-1)?.error, /401 UNAUTHENTICATED/, 'the partner refused the delivery')

  const res = await cbsa.call('GET', '/readyz')
  t.equal(res.status, 503, 'not ready: the partner takes nothing from this gateway')
  t.same(res.json<Readiness>(), {
    status: 'not-ready',
    checks: { redis: 'ok', ledger: 'ok', keys: 'ok', partner: "the partner refuses this gateway's certificate: UNAUTHENTICATED" }
  })
})

t.test('an expired certificate of this gateway fails the keys check, and the partner refuses it', async (t) => {
  const keys = copyKeys(t)
  const caTrustFile = join(keys, 'CA', 'trust.json')
  const issuer = await loadIssuer(join(keys, 'CA', 'ca.crt.pem'), join(keys, 'CA', 'ca.key.pem'))
  // Valid from an hour ago until half an hour ago.
  const expired = await issueServerClient(issuer, {
    subject: { C: 'CA', O: 'CA Gateway', CN: 'ca-gateway.btb.example' },
    altNames: [ip('127.0.0.1')],
    days: -1 / 48
  })
  writeFileSync(join(keys, 'CA', 'gateway.expired.crt.pem'), expired.certPem)
  writeFileSync(join(keys, 'CA', 'gateway.expired.key.pem'), expired.keyPem, { mode: 0o600 })
  const ca = JSON.parse(readFileSync(caTrustFile, 'utf8'))
  ca.gateway.tlsCert = 'gateway.expired.crt.pem'
  ca.gateway.tlsKey = 'gateway.expired.key.pem'
  writeFileSync(caTrustFile, JSON.stringify(ca, null, 2))
  // The US gateway pins it, so that only its expiry stands between them.
  const usTrustFile = join(keys, 'US', 'trust.json')
  const us = JSON.parse(readFileSync(usTrustFile, 'utf8'))
  writeFileSync(join(keys, 'US', 'partner-gateway.expired.crt.pem'), expired.certPem)
  us.partner.gatewayCert = 'partner-gateway.expired.crt.pem'
  us.partner.gatewayCertSha256 = expired.sha256
  writeFileSync(usTrustFile, JSON.stringify(us, null, 2))

  const ex = await startExchange(t, {}, undefined, {}, keys)
  // Its own certificate has expired: no agency would connect to it, so asked from within.
  const res = await ex.ca.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  const body = res.json<Readiness>()
  t.equal(body.checks.keys, `the gateway certificate expired at ${new Date(new X509Certificate(expired.certPem).validTo).toISOString()}`)
  t.equal(body.checks.partner, "the partner refuses this gateway's certificate: UNAUTHENTICATED")
})

t.test(
  "during the partner's certificate renewal, its old pinned certificate expiring does not make the gateway not ready while it presents the next",
  async (t) => {
    const keys = copyKeys(t)
    const issuer = await loadIssuer(join(keys, 'CA', 'ca.crt.pem'), join(keys, 'CA', 'ca.key.pem'))
    // The CA gateway's certificate before its renewal, expired half an hour ago.
    const old = await issueServerClient(issuer, {
      subject: { C: 'CA', O: 'CA Gateway', CN: 'ca-gateway.btb.example' },
      altNames: [ip('127.0.0.1')],
      days: -1 / 48
    })
    // The US gateway between steps 3 and 4 of docs/operators.md ("Renewing a
    // gateway's TLS certificate"): the CA gateway presents its new certificate,
    // pinned as the next one beside the old, which is not yet promoted away.
    const usTrustFile = join(keys, 'US', 'trust.json')
    const us = JSON.parse(readFileSync(usTrustFile, 'utf8'))
    writeFileSync(join(keys, 'US', 'partner', 'gateway.old.crt.pem'), old.certPem)
    us.partner.nextGatewayCert = us.partner.gatewayCert
    us.partner.nextGatewayCertSha256 = us.partner.gatewayCertSha256
    us.partner.gatewayCert = 'partner/gateway.old.crt.pem'
    us.partner.gatewayCertSha256 = old.sha256
    writeFileSync(usTrustFile, JSON.stringify(us, null, 2))

    const ex = await startExchange(t, {}, undefined, {}, keys)
    const res = await ex.clients.CBP.call('GET', '/readyz')
    t.same(res.json<Readiness>(), { status: 'ready', checks: { redis: 'ok', ledger: 'ok', keys: 'ok', partner: 'ok' } }, 'the exchange works, and it is ready')
    t.equal(res.status, 200)
  }
)

t.test('a partner gateway that is down makes the gateway not ready, naming why', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { partnerUrl: UNREACHABLE_URL }))
  const res = await client(t, 'CBSA', gw.url).call('GET', '/readyz')
  t.equal(res.status, 503)
  const body = res.json<Readiness>()
  t.equal(body.status, 'not-ready')
  t.match(body.checks.partner, /^the partner gateway is unreachable: .*ECONNREFUSED/)
  t.same({ ...body.checks, partner: 'down' }, { redis: 'ok', ledger: 'ok', keys: 'ok', partner: 'down' }, 'the other checks still pass')
})

t.test('with READY_REQUIRES_PARTNER=false a partner that is down is reported, but the gateway stays ready', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { partnerUrl: UNREACHABLE_URL, readyRequiresPartner: false }))
  const res = await client(t, 'CBSA', gw.url).call('GET', '/readyz')
  t.equal(res.status, 200)
  const body = res.json<Readiness>()
  t.equal(body.status, 'ready')
  t.match(body.checks.partner, /ECONNREFUSED/, 'the partner check still says what is wrong')
})

t.test("a storm of readiness probes costs the partner one request, made with the gateway's certificate; its going away shows", async (t) => {
  const partner = await fakePartner(t, 'US/gateway.crt.pem', 'US/gateway.key.pem')
  const gw = await startGateway(t, testConfig('CA', { partnerUrl: partner.url }))
  const cbsa = client(t, 'CBSA', gw.url)
  const answers = await Promise.all(Array.from({ length: 20 }, () => cbsa.call('GET', '/readyz')))
  t.same(
    answers.map((a) => a.status),
    Array(20).fill(200)
  )
  t.equal(partner.seen.probes, 1, 'one probe for twenty readiness checks')
  const gatewayCert = createHash('sha256').update(gw.app.trust.gatewayCert.raw).digest('base64url')
  t.same(partner.seen.clientCerts, [gatewayCert], "the probe presented this gateway's own certificate")

  await partner.close()
  const down = await eventually(
    async () => {
      const res = await cbsa.call('GET', '/readyz')
      return res.status === 503 ? res.json<Readiness>() : undefined
    },
    15_000,
    'the cached verdict to expire'
  )
  t.equal(down.status, 'not-ready')
  t.match(down.checks.partner, /ECONNREFUSED/)
})

t.test('a partner whose certificate is not the pinned one is not the partner', async (t) => {
  // Issued by the partner's CA, so it chains; but it is CBP's certificate, not the partner gateway's.
  const impostor = await fakePartner(t, 'US/agencies/CBP-ades/client.crt.pem', 'US/agencies/CBP-ades/client.key.pem')
  const gw = await startGateway(t, testConfig('CA', { partnerUrl: impostor.url }))
  const res = await client(t, 'CBSA', gw.url).call('GET', '/readyz')
  t.equal(res.status, 503)
  t.match(res.json<Readiness>().checks.partner, /not the pinned one/)
  t.equal(impostor.seen.probes, 0, 'nothing was asked of it')
})

t.test('a failed ledger write holds the ledger not ready until a write succeeds, or until the hold passes with no other failure', async (t) => {
  const { LedgerWrites } = await import('../gateway/intake/ledger-writes.ts')
  let now = 0
  const writes = new LedgerWrites({ holdMs: 10_000, now: () => now })
  t.equal(writes.failing, undefined, 'ready at first')
  writes.failed(new Error('database or disk is full'))
  t.equal(writes.failing, 'database or disk is full')
  now = 9_999
  t.equal(writes.failing, 'database or disk is full', 'held')
  now = 10_000
  t.equal(writes.failing, undefined, 'past the hold, with no message sent: the next may try')
  writes.failed(new Error('database or disk is full'))
  writes.succeeded()
  t.equal(writes.failing, undefined, 'a write that succeeds ends it at once')
})
