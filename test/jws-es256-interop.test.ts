// ES256 JWS as the gateway signs and verifies them (gateway/jws/sign-compact.ts,
// verify-compact.ts): signed in OpenSSL's DER form and carried as r‖s (RFC
// 7518 §3.4), converted by ecdsa-sig-formatter. Checked against jose, an
// independent implementation (WebCrypto, r‖s throughout), both ways, over
// enough signatures that r or s begins with a zero byte (about one in a
// hundred and thirty) or with its high bit set (one in two): the cases where
// DER and r‖s differ in length.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { CompactSign, compactVerify } from 'jose'
import { signCompactJws } from '../gateway/jws/sign-compact.ts'
import { verifyCompactJws } from '../gateway/jws/verify-compact.ts'
import type { SigningKey, VerificationKey } from '../gateway/jws/signing-key.ts'

/** At least this many each way, and on until one has r or s with a leading zero byte (at most LIMIT). */
const SIGNATURES = 300
const LIMIT = 20_000
const TYP = 'application/btb-test+jws'
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const signing: SigningKey = { kid: 'interop-1', alg: 'ES256', key: privateKey }
const verifying: VerificationKey = { kid: 'interop-1', alg: 'ES256', key: publicKey, owner: 'CA/CBSA/test' }
const options = { keys: new Map([[verifying.kid, verifying]]), owner: verifying.owner, typ: TYP }

/** How many of the signatures had r or s with a leading zero byte, or a first byte with its high bit set. */
function shapes(jws: readonly string[]): { leadingZero: number; highBit: number } {
  let leadingZero = 0
  let highBit = 0
  for (const token of jws) {
    const raw = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url')
    for (const first of [raw[0]!, raw[32]!]) {
      if (first === 0) leadingZero++
      if (first & 0x80) highBit++
    }
  }
  return { leadingZero, highBit }
}

t.test("the gateway's ES256 signatures verify with jose", async (t) => {
  const signed: string[] = []
  let verified = 0
  for (let i = 0; i < LIMIT && (i < SIGNATURES || shapes(signed).leadingZero === 0); i++) {
    const payload = JSON.stringify({ n: i })
    const jws = await signCompactJws(payload, signing, TYP)
    signed.push(jws)
    const { payload: read } = await compactVerify(jws, publicKey)
    if (Buffer.from(read).toString() === payload) verified++
  }
  t.equal(verified, signed.length, `${verified} of ${signed.length}`)
  const { leadingZero, highBit } = shapes(signed)
  t.ok(highBit > 0, `${highBit} of r and s began with the high bit set`)
  t.ok(leadingZero > 0, `${leadingZero} of r and s began with a zero byte`)
})

t.test("jose's ES256 signatures verify with the gateway, and a changed one does not", async (t) => {
  const signed: string[] = []
  let verified = 0
  for (let i = 0; i < LIMIT && (i < SIGNATURES || shapes(signed).leadingZero === 0); i++) {
    const payload = JSON.stringify({ n: i })
    const jws = await new CompactSign(Buffer.from(payload)).setProtectedHeader({ alg: 'ES256', kid: verifying.kid, typ: TYP }).sign(privateKey)
    signed.push(jws)
    const { payload: read } = await verifyCompactJws(jws, options)
    if (Buffer.from(read).toString() === payload) verified++
  }
  t.equal(verified, signed.length, `${verified} of ${signed.length}`)
  const { leadingZero, highBit } = shapes(signed)
  t.ok(highBit > 0 && leadingZero > 0, `${highBit} began with the high bit set, ${leadingZero} with a zero byte`)

  // The last byte of s changed: refused as a signature that does not verify, not as anything else.
  const jws = signed[0]!
  const raw = Buffer.from(jws.slice(jws.lastIndexOf('.') + 1), 'base64url')
  raw[63] = raw[63]! ^ 1
  const tampered = `${jws.slice(0, jws.lastIndexOf('.') + 1)}${raw.toString('base64url')}`
  await t.rejects(verifyCompactJws(tampered, options), { code: 'JWS_SIGNATURE_INVALID' })
  // r and s of zero: not a signature at all.
  const zero = `${jws.slice(0, jws.lastIndexOf('.') + 1)}${Buffer.alloc(64).toString('base64url')}`
  await t.rejects(verifyCompactJws(zero, options), { code: 'JWS_SIGNATURE_INVALID' })
})
