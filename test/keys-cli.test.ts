// The keys CLI on its own: what it writes, what it refuses (leaving the trust
// file as it was), and the expiry report. Live effects are in trust-live.test.ts.
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { checkConfiguration } from '../gateway/check-config.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { cosignCheckpoint, cosignedAt, ledgerOrigin, signCheckpoint, witnessKeys, witnessName } from '../gateway/audit/checkpoint.ts'
import { addCheckpointBody } from '../gateway/audit/witness.ts'
import type { TrustFile } from '../gateway/trust/trust-file.ts'
import { sha256 } from '../gateway/lib/digest.ts'
import { copyKeys, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'
import { asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'
import { runKeys, type KeysRun } from './lib/run-keys.ts'

const root = join(import.meta.dirname, '..')

const keys = runKeys

/** The CLI as a shell runs it: its own process, exit code and streams. */
function keysProcess(...args: string[]): Promise<KeysRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['gateway/cli/keys.ts', ...args], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr })
    })
  })
}

t.test('as a process: exit 0 on success, 1 on a refusal, 2 on a usage error, each with its message on the right stream', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ca-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const made = await keysProcess('create-ca', '--dir', dir, '--country', 'CA', '--days', '30')
  t.equal(made.code, 0, made.stderr)
  t.match(made.stdout, /created the CA root CA/)
  const again = await keysProcess('create-ca', '--dir', dir, '--country', 'CA')
  t.equal(again.code, 1)
  t.match(again.stderr, /CA_EXISTS/)
  const usage = await keysProcess('frobnicate')
  t.equal(usage.code, 2)
  t.match(usage.stderr, /unknown command frobnicate\n\nusage: npm run keys/)
  t.equal(usage.stdout, '')
})

t.test('create-ca makes a self-signed root CA with a private key only its owner reads, and never overwrites one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ca-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const made = await keys('create-ca', '--dir', dir, '--country', 'US', '--days', '3650')
  t.equal(made.code, 0, made.stderr)
  const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt.pem')))
  t.ok(ca.ca, 'a CA certificate')
  t.ok(ca.checkIssued(ca) && ca.verify(ca.publicKey), 'self-signed')
  t.match(ca.subject, /C=US/)
  t.equal(statSync(join(dir, 'ca.key.pem')).mode & 0o777, 0o600, 'the key is 0600')
  const before = readFileSync(join(dir, 'ca.key.pem'), 'utf8')
  const again = await keys('create-ca', '--dir', dir, '--country', 'US')
  t.equal(again.code, 1)
  t.match(again.stderr, /CA_EXISTS/)
  t.equal(readFileSync(join(dir, 'ca.key.pem'), 'utf8'), before, 'the existing CA is untouched')

  // Its key taken offline, as the command says to: the certificate left is the country's root all the same.
  const root = readFileSync(join(dir, 'ca.crt.pem'), 'utf8')
  rmSync(join(dir, 'ca.key.pem'))
  const keyOffline = await keys('create-ca', '--dir', dir, '--country', 'US')
  t.equal(keyOffline.code, 1, 'refused with the key offline too')
  t.match(keyOffline.stderr, /ca\.crt\.pem exists.*CA_EXISTS/)
  t.equal(readFileSync(join(dir, 'ca.crt.pem'), 'utf8'), root, 'the root certificate is untouched')
  t.notOk(existsSync(join(dir, 'ca.key.pem')), 'and no new key is written beside it')
})

t.test('issue-agency and issue-client write certificates that chain to the country CA and register them', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const issued = await keys(
    'issue-agency',
    '--trust',
    trustFile,
    '--agency',
    'cbsa',
    '--system',
    'nexus-kiosk',
    '--kinds',
    'traveller.designation',
    '--purposes',
    'trusted-traveller-vetting'
  )
  t.equal(issued.code, 0, issued.stderr)
  t.match(issued.stdout, /no webhook/, 'it says what is missing')
  const ca = new X509Certificate(readFileSync(join(dir, 'CA', 'ca.crt.pem')))
  const cert = new X509Certificate(readFileSync(join(dir, 'CA', 'agencies', 'CBSA-nexus-kiosk', 'client.crt.pem')))
  t.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'signed by the CA')
  t.match(cert.subject, /O=CBSA/)
  const store = loadTrustStore(trustFile)
  t.ok(store.agencies.has('CA/CBSA/nexus-kiosk'), 'registered')
  t.ok(
    readFileSync(join(dir, 'CA', 'agencies', 'CBSA-nexus-kiosk', 'signing.private.pem'), 'utf8').startsWith('-----BEGIN PRIVATE KEY-----'),
    'a PEM copy for openssl'
  )

  const op = await keys('issue-client', '--trust', trustFile, '--role', 'operator', '--name', 'ops-2')
  t.equal(op.code, 0, op.stderr)
  t.equal(loadTrustStore(trustFile).operatorsByCert.size, 2, 'a second operator')

  const twice = await keys(
    'issue-agency',
    '--trust',
    trustFile,
    '--agency',
    'CBSA',
    '--system',
    'nexus-kiosk',
    '--kinds',
    'traveller.designation',
    '--purposes',
    'trusted-traveller-vetting'
  )
  t.equal(twice.code, 1)
  t.match(twice.stderr, /SYSTEM_EXISTS/)

  const replaced = await keys(
    'issue-agency',
    '--trust',
    trustFile,
    '--agency',
    'CBSA',
    '--system',
    'nexus-kiosk',
    '--kinds',
    'traveller.designation',
    '--purposes',
    'trusted-traveller-vetting',
    '--replace'
  )
  t.equal(replaced.code, 0, replaced.stderr)
  t.ok(loadTrustStore(trustFile).revokedCerts.has(/x5t#S256 (\S+)\)/.exec(issued.stdout)![1]!), '--replace revokes the old certificate')
})

t.test('refusals say why, with a code, and leave the trust file as it was', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const before = readFileSync(trustFile, 'utf8')
  const active = JSON.parse(before).gateway.activeKid as string

  const cases: Array<[string[], number, RegExp]> = [
    [
      ['issue-agency', '--trust', trustFile, '--agency', 'CBSA', '--system', 'x', '--kinds', 'no.such-kind', '--purposes', 'p'],
      2,
      /unknown kind no\.such-kind/
    ],
    // A purpose mistyped, or one no kind given has: the system would be issued and refused every message it sends.
    [
      ['issue-agency', '--trust', trustFile, '--agency', 'CBSA', '--system', 'x', '--kinds', 'entry-exit.record', '--purposes', 'entry-exit-verfication'],
      2,
      /unknown purpose entry-exit-verfication for entry-exit\.record; its purposes are entry-exit-verification, /
    ],
    [
      ['issue-agency', '--trust', trustFile, '--agency', 'CBSA', '--system', 'x', '--kinds', 'entry-exit.record', '--purposes', 'asylum-claim'],
      2,
      /unknown purpose asylum-claim for entry-exit\.record/
    ],
    [
      [
        'issue-agency',
        '--trust',
        trustFile,
        '--agency',
        'CBSA',
        '--system',
        'x',
        '--kinds',
        'entry-exit.record',
        '--purposes',
        'entry-exit-verification',
        '--webhook',
        'http://plain'
      ],
      2,
      /--webhook must be an https/
    ],
    [['retire-key', '--trust', trustFile, '--kid', active], 1, /KEY_ACTIVE/],
    [['revoke', '--trust', trustFile, '--kid', active], 1, /KEY_ACTIVE/],
    // A leaked key's kid mistyped: "revoked" and exit 0 would leave the key trusted while the operator thinks it done.
    [['revoke', '--trust', trustFile, '--kid', `${active}x`], 1, /registered nowhere here.*\[KEY_UNKNOWN\]/],
    // Likewise a certificate's thumbprint mistyped.
    [['revoke', '--trust', trustFile, '--cert', 'A'.repeat(43)], 1, /registered nowhere here.*\[CERT_UNKNOWN\]/],
    [['activate-gateway-key', '--trust', trustFile, '--kid', 'nope'], 1, /KEY_UNKNOWN/],
    [['revoke', '--trust', trustFile], 2, /say what to revoke/],
    [['revoke', '--trust', trustFile, '--agency', 'CBSA', '--system', 'nope'], 1, /SYSTEM_UNKNOWN/],
    [['rotate-agency-key', '--trust', join(dir, 'missing.json'), '--agency', 'CBSA', '--system', 'pik-primary'], 1, /TRUST_FILE_UNREADABLE/],
    [['frobnicate'], 2, /unknown command frobnicate/],
    // The partner's trust file is checked before anything is written on this side.
    [['rotate-gateway-key', '--trust', trustFile, '--partner-trust', trustFile], 2, /is not the trust file of CA's partner/],
    [['expiry', '--trust', trustFile, '--warn-days', 'soon'], 2, /--warn-days must be a whole number/]
  ]
  for (const [args, code, message] of cases) {
    const res = await keys(...args)
    t.equal(res.code, code, `${args[0]}: exit ${code}`)
    t.match(res.stderr, message, `${args[0]}: ${message}`)
  }

  const jwksFile = join(dir, 'bad.jwks.json')
  const privateJwk = readFileSync(join(dir, 'US', JSON.parse(readFileSync(join(dir, 'US', 'trust.json'), 'utf8')).gateway.signingKeys[0].privateJwk), 'utf8')
  writeFileSync(jwksFile, `{"keys":[${privateJwk}]}`)
  const leaked = await keys('import-partner-jwks', '--trust', trustFile, '--jwks', jwksFile)
  t.equal(leaked.code, 1)
  t.match(leaked.stderr, /PRIVATE key.*JWKS_PRIVATE_KEY/, 'a JWKS carrying a private key is refused')
  writeFileSync(jwksFile, '{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","kid":"k","alg":"ES256"}]}')
  t.match((await keys('import-partner-jwks', '--trust', trustFile, '--jwks', jwksFile)).stderr, /JWKS_INVALID/, 'a key that is not a point is refused')
  writeFileSync(jwksFile, '{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"k","alg":"RS256"}]}')
  t.match((await keys('import-partner-jwks', '--trust', trustFile, '--jwks', jwksFile)).stderr, /alg RS256 is not allowed/)
  // Both sides' files are called jwks.json: this gateway's own, imported as the partner's, would have it refuse every envelope the partner signs.
  const own = join(dir, 'own.jwks.json')
  t.equal((await keys('export-jwks', '--trust', trustFile, '--out', own)).code, 0)
  const mistaken = await keys('import-partner-jwks', '--trust', trustFile, '--jwks', own)
  t.equal(mistaken.code, 1, "this gateway's own key set is not imported as the partner's")
  t.match(mistaken.stderr, new RegExp(`key ${active} is this gateway's own.*\\[JWKS_NOT_PARTNERS\\]`))

  t.equal(readFileSync(trustFile, 'utf8'), before, 'after all of that the trust file is byte for byte the same')
  t.same(
    readdirSync(join(dir, 'CA')).filter((f) => f.startsWith('gateway.signing.')),
    [basename(JSON.parse(before).gateway.signingKeys[0].privateJwk)],
    'and no signing key was made'
  )

  const rotated = await keys('rotate-gateway-key', '--trust', trustFile)
  const newKid = /added gateway signing key (\S+);/.exec(rotated.stdout)![1]!
  const afterRotation = readFileSync(trustFile, 'utf8')
  const unreadable = await keys('retire-key', '--trust', trustFile, '--kid', newKid, '--partner-trust', join(dir, 'missing.json'))
  t.equal(unreadable.code, 1)
  t.match(unreadable.stderr, /TRUST_FILE_UNREADABLE/)
  t.equal(readFileSync(trustFile, 'utf8'), afterRotation, "retire-key refused for the partner's file retires nothing here")
  t.ok(existsSync(join(dir, 'CA', `gateway.signing.${newKid}.private.jwk.json`)), 'and deletes no private key')
})

t.test('revoke --name revokes every certificate of that name: a person who is an operator and a privacy officer keeps neither', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  t.equal((await keys('issue-client', '--trust', trustFile, '--role', 'operator', '--name', 'jdoe')).code, 0)
  t.equal((await keys('issue-client', '--trust', trustFile, '--role', 'privacy-officer', '--name', 'jdoe')).code, 0)
  const revoked = await keys('revoke', '--trust', trustFile, '--name', 'jdoe')
  t.equal(revoked.code, 0, revoked.stderr)
  const store = loadTrustStore(trustFile)
  t.same(
    [...store.operatorsByCert.values()].map((o) => o.id),
    ['CA/operator/ops-1'],
    "the operator's certificate is revoked"
  )
  t.same(
    [...store.privacyOfficersByCert.values()].map((o) => o.id),
    ['CA/privacy-officer/po-1'],
    "and the privacy officer's"
  )
  t.match(revoked.stdout, /privacy officer jdoe: certificate /, 'the answer names both')
  t.match(revoked.stdout, /; operator jdoe: certificate /)
})

t.test('two commands on one trust file at once: none that says it is done has its change undone by the other', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const primary = (JSON.parse(readFileSync(trustFile, 'utf8')) as TrustFile).agencies.find((a) => a.system === 'pik-primary')!
  // Two operators: one issues a system (its RSA key takes a while), the other
  // revokes a leaked one meanwhile, as the guide's commands are written.
  const [issued, revoked] = await Promise.all([
    keys(
      'issue-agency',
      '--trust',
      trustFile,
      '--agency',
      'CBSA',
      '--system',
      'kiosk-2',
      '--kinds',
      'entry-exit.record',
      '--purposes',
      'entry-exit-verification'
    ),
    keys('revoke', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')
  ])
  const store = loadTrustStore(trustFile)
  t.not(issued.code === 0 && revoked.code === 0, true, 'one of them is refused')
  for (const res of [issued, revoked]) if (res.code !== 0) t.match(res.stderr, /\[TRUST_FILE_LOCKED\]/, 'saying another command holds the file')
  if (revoked.code === 0) t.ok(store.revokedCerts.has(primary.certSha256), 'the revocation it reported is in force')
  if (issued.code === 0) t.ok(store.agencies.has('CA/CBSA/kiosk-2'), 'the system it reported is registered')
  // The one refused runs once the other is done: nothing is left holding the file.
  t.equal((await keys('revoke', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')).code, 0)
  t.ok(loadTrustStore(trustFile).revokedCerts.has(primary.certSha256))
})

t.test('export-jwks gives public keys only; import-partner-jwks keeps dropped keys for the ledger only', async (t) => {
  const dir = copyKeys(t)
  const exported = await keys('export-jwks', '--trust', join(dir, 'US', 'trust.json'))
  t.equal(exported.code, 0)
  const jwks = JSON.parse(exported.stdout) as { keys: Array<Record<string, unknown>> }
  t.equal(jwks.keys.length, 1)
  t.notOk('d' in jwks.keys[0]!, 'no private part')
  const caTrust = join(dir, 'CA', 'trust.json')
  const oldKid = loadTrustStore(caTrust).partner.keys.keys().next().value!
  // The US rotates; CA imports the new JWKS twice over (old+new, then new only).
  await keys('rotate-gateway-key', '--trust', join(dir, 'US', 'trust.json'))
  const both = join(dir, 'US', 'jwks.json')
  const imported = await keys('import-partner-jwks', '--trust', caTrust, '--jwks', both)
  t.match(imported.stdout, /added us-gateway-/)
  const newKid = [...loadTrustStore(caTrust).partner.keys.keys()].find((k) => k !== oldKid)!
  writeFileSync(
    join(dir, 'new-only.json'),
    JSON.stringify({ keys: JSON.parse(readFileSync(both, 'utf8')).keys.filter((k: { kid: string }) => k.kid === newKid) })
  )
  const dropped = await keys('import-partner-jwks', '--trust', caTrust, '--jwks', join(dir, 'new-only.json'))
  t.match(dropped.stdout, new RegExp(`removed ${oldKid}`))
  const store = loadTrustStore(caTrust)
  t.same([...store.partner.keys.keys()], [newKid], 'the dropped key no longer verifies messages')
  t.ok(store.partner.ledgerKeys.has(oldKid), 'but still verifies the countersignatures it made')
  const retired = (JSON.parse(readFileSync(caTrust, 'utf8')) as TrustFile).partner.retiredKeys!.find((k) => k.kid === oldKid)!
  t.ok(Date.parse(retired.retiredAt!) <= Date.now(), 'the time it was dropped is kept with it')

  // What the dropped key signs from now on is worth nothing here: a leaked
  // key the partner dropped can neither cosign this gateway's checkpoints
  // after the fact nor have the witness cosign a checkpoint of its own.
  const droppedKey = {
    name: witnessName('US'),
    alg: 'ES256' as const,
    key: createPrivateKey({ key: JSON.parse(readFileSync(join(dir, 'US', `gateway.signing.${oldKid}.private.jwk.json`), 'utf8')), format: 'jwk' })
  }
  const own = signCheckpoint(
    { size: 5, root: Buffer.alloc(32, 1).toString('base64') },
    { name: ledgerOrigin('CA'), alg: store.signingKey.alg, key: store.signingKey.key }
  )
  const before = Math.floor(Date.parse(retired.retiredAt!) / 1000) - 60
  t.equal(
    cosignedAt(own + cosignCheckpoint(own, droppedKey, before), witnessKeys('US', store.partner.ledgerKeys)),
    before,
    'a cosignature from before it was dropped verifies'
  )
  t.throws(
    () =>
      cosignedAt(own + cosignCheckpoint(own, droppedKey, Math.floor(Date.parse(retired.retiredAt!) / 1000) + 1), witnessKeys('US', store.partner.ledgerKeys)),
    { code: 'NOTE_UNVERIFIED', message: /after its key was retired/ },
    'one dated a second after is refused'
  )
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, trustFile: caTrust }))
  const theirs = signCheckpoint({ size: 3, root: Buffer.alloc(32, 2).toString('base64') }, { ...droppedKey, name: ledgerOrigin('US') })
  const asked = await gw.app.inject({
    method: 'POST',
    url: '/v1/witness/add-checkpoint',
    payload: addCheckpointBody(0, [], theirs),
    headers: { 'content-type': 'text/plain; charset=utf-8', ...presenting(readFileSync(join(dir, 'US', 'gateway.crt.pem'), 'utf8')) }
  })
  t.equal(asked.statusCode, 403, `the witness cosigns no checkpoint the dropped key signed (${asked.body})`)

  // Revoked, it verifies nothing, not even what it signed before.
  t.equal((await keys('revoke', '--trust', caTrust, '--kid', oldKid)).code, 0)
  t.notOk(loadTrustStore(caTrust).partner.ledgerKeys.has(oldKid), 'a revoked key the partner dropped verifies no countersignature')
})

t.test('GET /.well-known/ledger-keys.json publishes a retired key with its retiredAt, and never a revoked one', async (t) => {
  const dir = copyKeys(t)
  const trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  type LedgerKeys = {
    origin: string
    keys: Array<{ kid: string; retiredAt?: number }>
    witness: { name: string; keys: Array<{ kid: string; retiredAt?: number }> }
  }
  const published = async (country: 'CA' | 'US') => {
    const gw = await injectGateway(t, testConfig(country, { runWorkers: false, trustFile: trust[country] }))
    const res = await gw.app.inject({ method: 'GET', url: '/.well-known/ledger-keys.json' })
    t.equal(res.statusCode, 200, `${country}: answered without a certificate`)
    t.equal(res.headers['cache-control'], 'public, max-age=300')
    return { body: res.json() as LedgerKeys, trust: gw.app.trust }
  }
  const kids = (keys: Array<{ kid: string; retiredAt?: number }>) => Object.fromEntries(keys.map((k) => [k.kid, k.retiredAt ?? null]))
  const retiredAt = (file: string, member: 'gateway' | 'partner', kid: string) => {
    const f = JSON.parse(readFileSync(file, 'utf8')) as TrustFile
    return Math.floor(Date.parse(f[member].retiredKeys!.find((k) => k.kid === kid)!.retiredAt!) / 1000)
  }

  const old = loadTrustStore(trust.CA).signingKey.kid
  t.equal((await keys('rotate-gateway-key', '--trust', trust.CA, '--partner-trust', trust.US)).code, 0)
  const next = [...loadTrustStore(trust.CA).ownKeys.keys()].find((kid) => kid !== old)!
  t.equal((await keys('activate-gateway-key', '--trust', trust.CA, '--kid', next)).code, 0)
  t.equal((await keys('retire-key', '--trust', trust.CA, '--kid', old, '--partner-trust', trust.US)).code, 0)
  // A third key, added and revoked before it was ever active: the gateway keeps it for its own checks, nobody else may take it.
  t.equal((await keys('rotate-gateway-key', '--trust', trust.CA)).code, 0)
  const leaked = [...loadTrustStore(trust.CA).ownKeys.keys()].find((kid) => kid !== old && kid !== next)!
  t.equal((await keys('revoke', '--trust', trust.CA, '--kid', leaked)).code, 0)

  const ca = await published('CA')
  t.equal(ca.body.origin, ledgerOrigin('CA'))
  t.same(kids(ca.body.keys), { [next]: null, [old]: retiredAt(trust.CA, 'gateway', old) }, 'the current key, and the retired one with its retiredAt')
  t.ok(ca.trust.ownLedgerKeys.has(leaked), 'the revoked key still verifies checkpoints for the gateway itself')
  t.equal(ca.body.witness.name, witnessName('US'))
  const us = await published('US')
  t.same(us.body, { origin: ledgerOrigin('US'), keys: us.body.keys, witness: { name: witnessName('CA'), keys: us.body.witness.keys } })
  t.same(kids(us.body.witness.keys), { [next]: null, [old]: retiredAt(trust.US, 'partner', old) }, "the partner's keys as the witness's, the dropped one dated")

  // Revoked, it is published by neither gateway.
  t.equal((await keys('revoke', '--trust', trust.CA, '--kid', old)).code, 0)
  t.equal((await keys('revoke', '--trust', trust.US, '--kid', old)).code, 0)
  t.same(kids((await published('CA')).body.keys), { [next]: null }, 'not in the ledger keys')
  t.same(kids((await published('US')).body.witness.keys), { [next]: null }, "nor in the witness's")
})

t.test('a revoked gateway key is handed to the partner by no command, and a rotation revokes it there too', async (t) => {
  const dir = copyKeys(t)
  const trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  const jwksKids = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { keys: { kid: string }[] }).keys.map((k) => k.kid)
  const leaked = loadTrustStore(trust.CA).signingKey.kid
  const rotated = await keys('rotate-gateway-key', '--trust', trust.CA, '--partner-trust', trust.US)
  const next = /added gateway signing key (\S+);/.exec(rotated.stdout)![1]!
  t.equal((await keys('activate-gateway-key', '--trust', trust.CA, '--kid', next)).code, 0)
  // Revoked here only, as an operator may well do first.
  t.equal((await keys('revoke', '--trust', trust.CA, '--kid', leaked)).code, 0)

  const exported = await keys('export-jwks', '--trust', trust.CA)
  t.same(
    (JSON.parse(exported.stdout) as { keys: { kid: string }[] }).keys.map((k) => k.kid),
    [next],
    'export-jwks leaves the revoked key out'
  )

  // The next rotation hands the partner this gateway's key set without it,
  // and its revocation: dropped only, the partner would keep it for the
  // cosignatures it dates before, which whoever holds the key can backdate.
  const again = await keys('rotate-gateway-key', '--trust', trust.CA, '--partner-trust', trust.US)
  t.equal(again.code, 0, again.stderr)
  const third = /added gateway signing key (\S+);/.exec(again.stdout)![1]!
  t.same(jwksKids(join(dir, 'CA', 'jwks.json')), [next, third], 'jwks.json leaves it out')
  t.same(jwksKids(join(dir, 'US', 'partner', 'jwks.json')), [next, third], "and so does the partner's copy")
  const us = loadTrustStore(trust.US)
  t.same([...us.partner.keys.keys()], [next, third], 'the partner no longer takes it')
  t.notOk(us.partner.ledgerKeys.has(leaked), 'not even for a cosignature: it is revoked there, not retired')
  t.ok((JSON.parse(readFileSync(trust.US, 'utf8')) as TrustFile).revoked.kids.includes(leaked))

  // retire-key of the revoked key: the key set it hands the partner still leaves it out.
  const retired = await keys('retire-key', '--trust', trust.CA, '--kid', leaked, '--partner-trust', trust.US)
  t.equal(retired.code, 0, retired.stderr)
  t.same(jwksKids(join(dir, 'CA', 'jwks.json')), [next, third])
  t.notOk(loadTrustStore(trust.US).partner.ledgerKeys.has(leaked), 'and the partner still refuses it')
  t.ok(loadTrustStore(trust.CA).ownLedgerKeys.has(leaked), 'here, the checkpoints it signed still verify')
})

t.test('revoke --kid --partner-trust: the partner gateway refuses what the revoked key signs and no longer publishes it', async (t) => {
  const dir = copyKeys(t)
  const trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  const leaked = loadTrustStore(trust.CA).signingKey.kid
  const rotated = await keys('rotate-gateway-key', '--trust', trust.CA, '--partner-trust', trust.US)
  const next = /added gateway signing key (\S+);/.exec(rotated.stdout)![1]!
  t.equal((await keys('activate-gateway-key', '--trust', trust.CA, '--kid', next)).code, 0)

  // Refused, leaving both files as they were: --partner-trust revokes this gateway's keys only.
  const before = { CA: readFileSync(trust.CA, 'utf8'), US: readFileSync(trust.US, 'utf8') }
  const agencyKid = (JSON.parse(before.CA) as TrustFile).agencies[0]!.keys[0]!.kid
  const refusals: Array<[string[], number, RegExp]> = [
    [['revoke', '--trust', trust.CA, '--kid', agencyKid, '--partner-trust', trust.US], 1, /not one of this gateway's keys.*\[KEY_NOT_GATEWAYS\]/],
    [['revoke', '--trust', trust.CA, '--agency', 'CBSA', '--system', 'pik-primary', '--partner-trust', trust.US], 2, /--partner-trust goes with --kid/],
    [['revoke', '--trust', trust.CA, '--kid', leaked, '--partner-trust', trust.CA], 2, /is not the trust file of CA's partner/],
    // Two things named at once: one alone was revoked, and the answer said the kid was revoked on both sides.
    [
      ['revoke', '--trust', trust.CA, '--agency', 'CBSA', '--system', 'pik-primary', '--kid', leaked, '--partner-trust', trust.US],
      2,
      /say one thing to revoke/
    ],
    [['revoke', '--trust', trust.CA, '--name', 'ops-1', '--kid', leaked], 2, /say one thing to revoke/]
  ]
  for (const [args, code, message] of refusals) {
    const res = await keys(...args)
    t.equal(res.code, code, args.join(' '))
    t.match(res.stderr, message)
  }
  t.same({ CA: readFileSync(trust.CA, 'utf8'), US: readFileSync(trust.US, 'utf8') }, before, 'both trust files are as they were')

  const revoked = await keys('revoke', '--trust', trust.CA, '--kid', leaked, '--partner-trust', trust.US)
  t.equal(revoked.code, 0, revoked.stderr)
  t.match(revoked.stdout, /revoked in the partner's/)
  t.same(
    (JSON.parse(readFileSync(join(dir, 'CA', 'jwks.json'), 'utf8')) as { keys: { kid: string }[] }).keys.map((k) => k.kid),
    [next],
    'jwks.json is written without it'
  )
  t.ok((JSON.parse(readFileSync(trust.US, 'utf8')) as TrustFile).revoked.kids.includes(leaked), "in the partner's revocations")

  const gw = await injectGateway(t, testConfig('US', { runWorkers: false, trustFile: trust.US }))
  // Signed with the committed CA gateway key: the one just revoked.
  const sent = await forwardedTo('US')
  t.equal(JSON.parse(Buffer.from(sent.jws.split('.')[0]!, 'base64url').toString()).kid, leaked)
  const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('US') })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'JWS_KID_UNKNOWN', 'the partner refuses an envelope it signed')
  const published = await gw.app.inject({ method: 'GET', url: '/.well-known/partner-jwks.json' })
  t.same(
    (published.json() as { keys: { kid: string }[] }).keys.map((k) => k.kid),
    [next],
    'and no longer publishes it to its agencies'
  )
  t.notOk(gw.app.trust.partner.ledgerKeys.has(leaked), 'nor takes a cosignature it made')
  const leakedKey = {
    name: ledgerOrigin('CA'),
    alg: 'ES256' as const,
    key: createPrivateKey({ key: JSON.parse(readFileSync(join(dir, 'CA', `gateway.signing.${leaked}.private.jwk.json`), 'utf8')), format: 'jwk' })
  }
  const checkpoint = signCheckpoint({ size: 3, root: Buffer.alloc(32, 2).toString('base64') }, leakedKey)
  const asked = await gw.app.inject({
    method: 'POST',
    url: '/v1/witness/add-checkpoint',
    payload: addCheckpointBody(0, [], checkpoint),
    headers: { 'content-type': 'text/plain; charset=utf-8', ...presenting(readFileSync(join(dir, 'CA', 'gateway.crt.pem'), 'utf8')) }
  })
  t.equal(asked.statusCode, 403, `nor cosigns a checkpoint it signed (${asked.body})`)
})

t.test('expiry lists every certificate and fails ahead of expiry', async (t) => {
  const ok = await keys('expiry', '--trust', join(KEYS_DIR, 'CA', 'trust.json'))
  t.equal(ok.code, 0, ok.stderr)
  for (const file of [
    'ca.crt.pem',
    'gateway.crt.pem',
    'partner/gateway.crt.pem',
    'agencies/CBSA-pik-primary/client.crt.pem',
    'operators/ops-1/client.crt.pem'
  ]) {
    t.match(ok.stdout, new RegExp(`ok +${file.replace('.', '\\.')} +\\d{4}-\\d{2}-\\d{2} +\\d+ days`), file)
  }
  const soon = await keys('expiry', '--trust', join(KEYS_DIR, 'CA', 'trust.json'), '--warn-days', '3000', '--json')
  t.equal(soon.code, 1, 'a certificate inside the warning window fails the check')
  const rows = JSON.parse(soon.stdout) as Array<{ name: string; status: string; daysLeft: number }>
  t.ok(rows.length === 8 && rows.every((r) => r.status === 'WARN' && r.daysLeft > 0))
  t.match(soon.stderr, /expired or expiring within 3000 days/)
})

t.test('--check-config names each bad setting and checks the trust material', async (t) => {
  const key = Buffer.alloc(32, 3).toString('base64')
  const env = {
    GATEWAY_COUNTRY: 'CA',
    GATEWAY_TRUST_FILE: join(KEYS_DIR, 'CA', 'trust.json'),
    GATEWAY_SEAL_KEY: key,
    GATEWAY_AUDIT_KEY: key,
    GATEWAY_PSEUDONYM_KEY: key,
    LEDGER_PATH: join(tmpdir(), 'btb-check', 'ledger.sqlite')
  }
  const good = checkConfiguration(env)
  t.equal(good.ok, true, good.lines.join('\n'))
  t.match(good.lines.join('\n'), /ok +trust file .*gateway CA, 2 agency systems/)

  const bad = checkConfiguration({ ...env, PORT: 'eighty', REDIS_URL: 'http://x', GATEWAY_AUDIT_KEY: undefined, LOG_LEVEL: 'loud' })
  t.equal(bad.ok, false)
  t.equal(bad.lines.length, 4, 'one line per bad setting')
  for (const name of ['PORT', 'REDIS_URL', 'GATEWAY_AUDIT_KEY', 'LOG_LEVEL'])
    t.ok(
      bad.lines.some((l) => l.startsWith(`error ${name}:`)),
      name
    )
  t.notOk(bad.lines.join('\n').includes(key), 'no secret is echoed')

  const wrongCountry = checkConfiguration({ ...env, GATEWAY_COUNTRY: 'US' })
  t.match(wrongCountry.lines.join('\n'), /error GATEWAY_COUNTRY: is US but the trust file is for CA/)
  const noTrust = checkConfiguration({ ...env, GATEWAY_TRUST_FILE: join(KEYS_DIR, 'nope.json') })
  t.match(noTrust.lines.join('\n'), /error GATEWAY_TRUST_FILE: /)

  // What the start would refuse, refused here first (docs/operators.md, "Configuration").
  const keys = copyKeys(t)
  const trustFile = join(keys, 'CA', 'trust.json')
  const file = JSON.parse(readFileSync(trustFile, 'utf8')) as TrustFile
  const mismatched = join(keys, 'CA', 'trust-other-key.json')
  writeFileSync(mismatched, JSON.stringify({ ...file, gateway: { ...file.gateway, tlsKey: 'agencies/CBSA-pik-primary/client.key.pem' } }))
  t.match(
    checkConfiguration({ ...env, GATEWAY_TRUST_FILE: mismatched }).lines.join('\n'),
    /error GATEWAY_TRUST_FILE: .*gateway\.tlsKey .* is not the key of gateway\.tlsCert/,
    "a TLS key that is not the certificate's: the HTTPS server could not start with it"
  )
  t.match(
    checkConfiguration({ ...env, LEDGER_PATH: keys }).lines.join('\n'),
    /error LEDGER_PATH: .* is a directory, not a ledger file/,
    'a ledger path that is a directory: SQLite could not open it'
  )

  // An override for a system the trust file does not list is no override: refused, by name, here and at start.
  const typo = { ...env, AGENCY_WEBHOOKS: '{"CA/CBSA/pik-primray":"https://cbsa.example/v1/inbox","US/CBP/ades":"https://cbp.example/v1/inbox"}' }
  const unknown = checkConfiguration(typo)
  t.equal(unknown.ok, false)
  t.same(
    unknown.lines.filter((l) => l.startsWith('error')),
    [
      'error AGENCY_WEBHOOKS: CA/CBSA/pik-primray is not an agency system of the trust file (it lists CA/CBSA/pik-primary, CA/IRCC/gcms-biometrics)',
      "error AGENCY_WEBHOOKS: US/CBP/ades is a system of the partner's country: this gateway pushes to CA's systems only (give it to the US gateway)"
    ],
    'each unknown system named, with the ones the trust file lists'
  )
  const started = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['gateway/server.ts'],
      { cwd: root, env: { ...process.env, ...typo, REDIS_URL: 'redis://127.0.0.1:1' } },
      (err, _stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stderr })
    )
  })
  t.equal(started.code, 1, 'the gateway does not start with it')
  t.match(
    started.stderr,
    /^gateway: invalid configuration \(2 problems\):\n {2}- AGENCY_WEBHOOKS: CA\/CBSA\/pik-primray is not an agency system of the trust file/,
    'and says why on stderr, as for any other bad setting'
  )

  const cli = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, ['gateway/server.ts', '--check-config'], { cwd: root, env: { ...process.env, ...env, PORT: '-1' } }, (err, stdout) =>
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stdout })
    )
  })
  t.equal(cli.code, 1, 'the flag exits non-zero on a bad setting')
  t.match(cli.stdout, /error PORT: must be a whole number in decimal digits \(got "-1"\)\nconfiguration has errors/)
})

t.test('renewing a gateway TLS certificate: each step refuses what would cut the partner off, and leaves the files as they were', async (t) => {
  const dir = copyKeys(t)
  const caTrust = join(dir, 'CA', 'trust.json')
  const usTrust = join(dir, 'US', 'trust.json')
  const files = () => [readFileSync(caTrust, 'utf8'), readFileSync(usTrust, 'utf8'), readFileSync(join(dir, 'CA', 'gateway.crt.pem'), 'utf8')]
  t.match((await keys('activate-gateway-cert', '--trust', caTrust)).stderr, /NO_NEXT_CERT/, 'nothing to activate before a rotation')
  t.match((await keys('promote-partner-cert', '--trust', usTrust)).stderr, /NO_NEXT_CERT/, 'nothing to promote before a pin')
  const issued = await keys('rotate-gateway-cert', '--trust', caTrust)
  t.equal(issued.code, 0, issued.stderr)
  const next = new X509Certificate(readFileSync(join(dir, 'CA', 'gateway.next.crt.pem')))
  const current = new X509Certificate(readFileSync(join(dir, 'CA', 'gateway.crt.pem')))
  t.equal(next.subject, current.subject, 'the next certificate has the same subject')
  t.equal(next.subjectAltName, current.subjectAltName, 'and the same names')
  t.match((await keys('rotate-gateway-cert', '--trust', caTrust)).stderr, /NEXT_CERT_EXISTS/, 'one rotation at a time')
  const before = files()
  t.match(
    (await keys('activate-gateway-cert', '--trust', caTrust, '--partner-trust', usTrust)).stderr,
    /NOT_PINNED/,
    'not presented before the partner pins it'
  )
  t.same(files(), before, 'both trust files and the certificate as they were')
  t.match(
    (await keys('pin-partner-cert', '--trust', usTrust, '--cert-file', join(dir, 'US', 'gateway.crt.pem'))).stderr,
    /CERT_NOT_PARTNERS/,
    "a certificate the partner's CA did not issue is not pinned"
  )
  t.equal((await keys('pin-partner-cert', '--trust', usTrust, '--cert-file', join(dir, 'CA', 'gateway.next.crt.pem'))).code, 0)
  t.same(loadTrustStore(usTrust).partner.gatewayCertPins.length, 2, 'pinned beside the current one')
  t.equal((await keys('activate-gateway-cert', '--trust', caTrust, '--partner-trust', usTrust)).code, 0)
  t.same(loadTrustStore(usTrust).partner.gatewayCertPins, [sha256(next.raw)], 'then alone')
})

/** Every file under `dir`, by its path there, with its content: what a refused command must leave as it was. */
function filesUnder(dir: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) found[join(entry.parentPath, entry.name).slice(dir.length + 1)] = readFileSync(join(entry.parentPath, entry.name), 'utf8')
  }
  return found
}

/** A trust file the gateway refused to reload (a member edited by hand): every change a command makes to it is refused as invalid. */
function breakTrustFile(file: string): () => void {
  const good = readFileSync(file, 'utf8')
  const trust = JSON.parse(good) as TrustFile
  trust.partner.url = 'http://partner.example'
  writeFileSync(file, JSON.stringify(trust, null, 2))
  return () => writeFileSync(file, good)
}

t.test('issue-agency refused changes nothing on disk: a re-issue keeps the key and certificate the trust file still names', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const reissue = (system: string) =>
    keys(
      'issue-agency',
      '--trust',
      trustFile,
      '--agency',
      'CBSA',
      '--system',
      system,
      '--kinds',
      'entry-exit.record',
      '--purposes',
      'entry-exit-verification',
      '--replace'
    )

  // Another command holds the file: refused before anything is read.
  writeFileSync(`${trustFile}.lock`, '')
  const held = filesUnder(join(dir, 'CA'))
  t.match((await reissue('pik-primary')).stderr, /\[TRUST_FILE_LOCKED\]/)
  t.same(filesUnder(join(dir, 'CA')), held, 'held by another command: nothing changed')
  rmSync(`${trustFile}.lock`)

  // Refused by the check of the trust file it would write, after the certificate and keys are made.
  breakTrustFile(trustFile)
  const before = filesUnder(join(dir, 'CA'))
  const replaced = await reissue('pik-primary')
  t.equal(replaced.code, 1)
  t.match(replaced.stderr, /\[TRUST_FILE_INVALID\]/)
  t.same(filesUnder(join(dir, 'CA')), before, "the system's key and certificate are the ones the trust file names, and nothing else changed")
  const added = await reissue('kiosk-3')
  t.match(added.stderr, /\[TRUST_FILE_INVALID\]/)
  t.same(filesUnder(join(dir, 'CA')), before, 'a new system refused leaves no key behind')
  t.notOk(existsSync(join(dir, 'CA', 'agencies', 'CBSA-kiosk-3')), 'nor its directory')
})

t.test('rotate-agency-key refused changes nothing on disk: the signing key the trust file names stays where the agency takes it from', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  breakTrustFile(trustFile)
  const before = filesUnder(join(dir, 'CA'))
  const rotated = await keys('rotate-agency-key', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')
  t.equal(rotated.code, 1)
  t.match(rotated.stderr, /\[TRUST_FILE_INVALID\]/)
  t.same(filesUnder(join(dir, 'CA')), before, 'no key written, moved or copied')
})

/** Each agency kid the trust file registers for CBSA/pik-primary. */
function primaryKids(trustFile: string): string[] {
  const trust = JSON.parse(readFileSync(trustFile, 'utf8')) as TrustFile
  return trust.agencies.find((a) => a.agency === 'CBSA' && a.system === 'pik-primary')!.keys.map((k) => k.kid)
}

/** What a change stopped midway leaves under `dir`: staged files and journals. */
function leftovers(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(partial|journal)$/.test(f))
}

t.test(
  'a command stopped between its renames is finished by the next keys command: the key files in place are the ones the trust file registers',
  async (t) => {
    const dir = copyKeys(t)
    const trustFile = join(dir, 'CA', 'trust.json')
    const system = join(dir, 'CA', 'agencies', 'CBSA-pik-primary')
    const [old] = primaryKids(trustFile)
    // The real process stopped between two renames, as a crash (kill -9, power
    // loss) or a failing disk stops it: the last key file it puts in place
    // before the trust file cannot be renamed over a directory.
    rmSync(join(system, 'signing.public.jwk.json'))
    mkdirSync(join(system, 'signing.public.jwk.json'))
    const stopped = await keysProcess('rotate-agency-key', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')
    t.equal(stopped.code, 1)
    t.match(stopped.stderr, /\[TRUST_CHANGE_INTERRUPTED\]/, 'saying the change is not in place in full, and how it is finished')
    const placed = (JSON.parse(readFileSync(join(system, 'signing.private.jwk.json'), 'utf8')) as { kid: string }).kid
    t.not(placed, old, 'the new signing key is in place already')
    t.same(primaryKids(trustFile), [old], 'while the trust file still registers the old one alone: the agency signs with a key nobody takes')

    // The cause mended, the operator runs the command again.
    rmSync(join(system, 'signing.public.jwk.json'), { recursive: true })
    const again = await keysProcess('rotate-agency-key', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')
    t.equal(again.code, 1, 'it did not rotate again')
    t.match(again.stderr, /now in place in full.*run this command again if it is still needed \[TRUST_CHANGE_FINISHED\]/)
    t.same(primaryKids(trustFile), [old, placed], 'the interrupted rotation is finished: the key in place is registered, and the old one is kept')
    const pem = createPrivateKey(readFileSync(join(system, 'signing.private.pem'), 'utf8')).export({ format: 'jwk' }) as { d: string }
    t.equal(pem.d, (JSON.parse(readFileSync(join(system, 'signing.private.jwk.json'), 'utf8')) as { d: string }).d, 'the PEM is the same key')
    t.equal((JSON.parse(readFileSync(join(system, 'signing.public.jwk.json'), 'utf8')) as { kid: string }).kid, placed, 'and the public key')
    t.ok(existsSync(join(system, `signing.${old}.private.jwk.json`)), 'the old private key is kept under its kid')
    t.same(leftovers(join(dir, 'CA')), [], 'no staged file or journal is left: no private key lies about in a .partial file')
    t.doesNotThrow(() => loadTrustStore(trustFile), 'the trust file loads')

    const rotated = await keysProcess('rotate-agency-key', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')
    t.equal(rotated.code, 0, rotated.stderr)
    t.equal(primaryKids(trustFile).length, 3, 'and the next run rotates as ever')
  }
)

t.test("a change to both sides' trust files stopped between its renames is finished by the next keys command on either", async (t) => {
  const dir = copyKeys(t)
  const trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  const gatewayKids = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as TrustFile).gateway.signingKeys.map((k) => k.kid)
  const partnerKids = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as TrustFile).partner.keys.map((k) => k.kid)
  const before = { CA: gatewayKids(trust.CA), US: partnerKids(trust.US) }
  // The partner's copy of the key set cannot be put in place: this side's is already.
  const copy = join(dir, 'US', 'partner', 'jwks.json')
  rmSync(copy)
  mkdirSync(copy)
  const stopped = await keysProcess('rotate-gateway-key', '--trust', trust.CA, '--partner-trust', trust.US)
  t.match(stopped.stderr, /\[TRUST_CHANGE_INTERRUPTED\]/)
  t.same([gatewayKids(trust.CA), partnerKids(trust.US)], [before.CA, before.US], 'neither trust file is in place yet')
  rmSync(copy, { recursive: true })

  // The partner's operator, on its own file alone.
  const jwks = join(dir, 'partner.jwks.json')
  writeFileSync(jwks, readFileSync(join(dir, 'CA', 'jwks.json')))
  const next = await keysProcess('import-partner-jwks', '--trust', trust.US, '--jwks', jwks)
  t.equal(next.code, 1)
  t.match(next.stderr, /\[TRUST_CHANGE_FINISHED\]/)
  const added = gatewayKids(trust.CA).filter((kid) => !before.CA.includes(kid))
  t.equal(added.length, 1, 'the new gateway key is registered here')
  t.same(partnerKids(trust.US), [...before.US, ...added], 'and imported there')
  t.same(JSON.parse(readFileSync(copy, 'utf8')), JSON.parse(readFileSync(join(dir, 'CA', 'jwks.json'), 'utf8')), "both sides' key sets are the same")
  t.same([...leftovers(join(dir, 'CA')), ...leftovers(join(dir, 'US'))], [], 'no staged file or journal is left on either side')
  t.notOk(existsSync(`${trust.CA}.lock`), "the other side's lock, taken to finish it, is let go")
  t.doesNotThrow(() => loadTrustStore(trust.CA))
  t.doesNotThrow(() => loadTrustStore(trust.US))
})

t.test(
  'a command stopped before its files were all staged and checked is undone by the next: its staged files go, nothing of it is put in place',
  async (t) => {
    const dir = copyKeys(t)
    const trustFile = join(dir, 'CA', 'trust.json')
    const target = join(dir, 'CA', 'agencies', 'CBSA-pik-primary', 'signing.private.jwk.json')
    const before = filesUnder(join(dir, 'CA'))
    // As a crash while staging leaves it: the journal, and a private key staged beside its place.
    const partial = `${target}.0badf00d.partial`
    writeFileSync(partial, '{"kid":"never-registered"}', { mode: 0o600 })
    const journal = `${trustFile}.journal`
    writeFileSync(journal, JSON.stringify({ state: 'staging', journals: [journal], renames: [[partial, target]], removals: [] }))
    const next = await keysProcess('rotate-agency-key', '--trust', trustFile, '--agency', 'CBSA', '--system', 'pik-primary')
    t.equal(next.code, 1)
    t.match(next.stderr, /nothing of it was in place, and its staged files are deleted.*\[TRUST_CHANGE_UNDONE\]/)
    t.same(filesUnder(join(dir, 'CA')), before, 'the staged key and the journal are gone, and nothing else changed')
  }
)

t.test('issue-client refused changes nothing on disk: no certificate and key for someone the trust file does not name', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  breakTrustFile(trustFile)
  const before = filesUnder(join(dir, 'CA'))
  for (const role of ['operator', 'privacy-officer']) {
    const issued = await keys('issue-client', '--trust', trustFile, '--role', role, '--name', 'jdoe')
    t.equal(issued.code, 1)
    t.match(issued.stderr, /\[TRUST_FILE_INVALID\]/)
    t.same(filesUnder(join(dir, 'CA')), before, `${role}: no certificate or key written`)
    t.notOk(existsSync(join(dir, 'CA', `${role}s`, 'jdoe')), `${role}: nor its directory`)
  }
})

t.test("a gateway key command refused for the partner's trust file, or for its own, changes neither side's files", async (t) => {
  const dir = copyKeys(t)
  const trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  const rotated = await keys('rotate-gateway-key', '--trust', trust.CA)
  t.equal(rotated.code, 0, rotated.stderr)
  const spare = /added gateway signing key (\S+);/.exec(rotated.stdout)![1]!

  breakTrustFile(trust.US)
  const before = filesUnder(dir)
  const commands = [
    ['rotate-gateway-key', '--trust', trust.CA, '--partner-trust', trust.US],
    ['retire-key', '--trust', trust.CA, '--kid', spare, '--partner-trust', trust.US],
    ['revoke', '--trust', trust.CA, '--kid', spare, '--partner-trust', trust.US]
  ]
  for (const args of commands) {
    const res = await keys(...args)
    t.equal(res.code, 1, `${args[0]}: refused`)
    t.match(res.stderr, /\[TRUST_FILE_INVALID\]/, `${args[0]}: for the partner's file`)
    t.same(filesUnder(dir), before, `${args[0]}: neither side's trust file, key set or keys changed`)
  }

  breakTrustFile(trust.CA)
  const own = filesUnder(dir)
  const alone = await keys('rotate-gateway-key', '--trust', trust.CA)
  t.match(alone.stderr, /\[TRUST_FILE_INVALID\]/)
  t.same(filesUnder(dir), own, 'rotate-gateway-key refused for its own file leaves no private key behind')
})

t.test("a gateway certificate command refused for the partner's trust file, or for its own, changes neither side's files", async (t) => {
  const refused = async (args: string[], what: string): Promise<void> => {
    const before = filesUnder(dir)
    const res = await keys(...args)
    t.equal(res.code, 1, `${what}: refused`)
    t.match(res.stderr, /\[TRUST_FILE_INVALID\]/, what)
    t.same(filesUnder(dir), before, `${what}: no certificate, key or trust file changed`)
  }
  let dir = copyKeys(t)
  let trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  const next = join(dir, 'CA', 'gateway.next.crt.pem')
  t.equal((await keys('rotate-gateway-cert', '--trust', trust.CA)).code, 0)

  let mend = breakTrustFile(trust.US)
  await refused(['pin-partner-cert', '--trust', trust.US, '--cert-file', next], 'pin-partner-cert')
  mend()
  t.equal((await keys('pin-partner-cert', '--trust', trust.US, '--cert-file', next)).code, 0)
  mend = breakTrustFile(trust.US)
  await refused(['promote-partner-cert', '--trust', trust.US], 'promote-partner-cert')
  await refused(['activate-gateway-cert', '--trust', trust.CA, '--partner-trust', trust.US], "activate-gateway-cert, for the partner's file")
  mend()
  // This gateway's TLS key is not replaced by one its trust file does not yet present.
  breakTrustFile(trust.CA)
  await refused(['activate-gateway-cert', '--trust', trust.CA], 'activate-gateway-cert, for its own file')

  dir = copyKeys(t)
  trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  breakTrustFile(trust.US)
  await refused(['rotate-gateway-cert', '--trust', trust.CA, '--partner-trust', trust.US], "rotate-gateway-cert, for the partner's file")
  breakTrustFile(trust.CA)
  await refused(['rotate-gateway-cert', '--trust', trust.CA], 'rotate-gateway-cert, for its own file')
})

t.test('activate-gateway-cert --partner-trust with the partner already pinning the next certificate alone activates it here', async (t) => {
  const dir = copyKeys(t)
  const trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  t.equal((await keys('rotate-gateway-cert', '--trust', trust.CA, '--partner-trust', trust.US)).code, 0)
  const next = readFileSync(join(dir, 'CA', 'gateway.next.crt.pem'), 'utf8')
  // The partner promoted it first, as its operator may.
  t.equal((await keys('promote-partner-cert', '--trust', trust.US)).code, 0)
  const activated = await keys('activate-gateway-cert', '--trust', trust.CA, '--partner-trust', trust.US)
  t.equal(activated.code, 0, activated.stderr)
  t.equal(readFileSync(join(dir, 'CA', 'gateway.crt.pem'), 'utf8'), next, 'this gateway presents it')
  t.same(loadTrustStore(trust.US).partner.gatewayCertPins, [sha256(new X509Certificate(next).raw)], 'and the partner pins it alone, as it did')
  t.match(activated.stdout, /now pins it alone/)
})

t.test('two create-ca at once into one directory: one is refused, and the CA on disk is the one the other reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-ca-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const runs = await Promise.all([keys('create-ca', '--dir', dir, '--country', 'CA'), keys('create-ca', '--dir', dir, '--country', 'CA')])
  t.same(runs.map((r) => r.code).sort(), [0, 1], 'one created, one refused')
  const refused = runs.find((r) => r.code === 1)!
  t.match(refused.stderr, /\[CA_EXISTS\]/)
  const created = runs.find((r) => r.code === 0)!
  const pem = readFileSync(join(dir, 'ca.crt.pem'), 'utf8')
  t.match(created.stdout, new RegExp(`x5t#S256  ${sha256(new X509Certificate(pem).raw)}`), 'the certificate on disk is the one reported')
  t.ok(new X509Certificate(pem).checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'ca.key.pem')))), 'and the key on disk is its key')
})

t.test('a trust file named through a symbolic link is held by the same lock as by its own path', async (t) => {
  const dir = copyKeys(t)
  const trustFile = join(dir, 'CA', 'trust.json')
  const linked = join(dir, 'CA', 'trust-in-force.json')
  symlinkSync(trustFile, linked)
  // Another command holds the file by its own path.
  writeFileSync(`${trustFile}.lock`, '')
  const before = readFileSync(trustFile, 'utf8')
  const res = await keys('revoke', '--trust', linked, '--name', 'po-1')
  t.equal(res.code, 1)
  t.match(res.stderr, /\[TRUST_FILE_LOCKED\]/, 'refused as held, whichever name the operator gave it')
  t.equal(readFileSync(trustFile, 'utf8'), before, 'nothing changed')

  // Not held: the change is made to the file the link names, and the link stays one.
  rmSync(`${trustFile}.lock`)
  const done = await keys('revoke', '--trust', linked, '--name', 'po-1')
  t.equal(done.code, 0, done.stderr)
  t.ok(lstatSync(linked).isSymbolicLink(), 'the link is still a link')
  t.notSame(readFileSync(trustFile, 'utf8'), before, 'and the file it names has the change')
})
