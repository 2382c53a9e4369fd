// Mutations of the signed envelope: each one makes the message invalid by
// construction (docs/integrators.md, schemas/), whatever template it
// is applied to, so a 2xx for any of them is a wrongly accepted message. The
// same envelope goes to two doors with different rules, so the generator
// takes the endpoint: a stale createdAt is refused from an agency but the
// partner gateway's forwarded copy is not checked for freshness.
import fc from 'fast-check'
import type { EnvelopeEdit, Json, TextEdit } from '../case.ts'
import {
  BAD_ID_FORMS,
  BAD_INSTANT_FORMS,
  VALID_ID_FORMS,
  VALID_INSTANT_FORMS,
  anyJson,
  freshOffset,
  futureOffset,
  hugeChar,
  hugeLength,
  once,
  staleOffset,
  strangeName
} from './values.ts'

type Door = 'messages' | 'exchange'
type Edit = fc.Arbitrary<EnvelopeEdit>

const set = (
  path: Array<string | number>,
  value: EnvelopeEdit extends never ? never : Extract<EnvelopeEdit, { op: 'set' }>['value'],
  tag: string,
  effect: EnvelopeEdit['effect'] = 'bad'
): EnvelopeEdit => ({ op: 'set', path, value, tag, effect })
const json = (value: Json) => ({ json: value })

/** Valid spellings of the per-message fields: the known-valid stream's variations. */
export const validEnvelopeVariations = once(function validEnvelopeVariations(door: Door): fc.Arbitrary<EnvelopeEdit[]> {
  const id: Edit = fc.constantFrom(...VALID_ID_FORMS).map((form) => set(['id'], { id: form }, `id:${form}`, 'ok'))
  const createdAt: Edit = fc
    .tuple(fc.constantFrom(...VALID_INSTANT_FORMS), freshOffset())
    .map(([form, offsetSeconds]) => set(['createdAt'], { instant: form, offsetSeconds }, `createdAt:${form}`, 'ok'))
  const forwardedAt: Edit = fc
    .tuple(fc.constantFrom(...VALID_INSTANT_FORMS), freshOffset())
    .map(([form, offsetSeconds]) => set(['handling', 'forwardedAt'], { instant: form, offsetSeconds }, `forwardedAt:${form}`, 'ok'))
  const parts: Edit[] = [id, createdAt]
  if (door === 'exchange') parts.push(forwardedAt)
  return fc.tuple(...parts.map((p) => fc.option(p, { nil: undefined }))).map((edits) => edits.filter((e): e is EnvelopeEdit => e !== undefined))
})

/** A raw member name for an existing member of the object (mod its members), written plainly or with an escape. */
const existingName = (): fc.Arbitrary<string> => fc.tuple(fc.nat(40), fc.boolean()).map(([n, escaped]) => `${escaped ? '$KEY-ESCAPED' : '$KEY'}:${n}`)

/** Objects of every envelope: where extra and duplicate members go. */
const OBJECTS: ReadonlyArray<Array<string | number>> = [[], ['from'], ['to'], ['payload']]
const EXCHANGE_OBJECTS: ReadonlyArray<Array<string | number>> = [...OBJECTS, ['handling']]

export const badEnvelopeEdit = once(function badEnvelopeEdit(door: Door): Edit {
  const objects = door === 'exchange' ? EXCHANGE_OBJECTS : OBJECTS
  const instantFields: Array<Array<string>> = door === 'exchange' ? [['createdAt'], ['handling', 'forwardedAt']] : [['createdAt']]
  const edits: Array<{ arbitrary: Edit; weight: number }> = [
    // Ids: one UUID, one spelling (schemas/common.schema.json messageId).
    { weight: 8, arbitrary: fc.constantFrom(...BAD_ID_FORMS).map((form) => set(['id'], { id: form }, `id:${form}`)) },
    { weight: 2, arbitrary: fc.constantFrom(...BAD_ID_FORMS).map((form) => set(['correlationId'], { id: form }, `correlationId:${form}`)) },
    // Instants outside the RFC 3339 profile, at a time that would otherwise be fresh.
    {
      weight: 10,
      arbitrary: fc
        .tuple(fc.constantFrom(...instantFields), fc.constantFrom(...BAD_INSTANT_FORMS), freshOffset())
        .map(([path, form, offsetSeconds]) => set(path, { instant: form, offsetSeconds }, `${path.at(-1)}:${form}`))
    },
    // Retyped nodes and strings longer than any maxLength.
    {
      weight: 10,
      arbitrary: fc
        .record({ pick: fc.nat(500), to: fc.constantFrom('string', 'number', 'boolean', 'null', 'object', 'array') as fc.Arbitrary<'string'> })
        .map(({ pick, to }): EnvelopeEdit => ({ op: 'retype', pick, to, tag: `retype:${to}`, effect: 'bad' }))
    },
    {
      weight: 3,
      arbitrary: fc
        .record({ pick: fc.nat(500), length: hugeLength(), char: hugeChar() })
        .map(({ pick, length, char }): EnvelopeEdit => ({ op: 'huge', pick, length, char, tag: 'huge-string', effect: 'bad' }))
    },
    // Members no schema names (every object in schemas/ is closed).
    {
      weight: 6,
      arbitrary: fc.record({ at: fc.constantFrom(...objects), name: strangeName(), value: anyJson(), first: fc.boolean() }).map(
        ({ at, name, value, first }): EnvelopeEdit => ({
          op: 'member',
          at,
          name: JSON.stringify(name),
          value: JSON.stringify(value),
          first,
          tag: 'extra-member',
          effect: 'bad'
        })
      )
    },
    // Duplicate members in the raw text (RFC 7493 §2.3): the same value, or another one.
    {
      weight: 8,
      arbitrary: fc.record({ at: fc.constantFrom(...objects), name: existingName(), same: fc.boolean(), value: anyJson(), first: fc.boolean() }).map(
        ({ at, name, same, value, first }): EnvelopeEdit => ({
          op: 'member',
          at,
          name,
          value: same ? '$SAME' : JSON.stringify(value),
          first,
          tag: `duplicate-member${name.startsWith('$KEY-ESCAPED') ? ':escaped-name' : ''}:${same ? 'same-value' : 'other-value'}`,
          effect: 'bad'
        })
      )
    },
    // Prototype pollution (docs/architecture.md, "Runtime").
    {
      weight: 4,
      arbitrary: fc
        .record({
          at: fc.constantFrom(...objects),
          which: fc.constantFrom(
            ['"__proto__"', '{"polluted":true}'],
            ['"__proto__"', '{}'],
            ['"__proto__"', 'null'],
            ['"\\u005f_proto__"', '{"polluted":true}'],
            ['"constructor"', '{"prototype":{"polluted":true}}']
          ),
          first: fc.boolean()
        })
        .map(
          ({ at, which, first }): EnvelopeEdit => ({
            op: 'member',
            at,
            name: which[0]!,
            value: which[1]!,
            first,
            tag: `prototype:${which[0]!.slice(1, -1)}`,
            effect: 'bad'
          })
        )
    },
    // Text only I-JSON refuses: lone surrogates, numbers no double holds, bytes that are not UTF-8.
    {
      weight: 5,
      arbitrary: fc
        .record({
          pick: fc.nat(500),
          unit: fc.integer({ min: 0xd800, max: 0xdfff }),
          where: fc.constantFrom('start', 'end', 'reversed-pair') as fc.Arbitrary<'end'>
        })
        .map(({ pick, unit, where }): EnvelopeEdit => ({ op: 'surrogate', pick, unit, where, tag: `lone-surrogate:${where}`, effect: 'bad' }))
    },
    {
      weight: 5,
      arbitrary: fc
        .record({
          pick: fc.nat(500),
          literal: fc.constantFrom('1e400', '-1e400', '15.000000000000000001', '9007199254740993', '1e-400', '100.0000000000000001', '0.30000000000000000001')
        })
        .map(({ pick, literal }): EnvelopeEdit => ({ op: 'number', pick, literal, tag: `number:${literal}`, effect: 'bad' }))
    },
    {
      weight: 3,
      arbitrary: fc
        .record({
          pick: fc.nat(500),
          bytes: fc.constantFrom([0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80])
        })
        .map(({ pick, bytes }): EnvelopeEdit => ({ op: 'bytes', pick, bytes, tag: `bytes:${bytes.map((b) => b.toString(16)).join('')}`, effect: 'bad' }))
    },
    // Required members.
    { weight: 4, arbitrary: fc.nat(100).map((pick): EnvelopeEdit => ({ op: 'delete-required', pick, tag: 'delete-required', effect: 'bad' })) },
    // Envelope fields with values the registry, the schema or the caller rule out.
    { weight: 8, arbitrary: fc.constantFrom(...semanticEdits(door)) }
  ]
  if (door === 'messages') {
    // docs/integrators.md: createdAt more than 5 minutes ahead, or older than 15 minutes, is refused.
    edits.push({
      weight: 4,
      arbitrary: fc.oneof(
        fc
          .tuple(fc.constantFrom(...VALID_INSTANT_FORMS), staleOffset())
          .map(([form, offsetSeconds]) => set(['createdAt'], { instant: form, offsetSeconds }, 'createdAt:stale')),
        fc
          .tuple(fc.constantFrom(...VALID_INSTANT_FORMS), futureOffset())
          .map(([form, offsetSeconds]) => set(['createdAt'], { instant: form, offsetSeconds }, 'createdAt:future'))
      )
    })
  }
  return fc.oneof(...edits)
})

/** Fields set to values that are well-formed JSON strings but outside the contract. */
function semanticEdits(door: Door): EnvelopeEdit[] {
  const common: EnvelopeEdit[] = [
    set(['kind'], json('entry-exit.recordx'), 'kind:unknown'),
    set(['kind'], json('Entry-Exit.Record'), 'kind:case'),
    set(['schemaVersion'], json('1.1'), 'schemaVersion:1.1'),
    set(['schemaVersion'], json('1.0 '), 'schemaVersion:trailing-space'),
    set(['schemaVersion'], { raw: '1.0' }, 'schemaVersion:number'),
    set(['purpose'], json('Entry-Exit-Verification'), 'purpose:pattern'),
    set(['purpose'], json('zz-not-a-purpose'), 'purpose:unregistered'),
    set(['legalAuthority'], json('Not-An-Authority-1'), 'legalAuthority:unknown'),
    set(['legalAuthority'], json(''), 'legalAuthority:empty'),
    set(['legalAuthority'], json('CustomsAct-92\n'), 'legalAuthority:control-char'),
    set(['agreementRef'], json(''), 'agreementRef:empty'),
    set(['agreementRef'], json('\u0007'), 'agreementRef:control-char'),
    set(['correlationId'], json('not-a-uuid'), 'correlationId:not-uuid'),
    set(['correlationId'], json(0), 'correlationId:number'),
    set(['payload'], json([]), 'payload:array'),
    set(['payload'], json('{}'), 'payload:string')
  ]
  if (door === 'messages') {
    return [
      ...common,
      // docs/integrators.md: `from` is the calling system, `to` the partner country's receiving agency.
      set(['from'], { otherSystem: true }, 'from:another-system'),
      set(['from'], json({ country: 'CA', agency: 'CBSA', system: 'pik-secondary' }), 'from:unregistered-system'),
      set(['from'], json({ country: 'US', agency: 'CBP', system: 'ades' }), 'from:partner-system'),
      set(['from', 'system'], json('PIK-PRIMARY'), 'from:system-case'),
      set(['to', 'country'], json('CA'), 'to:same-country'),
      set(['to'], json({ country: 'US', agency: 'RCMP' }), 'to:agency-of-other-country'),
      set(['to'], json({ country: 'MX', agency: 'CBP' }), 'to:third-country')
    ]
  }
  return [
    ...common,
    // The partner gateway forwards for its own country only, to this one.
    set(['from'], json({ country: 'CA', agency: 'CBSA', system: 'pik-primary' }), 'from:this-country'),
    set(['to', 'country'], json('US'), 'to:partner-country'),
    set(['handling', 'policyVersion'], json(`sha256:${'A'.repeat(43)}`), 'handling:policy-version-not-held'),
    set(['handling', 'policyVersion'], json('sha256:short'), 'handling:policy-version-pattern'),
    set(['handling', 'retentionDays'], json(-1), 'handling:retention-negative'),
    set(['handling', 'retentionDays'], json(36501), 'handling:retention-too-long'),
    set(['handling', 'retentionDays'], json(1.5), 'handling:retention-fraction'),
    set(['handling', 'onwardTransfer'], json('false'), 'handling:onward-transfer-string'),
    set(['handling', 'forwardedBy'], json('MX'), 'handling:forwarded-by-unknown'),
    set(['handling', 'originDigest'], json('not-a-digest'), 'handling:origin-digest-pattern'),
    set(['handling', 'policy'], json('Entry Exit'), 'handling:policy-pattern'),
    set(['handling'], json({}), 'handling:empty')
  ]
}

/** Text-level defects of the payload: each one makes it something other than one I-JSON object. */
export const badTextEdit = once(function badTextEdit(): fc.Arbitrary<TextEdit> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant<TextEdit>({ op: 'bom', tag: 'payload:bom', effect: 'bad' }) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(',', 'x', '}', '{}', '\u0000', ' x', '//', '\u00a0{')
        .map((text): TextEdit => ({ op: 'append', text, tag: 'payload:trailing-garbage', effect: 'bad' }))
    },
    {
      weight: 2,
      arbitrary: fc.double({ min: 0, max: 0.99, noNaN: true }).map((keep): TextEdit => ({ op: 'truncate', keep, tag: 'payload:truncated', effect: 'bad' }))
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom('[]', '"{}"', '1', 'null', '', ' ', '{', 'true', '{"id":1}', '{}', 'NaN', "{'id':1}", '{"a":1,}')
        .map((text): TextEdit => ({ op: 'replace', text, tag: `payload:replaced:${text.slice(0, 8)}`, effect: 'bad' }))
    }
  )
})

/** Whitespace and member order: JSON texts that mean the same value. */
export const validTextStyle = once(function validTextStyle(): fc.Arbitrary<TextEdit[]> {
  return fc
    .option(
      fc
        .record({ indent: fc.constantFrom(0, 1, 2, 4), reverse: fc.boolean() })
        .map(({ indent, reverse }): TextEdit => ({ op: 'style', indent, reverse, tag: 'payload:style', effect: 'ok' })),
      { nil: undefined }
    )
    .map((e) => (e === undefined ? [] : [e]))
})
