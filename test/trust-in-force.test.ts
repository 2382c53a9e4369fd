// What a revocation or a narrowed registration takes away, it takes away on
// the next request, everywhere the trust store is read: a gateway key that is
// revoked signs no token that is taken and is not published; a system whose
// kind or purpose was withdrawn cannot use a token issued before; a revoked
// system receives nothing (docs/operators.md, "Keys and trust CLI").
import t, { type Test } from 'tap'
import { createPrivateKey } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import type { HttpResult } from '../sandbox/agency-client.ts'
import { SAMPLE_ROUTES, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, copyKeys, injectGateway, presenting, testConfig } from './helper.ts'
import { signRaw } from './lib/raw-jws.ts'
import { runKeys } from './lib/run-keys.ts'

const claimsOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())

function editTrust(trustFile: string, edit: (file: any) => void): void {
  const file = JSON.parse(readFileSync(trustFile, 'utf8'))
  edit(file)
  writeFileSync(trustFile, JSON.stringify(file, null, 2))
}

function expectProblem(t: Test, res: HttpResult, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: ${status}`)
  t.equal(res.json().code, code, `${what}: ${code}`)
}

t.test("a revoked key of the gateway's own signs no token that is taken, and is no longer published", async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  t.equal((await runKeys('rotate-gateway-key', '--trust', trustFile)).code, 0)
  const file = JSON.parse(readFileSync(trustFile, 'utf8'))
  const added = file.gateway.signingKeys.find((k: { kid: string }) => k.kid !== file.gateway.activeKid)
  const gw = await injectGateway(t, testConfig('CA', { trustFile, runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url, dir)
  const issued = await cbsa.token()

  // A token with the issued one's claims, signed with the added key: what
  // whoever took that key could make.
  const jwk = JSON.parse(readFileSync(join(dir, 'CA', added.privateJwk), 'utf8')) as { kid: string; alg: 'ES256' | 'EdDSA' }
  const key = { signingKey: createPrivateKey({ key: jwk as never, format: 'jwk' }), alg: jwk.alg }
  const minted = signRaw(JSON.stringify({ alg: jwk.alg, typ: 'at+jwt', kid: jwk.kid }), JSON.stringify(claimsOf(issued)), key)
  const status = (token: string) => cbsa.call('GET', `/v1/messages/${crypto.randomUUID()}`, undefined, { authorization: `Bearer ${token}` })
  const published = async (): Promise<string[]> => {
    const res = await gw.app.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: presenting(cbsa.creds.cert) })
    return (JSON.parse(res.body) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
  }
  t.equal((await status(minted)).status, 404, 'before the revocation, a token it signed is taken (a missing message is 404)')
  t.ok((await published()).includes(jwk.kid), 'and it is published')

  const revoked = await runKeys('revoke', '--trust', trustFile, '--kid', jwk.kid)
  t.equal(revoked.code, 0, revoked.stderr)
  t.match(await gw.app.reloadTrust('test'), { ok: true })
  expectProblem(t, await status(minted), 401, 'UNAUTHENTICATED', 'after it, a token it signed')
  t.notOk((await published()).includes(jwk.kid), 'the JWKS no longer lists it')
  t.ok((await published()).includes(file.gateway.activeKid), 'the active key is still listed')
  t.equal((await status(issued)).status, 404, 'a token signed with the active key still works')
  t.ok(gw.app.trust.ownLedgerKeys.has(jwk.kid), 'checkpoints it signed would still verify')

  const activated = await runKeys('activate-gateway-key', '--trust', trustFile, '--kid', jwk.kid)
  t.equal(activated.code, 1, 'a revoked key cannot be activated')
  t.match(activated.stderr, /KEY_REVOKED/)
  editTrust(trustFile, (f) => {
    f.gateway.activeKid = jwk.kid
  })
  t.throws(() => loadTrustStore(trustFile), { message: /activeKid .* is revoked/ }, 'nor made active by hand')
})

t.test('a kind or purpose taken from a system is refused on its next request, whatever its token says', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const gw = await injectGateway(t, testConfig('CA', { trustFile, runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url, dir)
  const route = SAMPLE_ROUTES.find((r) => r.kind === 'entry-exit.record' && r.from.country === 'CA')!
  const submit = async () => {
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', route.to))
    return { id: String(envelope.id), purpose: String(envelope.purpose), res: await cbsa.submit(await cbsa.sign(envelope)) }
  }
  const before = await submit()
  t.equal(before.res.status, 202, 'accepted while the registration allows it')
  t.ok(claimsOf(await cbsa.token()).purposes, 'the token lists its purposes')

  editTrust(trustFile, (f) => {
    const reg = f.agencies.find((a: { agency: string; system: string }) => a.agency === 'CBSA' && a.system === 'pik-primary')
    reg.purposes = reg.purposes.filter((p: string) => p !== before.purpose)
  })
  t.match(await gw.app.reloadTrust('test'), { ok: true })
  const after = await submit()
  expectProblem(t, after.res, 403, 'PURPOSE_NOT_ALLOWED', 'the same token, the purpose withdrawn')
  t.equal(await gw.app.store.findMessage('outbound', after.id), undefined, 'nothing was accepted')

  editTrust(trustFile, (f) => {
    const reg = f.agencies.find((a: { agency: string; system: string }) => a.agency === 'CBSA' && a.system === 'pik-primary')
    reg.purposes.push(before.purpose)
    reg.kinds = reg.kinds.filter((k: string) => k !== 'entry-exit.record')
  })
  t.match(await gw.app.reloadTrust('test'), { ok: true })
  expectProblem(t, (await submit()).res, 403, 'KIND_NOT_ALLOWED', 'the same token, the kind withdrawn')
})

t.test('a revoked agency system is no longer a receiver, whatever the configuration says', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const override = 'https://127.0.0.1:9/v1/inbox'
  const gw = await injectGateway(t, testConfig('CA', { trustFile, runWorkers: false, webhooks: { 'CA/CBSA/pik-primary': override } }))
  const { partner } = gw.app
  t.equal(partner.webhookFor('CA/CBSA/pik-primary'), override, 'in force, it takes deliveries at its override')
  const irccWebhook = partner.webhookFor('CA/IRCC/gcms-biometrics')
  t.ok(irccWebhook, 'as IRCC does at its own')

  t.equal((await runKeys('revoke', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')).code, 0)
  t.match(await gw.app.reloadTrust('test'), { ok: true })
  t.equal(partner.webhookFor('CA/CBSA/pik-primary'), undefined, 'revoked, it takes none: a push routed to it is not sent')
  t.notOk(gw.app.trust.agencies.has('CA/CBSA/pik-primary'), 'and nothing is routed to it')
  t.equal(partner.webhookFor('CA/IRCC/gcms-biometrics'), irccWebhook, 'another system is unaffected')
})

t.test("a trust file whose TLS key is not its certificate's is not applied, and the reload after it is", async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const gw = await injectGateway(t, testConfig('CA', { trustFile, runWorkers: false }))
  const good = readFileSync(trustFile, 'utf8')
  editTrust(trustFile, (f) => {
    f.gateway.tlsKey = '../US/gateway.key.pem'
  })
  const refused = await gw.app.reloadTrust('test')
  t.equal(refused.ok, false, 'refused, not thrown')
  writeFileSync(trustFile, good)
  t.equal((await runKeys('revoke', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')).code, 0)
  t.match(await gw.app.reloadTrust('test'), { ok: true }, 'the next reload reads the file afresh')
  t.notOk(gw.app.trust.agencies.has('CA/CBSA/pik-primary'), 'and applies it')
})
