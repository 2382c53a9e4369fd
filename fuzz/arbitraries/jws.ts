// Mutations of the JWS around the envelope: its protected header
// (docs/integrators.md, "Sign": exactly alg, kid and typ), the key that signs, and the compact
// serialisation (RFC 7515 §7.1: three base64url parts, no padding). The
// header and payload are re-signed after a header or encoding change, so the
// signature always verifies over the bytes sent: what is wrong is only what
// the mutation did.
import fc from 'fast-check'
import type { EncodingEdit, HeaderEdit, Json, Signing } from '../case.ts'
import { ENVELOPE_TYP } from '../contract.ts'
import { once } from './values.ts'

const bad = <T extends object>(x: T) => ({ ...x, effect: 'bad' as const })

/** An embedded key an attacker would offer (RFC 8725 §3.10 warns against trusting it). */
const ATTACKER_JWK = { kty: 'EC', crv: 'P-256', x: '7YsPp6umt36qVKwuxvmGhcX3MLI3jKwnK9Nrcf3su20', y: 'XhNxqR5dlBhE8yu4HdHLO-KjtaeOq2jjCGGbXe7NaRg' }

/** Header parameters outside the allow-list (alg, kid, typ), with values that would change what a lax verifier does. */
const FOREIGN_PARAMETERS: ReadonlyArray<readonly [string, Json]> = [
  ['b64', false],
  ['b64', true],
  ['crit', ['b64']],
  ['crit', []],
  ['crit', ['exp']],
  ['jku', 'https://attacker.example/jwks.json'],
  ['jwk', ATTACKER_JWK],
  ['x5u', 'https://attacker.example/cert.pem'],
  ['x5c', ['MIIBszCCAVmgAwIBAgIU']],
  ['x5t', 'AAAA'],
  ['x5t#S256', 'AAAA'],
  ['cty', 'JWT'],
  ['cty', 'json'],
  ['zip', 'DEF'],
  ['enc', 'A256GCM'],
  ['iat', 1],
  ['exp', 1],
  ['nonce', 'n'],
  ['url', 'https://attacker.example/'],
  ['foo', 'bar'],
  ['', 1],
  ['Alg', 'none'],
  ['kid ', 'x'],
  ['typ\u0000', ENVELOPE_TYP],
  ['constructor', {}]
]

export const badHeaderEdit = once(function badHeaderEdit(): fc.Arbitrary<HeaderEdit> {
  return fc.oneof(
    // typ: exactly the envelope media type (RFC 8725 §3.11, explicit typing).
    {
      weight: 6,
      arbitrary: fc.oneof(
        fc.constant<HeaderEdit>(bad({ op: 'delete', name: 'typ', tag: 'typ:missing' })),
        fc
          .constantFrom<Json>(
            'JWT',
            'JOSE',
            'jose+json',
            'BTB-ENVELOPE+JWS',
            `application/${ENVELOPE_TYP}`,
            'btb-receipt+jws',
            '',
            1,
            null,
            [ENVELOPE_TYP],
            ` ${ENVELOPE_TYP}`
          )
          .map((value): HeaderEdit => bad({ op: 'set', name: 'typ', value, tag: `typ:${JSON.stringify(value)}` }))
      )
    },
    // alg: ES256 or EdDSA, and the one the key is registered with.
    {
      weight: 6,
      arbitrary: fc.oneof(
        fc.constant<HeaderEdit>(bad({ op: 'delete', name: 'alg', tag: 'alg:missing' })),
        fc.constant<HeaderEdit>(bad({ op: 'set', name: 'alg', value: '$OTHER_ALLOWED', tag: 'alg:other-allowed-than-key' })),
        fc
          .constantFrom<Json>('none', 'None', 'NONE', 'HS256', 'RS256', 'PS256', 'ES384', 'ES256K', 'Ed25519', 'es256', 'ES256 ', 'eddsa', null, 1)
          .map((value): HeaderEdit => bad({ op: 'set', name: 'alg', value, tag: `alg:${JSON.stringify(value)}` }))
      )
    },
    // kid: a registered key of the caller, exactly.
    {
      weight: 5,
      arbitrary: fc.oneof(
        fc.constant<HeaderEdit>(bad({ op: 'delete', name: 'kid', tag: 'kid:missing' })),
        fc
          .constantFrom<Json>(
            '',
            'no-such-key',
            '$OWN_KID ',
            ' $OWN_KID',
            '$OWN_KID_UPPER',
            '$OWN_KID\u0000',
            'k'.repeat(201),
            1,
            null,
            ['$OWN_KID'],
            '../$OWN_KID'
          )
          .map((value): HeaderEdit => bad({ op: 'set', name: 'kid', value, tag: `kid:${JSON.stringify(value).slice(0, 24)}` }))
      )
    },
    // Anything else in the header: refused, never ignored.
    {
      weight: 8,
      arbitrary: fc
        .tuple(fc.constantFrom(...FOREIGN_PARAMETERS), fc.boolean())
        .map(
          ([[name, value], first]): HeaderEdit =>
            first
              ? bad({ op: 'member', name: JSON.stringify(name), value: JSON.stringify(value), first: true, tag: `header-param:${name}` })
              : bad({ op: 'set', name, value, tag: `header-param:${name}` })
        )
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(['"__proto__"', '{"alg":"none"}'], ['"__proto__"', '{}'], ['"constructor"', '{"prototype":{}}'])
        .map(([name, value]): HeaderEdit => bad({ op: 'member', name: name!, value: value!, first: false, tag: `header-prototype:${name}` }))
    },
    // Duplicate header members: one reader takes the first alg, another the last (RFC 7515 §5.2).
    {
      weight: 6,
      arbitrary: fc
        .record({
          name: fc.constantFrom('alg', 'kid', 'typ'),
          escaped: fc.boolean(),
          same: fc.boolean(),
          first: fc.boolean(),
          other: fc.constantFrom<Json>('none', 'HS256', 'EdDSA', 'ES256', 'no-such-key', 'JWT')
        })
        .map(
          ({ name, escaped, same, first, other }): HeaderEdit =>
            bad({
              op: 'member',
              name: escaped ? `"\\u00${name.charCodeAt(0).toString(16)}${name.slice(1)}"` : JSON.stringify(name),
              value: same ? '$SAME' : JSON.stringify(other),
              first,
              tag: `header-duplicate:${name}${escaped ? ':escaped' : ''}:${same ? 'same' : 'other'}`
            })
        )
    },
    // Not a JSON object at all.
    {
      weight: 3,
      arbitrary: fc
        .constantFrom('[]', '"x"', 'null', '{}', '{"alg":"ES256"', '', ' ', '{"alg":"ES256","kid":"x",}', '1')
        .map((text): HeaderEdit => bad({ op: 'text', text, tag: `header-text:${JSON.stringify(text).slice(1, 12)}` }))
    },
    { weight: 2, arbitrary: fc.constant<HeaderEdit>(bad({ op: 'bom', tag: 'header:bom' })) }
  )
})

/** The same header written differently (whitespace, member order): a JSON object is unordered. */
export const validHeaderStyle = once(function validHeaderStyle(): fc.Arbitrary<HeaderEdit[]> {
  return fc
    .option(
      fc
        .record({ indent: fc.constantFrom(0, 1, 2), reverse: fc.boolean() })
        .map(({ indent, reverse }): HeaderEdit => ({ op: 'style', indent, reverse, tag: 'header:style', effect: 'ok' })),
      { nil: undefined }
    )
    .map((e) => (e === undefined ? [] : [e]))
})

export const OWN_SIGNING: Signing = { key: 'own', tag: 'signed:own-key', effect: 'ok' }

/** A key that is not the caller's (with its own kid, or claiming the caller's), or an ES256 signature in DER. */
export const badSigning = once(function badSigning(): fc.Arbitrary<Signing> {
  return fc.oneof(
    fc
      .record({
        other: fc.constantFrom('CBSA', 'IRCC', 'US_GATEWAY', 'CA_GATEWAY', 'CBP') as fc.Arbitrary<'CBSA'>,
        kidOf: fc.constantFrom('signer', 'claimed') as fc.Arbitrary<'signer'>
      })
      .map(({ other, kidOf }): Signing => ({ key: 'other', other, kidOf, tag: `signed:${other}-key:kid-of-${kidOf}`, effect: 'bad' })),
    fc.constant<Signing>({ key: 'der', tag: 'signed:der-encoded', effect: 'bad' })
  )
})

/** The compact serialisation broken: padding, the other base64 alphabet, whitespace, part counts, the signature. */
export const badEncodingEdit = once(function badEncodingEdit(): fc.Arbitrary<EncodingEdit> {
  const part = fc.constantFrom(0, 1, 2)
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .tuple(part, fc.constantFrom('=', '==', '==='))
        .map(([p, pad]): EncodingEdit => bad({ op: 'pad', part: p, pad, tag: `base64url:padding:part-${p}` }))
    },
    { weight: 3, arbitrary: part.map((p): EncodingEdit => bad({ op: 'std-alphabet', part: p, tag: `base64url:standard-alphabet:part-${p}` })) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(part, fc.nat(10_000), fc.constantFrom(' ', '\n', '\t', '\r\n', '%', '\u00e9', '\u0000', '=='))
        .map(([p, at, text]): EncodingEdit => bad({ op: 'insert', part: p, at, text, tag: `base64url:inserted-${JSON.stringify(text)}:part-${p}` }))
    },
    { weight: 2, arbitrary: part.map((p): EncodingEdit => bad({ op: 'non-canonical', part: p, tag: `base64url:non-canonical-trailing-bits:part-${p}` })) },
    { weight: 3, arbitrary: fc.constantFrom(1, 2, 4, 5, 6).map((parts): EncodingEdit => bad({ op: 'parts', parts, tag: `compact:${parts}-parts` })) },
    { weight: 3, arbitrary: part.map((p): EncodingEdit => bad({ op: 'empty', part: p, tag: `compact:empty-part-${p}` })) },
    { weight: 4, arbitrary: fc.nat(511).map((bit): EncodingEdit => bad({ op: 'flip', bit, tag: 'signature:bit-flipped' })) },
    { weight: 2, arbitrary: fc.nat(63).map((bytes): EncodingEdit => bad({ op: 'truncate-signature', bytes, tag: 'signature:truncated' })) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 64 }).map((bytes): EncodingEdit => bad({ op: 'extend-signature', bytes, tag: 'signature:extended' })) },
    { weight: 2, arbitrary: fc.constant<EncodingEdit>(bad({ op: 'json-serialization', tag: 'jws:json-serialization' })) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom('x', '.', '..', '...', 'a.b.c', 'eyJ9.e30.', '\u0000', 'null', '{}', ' .  . ')
        .map((body): EncodingEdit => bad({ op: 'replace', body, tag: `body:${JSON.stringify(body)}` }))
    }
  )
})

/** Whitespace around the JWS: the contract does not say (the gateway trims it), so only the format invariants apply. */
export const ambiguousEncodingEdit = once(function ambiguousEncodingEdit(): fc.Arbitrary<EncodingEdit> {
  return fc
    .tuple(fc.constantFrom('', ' ', '\n', '\r\n', '\t'), fc.constantFrom(' ', '\n', '\r\n', '\t', ''))
    .filter(([a, b]) => a + b !== '')
    .map(([before, after]): EncodingEdit => ({ op: 'surround', before, after, tag: 'jws:surrounding-whitespace', effect: 'any' }))
})
