// One partner: where the partner gateway is comes from one place, read when it
// is used. After a trust reload that moves the partner (no PARTNER_URL set),
// readiness, deliveries and checkpoints all go to the new one, none to the
// old; and the agency webhooks follow the same rule everywhere.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SAMPLE_ROUTES, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { PARTNER_PROBE_PATH } from '../gateway/observability/partner-probe.ts'
import { client, copyKeys, eventually, standInPartner, startGateway, testConfig } from './helper.ts'

interface Readiness {
  status: string
  checks: Record<string, string>
}

/** A stand-in for the US gateway (its certificate, so the pin holds) that records what it is asked and refuses deliveries for now. */
async function fakePartner(t: { teardown(fn: () => unknown): void }, keysDir: string) {
  const paths: string[] = []
  const { url } = await standInPartner(
    t,
    (req, res) => {
      paths.push(`${req.method} ${req.url}`)
      req.resume()
      if (req.url === PARTNER_PROBE_PATH) res.writeHead(404, { 'content-type': 'application/problem+json' }).end('{"code":"NOT_FOUND"}')
      else res.writeHead(503, { 'content-type': 'application/problem+json' }).end('{"code":"SERVICE_UNAVAILABLE"}')
    },
    keysDir
  )
  return { url, paths }
}

function setPartnerUrl(trustFile: string, url: string): void {
  const file = JSON.parse(readFileSync(trustFile, 'utf8'))
  file.partner.url = url
  writeFileSync(trustFile, JSON.stringify(file, null, 2))
}

t.test('after a trust reload moves the partner, readiness, deliveries and checkpoints all go to the new one', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const before = await fakePartner(t, dir)
  const after = await fakePartner(t, dir)
  setPartnerUrl(trustFile, before.url)
  // No PARTNER_URL: the trust file says where the partner is.
  const gw = await startGateway(t, testConfig('CA', { trustFile, partnerUrl: undefined, deliveryAttempts: 1 }))

  const first = await gw.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(first.json<Readiness>().checks.partner, 'ok')
  t.same(before.paths, [`GET ${PARTNER_PROBE_PATH}`], 'readiness asked the partner of the trust file')

  setPartnerUrl(trustFile, after.url)
  const reload = await gw.app.reloadTrust('test')
  t.same(reload, { ok: true, changes: [`partner URL: ${before.url} -> ${after.url}`] }, 'the reload names the move')

  const second = await gw.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(second.json<Readiness>().checks.partner, 'ok')
  t.same(after.paths, [`GET ${PARTNER_PROBE_PATH}`], 'the next readiness probe asks the new partner, not a verdict kept on the old one')

  const route = SAMPLE_ROUTES.find((r) => r.kind === 'entry-exit.record' && r.from.country === 'CA')!
  const cbsa = client(t, 'CBSA', gw.url)
  const submitted = await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', route.to))))
  t.equal(submitted.status, 202, submitted.body)
  await eventually(() => (after.paths.includes('POST /v1/exchange') ? true : undefined), 15_000, 'the delivery at the new partner')
  await gw.app.checkpointer.checkpointNow()
  t.ok(after.paths.includes('POST /v1/witness/add-checkpoint'), 'the checkpoint went to the new partner')
  t.same(before.paths, [`GET ${PARTNER_PROBE_PATH}`], 'and nothing more went to the old one')
})

t.test("an agency webhook is the configuration's override, else the trust file's, as the trust file is now", async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const override = 'https://127.0.0.1:9/v1/inbox'
  const gw = await startGateway(t, testConfig('CA', { trustFile, webhooks: { 'CA/CBSA/pik-primary': override } }))
  const { partner } = gw.app
  t.equal(partner.webhookFor('CA/CBSA/pik-primary'), override, 'the override wins over the trust file')
  const fromFile = gw.app.trust.agencies.get('CA/IRCC/gcms-biometrics')!.webhook
  t.ok(fromFile, 'the example trust file gives IRCC a webhook')
  t.equal(partner.webhookFor('CA/IRCC/gcms-biometrics'), fromFile, "without an override, the trust file's")
  t.equal(partner.webhookFor('CA/NOBODY/none'), undefined, 'an unknown system has none')

  const file = JSON.parse(readFileSync(trustFile, 'utf8'))
  for (const a of file.agencies) a.webhook = a.system === 'gcms-biometrics' ? 'https://127.0.0.1:10/v1/inbox' : ''
  writeFileSync(trustFile, JSON.stringify(file, null, 2))
  t.match(await gw.app.reloadTrust('test'), { ok: true })
  t.equal(partner.webhookFor('CA/IRCC/gcms-biometrics'), 'https://127.0.0.1:10/v1/inbox', 'the trust file in force now')
  t.equal(partner.webhookFor('CA/CBSA/pik-primary'), override, 'the override still wins, even over no webhook')
  t.equal(partner.url(), gw.app.trust.partner.url, "and the partner URL, unset in the configuration, is the trust file's")
})

t.test('AGENCY_WEBHOOKS naming a system the trust file does not list: refused at start; one a reload removes is warned of, not fatal', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const override = 'https://127.0.0.1:9/v1/inbox'
  const { buildApp } = await import('../gateway/app.ts')
  // A gateway built all the same is closed again: the test fails, and ends.
  const built = await buildApp(testConfig('CA', { trustFile, webhooks: { 'CA/CBSA/pik-primray': override } })).then(
    async (app) => {
      await app.close()
      return 'started'
    },
    (err: unknown) => err
  )
  t.match(
    built,
    {
      code: 'CONFIG_INVALID',
      problems: ['AGENCY_WEBHOOKS: CA/CBSA/pik-primray is not an agency system of the trust file (it lists CA/CBSA/pik-primary, CA/IRCC/gcms-biometrics)']
    },
    'a mistyped id is not silently ignored'
  )

  // A revoked system is still one the trust file lists: revoking it must not
  // make the next start fail; it gets no pushes, override or not.
  const file = JSON.parse(readFileSync(trustFile, 'utf8'))
  const cbsa = file.agencies.find((a: { system: string }) => a.system === 'pik-primary')
  file.revoked.certSha256.push(cbsa.certSha256)
  writeFileSync(trustFile, JSON.stringify(file, null, 2))
  const logs: Array<{ level: number; msg: string; alert?: string; systems?: string[] }> = []
  const gw = await startGateway(
    t,
    testConfig('CA', { trustFile, logLevel: 'info', webhooks: { 'CA/CBSA/pik-primary': override, 'CA/IRCC/gcms-biometrics': override } }),
    { logStream: { write: (line) => void logs.push(JSON.parse(line)) } }
  )
  t.equal(gw.app.partner.webhookFor('CA/CBSA/pik-primary'), undefined, 'a revoked system has no webhook, override or not')
  t.equal(gw.app.partner.webhookFor('CA/IRCC/gcms-biometrics'), override)

  // The reload is not refused (a removal may be a revocation in haste), but
  // the setting no longer fits the trust in force, and the next start would refuse it.
  file.agencies = file.agencies.filter((a: { system: string }) => a.system !== 'gcms-biometrics')
  writeFileSync(trustFile, JSON.stringify(file, null, 2))
  t.match(await gw.app.reloadTrust('test'), { ok: true })
  t.equal(gw.app.partner.webhookFor('CA/IRCC/gcms-biometrics'), undefined, 'the system is gone, and so is its override')
  const warnings = logs.filter((l) => l.alert === 'WEBHOOK_OVERRIDE_UNKNOWN')
  t.equal(warnings.length, 1, 'one warning')
  t.match(warnings[0], {
    level: 40,
    systems: ['CA/IRCC/gcms-biometrics'],
    msg: /AGENCY_WEBHOOKS names systems the trust file no longer lists: their overrides are unused, and a restart with this setting is refused/
  })

  logs.length = 0
  t.match(await gw.app.reloadTrust('test'), { ok: true })
  t.equal(logs.filter((l) => l.alert === 'WEBHOOK_OVERRIDE_UNKNOWN').length, 1, 'each reload says so again, until the setting is mended')
})
