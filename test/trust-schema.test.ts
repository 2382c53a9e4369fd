// The trust file is held to schemas/trust.schema.json when it is loaded and
// before the keys CLI writes it: a member of the wrong type, or one the
// schema does not know, is refused with a message naming it.
import t from 'tap'
import { createHash, X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkTrustFile } from '../gateway/trust/trust-schema.ts'
import { writeTrustFile } from '../gateway/trust/trust-edit.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { copyKeys, KEYS_DIR } from './helper.ts'
import { runKeys } from './lib/run-keys.ts'

const keys = runKeys

const read = (path: string): any => JSON.parse(readFileSync(path, 'utf8'))

/** Each a change to a valid trust file, and the pointer and words its refusal must name. */
const BROKEN: Array<[string, (file: any) => void, RegExp]> = [
  [
    'a string where a list of kinds belongs',
    (f) => {
      f.agencies[0].kinds = 'entry-exit.record'
    },
    /\/agencies\/0\/kinds: must be array/
  ],
  [
    'a number for the example flag',
    (f) => {
      f.example = 1
    },
    /\/example: must be boolean/
  ],
  [
    'a country no gateway runs in',
    (f) => {
      f.partner.country = 'MX'
    },
    /\/partner\/country: must be equal to one of the allowed values/
  ],
  [
    'an unknown member of the partner',
    (f) => {
      f.partner.pin = 'x'
    },
    /\/partner: unknown member "pin"/
  ],
  [
    'an unknown top-level member',
    (f) => {
      f.agencyCA = f.agencyCa
    },
    /\/: unknown member "agencyCA"/
  ],
  [
    'a missing member',
    (f) => {
      delete f.revoked
    },
    /\/: missing member "revoked"/
  ],
  [
    'an algorithm off the allow-list',
    (f) => {
      f.gateway.signingKeys[0].alg = 'RS256'
    },
    /\/gateway\/signingKeys\/0\/alg: must be equal to one of the allowed values/
  ],
  [
    'a webhook that is not https',
    (f) => {
      f.agencies[0].webhook = 'http://127.0.0.1/'
    },
    /\/agencies\/0\/webhook: must match pattern/
  ]
]

t.test('the example trust files match the schema', async (t) => {
  for (const country of ['CA', 'US']) {
    const path = join(KEYS_DIR, country, 'trust.json')
    t.doesNotThrow(() => checkTrustFile(read(path), path), country)
  }
})

t.test('the gateway refuses to load a trust file the schema refuses, naming the member', async (t) => {
  const dir = copyKeys(t)
  const path = join(dir, 'CA', 'trust.json')
  const good = readFileSync(path, 'utf8')
  for (const [what, change, message] of BROKEN) {
    const file = JSON.parse(good)
    change(file)
    writeFileSync(path, JSON.stringify(file, null, 2))
    t.throws(() => loadTrustStore(path), { message }, what)
  }
  writeFileSync(path, good)
  t.equal(loadTrustStore(path).country, 'CA', 'the file as it was loads')
})

// The copy of the partner's certificate is what its expiry is watched by
// (keys expiry, /metrics): one that is not the pinned certificate, or not of
// the partner's CA, would watch the wrong one (docs/operators.md, "Trust material").
t.test("the partner's certificate in the trust file must be the pinned one, of the partner's CA", async (t) => {
  const dir = copyKeys(t)
  const path = join(dir, 'CA', 'trust.json')
  const file = JSON.parse(readFileSync(path, 'utf8'))
  writeFileSync(path, JSON.stringify({ ...file, partner: { ...file.partner, gatewayCert: 'gateway.crt.pem' } }, null, 2))
  t.throws(
    () => loadTrustStore(path),
    { message: /partner\.gatewayCert .* is not the pinned certificate/ },
    "this gateway's own certificate as the partner's copy"
  )
  const ownCa = readFileSync(join(dir, 'CA', 'ca.crt.pem'))
  const ownRoot = new X509Certificate(ownCa)
  const own = new X509Certificate(readFileSync(join(dir, 'CA', 'gateway.crt.pem')))
  writeFileSync(
    path,
    JSON.stringify(
      { ...file, partner: { ...file.partner, gatewayCert: 'gateway.crt.pem', gatewayCertSha256: createHash('sha256').update(own.raw).digest('base64url') } },
      null,
      2
    )
  )
  t.ok(own.checkIssued(ownRoot), 'pinned as well, but issued by this country CA')
  t.throws(() => loadTrustStore(path), { message: /partner\.gatewayCert .* is not issued by the partner's CA/ }, "one the partner's CA did not issue")
})

t.test("the keys CLI's safe write refuses what the loader would, and leaves the file as it was", async (t) => {
  const dir = copyKeys(t)
  const path = join(dir, 'CA', 'trust.json')
  const good = readFileSync(path, 'utf8')
  for (const [what, change, message] of BROKEN) {
    const file = JSON.parse(good)
    change(file)
    await t.rejects(writeTrustFile(path, file), { code: 'TRUST_FILE_INVALID', message }, what)
    t.equal(readFileSync(path, 'utf8'), good, `${what}: not written`)
  }

  // An unknown member already in the file: the CLI's next change is refused, naming it.
  const file = JSON.parse(good)
  file.agencies[0].notes = 'registered by hand'
  const edited = JSON.stringify(file, null, 2)
  writeFileSync(path, edited)
  const out = await keys('revoke', '--trust', path, '--agency', 'IRCC', '--system', 'gcms-biometrics')
  t.equal(out.code, 1, 'refused')
  t.match(out.stderr, /\/agencies\/0: unknown member "notes".*TRUST_FILE_INVALID/s, 'naming the member')
  t.equal(readFileSync(path, 'utf8'), edited, 'the file is left as it was')
})

// RFC 8725 §3.1: a key is used with the one algorithm it was registered for,
// and that algorithm must be one its key can do. A registry that says EdDSA
// for a P-256 key would have Node verify ECDSA signatures under another name.
t.test('a key registered for an algorithm its key type cannot do is refused at load, naming the key', async (t) => {
  const dir = copyKeys(t)
  const path = join(dir, 'CA', 'trust.json')
  const good = readFileSync(path, 'utf8')
  const cbsa = (f: any) => f.agencies.find((a: any) => a.agency === 'CBSA').keys[0]
  const ircc = (f: any) => f.agencies.find((a: any) => a.agency === 'IRCC').keys[0]
  // The schema holds a JWK's own alg to its key type; the registry's alg beside it is what could differ.
  const cases: Array<[string, (f: any) => void, RegExp]> = [
    [
      "an agency's P-256 key registered as EdDSA",
      (f) => {
        cbsa(f).alg = 'EdDSA'
      },
      /key ca-cbsa-pik-primary-\S+ is registered for EdDSA, but its JWK says ES256/
    ],
    [
      "an agency's Ed25519 key registered as ES256",
      (f) => {
        ircc(f).alg = 'ES256'
      },
      /key ca-ircc-\S+ is registered for ES256, but its JWK says EdDSA/
    ],
    [
      "the partner gateway's P-256 key registered as EdDSA",
      (f) => {
        f.partner.keys[0].alg = 'EdDSA'
      },
      /key us-gateway-\S+ is registered for EdDSA, but its JWK says ES256/
    ],
    [
      "this gateway's own P-256 signing key registered as EdDSA",
      (f) => {
        f.gateway.signingKeys[0].alg = 'EdDSA'
      },
      /key ca-gateway-\S+ is registered for EdDSA, but its JWK says ES256/
    ]
  ]
  for (const [what, change, message] of cases) {
    const file = JSON.parse(good)
    change(file)
    writeFileSync(path, JSON.stringify(file, null, 2))
    t.throws(() => loadTrustStore(path), { message }, what)
  }
  // A private JWK file is not the schema's: one without an alg is held to its key type.
  const file = JSON.parse(good)
  const privatePath = join(dir, 'CA', file.gateway.signingKeys[0].privateJwk)
  const { alg: _alg, ...withoutAlg } = JSON.parse(readFileSync(privatePath, 'utf8'))
  writeFileSync(privatePath, JSON.stringify(withoutAlg))
  file.gateway.signingKeys[0].alg = 'EdDSA'
  writeFileSync(path, JSON.stringify(file, null, 2))
  t.throws(() => loadTrustStore(path), { message: /key ca-gateway-\S+ is registered for EdDSA, but it is an EC P-256 key/ }, 'a private JWK without alg')
  writeFileSync(path, good)
  t.ok(loadTrustStore(path), 'the file as it was loads')
})

t.test('a gateway private key file that is not JSON is refused naming the file, quoting none of its text', async (t) => {
  const dir = copyKeys(t)
  const path = join(dir, 'CA', 'trust.json')
  const file = JSON.parse(readFileSync(path, 'utf8')) as { gateway: { signingKeys: Array<{ kid: string; privateJwk: string }> } }
  const entry = file.gateway.signingKeys[0]!
  const keyFile = join(dir, 'CA', entry.privateJwk)
  // A hand edit gone wrong: an unquoted token beside the private scalar, which a JSON reader's message would quote.
  const jwk = readFileSync(keyFile, 'utf8')
  const d = (JSON.parse(jwk) as { d: string }).d
  writeFileSync(keyFile, jwk.replace(`"d": "${d}"`, `"d": ${d}`).replace(`"d":"${d}"`, `"d":${d}`))
  t.notSame(readFileSync(keyFile, 'utf8'), jwk, 'the key file is broken')
  let message = ''
  try {
    loadTrustStore(path)
  } catch (err) {
    message = (err as Error).message
  }
  t.match(message, new RegExp(`gateway key ${entry.kid}: its private key file ${entry.privateJwk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not JSON`))
  const quoted = Array.from({ length: d.length - 5 }, (_, at) => d.slice(at, at + 6)).filter((piece) => message.includes(piece))
  t.same(quoted, [], 'no part of the private scalar in the message')
})
