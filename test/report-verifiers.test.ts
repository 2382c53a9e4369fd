// The two readers of a disclosure report that do not trust the gateway that
// made it: tools/verify-disclosure.mjs offline, and the console's checks in
// the page (gateway/console/notes.js, merkle.js, disclosures.mjs, plain ES
// modules run here under Node.js, WebCrypto and all). Each must read a
// checkpoint as strictly as the gateway does (gateway/audit/signed-note.ts),
// prove each entry at its ledger position only, and say what is wrong with a
// report in words, not a crash (docs/privacy-officers.md, "Checking a
// disclosure report offline" and "The console"). The report is made with the
// gateway's own checkpoint and Merkle code, over entries of its own.
import t from 'tap'
import { execFile } from 'node:child_process'
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { cosignCheckpoint, ledgerOrigin, signCheckpoint, witnessName } from '../gateway/audit/checkpoint.ts'
import { inclusionRanges, leafHash, nodeHash } from '../gateway/store/merkle-tree.ts'
import { verifyInCheckpoint, verifyInclusion } from '../gateway/console/merkle.js'
import { verifyCheckpoint } from '../gateway/console/notes.js'
import type { TrustFile } from '../gateway/trust/trust-file.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { verifyReport } from '../tools/verify-disclosure.mjs'
import { copyKeys, injectGateway, testConfig } from './helper.ts'
import { runKeys } from './lib/run-keys.ts'

const VERIFIER = join(import.meta.dirname, '..', 'tools', 'verify-disclosure.mjs')
const run = promisify(execFile)
const SUBJECT = 'subject-digest-a'
const LENGTH = 6
/** When the partner cosigned, in POSIX seconds. */
const COSIGNED_AT = 1_800_000_000

type KeyType = 'ec' | 'ed25519'

/** RFC 9162 §2.1.1's Merkle tree hash of `leaves`, as the RFC defines it (not one or more). */
function treeHash(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0]!
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  return nodeHash(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)))
}

interface KeyPair {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
}

/**
 * A report of entries 2 and 5 of a ledger of six, its checkpoint signed by
 * CA's ledger key and cosigned by US's at `cosignedAt`: new keys of `type`,
 * or the `given` ones.
 */
function makeReport(type: KeyType, given?: { ca: KeyPair; us: KeyPair; cosignedAt: number }) {
  const keyPair = () => (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519'))
  const alg = type === 'ec' ? ('ES256' as const) : ('EdDSA' as const)
  const ca = given?.ca ?? keyPair()
  const us = given?.us ?? keyPair()
  const texts = Array.from({ length: LENGTH }, (_, i) =>
    JSON.stringify({ at: `2026-01-0${i + 1}T00:00:00.000Z`, event: 'accepted', direction: 'outbound', messageId: `m${i + 1}`, subjects: [SUBJECT], fields: [] })
  )
  const leaves = texts.map((text) => leafHash(text))
  const hashOf = (start: number, end: number) => treeHash(leaves.slice(start, end))
  const root = hashOf(0, LENGTH).toString('base64')
  const caKey = { name: ledgerOrigin('CA'), alg, key: ca.privateKey }
  const usKey = { name: witnessName('US'), alg, key: us.privateKey }
  const signed = signCheckpoint({ size: LENGTH, root }, caKey)
  const cosignature = cosignCheckpoint(signed, usKey, given?.cosignedAt ?? COSIGNED_AT)
  const row = (seq: number) => {
    const e = JSON.parse(texts[seq - 1]!)
    return {
      seq,
      at: e.at,
      event: e.event,
      direction: e.direction,
      messageId: e.messageId,
      shared: [],
      withheld: 0,
      ledgerEntry: texts[seq - 1]!,
      inclusionProof: { treeSize: LENGTH, hashes: inclusionRanges(seq - 1, LENGTH).map((r) => hashOf(r.start, r.end).toString('base64')) }
    }
  }
  const jwk = (k: KeyObject) => ({ ...k.export({ format: 'jwk' }), kid: 'k1', alg, use: 'sig' })
  const report = { subject: SUBJECT, disclosures: [row(2), row(5)], holds: [], checkpoint: { note: signed + cosignature, size: LENGTH, root } }
  return { report, row, root, signed, cosignature, caKey, usKey, alg, ca: [jwk(ca.publicKey)], us: [jwk(us.publicKey)] }
}

type Made = ReturnType<typeof makeReport>

/** What the CA gateway publishes of `made`'s keys at GET /.well-known/ledger-keys.json: its ledger's and its witness's. */
function published(made: Made) {
  return { origin: ledgerOrigin('CA'), keys: made.ca, witness: { name: witnessName('US'), keys: made.us } }
}

/** What the offline tool finds in `report`, with the ledger keys the CA gateway publishes. */
function offline(made: Made, report: unknown, keys: unknown = published(made)): { findings: string[]; proven: unknown[] } {
  return verifyReport(report, keys)
}

/** What the console's page makes of the checkpoint `note`, with the ledger keys the CA gateway publishes. */
function inThePage(made: Made, note: string, keys: unknown = published(made)) {
  return verifyCheckpoint(note, keys)
}

t.test('an entry is proven at its ledger position only: a seq that is not one is refused, offline and in the page', async (t) => {
  const made = makeReport('ec')
  const good = offline(made, made.report)
  t.same({ findings: good.findings, proven: good.proven }, { findings: [], proven: [2, 5] }, 'the genuine report is proven')

  // Entry 2 shown again under the seq "2": a row the "shown twice" check did not see, proven twice.
  const twice = offline(made, { ...made.report, disclosures: [...made.report.disclosures, { ...made.row(2), seq: '2' }] })
  t.same(twice.proven, [2, 5], 'the row under "2" is not proven')
  t.match(twice.findings, [/^a row's seq, "2", is not a ledger position/], 'and it is a finding')
  for (const seq of [0, -1, 1.5, null]) {
    const result = offline(made, { ...made.report, disclosures: [{ ...made.row(2), seq }] })
    t.same(result.proven, [], `seq ${JSON.stringify(seq)}: not proven`)
    t.match(result.findings, [/is not a ledger position/], `seq ${JSON.stringify(seq)}: a finding`)
  }

  const checkpoint = { origin: ledgerOrigin('CA'), size: LENGTH, root: made.root }
  const first = made.row(1)
  t.ok((await verifyInCheckpoint(first.ledgerEntry, 1, first.inclusionProof, checkpoint)).ok, 'in the page, entry 1 is proven at 1')
  for (const seq of ['1', 0, -1, -41, 1.5]) {
    const result = await verifyInCheckpoint(first.ledgerEntry, seq, first.inclusionProof, checkpoint)
    t.equal(result.ok, false, `in the page, entry 1's text and proof are not proven as seq ${JSON.stringify(seq)}`)
    t.match(result.why, /is not a ledger position/)
  }
  for (const index of [-1, -2, 0.5, Number.NaN, LENGTH]) {
    const result = await verifyInclusion(first.ledgerEntry, index, LENGTH, first.inclusionProof.hashes, made.root)
    t.equal(result.ok, false, `in the page, no proof holds at leaf index ${index}`)
  }
})

for (const type of ['ec', 'ed25519'] as const) {
  t.test(`${type}: a checkpoint is read as strictly as the gateway reads it, offline and in the page`, async (t) => {
    const made = makeReport(type)
    const { signed, cosignature } = made
    const withNote = (note: string) => ({ ...made.report, checkpoint: { ...made.report.checkpoint, note } })
    const genuine = await inThePage(made, signed + cosignature)
    t.match(genuine, { witnessed: true, cosignedAt: COSIGNED_AT, why: null }, 'the genuine checkpoint is witnessed in the page')

    // The CA key's checkpoint of another ledger's origin, cosigned by the partner: not the ledger the report is about.
    const otherLedger = signCheckpoint({ size: LENGTH, root: made.root }, { ...made.caKey, name: ledgerOrigin('US') })
    const ofAnother = otherLedger + cosignCheckpoint(otherLedger, made.usKey, COSIGNED_AT)
    // A second line by a known key that does not verify, beside one that does: the note is refused, as the gateway refuses it.
    const badLine = (line: string) => line.replace(/[A-Za-z0-9+/]{6}(=*)\n$/, 'AAAAAA$1\n')
    const cases: Array<[string, string, RegExp, RegExp]> = [
      [
        "a checkpoint of another ledger's origin",
        ofAnother,
        /the checkpoint is of the ledger btb-gateway\/US\/ledger, not btb-gateway\/CA\/ledger/,
        /the checkpoint is of the ledger btb-gateway\/US\/ledger, not this gateway’s \(btb-gateway\/CA\/ledger\)/
      ],
      [
        "a second signature line by the ledger's key that does not verify",
        signed + badLine(signed.slice(signed.lastIndexOf('\u2014 '))) + cosignature,
        /the signature of btb-gateway\/CA\/ledger does not verify/,
        /the signature of btb-gateway\/CA\/ledger does not verify/
      ],
      [
        "a second cosignature by the partner's key that does not verify",
        signed + cosignature + badLine(cosignature),
        /the cosignature of btb-gateway\/US\/witness does not verify/,
        /the cosignature of btb-gateway\/US\/witness does not verify/
      ],
      [
        'a line after the signatures that is no signature line',
        `${signed + cosignature}hello\n`,
        /signature line .* is malformed/,
        /signature line .* is malformed/
      ],
      ['a signature line with no signature', `${signed + cosignature}\u2014 foo\n`, /signature line .* is malformed/, /signature line .* is malformed/],
      [
        'a signature line too short for a key ID',
        `${signed + cosignature}\u2014 foo AAA=\n`,
        /signature line .* is malformed/,
        /signature line .* is malformed/
      ]
    ]
    if (type === 'ec') {
      // The ledger's genuine ECDSA signature, spelled other than in its one DER
      // form: node:crypto (OpenSSL) refuses it, as the gateway and the tool
      // do; the page read r and s out of it and called the checkpoint verified.
      const respelled = (der: (sig: Buffer) => Buffer) => {
        const at = signed.lastIndexOf('\u2014 ')
        const [dash, name, b64] = signed.slice(at, -1).split(' ')
        const bytes = Buffer.from(b64!, 'base64')
        return `${signed.slice(0, at)}${dash} ${name} ${Buffer.concat([bytes.subarray(0, 4), der(bytes.subarray(4))]).toString('base64')}\n${cosignature}`
      }
      const paddedR = (sig: Buffer) => {
        const r = sig.subarray(4, 4 + sig[3]!)
        const body = Buffer.concat([Buffer.from([0x02, r.length + 1, 0]), r, sig.subarray(4 + r.length)])
        return Buffer.concat([Buffer.from([0x30, body.length]), body])
      }
      for (const [name, der] of [
        ['a signature whose r has a needless leading zero byte', paddedR],
        ['a signature with a byte after its DER', (sig: Buffer) => Buffer.concat([sig, Buffer.from([0])])]
      ] as const) {
        cases.push([
          name,
          respelled(der),
          /the signature of btb-gateway\/CA\/ledger does not verify/,
          /the signature of btb-gateway\/CA\/ledger does not verify/
        ])
      }
    }
    for (const [name, note, offlineFinding, pageWhy] of cases) {
      t.match(offline(made, withNote(note)).findings, [offlineFinding], `${name}: not proven offline, and the tool says why`)
      const page = await inThePage(made, note)
      t.equal(page.witnessed, false, `${name}: not verified in the page`)
      t.match(page.why, pageWhy, `${name}: and the page says why`)
    }
  })
}

t.test('a report not in the form the gateway makes exits 2 with one line, not a stack trace', async (t) => {
  const made = makeReport('ec')
  const work = mkdtempSync(join(tmpdir(), 'btb-report-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const save = (name: string, value: unknown): string => {
    writeFileSync(join(work, name), JSON.stringify(value))
    return join(work, name)
  }
  const keys = ['--ledger-keys', save('ca-ledger-keys.json', published(made))]
  const check = async (report: unknown): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await run(process.execPath, [VERIFIER, '--report', save(`report-${Math.random()}.json`, report), ...keys])
      return { code: 0, stdout, stderr }
    } catch (err) {
      return err as { code: number; stdout: string; stderr: string }
    }
  }
  const good = await check(made.report)
  t.equal(good.code, 0, good.stdout)
  const cases: Array<[string, unknown, RegExp]> = [
    ['hashes a string', { ...made.report, disclosures: [{ ...made.row(2), inclusionProof: { treeSize: LENGTH, hashes: 'abc' } }] }, /entry 1 of disclosures/],
    ['a ledger entry a number', { ...made.report, disclosures: [{ ...made.row(2), ledgerEntry: 5 }] }, /entry 1 of disclosures/],
    ['disclosures an object', { ...made.report, disclosures: { a: 1 } }, /disclosures/],
    ['a checkpoint with no note', { ...made.report, checkpoint: { size: LENGTH } }, /checkpoint/],
    ['an array', [], /not a JSON object/]
  ]
  for (const [name, report, says] of cases) {
    const result = await check(report)
    t.equal(result.code, 2, `${name}: exit 2`)
    t.match(result.stderr, /^the report is not in the form the gateway makes it: .*\n$/, `${name}: one line`)
    t.match(result.stderr, says, `${name}: naming what`)
  }
})

t.test("a cosignature dated after its key's retiredAt is refused, offline and in the page", async (t) => {
  const made = makeReport('ec')
  const retiredAt = (at: number) => ({ ...published(made), witness: { name: witnessName('US'), keys: made.us.map((k) => ({ ...k, retiredAt: at })) } })
  t.same(offline(made, made.report, retiredAt(COSIGNED_AT)).findings, [], 'a cosignature dated when its key was retired is proven')
  t.match(await inThePage(made, made.report.checkpoint.note, retiredAt(COSIGNED_AT)), { witnessed: true }, 'and witnessed in the page')

  const after = retiredAt(COSIGNED_AT - 1)
  t.match(
    offline(made, made.report, after).findings,
    [/^the cosignature of btb-gateway\/US\/witness is dated 2027-01-15T08:00:00.000Z, after its key k1 was retired \(2027-01-15T07:59:59.000Z\)/],
    'one dated a second after is a finding'
  )
  const page = await inThePage(made, made.report.checkpoint.note, after)
  t.equal(page.witnessed, false, 'and not verified in the page')
  t.match(page.why, /the cosignature of btb-gateway\/US\/witness is dated .*, after its key k1 was retired/, 'saying why')

  const work = mkdtempSync(join(tmpdir(), 'btb-report-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const save = (name: string, value: unknown): string => {
    writeFileSync(join(work, name), JSON.stringify(value))
    return join(work, name)
  }
  const report = save('report.json', made.report)
  const refused = await run(process.execPath, [VERIFIER, '--report', report, '--ledger-keys', save('after.json', after)]).catch((err) => err)
  t.equal(refused.code, 1, 'the tool exits 1')
  t.match(refused.stdout, /NOT PROVEN: the cosignature of btb-gateway\/US\/witness is dated .*, after its key k1 was retired/)
  const notATime = await run(process.execPath, [VERIFIER, '--report', report, '--ledger-keys', save('bad.json', retiredAt('yesterday' as never))]).catch(
    (err) => err
  )
  t.equal(notATime.code, 2, 'a retiredAt that is not POSIX seconds is no ledger keys file')
  t.match(notATime.stderr, /^could not read the inputs: .*retiredAt/)
})

t.test('after a key rotation on both sides, a report whose checkpoint the retired keys signed is proven with the published ledger keys', async (t) => {
  const dir = copyKeys(t)
  const trust = { CA: join(dir, 'CA', 'trust.json'), US: join(dir, 'US', 'trust.json') }
  const activeKey = (country: 'CA' | 'US'): KeyPair & { kid: string } => {
    const file = JSON.parse(readFileSync(trust[country], 'utf8')) as TrustFile
    const entry = file.gateway.signingKeys.find((k) => k.kid === file.gateway.activeKid)!
    const privateKey = createPrivateKey({ key: JSON.parse(readFileSync(join(dir, country, entry.privateJwk), 'utf8')), format: 'jwk' })
    return { kid: entry.kid, privateKey, publicKey: createPublicKey(privateKey) }
  }
  const old = { CA: activeKey('CA'), US: activeKey('US') }
  // Made and witnessed before the rotation, a minute ago.
  const made = makeReport('ec', { ca: old.CA, us: old.US, cosignedAt: Math.floor(Date.now() / 1000) - 60 })
  for (const [country, partner] of [
    ['CA', 'US'],
    ['US', 'CA']
  ] as const) {
    // docs/operators.md, "Keys and trust CLI": rotate, activate, retire, the partner told at each step.
    t.equal((await runKeys('rotate-gateway-key', '--trust', trust[country], '--partner-trust', trust[partner])).code, 0)
    const next = [...loadTrustStore(trust[country]).ownKeys.keys()].find((kid) => kid !== old[country].kid)!
    t.equal((await runKeys('activate-gateway-key', '--trust', trust[country], '--kid', next)).code, 0)
    t.equal((await runKeys('retire-key', '--trust', trust[country], '--kid', old[country].kid, '--partner-trust', trust[partner])).code, 0)
  }
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, trustFile: trust.CA }))
  const jwks = (await gw.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as { keys: Array<{ kid: string }> }
  t.notOk(
    jwks.keys.some((k) => k.kid === old.CA.kid),
    'the JWKS no longer has the retired key: it verifies no token or message, so it cannot prove the checkpoint'
  )
  const answer = await gw.app.inject({ method: 'GET', url: '/.well-known/ledger-keys.json' })
  t.equal(answer.statusCode, 200, 'published to anyone, no certificate needed')
  const ledgerKeys = answer.json()
  t.match(ledgerKeys, { origin: ledgerOrigin('CA'), witness: { name: witnessName('US') } })

  const result = verifyReport(made.report, ledgerKeys)
  t.same({ findings: result.findings, proven: result.proven }, { findings: [], proven: [2, 5] }, 'proven offline')
  t.match(await verifyCheckpoint(made.report.checkpoint.note, ledgerKeys), { witnessed: true, why: null }, 'and witnessed in the page')

  const work = mkdtempSync(join(tmpdir(), 'btb-report-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  writeFileSync(join(work, 'report.json'), JSON.stringify(made.report))
  writeFileSync(join(work, 'ca-ledger-keys.json'), answer.body)
  const tool = (...args: string[]) =>
    run(process.execPath, [VERIFIER, '--report', join(work, 'report.json'), '--ledger-keys', join(work, 'ca-ledger-keys.json'), ...args]).catch((err) => err)
  t.match((await tool()).stdout, /Result: OK\./, 'the tool, as docs/privacy-officers.md runs it, exits 0')

  // The witness's keys as the witness itself publishes them: the US gateway's own, its retired one with it.
  const us = await injectGateway(t, testConfig('US', { runWorkers: false, trustFile: trust.US }))
  writeFileSync(join(work, 'us-ledger-keys.json'), (await us.app.inject({ method: 'GET', url: '/.well-known/ledger-keys.json' })).body)
  t.match((await tool('--witness-keys', join(work, 'us-ledger-keys.json'))).stdout, /Result: OK\./, "with the witness's own ledger keys too")
  const notTheWitness = await tool('--witness-keys', join(work, 'ca-ledger-keys.json'))
  t.equal(notTheWitness.code, 2, "another gateway's ledger keys are not the witness's")
  t.match(notTheWitness.stderr, /^could not read the inputs: .*btb-gateway\/CA\/ledger.* not .*btb-gateway\/US\/witness/)
})

// The witness's keys in the reporting gateway's ledger keys file are that
// gateway's account of them. One that names its own key as its partner's
// witness key cosigns whatever it likes, a ledger it rewrote included: run
// with --ledger-keys alone, as an oversight body may, the tool said the
// checkpoint was "cosigned by the partner" and "Result: OK. Every entry of
// the report is in the ledger the partner witnessed", on that gateway's word
// alone. Only the witness's own ledger keys (--witness-keys) prove it.
t.test("a cosignature by a key the reporting gateway names as its witness's is not called the partner's on its word", async (t) => {
  const own = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const made = makeReport('ec', { ca: own, us: own, cosignedAt: COSIGNED_AT })
  const partner = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const work = mkdtempSync(join(tmpdir(), 'btb-report-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  writeFileSync(join(work, 'report.json'), JSON.stringify(made.report))
  // The gateway's own key, published as its witness's.
  writeFileSync(join(work, 'ca-ledger-keys.json'), JSON.stringify(published(made)))
  const partnerJwk = { ...partner.publicKey.export({ format: 'jwk' }), kid: 'us-1', alg: 'ES256', use: 'sig' }
  writeFileSync(
    join(work, 'us-ledger-keys.json'),
    JSON.stringify({ origin: ledgerOrigin('US'), keys: [partnerJwk], witness: { name: witnessName('CA'), keys: made.ca } })
  )
  const tool = (...args: string[]) =>
    run(process.execPath, [VERIFIER, '--report', join(work, 'report.json'), '--ledger-keys', join(work, 'ca-ledger-keys.json'), ...args]).catch((err) => err)

  const alone = await tool()
  t.notMatch(alone.stdout, /cosigned by the partner|the partner witnessed/, 'not said to be the partner’s cosignature')
  t.match(alone.stdout, /NOTE: the witness's keys are the reporting gateway's account of them/, 'and the tool says whose word it is')
  t.match(alone.stdout, /--witness-keys/, 'and how to prove it')
  const proven = await tool('--witness-keys', join(work, 'us-ledger-keys.json'))
  t.equal(proven.code, 1, "with the witness's own keys, not proven")
  t.match(proven.stdout, /NOT PROVEN: the checkpoint is not cosigned by the partner's key/)
})

t.test('a page of a longer report is said to be one page, not the whole report', async (t) => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const made = makeReport('ec', { ca: key, us: key, cosignedAt: COSIGNED_AT })
  const work = mkdtempSync(join(tmpdir(), 'btb-report-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  writeFileSync(join(work, 'ca-ledger-keys.json'), JSON.stringify(published(made)))
  const tool = (report: unknown) => {
    writeFileSync(join(work, 'report.json'), JSON.stringify(report))
    return run(process.execPath, [VERIFIER, '--report', join(work, 'report.json'), '--ledger-keys', join(work, 'ca-ledger-keys.json')]).catch((err) => err)
  }
  const whole = await tool(made.report)
  t.notMatch(whole.stdout, /one page/, 'a report of one page says nothing of pages')
  const page = await tool({ ...made.report, nextCursor: 'next' })
  t.equal(page.code, undefined, 'what it shows is proven: exit 0')
  t.match(page.stdout, /NOTE: this is one page of the report: more entries follow it \(nextCursor\); check each page/)
  t.match(page.stdout, /Result: OK\. Every entry of this page is in the ledger/, 'and its result is about the page')
})

t.test("a proof's hash not in base64's one form is refused offline as in the page, with the same words", async (t) => {
  const made = makeReport('ec')
  const checkpoint = { origin: ledgerOrigin('CA'), size: LENGTH, root: made.root }
  const genuine = made.row(2)
  const hash = genuine.inclusionProof.hashes[0]!
  // The same 32 bytes spelled in base64url, with a stray character, without padding; and not a hash at all.
  const respelled = [hash.replaceAll('+', '-').replaceAll('/', '_'), `${hash.slice(0, 10)}!${hash.slice(10)}`, hash.slice(0, -1), 'not a hash!']
  const spelledOtherwise = respelled.filter((h) => h !== hash)
  t.ok(spelledOtherwise.length >= 3, 'each spelling differs from the gateway’s')
  for (const other of spelledOtherwise) {
    const row = { ...genuine, inclusionProof: { ...genuine.inclusionProof, hashes: [other, ...genuine.inclusionProof.hashes.slice(1)] } }
    const result = offline(made, { ...made.report, disclosures: [row, made.row(5)] })
    t.same(result.proven, [5], `${JSON.stringify(other)}: entry 2 not proven offline`)
    t.match(result.findings, [/^entry 2: hash 1 of its proof is not a SHA-256 hash \(32 bytes in base64\)$/], 'and why, in words')
    const page = await verifyInCheckpoint(row.ledgerEntry, 2, row.inclusionProof, checkpoint)
    t.equal(page.ok, false, `${JSON.stringify(other)}: not verified in the page`)
    t.equal(page.why, 'hash 1 of its proof is not a SHA-256 hash (32 bytes in base64)', 'in the same words')
  }
})
