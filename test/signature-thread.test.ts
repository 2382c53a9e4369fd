// A JWS signature is made and checked on the event loop, or on libuv's pool
// while the event loop is busy (gateway/jws/signature-thread.ts): the same
// answers either way, and the same refusals.
import t from 'tap'
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { JwsSignatureError } from '../gateway/errors.ts'
import { signCompactJws } from '../gateway/jws/sign-compact.ts'
import { BUSY_UTILIZATION, POOL_MAX_BYTES, WINDOW_MS, eventLoopBusy, signBytes, verifyBytes } from '../gateway/jws/signature-thread.ts'
import type { SigningKey, VerificationKey } from '../gateway/jws/signing-key.ts'
import { verifyCompactJws } from '../gateway/jws/verify-compact.ts'

const TYP = 'application/btb-test+jws'
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ed = generateKeyPairSync('ed25519')
const signing: SigningKey = { kid: 'thread-1', alg: 'ES256', key: ec.privateKey }
const verifying: VerificationKey = { kid: 'thread-1', alg: 'ES256', key: ec.publicKey, owner: 'CA/CBSA/test' }
const options = { keys: new Map([[verifying.kid, verifying]]), owner: verifying.owner, typ: TYP }
const data = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJpZCI6MX0')

/** A window in which the event loop does nothing: it waits on a timer, as it waits on sockets. */
async function idleWindow(): Promise<void> {
  eventLoopBusy()
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS + 10))
}

/** A window in which the event loop never stops running: as under more requests than it can take. */
function busyWindow(): void {
  eventLoopBusy()
  const until = performance.now() + 2 * WINDOW_MS
  while (performance.now() < until) {
    sign('sha256', data, ec.privateKey)
  }
}

t.test('an event loop that waited: signatures are made and checked in place', async (t) => {
  await idleWindow()
  t.equal(eventLoopBusy(), false, `under ${BUSY_UTILIZATION} of the window used`)
  const signature = signBytes('sha256', data, ec.privateKey)
  t.ok(Buffer.isBuffer(signature), 'the signature itself, not a promise')
  t.equal(verify('sha256', data, ec.publicKey, signature as Buffer), true, 'a signature node:crypto verifies')
  t.equal(verifyBytes('sha256', data, ec.publicKey, signature as Buffer), true, 'verified, in place')
  t.equal(verifyBytes(null, data, ed.publicKey, sign(null, data, ed.privateKey)), true, 'Ed25519 too')
})

t.test("a busy event loop: the same work on libuv's pool, with the same answers", async (t) => {
  busyWindow()
  t.equal(eventLoopBusy(), true, `at least ${BUSY_UTILIZATION} of the window used`)
  const pending = signBytes('sha256', data, ec.privateKey)
  t.type(pending, Promise, 'the signature is made off the event loop')
  const signature = await pending
  t.equal(verify('sha256', data, ec.publicKey, signature), true, 'a signature node:crypto verifies')

  busyWindow()
  const checks = [
    verifyBytes('sha256', data, ec.publicKey, signature),
    verifyBytes('sha256', Buffer.from('something else'), ec.publicKey, signature),
    verifyBytes(null, data, ed.publicKey, sign(null, data, ed.privateKey)),
    signBytes(null, data, ed.privateKey)
  ]
  for (const check of checks) t.type(check, Promise, 'checked off the event loop')
  const [valid, forged, ed25519, edSignature] = await Promise.all(checks)
  t.equal(valid, true, 'the signature verifies')
  t.equal(forged, false, 'over other data, it does not')
  t.equal(ed25519, true, 'Ed25519 verifies')
  t.equal(verify(null, data, ed.publicKey, edSignature as Buffer), true, 'and signs')

  busyWindow()
  await t.rejects(verifyBytes('sha256', data, ed.publicKey, signature) as Promise<boolean>, 'a key of the wrong type fails as node:crypto fails')
})

t.test('a busy event loop: a large payload is signed and checked in place, not copied to the pool', async (t) => {
  const large = Buffer.alloc(POOL_MAX_BYTES + 1, 0x61)
  busyWindow()
  t.equal(eventLoopBusy(), true)
  const signature = signBytes('sha256', large, ec.privateKey)
  t.ok(Buffer.isBuffer(signature), 'the signature itself, not a promise')
  t.equal(verifyBytes('sha256', large, ec.publicKey, signature as Buffer), true, 'verified in place')
  t.type(verifyBytes('sha256', large.subarray(0, POOL_MAX_BYTES), ec.publicKey, signature as Buffer), Promise, 'one byte less goes to the pool')
})

t.test('a compact JWS signed and checked while the event loop is busy: verified, and a forgery refused as always', async (t) => {
  busyWindow()
  const jws = await signCompactJws(JSON.stringify({ id: 'busy-1', n: 1 }), signing, TYP)
  await idleWindow()
  const verified = await verifyCompactJws(jws, options)
  t.same(JSON.parse(verified.payload.toString()), { id: 'busy-1', n: 1 }, 'signed on the pool, verified in place')

  busyWindow()
  t.same(JSON.parse((await verifyCompactJws(jws, options)).payload.toString()), { id: 'busy-1', n: 1 }, 'and verified on the pool')
  const dot = jws.lastIndexOf('.')
  const flipped = jws.slice(dot + 1, dot + 2) === 'A' ? 'B' : 'A'
  const forged = `${jws.slice(0, dot + 1)}${flipped}${jws.slice(dot + 2)}`
  busyWindow()
  await t.rejects(verifyCompactJws(forged, options), JwsSignatureError, 'a signature altered by one character: JWS_SIGNATURE_INVALID')
  busyWindow()
  const otherPayload = `${jws.slice(0, jws.indexOf('.') + 1)}${Buffer.from('{"id":"busy-2","n":1}').toString('base64url')}${jws.slice(dot)}`
  await t.rejects(verifyCompactJws(otherPayload, options), JwsSignatureError, 'another payload under the signature: refused')
})
