// Inputs of the reading endpoints: GET /v1/messages/{id} (an agency follows
// its own message) and the privacy officer's /v1/audit routes. Ids, sequence
// numbers, query strings and JSON bodies, each spelled validly or not, with the
// validity decided here from the contract (docs/integrators.md, the route schemas'
// descriptions), never by asking the gateway.
import fc from 'fast-check'
import type { AuditCase, AuditRoute, Effect, PathId, StatusCase } from '../case.ts'
import { issuedCursor } from '../contract.ts'
import { formatInstant, respell } from '../spellings.ts'
import { KINDS } from '../../schemas/index.ts'
import { badHttp, validHttp } from './http.ts'
import { BAD_ID_FORMS, BAD_INSTANT_FORMS, BAD_INTEGER_TEXTS, once, plainString, strangeName } from './values.ts'

const enc = encodeURIComponent
type Pair = readonly [string, string]
const query = (pairs: readonly Pair[]): string => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`)

// ---------------------------------------------------------------- status

function badPathId(): fc.Arbitrary<PathId> {
  return fc.oneof(
    // Another system's message is as invisible as a missing one (docs/integrators.md, "Status").
    fc.nat(1000).map((pick): PathId => ({ source: 'other', pick, form: 'exact', tag: 'id:another-systems-message', effect: 'bad' })),
    fc
      .tuple(fc.nat(1000), fc.constantFrom(...BAD_ID_FORMS))
      .map(([pick, form]): PathId => ({ source: 'own', pick, form, tag: `id:own-message-as-${form}`, effect: 'bad' })),
    fc.constant<PathId>({ source: 'fresh', form: 'v4', tag: 'id:never-submitted', effect: 'bad' }),
    fc.constantFrom(...BAD_ID_FORMS).map((form): PathId => ({ source: 'fresh', form, tag: `id:never-submitted-as-${form}`, effect: 'bad' })),
    fc
      .oneof(
        fc.constantFrom(
          '',
          '%2F',
          '..',
          '%2e%2e',
          '.%2F..%2Fv1%2Faudit%2Fentries',
          '%00',
          '%ZZ',
          '%',
          'a'.repeat(101),
          'a'.repeat(5000),
          '%E2%80%AE',
          '%F0%9F%98%80',
          'null',
          'undefined',
          '__proto__',
          'constructor',
          '*',
          '%2A',
          '1',
          '-1',
          '00000000-0000-0000-0000-000000000000x'
        ),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).map(enc)
      )
      .map((text): PathId => ({ source: 'raw', text, tag: `id:raw:${text.slice(0, 16)}`, effect: 'bad' }))
  )
}

export const statusCase = once(function statusCase(valid: boolean): fc.Arbitrary<StatusCase> {
  const own = fc.nat(1000).map((pick): PathId => ({ source: 'own', pick, form: 'exact', tag: 'id:own-message', effect: 'ok' }))
  const as = (a: 'CBSA' | 'IRCC'): fc.Arbitrary<StatusCase> =>
    valid
      ? own.map((id): StatusCase => ({ kind: 'status', endpoint: 'status', family: 'valid', as: a, id, http: validHttp('status', a) }))
      : fc.oneof(
          {
            weight: 3,
            arbitrary: badPathId().map((id): StatusCase => ({ kind: 'status', endpoint: 'status', family: 'path-id', as: a, id, http: validHttp('status', a) }))
          },
          {
            weight: 2,
            arbitrary: fc
              .tuple(own, badHttp('status', a, false, null))
              .map(([id, http]): StatusCase => ({ kind: 'status', endpoint: 'status', family: 'http', as: a, id, http }))
          }
        )
  return fc.oneof(as('CBSA'), as('IRCC'))
})

// ---------------------------------------------------------------- audit

const validInstant = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom('2026-12-01T00:00:00Z', '2026-11-30T19:00:00-05:00', '2026-12-01T05:30:00+05:30', '2026-12-01T00:00:00.123456789Z')
  )

/** One filter with a value its schema admits (AUDIT_FILTER_SCHEMA in gateway/audit/audit-query.ts, as docs/privacy-officers.md lists them). */
function validFilter(): fc.Arbitrary<Pair> {
  return fc.oneof(
    validInstant().map((v): Pair => ['from', v]),
    validInstant().map((v): Pair => ['to', v]),
    fc.oneof(fc.constantFrom(...KINDS), plainString(64)).map((v): Pair => ['kind', v]),
    plainString(64).map((v): Pair => ['purpose', v]),
    fc.constantFrom('CA', 'US').map((v): Pair => ['partner', v]),
    // Agencies and events are closed lists: any other name is refused, not answered with nothing.
    fc.constantFrom('CBSA', 'IRCC', 'RCMP', 'CBP', 'USCIS', 'DHS-OBIM', 'DOS').map((v): Pair => ['agency', v]),
    fc.constantFrom('accepted', 'refused', 'received', 'delivered', 'dead-lettered').map((v): Pair => ['event', v]),
    plainString(64).map((v): Pair => ['code', v]),
    fc.constantFrom('outbound', 'inbound').map((v): Pair => ['direction', v]),
    plainString(200).map((v): Pair => ['fieldPath', v]),
    plainString(80).map((v): Pair => ['policyVersion', v]),
    fc.uuid({ version: 4 }).map((v): Pair => ['messageId', v])
  )
}

/** A page request: filters, and a cursor the gateway issues, and a limit in 1..1000. */
function validEntriesQuery(): fc.Arbitrary<Pair[]> {
  return fc
    .tuple(
      fc.uniqueArray(validFilter(), { maxLength: 3, selector: ([k]) => k }),
      fc.option(
        fc.nat(1_000_000).map((n): Pair => ['cursor', issuedCursor(n)]),
        { nil: undefined }
      ),
      // Mostly small pages: a page of 1000 entries is a megabyte to serialise, and the gateway's time is the run's time.
      fc.option(
        fc
          .oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 10 }) }, { weight: 1, arbitrary: fc.integer({ min: 11, max: 1000 }) })
          .map((n): Pair => ['limit', String(n)]),
        { nil: undefined, freq: 10 }
      )
    )
    .map(([filters, cursor, limit]) => [...filters, ...(cursor ? [cursor] : []), ...(limit ? [limit] : [])])
}

/** One query parameter the route refuses (strict query: unknown, repeated, mistyped, out of range). */
function badQueryPair(route: 'entries' | 'export'): fc.Arbitrary<{ pairs: Pair[]; tag: string; effect: Effect }> {
  const b = (tag: string, ...pairs: Pair[]) => ({ pairs, tag, effect: 'bad' as const })
  const cursorNotIssued = [
    'A',
    'AA',
    'IA',
    'MA',
    'c2VxOjF',
    'c2VxOi0x',
    Buffer.from('seq:1.5').toString('base64url'),
    Buffer.from('seq:01').toString('base64url'),
    Buffer.from('seq:1e3').toString('base64url'),
    Buffer.from('seq: 1').toString('base64url'),
    Buffer.from('SEQ:1').toString('base64url'),
    Buffer.from('seq:99999999999999999999').toString('base64url'),
    Buffer.from('seq:').toString('base64url'),
    'abc',
    'zzzz'
  ]
  const options: Array<fc.Arbitrary<{ pairs: Pair[]; tag: string; effect: Effect }>> = [
    fc
      .oneof(
        strangeName(),
        fc.constantFrom('subject', 'seq', 'offset', 'page', 'LIMIT', 'limit ', 'limit[]', '__proto__', 'constructor', 'toString', 'Kind', 'format2')
      )
      .filter((n) => n !== '')
      .map((name) => b(`query:unknown-parameter`, [name, '1'])),
    validFilter().map(([k, v]) => b('query:repeated-parameter', [k, v], [k, v])),
    fc.constantFrom(...BAD_INTEGER_TEXTS).map((v) => b(`query:limit=${v}`, ['limit', v])),
    fc.constantFrom('', 'a b', 'a+b', 'a/b', '=', 'c2VxOjE=', 'x'.repeat(41)).map((v) => b('query:cursor-pattern', ['cursor', v])),
    // One cause, many spellings: the value is in the counterexample, not in the group's name.
    fc.constantFrom(...cursorNotIssued).map((v) => b('query:cursor-not-issued', ['cursor', v])),
    fc.constantFrom('ca', 'MX', '', 'CA ', 'US,CA').map((v) => b('query:partner', ['partner', v])),
    fc.constantFrom('Outbound', 'both', '', 'inbound ').map((v) => b('query:direction', ['direction', v])),
    fc
      .constantFrom<Pair>(
        ['kind', 'k'.repeat(65)],
        ['purpose', 'p'.repeat(65)],
        ['agency', 'a'.repeat(33)],
        ['event', 'e'.repeat(33)],
        ['code', 'c'.repeat(65)],
        ['fieldPath', 'f'.repeat(201)],
        ['policyVersion', 'v'.repeat(81)]
      )
      .map((p) => b(`query:${p[0]}-too-long`, p)),
    fc.tuple(fc.uuid({ version: 4 }), fc.constantFrom(...BAD_ID_FORMS)).map(([id, form]) => b(`query:messageId-${form}`, ['messageId', respell(id, form)])),
    fc
      .tuple(fc.constantFrom('from', 'to'), fc.constantFrom(...BAD_INSTANT_FORMS))
      .map(([k, form]) => b(`query:${k}-${form}`, [k, formatInstant(form, QUERY_INSTANT)]))
  ]
  if (route === 'export') options.push(fc.constantFrom('json', 'CSV', 'ndjson ', '', 'xml').map((v) => b(`query:format=${v}`, ['format', v])))
  return fc.oneof(...options)
}

/** Bounds an export to nothing (a message id no entry names), so that a wrongly accepted export cannot stream the whole ledger. */
const boundedExport = (): fc.Arbitrary<Pair> => fc.uuid({ version: 4 }).map((v): Pair => ['messageId', v])

/**
 * A query's instants need not be fresh: written at a fixed time, the last
 * second of 2016 (a real leap second, so `second-60` is 23:59:60, which the
 * contract's profile still refuses: no clock here can place it).
 */
const QUERY_INSTANT = Date.parse('2016-12-31T23:59:59Z')

const BAD_SEQS = [
  '0',
  '-1',
  '1.0',
  '1e0',
  '0x1',
  '%201',
  '01',
  '%2B1',
  '%EF%BC%91',
  '99999999999999999999',
  '1000000000000',
  'abc',
  '1%00',
  '1;x',
  'NaN',
  'Infinity',
  '1%2F2',
  '%D9%A1'
]

const DISCLOSURE_BODIES: readonly string[] = [
  '{}',
  '{"documentNumber":"C4471862"}',
  '{"issuingCountry":"VNM"}',
  '{"documentNumber":"C4471862","issuingCountry":"VNM","membershipId":"123456789"}',
  '{"membershipId":"123456789","extra":1}',
  '{"documentNumber":1,"issuingCountry":"VNM"}',
  '{"documentNumber":"","issuingCountry":"VNM"}',
  `{"documentNumber":"${'A'.repeat(21)}","issuingCountry":"VNM"}`,
  '{"documentNumber":"X1","issuingCountry":"vnm"}',
  '{"membershipId":""}',
  `{"membershipId":"${'1'.repeat(21)}"}`,
  'null',
  '[]',
  '"x"',
  '1',
  '',
  '{',
  '{"__proto__":{"x":1},"membershipId":"1"}',
  '{"constructor":{"prototype":{}},"membershipId":"1"}',
  '{"membershipId":null}',
  '{"issuingCountry":"VNMX","documentNumber":"1"}',
  '{"membershipId":["1"]}',
  '{"documentNumber":"C4471862","issuingCountry":"VNM"}x'
]

/** {{REF}} is a fresh, well-formed reference at each send: a replayed hold must not meet "already exists". */
const LEGAL_HOLD_BODIES: readonly string[] = [
  '{}',
  '{"ref":"{{REF}}"}',
  '{"reason":"r"}',
  '{"ref":"ab","reason":"r","messageId":"8c3f6d2e-1b4a-4c5d-9e6f-7a8b9c0d1e2f"}',
  '{"ref":"a b c","reason":"r","messageId":"8c3f6d2e-1b4a-4c5d-9e6f-7a8b9c0d1e2f"}',
  `{"ref":"${'x'.repeat(65)}","reason":"r","messageId":"8c3f6d2e-1b4a-4c5d-9e6f-7a8b9c0d1e2f"}`,
  '{"ref":"{{REF}}","reason":"","messageId":"8c3f6d2e-1b4a-4c5d-9e6f-7a8b9c0d1e2f"}',
  `{"ref":"{{REF}}","reason":"${'r'.repeat(501)}","messageId":"8c3f6d2e-1b4a-4c5d-9e6f-7a8b9c0d1e2f"}`,
  '{"ref":"{{REF}}","reason":"r","messageId":"8C3F6D2E-1B4A-4C5D-9E6F-7A8B9C0D1E2F"}',
  '{"ref":"{{REF}}","reason":"r","messageId":"urn:uuid:8c3f6d2e-1b4a-4c5d-9e6f-7a8b9c0d1e2f"}',
  '{"ref":"{{REF}}","reason":"r","messageId":"{8c3f6d2e-1b4a-4c5d-9e6f-7a8b9c0d1e2f}"}',
  '{"ref":"{{REF}}","reason":"r","messageId":"8c3f6d2e-1b4a-4c5d-9e6f-7a8b9c0d1e2f","extra":true}',
  '{"ref":"{{REF}}","reason":"r"}',
  '{"ref":1,"reason":"r","membershipId":"123456789"}',
  'null',
  '[]',
  '',
  '{',
  // Well-formed but mistyped: a number or a one-element array where a string is required.
  '{"ref":"{{REF}}","reason":"r","membershipId":123456789}',
  '{"ref":["{{REF}}"],"reason":"r","membershipId":"123456789"}',
  '{"__proto__":{"x":1},"ref":"{{REF}}","reason":"r","membershipId":"123456789"}'
]

function auditCaseOf(route: AuditRoute, family: string, http: AuditCase['http'], extra: Partial<AuditCase> = {}): AuditCase {
  return { kind: 'audit', endpoint: 'audit', family, route, http, ...extra }
}

export const auditCase = once(function auditCase(valid: boolean): fc.Arbitrary<AuditCase> {
  const http = validHttp('audit', 'OFFICER')
  const withQuery = (pairs: readonly Pair[]) => ({ ...http, query: query(pairs) })
  if (valid) {
    return fc.oneof(
      { weight: 6, arbitrary: validEntriesQuery().map((pairs) => auditCaseOf('entries', 'valid', withQuery(pairs))) },
      {
        weight: 2,
        arbitrary: fc
          .integer({ min: 1, max: 5 })
          .map((seq) => auditCaseOf('entry', 'valid', http, { param: { text: String(seq), tag: 'seq:existing', effect: 'ok' } }))
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            boundedExport(),
            fc.option(fc.constantFrom('ndjson', 'csv'), { nil: undefined }),
            fc.uniqueArray(validFilter(), { maxLength: 2, selector: ([k]) => k })
          )
          .map(([bound, format, filters]) =>
            auditCaseOf('export', 'valid', withQuery([...filters.filter(([k]) => k !== 'messageId'), bound, ...(format ? [['format', format] as Pair] : [])]))
          )
      },
      { weight: 1, arbitrary: fc.constant(auditCaseOf('holds', 'valid', http)) }
    )
  }
  const badQuery = (route: 'entries' | 'export') =>
    fc.tuple(route === 'export' ? boundedExport().map((p) => [p]) : validEntriesQuery(), badQueryPair(route), fc.boolean()).map(([pairs, bad, before]) => ({
      ...http,
      query: query(before ? [...bad.pairs, ...pairs] : [...pairs, ...bad.pairs]),
      tags: [bad.tag],
      effect: bad.effect
    }))
  const stray = (route: AuditRoute) =>
    fc
      .constantFrom('?x=1', '?limit=10', '?cursor=c2VxOjE', '?__proto__=1')
      .map((q) => auditCaseOf(route, 'query', { ...http, query: q, tags: ['query:stray'], effect: 'bad' }))
  const jsonPost = (route: 'disclosures' | 'place-hold', bodies: readonly string[]) =>
    fc
      .constantFrom(...bodies)
      .map((text) =>
        auditCaseOf(
          route,
          'body',
          { ...http, contentType: 'application/json' },
          { body: { text, tag: `body:${text.replace(`"ref":"{{REF}}",`, '').slice(0, 70)}`, effect: 'bad' } }
        )
      )
  return fc.oneof(
    { weight: 40, arbitrary: badQuery('entries').map((h) => auditCaseOf('entries', 'query', h)) },
    { weight: 15, arbitrary: badQuery('export').map((h) => auditCaseOf('export', 'query', h)) },
    {
      weight: 15,
      arbitrary: fc.constantFrom(...BAD_SEQS).map((text) => auditCaseOf('entry', 'path', http, { param: { text, tag: `seq:${text}`, effect: 'bad' } }))
    },
    {
      weight: 3,
      arbitrary: fc.constant('%31').map((text) => auditCaseOf('entry', 'path', http, { param: { text, tag: 'seq:percent-encoded-digit', effect: 'any' } }))
    },
    { weight: 5, arbitrary: stray('holds') },
    { weight: 1, arbitrary: stray('verification') },
    { weight: 15, arbitrary: jsonPost('disclosures', DISCLOSURE_BODIES) },
    { weight: 15, arbitrary: jsonPost('place-hold', LEGAL_HOLD_BODIES) },
    {
      weight: 10,
      arbitrary: fc
        .oneof(fc.constantFrom('fuzz-ref-1', 'ab', 'x'.repeat(65), '%00', '..', '%2F'), fc.string({ minLength: 1, maxLength: 30 }).map(enc))
        .map((text) => auditCaseOf('release-hold', 'path', { ...http, method: 'DELETE' }, { param: { text, tag: 'ref:no-such-hold', effect: 'bad' } }))
    },
    {
      weight: 20,
      arbitrary: fc
        .tuple(validEntriesQuery(), badHttp('audit', 'OFFICER', false, null))
        .map(([pairs, h]) => auditCaseOf('entries', 'http', { ...h, query: h.query === '' ? query(pairs) : h.query }))
    },
    {
      weight: 5,
      arbitrary: fc
        .tuple(fc.constantFrom<Array<'disclosures' | 'place-hold'>>(['disclosures'], ['place-hold']), badHttp('audit', 'OFFICER', true, 'application/json'))
        // POST is these routes' own method: a "wrong method" here is PUT.
        .map(([[route], h]) =>
          auditCaseOf(
            route!,
            'http',
            { ...h, method: h.method === undefined || h.method === 'POST' ? (h.tags.some((t) => t.startsWith('method:')) ? 'PUT' : 'POST') : h.method },
            { body: { text: '{"membershipId":"123456789"}', tag: 'body:valid', effect: 'ok' } }
          )
        )
    }
  )
})
