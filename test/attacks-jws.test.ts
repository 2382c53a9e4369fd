// Attacks on what is signed (RFC 8725, RFC 7515, RFC 7493): a protected
// header held to the contract's allow-list, and signed text that only one
// reading can be made of. Each is signed for real with the caller's own key,
// so the signature is never the reason for a refusal; each refusal is
// audited as such and nothing else is written.
import t from 'tap'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import type { HttpResult } from '../sandbox/agency-client.ts'
import { client, injectGateway, testConfig } from './helper.ts'
import { headerText, signRaw } from './lib/raw-jws.ts'

t.test('hostile JWS and payloads', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const creds = cbsa.creds
  const fresh = (): Record<string, unknown> => cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const seqBefore = (await gw.app.store.auditHead())?.seq ?? 0
  const refusedIds: string[] = []

  function expectRefused(res: HttpResult, status: number, code: string, what: string): void {
    t.equal(res.status, status, `${what}: ${status}`)
    t.match(String(res.headers['content-type']), /^application\/problem\+json/, `${what}: a problem document`)
    t.equal(res.json().code, code, `${what}: ${code}`)
  }

  async function submitRaw(header: string, payload: string | Buffer, id: string): Promise<HttpResult> {
    refusedIds.push(id)
    return cbsa.submit(signRaw(header, payload, creds))
  }

  await t.test('the protected header carries only alg, kid and typ', async (t) => {
    const cases: Array<[string, string]> = [
      ['jku', ',"jku":"https://attacker.example/jwks.json"'],
      ['jwk', ',"jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}'],
      ['x5u', ',"x5u":"https://attacker.example/cert.pem"'],
      ['x5c', ',"x5c":["MIIB"]'],
      ['x5t', ',"x5t":"AAAA"'],
      ['b64 without crit', ',"b64":false'],
      ['crit', ',"crit":["exp"],"exp":1'],
      ['an unknown parameter', ',"cty":"JWT"'],
      ['__proto__', ',"__proto__":{"alg":"none"}'],
      ['constructor', ',"constructor":{"prototype":{}}']
    ]
    for (const [what, extra] of cases) {
      const envelope = fresh()
      const res = await submitRaw(headerText(creds, extra), JSON.stringify(envelope), String(envelope.id))
      expectRefused(res, 400, 'JWS_HEADER_NOT_ALLOWED', what)
    }
    t.end()
  })

  await t.test('a protected header longer than any the contract allows is refused before it is read', async (t) => {
    const envelope = fresh()
    const res = await submitRaw(headerText(creds, `,"x":"${'a'.repeat(1024)}"`), JSON.stringify(envelope), String(envelope.id))
    expectRefused(res, 400, 'JWS_INVALID', 'a header of 1.4 kB')
    t.match(res.json().detail, /longer than 1024 characters/)
    t.end()
  })

  await t.test('typ must be the envelope type, exactly', async (t) => {
    const typs: Array<[string, string]> = [
      ['missing', ''],
      ['JWT', ',"typ":"JWT"'],
      ['a number', ',"typ":1'],
      ['an array', ',"typ":["btb-envelope+jws"]'],
      ['another case', ',"typ":"BTB-ENVELOPE+JWS"'],
      ['the receipt type', ',"typ":"btb-receipt+jws"']
    ]
    for (const [what, typ] of typs) {
      const envelope = fresh()
      const res = await submitRaw(`{"alg":"${creds.alg}","kid":"${creds.kid}"${typ}}`, JSON.stringify(envelope), String(envelope.id))
      expectRefused(res, 400, 'JWS_TYP_INVALID', `typ ${what}`)
    }
    t.end()
  })

  await t.test('a JWS part in another base64url spelling of the same bytes is refused', async (t) => {
    // The last character's unused bits set: the same bytes to a lenient decoder, another text to everyone else.
    const bump = (part: string): string => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const last = alphabet.indexOf(part.at(-1)!)
      return `${part.slice(0, -1)}${alphabet[last + 1]}`
    }
    for (const [i, name] of [
      [0, 'header'],
      [1, 'payload'],
      [2, 'signature']
    ] as const) {
      const envelope = fresh()
      let jws = ''
      // Make a JWS whose part i has unused bits to set (a length that is not a multiple of 4).
      for (let extra = ''; ; extra += ' ') {
        jws = signRaw(i === 0 ? headerText(creds).replace(/}$/, `${extra}}`) : headerText(creds), `${JSON.stringify(envelope)}${i === 1 ? extra : ''}`, creds)
        if (jws.split('.')[i]!.length % 4 !== 0) break
      }
      const parts = jws.split('.')
      parts[i] = bump(parts[i]!)
      refusedIds.push(String(envelope.id))
      expectRefused(await cbsa.submit(parts.join('.')), 400, 'JWS_INVALID', `${name} with non-zero unused bits`)
    }
    t.end()
  })

  await t.test('a header member written twice is refused, whichever copy a reader would take', async (t) => {
    const envelope = fresh()
    const twice = `{"alg":"${creds.alg}","alg":"none","kid":"${creds.kid}","typ":"btb-envelope+jws"}`
    expectRefused(await submitRaw(twice, JSON.stringify(envelope), String(envelope.id)), 400, 'JWS_INVALID', 'duplicate alg')
    const kidTwice = `{"alg":"${creds.alg}","kid":"other","kid":"${creds.kid}","typ":"btb-envelope+jws"}`
    expectRefused(await submitRaw(kidTwice, JSON.stringify(envelope), String(envelope.id)), 400, 'JWS_INVALID', 'duplicate kid')
    t.end()
  })

  await t.test('signed payloads that two parsers could read differently (I-JSON)', async (t) => {
    const header = headerText(creds)
    const text = (envelope: Record<string, unknown>): string => JSON.stringify(envelope)
    // Each case is the valid envelope's text with one change that JSON.parse alone would let through.
    const cases: Array<[string, (envelope: Record<string, unknown>) => string | Buffer]> = [
      ['a duplicate member, last one wins', (e) => text(e).replace('"purpose":', '"purpose":"intelligence","purpose":')],
      ['a duplicate member spelled with an escape', (e) => text(e).replace('"purpose":', '"purpos\\u0065":"intelligence","purpose":')],
      ['a duplicate member inside the payload', (e) => text(e).replace('"surname":', '"surname":"SOMEONE ELSE","surname":')],
      ['a UTF-8 byte order mark', (e) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text(e))])],
      ['a lone high surrogate', (e) => text(e).replace(/"givenNames":"[^"]*"/, '"givenNames":"THI\\ud800"')],
      ['a lone low surrogate', (e) => text(e).replace(/"givenNames":"[^"]*"/, '"givenNames":"\\udc00THI"')],
      ['a noncharacter, escaped', (e) => text(e).replace(/"givenNames":"[^"]*"/, '"givenNames":"THI\\uffff"')],
      ['a noncharacter, raw', (e) => text(e).replace(/"givenNames":"[^"]*"/, '"givenNames":"THI\ufdd0"')],
      ['an integer with more precision than a double', (e) => text(e).replace('"schemaVersion":"1.0"', '"schemaVersion":"1.0","n":15.000000000000000001')],
      ['a number that underflows', (e) => text(e).replace('"schemaVersion":"1.0"', '"schemaVersion":"1.0","n":1e-400')],
      ['a number that overflows', (e) => text(e).replace('"schemaVersion":"1.0"', '"schemaVersion":"1.0","n":1e400')],
      ['__proto__', (e) => text(e).replace('"schemaVersion":"1.0"', '"schemaVersion":"1.0","__proto__":{"admin":true}')]
    ]
    for (const [what, mutate] of cases) {
      const envelope = fresh()
      const payload = mutate(envelope)
      t.not(Buffer.from(payload).toString(), text(envelope), `${what}: the mutation applies`)
      expectRefused(await submitRaw(header, payload, String(envelope.id)), 400, 'PAYLOAD_UNSAFE', what)
    }
    t.end()
  })

  await t.test('a value nested far deeper than any contract allows is refused with its code, not a 500', async (t) => {
    // I-JSON is parsed without recursion, so this nesting is read; what the
    // refusal quotes of it must not recurse either.
    const deep = `${'['.repeat(20_000)}"ES256"${']'.repeat(20_000)}`
    // In a header, such a value is refused for the header's length before it is read.
    const envelope = fresh()
    const header = `{"alg":${deep},"kid":"${creds.kid}","typ":"btb-envelope+jws"}`
    expectRefused(await submitRaw(header, JSON.stringify(envelope), String(envelope.id)), 400, 'JWS_INVALID', 'an alg nested 20,000 arrays deep')
    const kind = fresh()
    const payload = JSON.stringify(kind).replace(/"kind":"[^"]*"/, `"kind":${deep}`)
    expectRefused(await submitRaw(headerText(creds), payload, String(kind.id)), 422, 'KIND_UNKNOWN', 'a kind nested 20,000 arrays deep')
    t.end()
  })

  await t.test('the same checks hold on the gateway-to-gateway exchange', async (t) => {
    // The partner's certificate and key are not at hand here: an agency
    // certificate is refused before the body is read, whatever the body.
    const envelope = fresh()
    const res = await cbsa.call('POST', '/v1/exchange', signRaw(headerText(creds, ',"jku":"https://x"'), JSON.stringify(envelope), creds), {
      'content-type': 'application/jose'
    })
    expectRefused(res, 403, 'FORBIDDEN', 'an agency on /v1/exchange')
    t.end()
  })

  await t.test('each refusal was audited as a refusal, and nothing was accepted', async (t) => {
    const added = await gw.app.store.auditEntries(seqBefore, 100_000)
    t.ok(added.length >= refusedIds.length, 'every submission was audited')
    t.same([...new Set(added.map((e) => e.entry.event))], ['refused'], 'only refusals were written')
    for (const id of refusedIds) t.equal(await gw.app.store.findMessage('outbound', id), undefined, `${id} was not accepted`)
    t.same(await gw.app.store.pendingOutbox(new Date(Date.now() + 60_000).toISOString(), 10), [], 'no outbox item')
    t.end()
  })
})
