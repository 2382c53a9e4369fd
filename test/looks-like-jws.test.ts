// The check the privacy tests use to say "no JWS here" must find every JWS and
// only JWSs: a keyed digest that happens to contain "eyJ" is not one.
import t from 'tap'
import { createHmac, randomBytes } from 'node:crypto'
import { CompactSign, generateKeyPair } from 'jose'
import { looksLikeJws } from './lib/looks-like-jws.ts'

const LOOSE = /eyJ[A-Za-z0-9_-]{10,}/

t.test('a keyed digest is not a JWS, however it reads', async (t) => {
  // The ledger's digests: base64url HMAC-SHA256. Search until one reads like the start of a JWS.
  const key = randomBytes(32)
  let digest: string | undefined
  for (let i = 0; digest === undefined && i < 2_000_000; i++) {
    const d = createHmac('sha256', key).update(String(i)).digest('base64url')
    if (LOOSE.test(d)) digest = d
  }
  t.ok(digest, `found a digest the old check took for a JWS: ${digest}`)
  const ledgerLine = JSON.stringify({ event: 'accepted', digest, fields: [{ path: 'traveller.surname', digest }] })
  t.ok(LOOSE.test(ledgerLine), 'the old check flagged a ledger that holds digests only')
  t.notOk(looksLikeJws(ledgerLine), 'this one does not')
})

t.test('every real JWS is found, alone or inside other text', async (t) => {
  const { privateKey } = await generateKeyPair('ES256')
  const jws = await new CompactSign(new TextEncoder().encode('{"id":"x"}'))
    .setProtectedHeader({ alg: 'ES256', kid: 'k', typ: 'btb-envelope+jws' })
    .sign(privateKey)
  t.ok(looksLikeJws(jws))
  t.ok(looksLikeJws(JSON.stringify({ receipt: jws })))
  t.ok(looksLikeJws(`sealed=${jws}; more`))
})
