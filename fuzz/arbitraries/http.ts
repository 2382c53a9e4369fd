// The HTTP side of an input: who calls (by certificate), with which token,
// which media type, which query string. docs/integrators.md, "Error codes": the caller is
// settled first, so a wrong caller or token makes the whole input an
// authentication refusal whatever else is wrong with it.
import fc from 'fast-check'
import type { Http } from '../case.ts'
import type { IdentityName } from '../identities.ts'
import { BAD_INTEGER_TEXTS, once } from './values.ts'

type Door = 'messages' | 'exchange' | 'status' | 'audit'

export function validHttp(door: Door, identity: IdentityName): Http {
  const body = door === 'messages' || door === 'exchange'
  return {
    identity,
    auth: door === 'exchange' ? 'not-needed' : 'own',
    contentType: body ? 'application/jose' : null,
    query: '',
    tags: [],
    effect: 'ok',
    authFails: false
  }
}

/** Callers and tokens this endpoint refuses (401 UNAUTHENTICATED / TOKEN_CERT_MISMATCH, 403 FORBIDDEN). */
function wrongCaller(door: Door, own: IdentityName): fc.Arbitrary<Pick<Http, 'identity' | 'auth' | 'tags'>> {
  const identities: Array<[IdentityName, Http['auth']]> =
    door === 'exchange'
      ? [
          ['CBSA', 'own'],
          ['OFFICER', 'own'],
          ['OPERATOR', 'own'],
          ['ANONYMOUS', 'none'],
          ['CBP', 'none']
        ]
      : door === 'audit'
        ? [
            ['CBSA', 'own'],
            ['IRCC', 'own'],
            ['OPERATOR', 'own'],
            ['US_GATEWAY', 'none'],
            ['ANONYMOUS', 'none'],
            ['CBP', 'none']
          ]
        : [
            ['OFFICER', 'own'],
            ['OPERATOR', 'own'],
            ['US_GATEWAY', 'none'],
            ['ANONYMOUS', 'none'],
            ['CBP', 'none']
          ]
  const byCertificate = fc.constantFrom(...identities).map(([identity, auth]) => ({ identity, auth, tags: [`caller:${identity}`] }))
  if (door === 'exchange') return byCertificate
  const byToken = fc
    .constantFrom<Http['auth']>('none', 'garbage', 'other-identity', 'tampered', 'basic', 'alg-none', 'agency-signed')
    .map((auth) => ({ identity: own, auth, tags: [`token:${auth}`] }))
  return fc.oneof(byCertificate, byToken)
}

/** Media types that are not application/jose (docs/integrators.md, "Error codes": UNSUPPORTED_MEDIA_TYPE). */
export const BAD_CONTENT_TYPES: ReadonlyArray<string | null> = [
  null,
  '',
  'application/json',
  'text/plain',
  'application/jose+json',
  'application/josex',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'jose',
  'application/jwt',
  'application/jws',
  'text/jose',
  'application/*',
  '*/*',
  'application/jose, application/json'
]
/** Spellings of application/jose the contract does not rule on: media types are case-insensitive and may carry parameters. */
export const AMBIGUOUS_CONTENT_TYPES: readonly string[] = [
  'application/jose; charset=utf-8',
  'APPLICATION/JOSE',
  'Application/Jose',
  'application/jose;',
  'application/jose ; q=1',
  ' application/jose'
]

/** A query string on a route that takes none, or unknown parameters on one that takes some. */
export const strayQuery = once(function strayQuery(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      '?x=1',
      '?id=1',
      '?a&b',
      '?__proto__[x]=1',
      '?constructor=1',
      '?%00=1',
      '?x=%ZZ',
      '?;x=1',
      '?dryRun=true',
      `?limit=${encodeURIComponent(BAD_INTEGER_TEXTS[0]!)}`
    ),
    fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 })).map(([k, v]) => `?x${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
  )
})

/**
 * The HTTP of an invalid input on one endpoint: a wrong caller, a wrong
 * media type, a stray query string or another method. `bodyCarrier` says
 * whether the route takes a body (the media type then matters).
 */
export const badHttp = once(function badHttp(door: Door, own: IdentityName, bodyCarrier: boolean, bodyType: string | null): fc.Arbitrary<Http> {
  const base = validHttp(door, own)
  const withType = (contentType: string | null): Http => ({ ...base, contentType })
  const options: Array<{ arbitrary: fc.Arbitrary<Http>; weight: number }> = [
    {
      weight: 5,
      arbitrary: wrongCaller(door, own).map(({ identity, auth, tags }) => ({
        ...base,
        contentType: bodyType,
        identity,
        auth,
        tags,
        effect: 'bad' as const,
        authFails: true
      }))
    },
    { weight: 3, arbitrary: strayQuery().map((query) => ({ ...base, contentType: bodyType, query, tags: ['query:stray'], effect: 'bad' as const })) }
  ]
  if (bodyCarrier) {
    // application/json is the officer API's own type: wrong for a JWS, right for a disclosure report.
    const wrongTypes = BAD_CONTENT_TYPES.filter((t) => t !== bodyType)
    options.push({
      weight: 4,
      arbitrary: fc.constantFrom(...wrongTypes).map((t) => ({ ...withType(t), tags: [`content-type:${String(t)}`], effect: 'bad' as const }))
    })
    // A wrong caller with a wrong media type: the caller must still be what is refused.
    options.push({
      weight: 2,
      arbitrary: fc.tuple(wrongCaller(door, own), fc.constantFrom(...wrongTypes)).map(([{ identity, auth, tags }, t]) => ({
        ...withType(t),
        identity,
        auth,
        tags: [...tags, `content-type:${String(t)}`],
        effect: 'bad' as const,
        authFails: true
      }))
    })
  }
  const otherMethods = (door === 'status' || door === 'audit' ? ['POST', 'PUT', 'PATCH'] : ['GET', 'PUT', 'PATCH', 'DELETE']) as Array<
    NonNullable<Http['method']>
  >
  options.push({
    weight: 1,
    arbitrary: fc
      .constantFrom(...otherMethods)
      .map((method) => ({ ...base, contentType: bodyType, method, tags: [`method:${method}`], effect: 'bad' as const }))
  })
  return fc.oneof(...options)
})

/** HTTP the contract does not rule on: media type spellings, headers the gateway has no use for. */
export const ambiguousHttp = once(function ambiguousHttp(door: Door, own: IdentityName): fc.Arbitrary<Http> {
  const base = validHttp(door, own)
  const headers = fc.constantFrom<ReadonlyArray<readonly [string, string]>>(
    [['content-encoding', 'gzip']],
    [['x-http-method-override', 'DELETE']],
    [['x-forwarded-for', '10.0.0.1']],
    [['accept', 'text/html']],
    [['content-language', 'fr-CA']],
    [['forwarded', 'for=1.2.3.4']]
  )
  return fc.oneof(
    fc.constantFrom(...AMBIGUOUS_CONTENT_TYPES).map((contentType) => ({ ...base, contentType, tags: [`content-type:${contentType}`], effect: 'any' as const })),
    headers.map((extraHeaders) => ({ ...base, extraHeaders, tags: extraHeaders.map(([n]) => `header:${n}`), effect: 'any' as const }))
  )
})
