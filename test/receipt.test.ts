// pipeline/receipt.ts verifyReceipt: a partner's receipt is proof of
// delivery only if it is one. Signed by the partner's key, it must also name
// what was sent, say when and by whom it was received, and under which
// policy; anything else is refused as a receipt, never thrown as a crash.
import t from 'tap'
import { createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { JwsInvalidError } from '../gateway/errors.ts'
import { signCompactJws } from '../gateway/jws/sign-compact.ts'
import { RECEIPT_TYP, signReceipt, verifyReceipt, type Receipt } from '../gateway/pipeline/receipt.ts'
import { gatewayOwner, loadTrustStore } from '../gateway/trust/trust-store.ts'
import { KEYS_DIR } from './helper.ts'

const trust = loadTrustStore(join(KEYS_DIR, 'CA', 'trust.json'))
const usJwk = JSON.parse(readFileSync(join(KEYS_DIR, 'US', 'gateway.signing.us-gateway-20261126-3eb8.private.jwk.json'), 'utf8'))
const usKey = { kid: usJwk.kid as string, alg: usJwk.alg as 'ES256', key: createPrivateKey({ key: usJwk, format: 'jwk' }) }
const expected = { messageId: '6de077e3-9b1c-4c8e-9d3a-1f2e3d4c5b6a', digest: 'x'.repeat(43) }
const receipt: Receipt = { ...expected, receivedAt: '2026-12-07T10:00:00.000Z', receiver: 'gateway:US', policyVersion: 'sha256:abc' }
const verify = (jws: string) => verifyReceipt(jws, { keys: trust.partner.keys, owner: gatewayOwner('US'), expected })
const signed = (payload: unknown) => signCompactJws(JSON.stringify(payload), usKey, RECEIPT_TYP)

t.test('a receipt the partner signed that names what was sent is taken', async (t) => {
  t.same(await verify(await signReceipt(receipt, usKey)), receipt)
  const later = { ...receipt, note: 'a member a later version may add' }
  t.same(await verify(await signed(later)), later, 'a member it does not know is let through')
})

t.test('signed by the partner, but not a receipt of this message: refused as such', async (t) => {
  const { receivedAt: _receivedAt, ...noTime } = receipt
  const cases: Array<[string, unknown]> = [
    ['null', null],
    ['an array', [receipt]],
    ['a string', 'receipt'],
    ['no receivedAt', noTime],
    ['a receivedAt that is no instant', { ...receipt, receivedAt: 'yesterday' }],
    ['a policy version that is not text', { ...receipt, policyVersion: 3 }],
    ["another receiver than the partner's gateway", { ...receipt, receiver: 'gateway:CA' }],
    ['another message', { ...receipt, messageId: 'another' }],
    ['another digest', { ...receipt, digest: 'y'.repeat(43) }]
  ]
  for (const [what, payload] of cases) {
    await t.rejects(verify(await signed(payload)), JwsInvalidError, what)
  }
})

t.test("a refused receipt's error quotes none of the partner's text: it is the attempt's record and a log line", async (t) => {
  for (const [what, payload] of [
    ['a receiver', { ...receipt, receiver: 'Jean TREMBLAY C4471862' }],
    ['a receivedAt', { ...receipt, receivedAt: 'Jean TREMBLAY C4471862' }]
  ] as const) {
    const err = await verify(await signed(payload)).catch((e: unknown) => e as Error)
    t.type(err, JwsInvalidError, `${what}: refused`)
    t.notMatch((err as Error).message, /TREMBLAY|C4471862/, `${what}: not quoted`)
  }
  // Read by the checks every JWS and signed payload goes through, which quote what they refuse.
  const b64 = (value: string) => Buffer.from(value).toString('base64url')
  const unsigned = (header: Record<string, unknown>) => `${b64(JSON.stringify(header))}.${b64('{}')}.${Buffer.alloc(64, 7).toString('base64url')}`
  for (const [what, jws, code] of [
    ['a typ', unsigned({ alg: 'ES256', kid: usKey.kid, typ: 'Jean TREMBLAY C4471862' }), 'JWS_TYP_INVALID'],
    ['a kid', unsigned({ alg: 'ES256', kid: 'TREMBLAY-C4471862', typ: RECEIPT_TYP }), 'JWS_KID_UNKNOWN'],
    ['an alg', unsigned({ alg: 'Jean TREMBLAY C4471862', kid: usKey.kid, typ: RECEIPT_TYP }), 'JWS_ALG_NOT_ALLOWED'],
    ["a header parameter's name", unsigned({ alg: 'ES256', kid: usKey.kid, typ: RECEIPT_TYP, 'Jean TREMBLAY C4471862': 1 }), 'JWS_HEADER_NOT_ALLOWED'],
    ["a member's name, twice", await signCompactJws('{"Jean TREMBLAY C4471862":1,"Jean TREMBLAY C4471862":2}', usKey, RECEIPT_TYP), 'PAYLOAD_UNSAFE']
  ] as const) {
    const err = await verify(jws).catch((e: unknown) => e as Error)
    t.type(err, JwsInvalidError, `${what}: refused`)
    t.notMatch((err as Error).message, /TREMBLAY|C4471862/, `${what}: not quoted`)
    t.match((err as Error).message, code, `${what}: named by the code of the check, ${code}`)
  }
})
