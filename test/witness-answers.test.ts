// The witness's answers to what C2SP tlog-witness names (gateway/audit/witness.ts,
// gateway/routes/witness.ts): a checkpoint of a log it does not witness is
// 404 before any signature is looked at, and a checkpoint is read in its one
// canonical spelling, so that one tree head is never two texts.
import t from 'tap'
import { createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ledgerOrigin, signCheckpoint } from '../gateway/audit/checkpoint.ts'
import { formatNote, signNote } from '../gateway/audit/signed-note.ts'
import { addCheckpointBody } from '../gateway/audit/witness.ts'
import { injectGateway, KEYS_DIR, PG_URL, presenting, testConfig } from './helper.ts'
import { scratchSchema } from './lib/scratch-schema.ts'
import type { GatewayConfig } from '../gateway/config.ts'

const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
const usJwk = JSON.parse(readFileSync(join(KEYS_DIR, 'US', 'gateway.signing.us-gateway-20261126-3eb8.private.jwk.json'), 'utf8'))
// The partner's own ledger key: every note below is signed as the partner signs.
const usKey = { alg: usJwk.alg as 'ES256', key: createPrivateKey({ key: usJwk, format: 'jwk' }) }
const asPartner = { 'content-type': 'text/plain; charset=utf-8', ...presenting(readFileSync(join(KEYS_DIR, 'US', 'gateway.crt.pem'), 'utf8')) }
const asOperator = presenting(readFileSync(join(KEYS_DIR, 'CA', 'operators', 'ops-1', 'client.crt.pem'), 'utf8'))
type Test = Parameters<Parameters<typeof t.test>[0]>[0]
const add = (note: string) => gw.app.inject({ method: 'POST', url: '/v1/witness/add-checkpoint', payload: addCheckpointBody(0, [], note), headers: asPartner })

t.test('a checkpoint of a log this gateway does not witness: 404, whoever signed it', async (t) => {
  const other = signCheckpoint({ size: 3, root: Buffer.alloc(32, 2).toString('base64') }, { ...usKey, name: 'btb-gateway/MX/ledger' })
  const res = await add(other)
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'CHECKPOINT_ORIGIN_UNKNOWN')
  t.equal(await gw.app.store.witnessState('btb-gateway/MX/ledger'), undefined, 'nothing kept')
})

t.test('a root in a spelling other than its canonical base64 is refused as unreadable, and nothing is cosigned', async (t) => {
  const root = Buffer.alloc(32, 7).toString('base64')
  t.match(root, /=$/, 'a 32-byte root ends in one pad, after 2 unused bits')
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  const respelled = `${root.slice(0, -2)}${alphabet[alphabet.indexOf(root.at(-2)!) ^ 1]}=`
  t.same(Buffer.from(respelled, 'base64'), Buffer.from(root, 'base64'), 'the same 32 bytes')
  const text = `${ledgerOrigin('US')}\n5\n${respelled}\n`
  const res = await add(formatNote(text, [signNote(text, { ...usKey, name: ledgerOrigin('US') })]))
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'CHECKPOINT_INVALID')
  t.equal(await gw.app.store.witnessState(ledgerOrigin('US')), undefined, 'nothing cosigned')
  const canonical = await add(signCheckpoint({ size: 5, root }, { ...usKey, name: ledgerOrigin('US') }))
  t.equal(canonical.statusCode, 200, 'the same head, spelled canonically, is cosigned')
})

t.test('the same checkpoint sent again: from the size it reached, the same cosignature; from another old size, 409 with that size', async (t) => {
  const cp = signCheckpoint({ size: 9, root: Buffer.alloc(32, 9).toString('base64') }, { ...usKey, name: ledgerOrigin('US') })
  // A witness of its own, so that nothing another test cosigned is in the way.
  const fresh = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const send = (oldSize: number) =>
    fresh.app.inject({ method: 'POST', url: '/v1/witness/add-checkpoint', payload: addCheckpointBody(oldSize, [], cp), headers: asPartner })
  const cosigned = await send(0)
  t.equal(cosigned.statusCode, 200)
  const again = await send(9)
  t.equal(again.statusCode, 200, 'from the size it reached: a retry')
  t.equal(again.body, cosigned.body, 'the same cosignature')
  const stale = await send(0)
  t.equal(stale.statusCode, 409, 'from an old size the witness is not at')
  t.equal(stale.headers['content-type'], 'text/x.tlog.size')
  t.equal(stale.body, '9\n')
  t.equal((await fresh.app.store.witnessState(ledgerOrigin('US')))?.size, 9, 'nothing new kept')
  const countersigned = (await fresh.app.store.searchAudit({ event: 'checkpoint-countersigned' }, 0, 10)).length
  t.equal(countersigned, 1, 'one cosignature, one entry: the retry answered with it is not cosigned again')
})

t.test("tlog-witness's answers in its order: an old size other than the witness's gets the size first, then a proof that cannot be right 422", async (t) => {
  const fresh = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const checkpoint = (size: number, fill: number) =>
    signCheckpoint({ size, root: Buffer.alloc(32, fill).toString('base64') }, { ...usKey, name: ledgerOrigin('US') })
  const send = (oldSize: number, proof: string[], note: string) =>
    fresh.app.inject({ method: 'POST', url: '/v1/witness/add-checkpoint', payload: addCheckpointBody(oldSize, proof, note), headers: asPartner })
  const hash = Buffer.alloc(32, 1).toString('base64')
  const fromZero = await send(0, [hash], checkpoint(5, 5))
  t.same([fromZero.statusCode, fromZero.json().code], [422, 'CHECKPOINT_PROOF_INVALID'], 'from 0, a proof that is not empty')
  t.equal((await send(0, [], checkpoint(20, 20))).statusCode, 200, 'the witness at 20')
  const sameSize = await send(20, [hash], checkpoint(20, 20))
  t.same([sameSize.statusCode, sameSize.json().code], [422, 'CHECKPOINT_PROOF_INVALID'], 'from 20 to 20, a proof that is not empty')
  const refusals = () => fresh.app.store.searchAudit({ event: 'refused', code: 'CHECKPOINT_CONFLICT' }, 0, 10)
  for (const [what, oldSize, note, alarms] of [
    ['another root at its size, sent from 0', 0, checkpoint(20, 21), 0],
    ['a shorter tree, sent from its own size', 15, checkpoint(15, 15), 1]
  ] as const) {
    const res = await send(oldSize, [], note)
    t.same([res.statusCode, res.headers['content-type'], res.body], [409, 'text/x.tlog.size', '20\n'], `${what}: 409 with the size`)
    t.equal((await refusals()).length, alarms, `${what}: ${alarms === 0 ? 'no alarm until it is sent from 20' : 'and the alarm'}`)
  }
  const rewritten = await send(20, [], checkpoint(20, 21))
  t.same([rewritten.statusCode, rewritten.json().code], [409, 'CHECKPOINT_CONFLICT'], 'another root at its size, sent from 20: the conflict')
  t.equal((await refusals()).length, 1, 'the conflict with the checkpoint at 20 is recorded already: counted, not recorded again (below)')
  t.equal((await fresh.app.store.witnessState(ledgerOrigin('US')))?.size, 20, 'the witness stays at 20')
})

// A partner that sends conflicting checkpoints again and again (buggy, or
// hostile: it holds its own ledger key) is refused each time, and the alarm
// stays raised; but the ledger, which is never purged, records the conflict
// once per checkpoint cosigned that it contradicts, not once per request
// (docs/architecture.md, "The verifiable ledger"). So too with two instances
// sharing one PostgreSQL ledger, the requests spread over both.
for (const [name, ledger] of [
  ['SQLite', (_t: Test) => ({})],
  ['PostgreSQL', (t: Test) => ({ ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: scratchSchema(t, 't_flood').schema })]
] as const) {
  t.test(`${name}: conflicting checkpoints sent again and again are each refused, the ledger records the conflict once`, async (t) => {
    const shared: Partial<GatewayConfig> = { runWorkers: false, ...ledger(t) }
    const one = await injectGateway(t, testConfig('CA', shared))
    const two = shared.ledgerPostgresSchema !== undefined ? await injectGateway(t, testConfig('CA', shared)) : one
    const checkpoint = (size: number, fill: number) =>
      signCheckpoint({ size, root: Buffer.alloc(32, fill).toString('base64') }, { ...usKey, name: ledgerOrigin('US') })
    const send = (gw: typeof one, oldSize: number, note: string) =>
      gw.app.inject({ method: 'POST', url: '/v1/witness/add-checkpoint', payload: addCheckpointBody(oldSize, [], note), headers: asPartner })
    t.equal((await send(one, 0, checkpoint(20, 20))).statusCode, 200, 'the witness at 20')
    const N = 12
    const same = await Promise.all(Array.from({ length: N }, (_, i) => send(i % 2 === 0 ? one : two, 20, checkpoint(20, 21))))
    t.same(new Set(same.map((r) => `${r.statusCode} ${r.json().code}`)), new Set(['409 CHECKPOINT_CONFLICT']), 'the same conflict: each refused')
    const different = await Promise.all(Array.from({ length: N }, (_, i) => send(i % 2 === 0 ? one : two, 20, checkpoint(20, 30 + i))))
    t.same(new Set(different.map((r) => `${r.statusCode} ${r.json().code}`)), new Set(['409 CHECKPOINT_CONFLICT']), 'different conflicts: each refused')
    const shorter = await Promise.all(Array.from({ length: N }, (_, i) => send(i % 2 === 0 ? one : two, 5 + i, checkpoint(5 + i, 5 + i))))
    t.same(new Set(shorter.map((r) => `${r.statusCode} ${r.body}`)), new Set(['409 20\n']), 'shorter trees: each answered with the size')
    const entries = await one.app.store.searchAudit({ event: 'refused', code: 'CHECKPOINT_CONFLICT' }, 0, 100)
    t.equal(entries.length, 1, 'one ledger entry: the first conflict with the checkpoint cosigned at 20')
    t.match(entries[0]?.entry.reason, /last cosigned 20/, 'with its evidence')
    const metrics = async (gw: typeof one) => (await gw.app.inject({ method: 'GET', url: '/metrics', headers: asOperator })).body
    const repeated = async (gw: typeof one) => Number(/^btb_checkpoint_conflicts_repeated_total (\S+)$/m.exec(await metrics(gw))?.[1])
    const total = (await repeated(one)) + (two === one ? 0 : await repeated(two))
    t.equal(total, 3 * N - 1, 'every other one counted, not recorded')
    const conflicts = async (gw: typeof one) => Number(/^btb_checkpoint_conflicts_total (\S+)$/m.exec(await metrics(gw))?.[1])
    t.equal((await conflicts(one)) + (two === one ? 0 : await conflicts(two)), 1, 'the alarm raised by the instance that recorded it')
  })
}
