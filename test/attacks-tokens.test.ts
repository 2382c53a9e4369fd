// Attacks on the access token (RFC 8725, RFC 8705, RFC 6749): it lives
// exactly as long as POST /v1/token says, only the one grant is answered, and
// a token is good only from this gateway, for this certificate, signed the
// way this gateway signs.
import t, { type Test } from 'tap'
import { createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AgencyClient, HttpResult } from '../sandbox/agency-client.ts'
import { client, eventually, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'
import { signRaw } from './lib/raw-jws.ts'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const claimsOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())

function expectProblem(t: Test, res: HttpResult, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: ${status}`)
  t.match(String(res.headers['content-type']), /^application\/problem\+json/, `${what}: a problem document`)
  t.equal(res.json().code, code, `${what}: ${code}`)
}

async function tokenFor(c: AgencyClient, body?: string, contentType = 'application/x-www-form-urlencoded'): Promise<HttpResult> {
  return c.call('POST', '/v1/token', body, body === undefined ? {} : { 'content-type': contentType })
}

const statusWith = (c: AgencyClient, token: string, id = crypto.randomUUID()): Promise<HttpResult> =>
  c.call('GET', `/v1/messages/${id}`, undefined, { authorization: `Bearer ${token}` })

// The tests below share one gateway of each country: they only ask for tokens and use them.
const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
const us = await injectGateway(t, testConfig('US', { runWorkers: false }))

t.test('a token stops working at expires_in, with the real verifier and the real clock', async (t) => {
  const ttl = 2
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, tokenTtlSeconds: ttl }))
  const cbsa = client(t, 'CBSA', gw.url)
  const res = await tokenFor(cbsa)
  t.equal(res.status, 200)
  const { access_token: token, expires_in: expiresIn } = res.json<{ access_token: string; expires_in: number }>()
  t.equal(expiresIn, ttl, 'expires_in is the configured lifetime')
  const claims = claimsOf(token)
  t.equal(Number(claims.exp) - Number(claims.iat), expiresIn, 'exp − iat is expires_in, in seconds')

  // Used once before it expires, so that the verifier's cache holds it: a cached token must expire too.
  t.equal((await statusWith(cbsa, token)).status, 404, 'valid before exp (a missing message is 404, not 401)')
  const expiresAt = Number(claims.exp) * 1000
  // Used until it is refused (waiting on that, not on a timer): accepted on
  // every use before exp, refused from the first use at or after exp.
  let acceptedLate = false
  const refused = await eventually(
    async () => {
      const asked = Date.now()
      const res = await statusWith(cbsa, token)
      if (res.status !== 404) return { res, answered: Date.now(), asked }
      if (asked >= expiresAt) acceptedLate = true
      return undefined
    },
    10_000,
    'the token to expire'
  )
  t.notOk(acceptedLate, 'not accepted once the clock had passed exp')
  t.ok(refused.answered >= expiresAt, 'refused only once the clock reached exp')
  t.ok(refused.asked < expiresAt + 1000, `refused from the first use after exp (${refused.asked - expiresAt} ms after)`)
  expectProblem(t, refused.res, 401, 'UNAUTHENTICATED', 'at expires_in')
})

t.test('tokens the gateway did not issue this way are refused', async (t) => {
  const cbsa = client(t, 'CBSA', gw.url)
  const issued = (await tokenFor(cbsa)).json<{ access_token: string }>().access_token
  const claims = claimsOf(issued)
  const gatewayKeyFile = readFileSync(join(KEYS_DIR, 'CA', 'gateway.signing.ca-gateway-20261126-641f.private.jwk.json'), 'utf8')
  const gatewayJwk = JSON.parse(gatewayKeyFile) as { kid: string; alg: 'ES256' | 'EdDSA' }
  const gatewayKey = { signingKey: createPrivateKey({ key: gatewayJwk as never, format: 'jwk' }), alg: gatewayJwk.alg }
  // Signed with this gateway's own key: only the claims are wrong.
  const forged = (changes: Record<string, unknown>, header: Record<string, unknown> = {}): string =>
    signRaw(JSON.stringify({ alg: gatewayJwk.alg, typ: 'at+jwt', kid: gatewayJwk.kid, ...header }), JSON.stringify({ ...claims, ...changes }), gatewayKey)
  const now = Math.floor(Date.now() / 1000)

  await t.test('typed as an access token (RFC 9068, RFC 8725 §3.11), and only as one', async (t) => {
    const [header] = issued.split('.')
    t.equal(JSON.parse(Buffer.from(header!, 'base64url').toString('utf8')).typ, 'at+jwt', 'the gateway types its tokens')
    // RFC 9068 §2.2's claims: iss, exp, aud, sub, client_id, iat and jti.
    for (const claim of ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti']) t.ok(claim in claims, `the token has ${claim}`)
    t.equal(claims.client_id, claims.sub, 'the client is the system it was issued to')
    const another = claimsOf((await tokenFor(cbsa)).json<{ access_token: string }>().access_token)
    t.not(another.jti, claims.jti, 'each token its own jti')
    t.equal((await statusWith(cbsa, forged({}))).status, 404, 'the same claims, so typed, are taken (a missing message is 404)')
    for (const typ of ['JWT', 'btb-receipt+jws', 'btb-envelope+jws']) {
      expectProblem(t, await statusWith(cbsa, forged({}, { typ })), 401, 'UNAUTHENTICATED', `typ ${typ}: another kind of JWT`)
    }
    expectProblem(t, await statusWith(cbsa, forged({}, { typ: undefined })), 401, 'UNAUTHENTICATED', 'no typ')
  })

  await t.test('expired, not yet valid, or without an expiry', async (t) => {
    expectProblem(t, await statusWith(cbsa, forged({ iat: now - 600, exp: now - 300 })), 401, 'UNAUTHENTICATED', 'expired')
    expectProblem(t, await statusWith(cbsa, forged({ nbf: now + 300 })), 401, 'UNAUTHENTICATED', 'not yet valid')
    expectProblem(t, await statusWith(cbsa, forged({ exp: undefined })), 401, 'UNAUTHENTICATED', 'no exp')
    expectProblem(t, await statusWith(cbsa, forged({ cnf: undefined })), 401, 'UNAUTHENTICATED', 'no cnf: a plain bearer token')
    // Signed by this gateway's key, but not as POST /v1/token issues: a token lives expires_in from its iat, and no iat is to come.
    expectProblem(t, await statusWith(cbsa, forged({ iat: now, exp: now + 365 * 86400 })), 401, 'UNAUTHENTICATED', 'exp a year after iat')
    expectProblem(t, await statusWith(cbsa, forged({ iat: now + 365 * 86400, exp: now + 365 * 86400 + 60 })), 401, 'UNAUTHENTICATED', 'iat a year ahead')
  })

  await t.test('for another issuer or audience', async (t) => {
    expectProblem(t, await statusWith(cbsa, forged({ iss: 'gateway:US' })), 401, 'UNAUTHENTICATED', 'issuer')
    expectProblem(t, await statusWith(cbsa, forged({ aud: 'gateway:US' })), 401, 'UNAUTHENTICATED', 'audience')
  })

  await t.test("issued by the other country's gateway", async (t) => {
    const cbp = client(t, 'CBP', us.url)
    const usToken = (await tokenFor(cbp)).json<{ access_token: string }>().access_token
    expectProblem(t, await statusWith(cbsa, usToken), 401, 'UNAUTHENTICATED', 'a US token at the CA gateway')
  })

  await t.test('algorithm tricks', async (t) => {
    const [, payload] = issued.split('.')
    expectProblem(t, await statusWith(cbsa, `${b64({ alg: 'none', typ: 'JWT', kid: gatewayJwk.kid })}.${payload}.`), 401, 'UNAUTHENTICATED', 'alg none')
    // The classic confusion: the public key's text used as an HMAC secret.
    const { createHmac } = await import('node:crypto')
    const publicPem = createPrivateKey({ key: gatewayJwk as never, format: 'jwk' }).export({ format: 'pem', type: 'pkcs8' })
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: gatewayJwk.kid })}.${payload}`
    const hs = `${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`
    expectProblem(t, await statusWith(cbsa, hs), 401, 'UNAUTHENTICATED', 'HS256 with the key as secret')
    // Signed by this gateway's own P-256 key, as the messages' verifier would
    // never take them (RFC 8725 §3.1; gateway/jws/verify-compact.ts): the
    // token's verifier holds them to the same rules.
    const { sign } = await import('node:crypto')
    const ecdsaAs = `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid: gatewayJwk.kid })}.${payload}`
    const derSignature = sign('sha256', Buffer.from(ecdsaAs), gatewayKey.signingKey).toString('base64url')
    expectProblem(t, await statusWith(cbsa, `${ecdsaAs}.${derSignature}`), 401, 'UNAUTHENTICATED', 'alg EdDSA over an ECDSA signature by a P-256 key')
    const twice = `{"alg":"none","alg":"${gatewayJwk.alg}","typ":"at+jwt","kid":"${gatewayJwk.kid}"}`
    expectProblem(t, await statusWith(cbsa, signRaw(twice, JSON.stringify(claims), gatewayKey)), 401, 'UNAUTHENTICATED', 'alg written twice')
    expectProblem(t, await statusWith(cbsa, forged({}, { jku: 'https://example.net/keys' })), 401, 'UNAUTHENTICATED', 'a parameter the gateway never writes')
    const [h, p, signature] = issued.split('.') as [string, string, string]
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    // The last character of a 64-byte signature carries 2 unused bits: flipping the lowest is another spelling of the same bytes.
    const respelled = signature.slice(0, -1) + alphabet[alphabet.indexOf(signature.at(-1)!) ^ 1]
    t.same(Buffer.from(respelled, 'base64url'), Buffer.from(signature, 'base64url'), 'the same signature bytes')
    expectProblem(t, await statusWith(cbsa, `${h}.${p}.${respelled}`), 401, 'UNAUTHENTICATED', 'its signature in a non-canonical spelling')
    t.equal((await statusWith(cbsa, issued)).status, 404, 'the token as issued is still taken')
  })

  await t.test('presented over another certificate (a certificate swap)', async (t) => {
    const ircc = client(t, 'IRCC', gw.url)
    const swapped = await statusWith(ircc, issued)
    expectProblem(t, swapped, 401, 'TOKEN_CERT_MISMATCH', "CBSA's token over IRCC's certificate")
    t.equal(swapped.headers['www-authenticate'], 'Bearer error="invalid_token"', 'the challenge says the token is not valid here')
  })

  // RFC 6750 §3: a 401 for want of a valid token carries the Bearer challenge.
  await t.test('a refusal of the token says so in WWW-Authenticate', async (t) => {
    const none = await cbsa.call('GET', `/v1/messages/${crypto.randomUUID()}`, undefined, { authorization: '' })
    const missing = await cbsa.call('GET', `/v1/messages/${crypto.randomUUID()}`)
    for (const [what, res] of [
      ['an empty Authorization', none],
      ['no Authorization', missing]
    ] as const) {
      t.equal(res.status, 401, `${what}: 401`)
      t.equal(res.headers['www-authenticate'], 'Bearer', `${what}: the bare challenge, no error (none was presented)`)
    }
    const expired = await statusWith(cbsa, forged({ iat: now - 600, exp: now - 300 }))
    t.equal(expired.headers['www-authenticate'], 'Bearer error="invalid_token"', 'an expired token: invalid_token')
    t.equal((await statusWith(cbsa, issued)).headers['www-authenticate'], undefined, 'a token taken: no challenge')
  })

  // An integrator's commonest slip: the token sent without its scheme, or
  // under another. The refusal must say what the header should be, not that
  // no Authorization was found in a request that has one.
  // RFC 6750 §3.1: a request with no bearer token (none at all, or
  // credentials of another scheme) gets the challenge without an error code;
  // `invalid_token` says a bearer token came and is malformed, expired or
  // revoked.
  await t.test('an Authorization that is not "Bearer <token>" is refused saying so', async (t) => {
    for (const [what, authorization, challenge] of [
      ['the token alone', issued, 'Bearer'],
      ['another scheme', `Basic ${Buffer.from('CBSA:secret').toString('base64')}`, 'Bearer'],
      ['another scheme, with a token', `DPoP ${issued}`, 'Bearer'],
      ['the scheme alone', 'Bearer', 'Bearer'],
      ['two spaces', `Bearer  ${issued}`, 'Bearer error="invalid_token"'],
      ['the token and more', `Bearer ${issued} ${issued}`, 'Bearer error="invalid_token"'],
      ['the scheme in lower case, a token that is not one', 'bearer not-a-token', 'Bearer error="invalid_token"']
    ] as const) {
      const res = await cbsa.call('GET', `/v1/messages/${crypto.randomUUID()}`, undefined, { authorization })
      expectProblem(t, res, 401, 'UNAUTHENTICATED', what)
      if (what !== 'the scheme in lower case, a token that is not one') {
        t.match(res.json().detail, /Authorization: Bearer <token>/, `${what}: the detail says how to send the token`)
      }
      t.notMatch(res.json().detail, /No Authorization was found/, `${what}: not that there was no Authorization`)
      t.equal(res.headers['www-authenticate'], challenge, `${what}: WWW-Authenticate: ${challenge}`)
    }
  })
})

t.test('only the grant the contract names gets a token', async (t) => {
  const cbsa = client(t, 'CBSA', gw.url)
  t.equal((await tokenFor(cbsa)).status, 200, 'no body')
  t.equal((await tokenFor(cbsa, 'grant_type=client_credentials')).status, 200, 'client_credentials')
  const refused: Array<[string, string]> = [
    ['grant_type=password&username=a&password=b', 'password'],
    ['grant_type=password', 'password alone'],
    ['grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ', 'jwt-bearer'],
    ['grant_type=authorization_code&code=x', 'authorization_code'],
    ['grant_type=client_credentials&scope=admin', 'an extra parameter'],
    ['grant_type=client_credentials&client_secret=x', 'a client secret'],
    // A plain object's __proto__ setter takes a string without a trace: the
    // parameter must be seen, as any other name is.
    ['__proto__=x', 'a parameter named __proto__'],
    ['grant_type=client_credentials&__proto__=admin', 'a parameter named __proto__ beside the grant'],
    ['grant_type=client_credentials&constructor=x', 'a parameter named constructor']
  ]
  for (const [body, what] of refused) expectProblem(t, await tokenFor(cbsa, body), 400, 'GRANT_TYPE_UNSUPPORTED', what)
  expectProblem(t, await tokenFor(cbsa, 'grant_type=password&grant_type=client_credentials'), 400, 'BODY_INVALID', 'grant_type twice')
  expectProblem(t, await tokenFor(cbsa, '__proto__=a&__proto__=b'), 400, 'BODY_INVALID', '__proto__ twice')
  expectProblem(
    t,
    await tokenFor(cbsa, '{"grant_type":"client_credentials"}', 'application/json'),
    400,
    'GRANT_TYPE_UNSUPPORTED',
    'a JSON body with an accepted grant is still not the form'
  )
  expectProblem(t, await tokenFor(cbsa, '[]', 'application/json'), 400, 'GRANT_TYPE_UNSUPPORTED', 'a JSON array')
  expectProblem(t, await tokenFor(cbsa, 'null', 'application/json'), 400, 'GRANT_TYPE_UNSUPPORTED', 'a JSON null is a body too')
  // A media type the gateway reads nowhere (docs/integrators.md, "Error codes"): the detail says which, not only "Unsupported Media Type".
  for (const contentType of ['text/plain', 'multipart/form-data; boundary=x']) {
    const res = await tokenFor(cbsa, 'grant_type=client_credentials', contentType)
    expectProblem(t, res, 415, 'UNSUPPORTED_MEDIA_TYPE', contentType)
    t.equal(res.json().detail, `Unsupported media type: POST /v1/token does not read "${contentType.split(';')[0]}"`, `${contentType}: the detail names it`)
  }

  // A token request is a form of one short parameter (or nothing). A body of
  // megabytes was read, and parsed, on the event loop before its refusal:
  // 3 MB of JSON whose member names are written with escapes held it for
  // half a second, for any agency certificate to make it spend. Refused
  // for its size, unread.
  const names = Array.from({ length: 50_000 }, (_, i) => `"\\u0061${i}":1`).join(',')
  expectProblem(t, await tokenFor(cbsa, `{${names}}`, 'application/json'), 413, 'PAYLOAD_TOO_LARGE', 'a large JSON body')
  expectProblem(t, await tokenFor(cbsa, `grant_type=client_credentials${'&'.repeat(100_000)}`), 413, 'PAYLOAD_TOO_LARGE', 'a large form')
  t.equal((await tokenFor(cbsa, 'grant_type=client_credentials'.padEnd(1024, '&'))).status, 200, 'a form of 1 KiB is still read')

  await t.test('no certificate, no token, whatever the body', async (t) => {
    // No certificate presented (no peer header): as a TLS client without one.
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/token',
      payload: 'grant_type=password',
      headers: { 'content-type': 'application/x-www-form-urlencoded' }
    })
    t.equal(res.statusCode, 401)
    t.equal(res.json<{ code: string }>().code, 'UNAUTHENTICATED')
  })

  await t.test('the partner gateway, known by its certificate, is on an endpoint for another role: 403 FORBIDDEN, as on /v1/messages', async (t) => {
    // docs/integrators.md, "Error codes": 401 is for a caller not known; a
    // known one on another role's endpoint is told so, not to authenticate again.
    const asPartner = presenting(readFileSync(join(KEYS_DIR, 'US', 'gateway.crt.pem'), 'utf8'))
    for (const url of ['/v1/token', '/v1/messages']) {
      const res = await gw.app.inject({ method: 'POST', url, headers: { ...asPartner, 'content-type': 'application/x-www-form-urlencoded' }, payload: '' })
      t.same([res.statusCode, res.json<{ code: string }>().code], [403, 'FORBIDDEN'], url)
    }
  })
})
