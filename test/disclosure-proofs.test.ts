// A traveller's disclosure report carries its proofs (issue 12, item 5): each
// entry with its exact ledger text and an RFC 9162 inclusion proof against a
// checkpoint the partner cosigned, checked offline by tools/verify-disclosure.mjs,
// a verifier that imports nothing of the gateway's server: only the row check
// it shares with the console (gateway/console/disclosures.mjs, a plain module
// of no node: import; docs/privacy-officers.md, "Checking a disclosure report
// offline"). The verifier's
// Merkle algorithm is held to RFC 9162 as published (the transparency-dev
// test vectors), not to this project's own tree code.
import t from 'tap'
import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { cosignCheckpoint, ledgerOrigin, signCheckpoint, witnessName } from '../gateway/audit/checkpoint.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { cosignedAt, leafHash, openCheckpoint, rootFromInclusionProof } from '../tools/verify-disclosure.mjs'
import { eventually, identityAgent, KEYS_DIR, startExchange } from './helper.ts'

const { Agent, request } = undiciModule()

const VERIFIER = join(import.meta.dirname, '..', 'tools', 'verify-disclosure.mjs')
const run = promisify(execFile)

async function verifier(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [VERIFIER, ...args])
    return { code: 0, stdout }
  } catch (err) {
    const e = err as { code: number; stdout: string }
    return { code: e.code, stdout: e.stdout }
  }
}

t.test("the verifier's Merkle proofs are RFC 9162's, by the published vectors", async (t) => {
  const hex = (h: string): Buffer => Buffer.from(h, 'hex')
  // transparency-dev/merkle's vectors: leaves, the root of the first 8, and the proofs of leaves 1, 6 (of 8) and 2 (of 5).
  const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex)
  const root8 = hex('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328')
  const root5 = hex('4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4')
  const cases: Array<[number, number, Buffer, string[]]> = [
    [
      0,
      8,
      root8,
      [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'
      ]
    ],
    [
      5,
      8,
      root8,
      [
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'
      ]
    ],
    [
      1,
      5,
      root5,
      [
        '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'
      ]
    ]
  ]
  for (const [index, size, root, proof] of cases) {
    // The vectors' leaves are bytes; the verifier hashes UTF-8 text, the same bytes for these (ASCII or empty) only where they are text.
    const leaf = Buffer.concat([Buffer.from([0]), leaves[index]!])
    const lh = (await import('node:crypto')).createHash('sha256').update(leaf).digest()
    const hashes = proof.map(hex)
    t.same(rootFromInclusionProof(index, size, lh, hashes), root, `leaf ${index + 1} of ${size} leads to the published root`)
    t.equal(rootFromInclusionProof(index, size, lh, hashes.slice(1))?.equals(root) ?? false, false, 'not with a hash left out')
    t.equal(rootFromInclusionProof(index + 1, size, lh, hashes)?.equals(root) ?? false, false, 'not as another leaf')
  }
  t.same(leafHash(''), hex('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'), "the leaf hash of the empty text is the vectors' first")
})

t.test("the verifier reads the gateway's checkpoints and cosignatures, ECDSA and Ed25519 alike", async (t) => {
  for (const type of ['ec', 'ed25519'] as const) {
    const log = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
    const witness = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
    const alg = type === 'ec' ? ('ES256' as const) : ('EdDSA' as const)
    const root = Buffer.alloc(32, 9).toString('base64')
    const note = signCheckpoint({ size: 12, root }, { name: ledgerOrigin('CA'), alg, key: log.privateKey })
    const cosigned = note + cosignCheckpoint(note, { name: witnessName('US'), alg, key: witness.privateKey }, 1_800_000_000)
    const jwk = (k: typeof log) => k.publicKey.export({ format: 'jwk' })
    const cp = openCheckpoint(cosigned, ledgerOrigin('CA'), [jwk(log)])
    t.same(
      { origin: cp.origin, size: cp.size, root: cp.root.toString('base64') },
      { origin: ledgerOrigin('CA'), size: 12, root },
      `${alg}: the checkpoint opens`
    )
    t.equal(cosignedAt(cp, witnessName('US'), [jwk(witness)]), 1_800_000_000, `${alg}: the cosignature and its time`)
    t.equal(cosignedAt(cp, witnessName('US'), [jwk(log)]), undefined, `${alg}: not the ledger's own key as witness`)
    t.throws(
      () => openCheckpoint(cosigned, ledgerOrigin('CA'), [jwk(witness)]),
      /not signed by a key of the ledger/,
      `${alg}: not the witness's key as the ledger's`
    )
  }
})

t.test('a disclosure report from a live exchange is proven offline, and any change to it is found', async (t) => {
  const ex = await startExchange(t)
  const cbsa = ex.clients.CBSA
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const doc = (envelope.payload as { document: { number: string; issuingCountry: string } }).document
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  await eventually(
    async () => ((await ex.ca.app.store.findMessage('outbound', String(envelope.id)))?.status === 'delivered' ? true : undefined),
    15_000,
    'delivery'
  )
  // Corrected once delivered, the document number itself: the report shows the correction, and the original says by which message.
  const { id: _id, createdAt: _createdAt, from: _from, ...record } = envelope
  const correctedNumber = `${doc.number.slice(0, -1)}${doc.number.endsWith('7') ? '6' : '7'}`
  const correctedPayload = structuredClone(record.payload) as { document: { number: string } }
  correctedPayload.document.number = correctedNumber
  const correction = cbsa.envelope({ ...record, payload: correctedPayload, supersedes: { id: String(envelope.id), action: 'correct', reason: 'data-error' } })
  t.equal((await cbsa.submit(await cbsa.sign(correction))).status, 202)
  // Another traveller's crossing, whose entry names only them.
  const other = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const otherDocument = (other.payload as { document: { number: string } }).document
  otherDocument.number = `${otherDocument.number.slice(0, -1)}${otherDocument.number.endsWith('9') ? '8' : '9'}`
  t.equal((await cbsa.submit(await cbsa.sign(other))).status, 202)
  await eventually(
    async () => ((await ex.ca.app.store.findMessage('outbound', String(other.id)))?.status === 'delivered' ? true : undefined),
    15_000,
    'the other delivery'
  )

  const agent = identityAgent(t, 'CA', 'privacy-officers/po-1')
  const call = async (method: 'GET' | 'POST', url: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await request(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: agent })
    return { status: res.statusCode, text: await res.body.text() }
  }
  const token = JSON.parse((await call('POST', `${ex.ca.url}/v1/token`)).text).access_token as string
  const res = await call('POST', `${ex.ca.url}/v1/audit/disclosures`, token, { documentNumber: doc.number, issuingCountry: doc.issuingCountry })
  t.equal(res.status, 200, res.text)
  const report = JSON.parse(res.text)
  t.ok(report.disclosures.length >= 1, 'the acceptance, at least')
  t.ok(report.checkpoint, 'the report made and had witnessed a checkpoint covering its entries')
  t.ok(
    report.disclosures.every((d: { inclusionProof: unknown; ledgerEntry: string }) => d.inclusionProof !== null && !d.ledgerEntry.includes(doc.number)),
    'every entry has its proof, and no entry text holds the document number'
  )

  // What an oversight body is given: the report, and the two gateways' published ledger keys.
  const work = mkdtempSync(join(tmpdir(), 'btb-disclosure-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const save = (name: string, text: string): string => {
    writeFileSync(join(work, name), text)
    return join(work, name)
  }
  // Published keys need no client certificate; each gateway is reached with its own root.
  const ledgerKeys = async (url: string, country: 'CA' | 'US') => {
    const anyone = new Agent({ connect: { ca: readFileSync(join(KEYS_DIR, country, 'ca.crt.pem')) } })
    t.teardown(() => anyone.close())
    return (await request(`${url}/.well-known/ledger-keys.json`, { dispatcher: anyone })).body.text()
  }
  const caKeys = save('ca-ledger-keys.json', await ledgerKeys(ex.ca.url, 'CA'))
  const usKeys = save('us-ledger-keys.json', await ledgerKeys(ex.us.url, 'US'))
  const check = (r: unknown, keys = caKeys) => verifier(['--report', save(`report-${Math.random()}.json`, JSON.stringify(r)), '--ledger-keys', keys])

  const good = await check(report)
  t.equal(good.code, 0, good.stdout)
  t.match(good.stdout, new RegExp(`Entries proven in it: ${report.disclosures.length} of ${report.disclosures.length}`))
  t.match(good.stdout, /cosigned by a key the gateway names as its witness's \(btb-gateway\/US\/witness\) at/, "on the gateway's word for the witness's keys")
  const witnessOwn = await verifier(['--report', save('report.json', JSON.stringify(report)), '--ledger-keys', caKeys, '--witness-keys', usKeys])
  t.equal(witnessOwn.code, 0, `with the witness's keys as it publishes them itself: ${witnessOwn.stdout}`)
  t.match(witnessOwn.stdout, /cosigned by the partner at .*\nResult: OK\. Every entry of the report is in the ledger the partner witnessed, as shown\./s)

  const shownOtherwise = structuredClone(report)
  shownOtherwise.disclosures[0].purpose = 'removal-enforcement'
  t.match((await check(shownOtherwise)).stdout, /NOT PROVEN: entry \d+: the report shows purpose other than the ledger says/)

  const moreShared = structuredClone(report)
  const accepted = moreShared.disclosures.find((d: { event: string }) => d.event === 'accepted')
  accepted.shared.push({ path: 'vehicle.make', action: 'share', rule: 'entry-exit-vehicle', principle: 'P2' })
  t.match((await check(moreShared)).stdout, /NOT PROVEN: entry \d+: the report shows the fields shared or withheld other than the ledger says/)
  const fewerWithheld = structuredClone(report)
  fewerWithheld.disclosures.find((d: { event: string }) => d.event === 'accepted').withheld -= 1
  t.match((await check(fewerWithheld)).stdout, /NOT PROVEN: entry \d+: the report shows the fields shared or withheld other than the ledger says/)

  // What a row says of corrections, of holds, and whose it is, is the ledger's too.
  const corrected = (r: typeof report) => r.disclosures.find((d: { supersedes?: unknown }) => d.supersedes !== undefined)
  const original = (r: typeof report) => r.disclosures.find((d: { supersededBy?: unknown }) => d.supersededBy !== undefined)
  t.ok(corrected(report) && original(report), 'the correction and the original it supersedes are in the report')
  const otherAction = structuredClone(report)
  corrected(otherAction).supersedes.action = 'retract'
  t.match((await check(otherAction)).stdout, /NOT PROVEN: entry \d+: the report shows what it supersedes other than the ledger says/)
  const unsaid = structuredClone(report)
  delete corrected(unsaid).supersedes
  t.match((await check(unsaid)).stdout, /NOT PROVEN: entry \d+: the report shows what it supersedes other than the ledger says/)
  const byAnother = structuredClone(report)
  original(byAnother).supersededBy.messageId = String(other.id)
  t.match((await check(byAnother)).stdout, /NOT PROVEN: entry \d+: the report says it was superseded by entry \d+, which does not supersede it/)
  const referenced = structuredClone(report)
  referenced.disclosures[0].complaintRef = 'OPC-2026-0001'
  t.match((await check(referenced)).stdout, /NOT PROVEN: entry \d+: the report shows complaintRef other than the ledger says/)
  const otherDoc = (other.payload as { document: { number: string; issuingCountry: string } }).document
  const theirs = JSON.parse(
    (await call('POST', `${ex.ca.url}/v1/audit/disclosures`, token, { documentNumber: otherDoc.number, issuingCountry: otherDoc.issuingCountry })).text
  )
  const borrowed = await check({ ...theirs, subject: report.subject })
  t.equal(borrowed.code, 1, "another traveller's entries do not prove this traveller's report")
  // Read as this traveller's, an entry that does not name them discloses none of its fields (docs/privacy-officers.md, "Corrections and retractions in the report").
  t.match(borrowed.stdout, /NOT PROVEN: entry \d+: the report shows the fields shared or withheld other than the ledger says/)
  const borrowedBare = await check({
    ...theirs,
    subject: report.subject,
    disclosures: theirs.disclosures.map((d: object) => ({ ...d, shared: [], withheld: 0 }))
  })
  t.equal(borrowedBare.code, 1, 'nor do they shown as disclosing nothing')
  t.match(borrowedBare.stdout, /NOT PROVEN: entry \d+: its ledger entry does not name the report's traveller/)

  // By the corrected number: the original's entry names the old number only, and is the traveller's through their correction in the same report.
  const byNew = JSON.parse(
    (await call('POST', `${ex.ca.url}/v1/audit/disclosures`, token, { documentNumber: correctedNumber, issuingCountry: doc.issuingCountry })).text
  )
  t.same(
    byNew.disclosures.filter((d: { event: string }) => d.event === 'accepted').map((d: { messageId: string }) => d.messageId),
    [String(envelope.id), String(correction.id)],
    'the report by the corrected number shows the original too'
  )
  const provenByNew = await check(byNew)
  t.equal(provenByNew.code, 0, provenByNew.stdout)
  // The original names the old number only: none of its fields are shown as disclosed under the new one, and a report that shows them is not proven.
  const originalRow = (r: typeof report) =>
    r.disclosures.find((d: { messageId: string; event: string }) => d.messageId === String(envelope.id) && d.event === 'accepted')
  t.same([originalRow(byNew).shared, originalRow(byNew).withheld], [[], 0], 'by the new number, the original lists none of its fields')
  t.equal(byNew.totals.sent, 1, 'and is not counted among the messages sent about that number')
  const claimed = structuredClone(byNew)
  Object.assign(originalRow(claimed), { shared: originalRow(report).shared, withheld: originalRow(report).withheld })
  t.match(
    (await check(claimed)).stdout,
    /NOT PROVEN: entry \d+: the report shows the fields shared or withheld other than the ledger says/,
    "a report by the new number showing the original's fields as disclosed under it is not proven"
  )
  const withoutCorrection = { ...byNew, disclosures: byNew.disclosures.filter((d: { messageId: string }) => d.messageId !== String(correction.id)) }
  t.match(
    (await check(withoutCorrection)).stdout,
    /NOT PROVEN: entry \d+: its ledger entry does not name the report's traveller, nor is it of a message that a correction or retraction of theirs/,
    'without its correction, the original is not shown to be theirs'
  )
  const repeated = await check({ ...report, disclosures: [...report.disclosures, report.disclosures[0]] })
  t.equal(repeated.code, 1, 'a report showing one entry twice is refused')
  t.match(repeated.stdout, new RegExp(`NOT PROVEN: entry ${report.disclosures[0].seq} is shown more than once in the report`))

  const textEdited = structuredClone(report)
  textEdited.disclosures[0].ledgerEntry = textEdited.disclosures[0].ledgerEntry.replace('"accepted"', '"refused"')
  textEdited.disclosures[0].event = 'refused'
  const edited = await check(textEdited)
  t.equal(edited.code, 1)
  t.match(edited.stdout, /do not lead to the checkpoint's root: it is not the ledger's entry/)

  const published = JSON.parse(readFileSync(caKeys, 'utf8'))
  const ownWitness = await check(report, save('own-witness.json', JSON.stringify({ ...published, witness: { ...published.witness, keys: published.keys } })))
  t.equal(ownWitness.code, 1)
  t.match(ownWitness.stdout, /not cosigned by the partner's key/, "the gateway's own key is not a witness")
  const ofUs = await check(report, usKeys)
  t.equal(ofUs.code, 1)
  t.match(
    ofUs.stdout,
    /the checkpoint is of the ledger btb-gateway\/CA\/ledger, not btb-gateway\/US\/ledger/,
    "the other gateway's ledger keys prove nothing of this ledger"
  )

  t.equal((await verifier(['--report', join(work, 'absent.json'), '--ledger-keys', caKeys])).code, 2, 'unreadable input')
})
