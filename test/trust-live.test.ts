// Revocation and rotation in running gateways, made with the operator's keys
// CLI exactly as an operator runs it: no restart, and the effect is seen on
// the next request — on a connection that was already open, too.
import t from 'tap'
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { connect as tlsConnect } from 'node:tls'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AgencyClient, loadAgencyCredentials } from '../sandbox/agency-client.ts'
import { SAMPLE_ROUTES, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { sha256 } from '../gateway/lib/digest.ts'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { copyKeys, eventually, startExchange } from './helper.ts'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')

async function keys(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['gateway/cli/keys.ts', ...args], { cwd: root })
  return stdout
}

const entryExitRoute = SAMPLE_ROUTES.find((r) => r.kind === 'entry-exit.record' && r.from.country === 'CA')!

function kidOf(token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid
}

async function submit(client: AgencyClient, token?: string) {
  const envelope = client.envelope(sampleEnvelope('entry-exit.record', 'CA', entryExitRoute.to))
  const jws = await client.sign(envelope)
  const res =
    token === undefined
      ? await client.submit(jws)
      : await client.call('POST', '/v1/messages', jws, { 'content-type': 'application/jose', authorization: `Bearer ${token}` })
  return { id: String(envelope.id), res }
}

t.test('a revoked agency system is refused on its next request, without a restart; others are not', async (t) => {
  const dir = copyKeys(t)
  const ex = await startExchange(t, {}, undefined, {}, dir)
  const cbsa = ex.clients.CBSA
  const before = await submit(cbsa)
  t.equal(before.res.status, 202, 'accepted before revocation')
  const token = await cbsa.token()

  const out = await keys('revoke', '--trust', join(dir, 'CA', 'trust.json'), '--agency', 'CBSA', '--system', 'pik-primary')
  t.match(out, /revoked CBSA\/pik-primary/)

  const refused = await eventually(
    async () => {
      const { res } = await submit(cbsa, token)
      return res.status === 401 ? res : undefined
    },
    5000,
    'the revocation to take effect'
  )
  t.equal(refused.json().code, 'UNAUTHENTICATED', 'its token, on its open connection, no longer works')
  t.equal((await cbsa.call('POST', '/v1/token')).status, 401, 'and it cannot get a new token')
  const ircc = ex.clients.IRCC
  t.equal((await ircc.call('POST', '/v1/token')).status, 200, 'another system of the same gateway is unaffected')
  const trust = JSON.parse(readFileSync(join(dir, 'CA', 'trust.json'), 'utf8'))
  t.ok(trust.revoked.kids.includes(cbsa.creds.kid), 'its signing key is revoked with it')
})

t.test('a newly issued agency system can submit at once', async (t) => {
  const dir = copyKeys(t)
  const ex = await startExchange(t, {}, undefined, {}, dir)
  const out = await keys(
    'issue-agency',
    '--trust',
    join(dir, 'CA', 'trust.json'),
    '--agency',
    'CBSA',
    '--system',
    'pik-secondary',
    '--kinds',
    'entry-exit.record',
    '--purposes',
    'entry-exit-verification',
    '--webhook',
    'https://127.0.0.1:9449/v1/inbox',
    '--alg',
    'EdDSA'
  )
  t.match(out, /issued CA\/CBSA\/pik-secondary/)
  const creds = loadAgencyCredentials(dir, 'CA', 'CBSA', 'pik-secondary')
  t.equal(creds.alg, 'EdDSA')
  const secondary = new AgencyClient(creds, ex.ca.url)
  t.teardown(() => secondary.close())
  const accepted = await eventually(
    async () => {
      secondary.forgetToken()
      const { id, res } = await submit(secondary).catch(() => ({ id: '', res: undefined }))
      return res?.status === 202 ? id : undefined
    },
    5000,
    'the new system to be trusted'
  )
  const delivered = await eventually(
    async () => {
      const s = (await secondary.status(accepted)).json<{ status: string }>()
      return s.status === 'delivered' ? s : undefined
    },
    15_000,
    'delivery to the partner'
  )
  t.equal(delivered.status, 'delivered', "the new system's message reached the partner")
})

t.test('an agency signing key rotates with an overlap, then the old key is refused', async (t) => {
  const dir = copyKeys(t)
  const ex = await startExchange(t, {}, undefined, {}, dir)
  const trustFile = join(dir, 'CA', 'trust.json')
  const old = ex.clients.CBSA
  await keys('rotate-agency-key', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')
  const rotated = new AgencyClient(loadAgencyCredentials(dir, 'CA', 'CBSA', 'pik-primary'), ex.ca.url)
  t.teardown(() => rotated.close())
  t.not(rotated.creds.kid, old.creds.kid, 'a new kid')
  await eventually(async () => ((await submit(rotated)).res.status === 202 ? true : undefined), 5000, 'the new key to be accepted')
  t.equal((await submit(old)).res.status, 202, 'during the overlap the old key is still accepted')

  await keys('retire-key', '--trust', trustFile, '--kid', old.creds.kid)
  const refused = await eventually(
    async () => {
      const { res } = await submit(old)
      return res.status === 401 || res.status === 400 ? res : undefined
    },
    5000,
    'the old key to be refused'
  )
  t.equal(refused.json().code, 'JWS_KID_UNKNOWN', 'the retired key is refused with a stable code')
  t.equal((await submit(rotated)).res.status, 202, 'the new key goes on working')
})

t.test("the gateway's signing key rotates live on both sides: two kids during the overlap, then the old one retires", async (t) => {
  const dir = copyKeys(t)
  const ex = await startExchange(t, {}, undefined, {}, dir)
  const caTrust = join(dir, 'CA', 'trust.json')
  const usTrust = join(dir, 'US', 'trust.json')
  const cbsa = ex.clients.CBSA
  const oldToken = await cbsa.token()
  const oldKid = kidOf(oldToken)

  const added = await keys('rotate-gateway-key', '--trust', caTrust, '--partner-trust', usTrust)
  const newKid = /added gateway signing key (\S+);/.exec(added)![1]!
  const published = await eventually(
    async () => {
      const own = (await cbsa.call('GET', '/.well-known/jwks.json')).json<{ keys: Array<{ kid: string }> }>()
      return own.keys.length === 2 ? own : undefined
    },
    5000,
    'CA to publish both keys'
  )
  t.same(published.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort(), 'CA publishes both kids')
  await eventually(
    async () => {
      const partner = (await ex.clients.CBP.call('GET', '/.well-known/partner-jwks.json')).json<{ keys: Array<{ kid: string }> }>()
      return partner.keys.some((k) => k.kid === newKid) ? true : undefined
    },
    5000,
    'US to trust the new CA key'
  )

  await keys('activate-gateway-key', '--trust', caTrust, '--kid', newKid)
  const newToken = await eventually(
    async () => {
      cbsa.forgetToken()
      const token = await cbsa.token()
      return kidOf(token) === newKid ? token : undefined
    },
    5000,
    'CA to sign with the new key'
  )
  t.ok(newToken, 'new tokens carry the new kid')
  t.equal((await submit(cbsa, oldToken)).res.status, 202, 'a token signed with the old key is still valid during the overlap')

  // CA→US: the partner verifies the new key; US→CA: CA's push is signed with it.
  const { id } = await submit(cbsa, newToken)
  const atUs = await eventually(() => ex.mocks.CBP.received.find((m) => m.id === id), 15_000, 'the push at CBP')
  t.equal(atUs.partnerKid, newKid, 'the US agency received it signed by CA with the new key')
  const cbp = ex.clients.CBP
  const usRoute = SAMPLE_ROUTES.find((r) => r.kind === 'entry-exit.record' && r.from.country === 'US')!
  const back = cbp.envelope(sampleEnvelope('entry-exit.record', 'US', usRoute.to))
  const sentBack = await cbp.submit(await cbp.sign(back))
  t.equal(sentBack.status, 202, sentBack.body)
  const atCa = await eventually(() => ex.mocks.CBSA.received.find((m) => m.id === back.id), 15_000, 'the push at CBSA')
  t.equal(atCa.gatewayKid, newKid, 'the CA agency verified a push signed with a key it fetched from its gateway')

  await keys('retire-key', '--trust', caTrust, '--kid', oldKid, '--partner-trust', usTrust)
  const refused = await eventually(
    async () => {
      const { res } = await submit(cbsa, oldToken)
      return res.status === 401 ? res : undefined
    },
    5000,
    'the old key to retire'
  )
  t.equal(refused.json().code, 'UNAUTHENTICATED', 'after retirement a token signed with the old key is refused')
  await eventually(
    async () => {
      const partner = (await cbp.call('GET', '/.well-known/partner-jwks.json')).json<{ keys: Array<{ kid: string }> }>()
      return partner.keys.length === 1 && partner.keys[0]!.kid === newKid ? true : undefined
    },
    5000,
    'US to drop the old CA key'
  )

  // The ledger's checkpoints signed with the retired key still verify.
  await ex.ca.app.checkpointer.checkpointNow()
  const officer = JSON.parse(readFileSync(join(dir, 'CA', 'trust.json'), 'utf8'))
  t.same(
    officer.gateway.retiredKeys.map((k: { kid: string }) => k.kid),
    [oldKid],
    'the retired public key is kept for the ledger'
  )
})

t.test('a trust file that does not load is not applied: the gateway keeps the trust in force', async (t) => {
  const dir = copyKeys(t)
  const ex = await startExchange(t, {}, undefined, {}, dir)
  const trustFile = join(dir, 'CA', 'trust.json')
  const good = readFileSync(trustFile, 'utf8')
  writeFileSync(trustFile, good.replace(/"activeKid": "[^"]+"/, '"activeKid": "no-such-key"'))
  const result = await ex.ca.app.reloadTrust('test')
  t.equal(result.ok, false, 'the reload is refused')
  t.match(result.ok ? '' : result.error, /activeKid no-such-key/)
  t.equal((await submit(ex.clients.CBSA)).res.status, 202, 'and the gateway goes on working with the old trust')
  // What an operator alerts on: the file on disk is not the trust in force.
  const scraped = async (name: string) => await ex.ca.app.metrics.registry.getSingleMetricAsString(name)
  // Once or more: a watcher may see one write as two changes (a busy machine did), each refused.
  t.match(await scraped('btb_trust_reloads_total'), /^btb_trust_reloads_total\{outcome="refused"\} [1-9]\d*$/m, 'the refused reload is counted')
  t.match(await scraped('btb_trust_reloads_total'), /^btb_trust_reloads_total\{outcome="applied"\} 0$/m, 'and none applied')
  t.match(await scraped('btb_trust_file_in_force'), /^btb_trust_file_in_force 0$/m, 'and the file on disk is said not to be in force')
  writeFileSync(trustFile, good)
  t.equal((await ex.ca.app.reloadTrust('test')).ok, true, 'the mended file is applied')
  t.match(await scraped('btb_trust_reloads_total'), /^btb_trust_reloads_total\{outcome="applied"\} 1$/m)
  t.match(await scraped('btb_trust_file_in_force'), /^btb_trust_file_in_force 1$/m, 'and is in force')
})

// A gateway's TLS certificate renewed without an outage (docs/operators.md,
// "Renewing a gateway's TLS certificate"): the partner pins the next one
// beside the current, the gateway presents it, then the partner pins it alone.
t.test("a gateway's TLS certificate is renewed live on both sides: both pinned during the overlap, no delivery refused", async (t) => {
  const dir = copyKeys(t)
  const ex = await startExchange(t, {}, undefined, {}, dir)
  const caTrust = join(dir, 'CA', 'trust.json')
  const usTrust = join(dir, 'US', 'trust.json')
  const delivered = async (what: string): Promise<void> => {
    const { id, res } = await submit(ex.clients.CBSA)
    t.equal(res.status, 202, `${what}: accepted`)
    await eventually(() => ex.mocks.CBP.received.find((m) => m.id === id), 15_000, what)
  }
  const oldCert = readFileSync(join(dir, 'CA', 'gateway.crt.pem'), 'utf8')
  const oldKey = readFileSync(join(dir, 'CA', 'gateway.key.pem'), 'utf8')
  const oldPin = sha256(new X509Certificate(oldCert).raw)

  const issued = await keys('rotate-gateway-cert', '--trust', caTrust, '--partner-trust', usTrust)
  const newPin = /x5t#S256 (\S+)\)/.exec(issued)![1]!
  await eventually(() => (ex.us.app.trust.partner.gatewayCertPins.includes(newPin) ? true : undefined), 5000, 'US to pin the next certificate')
  t.same(ex.us.app.trust.partner.gatewayCertPins, [oldPin, newPin], 'US takes both during the overlap')
  await delivered('a delivery during the overlap')

  await keys('activate-gateway-cert', '--trust', caTrust, '--partner-trust', usTrust)
  await eventually(
    () => (sha256(ex.ca.app.trust.gatewayCert.raw) === newPin && ex.us.app.trust.partner.gatewayCertPins.length === 1 ? true : undefined),
    5000,
    'CA to present the new certificate and US to pin it alone'
  )
  t.same(ex.us.app.trust.partner.gatewayCertPins, [newPin], 'US pins the new certificate alone')
  const presented = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: Number(new URL(ex.ca.url).port), ca: readFileSync(join(dir, 'CA', 'ca.crt.pem')) }, () => {
      resolve(sha256(socket.getPeerX509Certificate()!.raw))
      socket.destroy()
    })
    socket.on('error', reject)
  })
  t.equal(presented, newPin, "CA's listener presents the new certificate")
  await delivered('a delivery under the new certificate')

  // The old certificate, whoever holds its key now, is no longer the CA gateway to US.
  const { Agent, request } = undiciModule()
  const asOld = new Agent({ connect: { cert: oldCert, key: oldKey, ca: readFileSync(join(dir, 'US', 'ca.crt.pem')) } })
  t.teardown(() => asOld.close())
  const res = await request(`${ex.us.url}/v1/exchange`, { method: 'POST', body: 'x', headers: { 'content-type': 'application/jose' }, dispatcher: asOld })
  t.equal(res.statusCode, 401, 'the old certificate is refused by US once promoted')
  await res.body.dump()
  t.notOk(existsSync(join(dir, 'CA', 'gateway.next.crt.pem')), 'no next certificate left behind')
})
