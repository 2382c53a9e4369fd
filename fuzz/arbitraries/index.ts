// The one arbitrary the campaign samples: every input to every endpoint, in
// the proportions of MIX. Most inputs are invalid by construction (one defect
// in one layer, sometimes a second in another, to exercise the order of
// checks); a share are the known-valid stream, which must be accepted, so
// that a gateway refusing everything cannot pass.
import fc from 'fast-check'
import type { EncodingEdit, EnvelopeEdit, ExchangeCase, FuzzCase, HeaderEdit, Http, SignedBody, Signing, SubmitCase, TextEdit } from '../case.ts'
import { EXCHANGE_TEMPLATES, INVALID_PAYLOADS, SUBMISSION_TEMPLATES } from '../templates.ts'
import { badEnvelopeEdit, badTextEdit, validEnvelopeVariations, validTextStyle } from './envelope.ts'
import { framingCase } from './framing.ts'
import { ambiguousHttp, badHttp, validHttp } from './http.ts'
import { OWN_SIGNING, ambiguousEncodingEdit, badEncodingEdit, badHeaderEdit, badSigning, validHeaderStyle } from './jws.ts'
import { auditCase, statusCase } from './reads.ts'
import { once } from './values.ts'

export interface Mix {
  readonly messages: number
  readonly exchange: number
  readonly status: number
  readonly audit: number
  readonly framing: number
  /** Of the messages and exchange inputs, the share that is known-valid. */
  readonly validBodies: number
  /** Of the status and audit inputs, the share that is known-valid. */
  readonly validReads: number
}

/**
 * Mostly invalid messages, since that is where the parsing is. The known-valid
 * share is small but in the thousands over a full run; each one is delivered
 * end to end, which costs the gateways ten refusals' worth of work.
 */
export const DEFAULT_MIX: Mix = { messages: 45, exchange: 24, status: 12, audit: 18, framing: 1, validBodies: 0.04, validReads: 0.2 }

type Door = 'messages' | 'exchange'

/** The benign variations a valid body may carry. */
const validBody = once(function validBody(door: Door, templates: number): fc.Arbitrary<SignedBody> {
  return fc.record({
    template: fc.nat(templates - 1),
    envelope: validEnvelopeVariations(door),
    text: validTextStyle(),
    header: validHeaderStyle(),
    signing: fc.constant<Signing>(OWN_SIGNING),
    encoding: fc.constant<EncodingEdit[]>([])
  })
})

type Layer = 'envelope' | 'text' | 'header' | 'signing' | 'encoding'
type DefectPart = Partial<Pick<SignedBody, 'envelope' | 'text' | 'header' | 'encoding'>> & { signing?: Signing }

/** One defect in one layer of the signed body, in the proportions a layer deserves. */
const defect = once(function defect(door: Door): fc.Arbitrary<{ layer: Layer; part: DefectPart }> {
  const of = (layer: Layer, weight: number, part: fc.Arbitrary<DefectPart>) => ({ weight, arbitrary: part.map((p) => ({ layer, part: p })) })
  return fc.oneof(
    of(
      'envelope',
      45,
      badEnvelopeEdit(door).map((e: EnvelopeEdit) => ({ envelope: [e] }))
    ),
    of(
      'text',
      8,
      badTextEdit().map((e: TextEdit) => ({ text: [e] }))
    ),
    of(
      'header',
      22,
      badHeaderEdit().map((e: HeaderEdit) => ({ header: [e] }))
    ),
    of(
      'signing',
      7,
      badSigning().map((signing) => ({ signing }))
    ),
    of(
      'encoding',
      18,
      badEncodingEdit().map((e: EncodingEdit) => ({ encoding: [e] }))
    )
  )
})

/** A body with one defect (and, one time in five, a second one in another layer), on top of valid variations. */
const invalidBody = once(function invalidBody(door: Door, templates: number): fc.Arbitrary<{ body: SignedBody; family: string }> {
  return fc.tuple(validBody(door, templates), defect(door), fc.option(defect(door), { freq: 4, nil: undefined })).map(([base, a, b]) => {
    const second = b === undefined || b.layer === a.layer ? undefined : b
    const merged = (k: 'envelope' | 'text' | 'header' | 'encoding') => [...base[k], ...(a.part[k] ?? []), ...(second?.part[k] ?? [])] as never
    const body: SignedBody = {
      template: base.template,
      envelope: merged('envelope'),
      text: merged('text'),
      header: merged('header'),
      encoding: merged('encoding'),
      signing: a.part.signing ?? second?.part.signing ?? base.signing
    }
    return { body, family: second === undefined ? a.layer : `${a.layer}+${second.layer}` }
  })
})

/** The contract's invalid payloads, in a template of their own kind. */
const invalidPayloadBody = once(function invalidPayloadBody(): fc.Arbitrary<SignedBody> {
  return fc.tuple(fc.nat(INVALID_PAYLOADS.length - 1), fc.nat(100), validBody('messages', SUBMISSION_TEMPLATES.length)).map(([i, k, b]): SignedBody => {
    const example = INVALID_PAYLOADS[i]!
    const same = SUBMISSION_TEMPLATES.map((t, index) => ({ t, index })).filter(({ t }) => t.kind === example.kind)
    return {
      ...b,
      template: same[k % same.length]!.index,
      envelope: [...b.envelope, { op: 'payload', payload: example.payload as never, tag: `payload:example:${example.name}`, effect: 'bad' }]
    }
  })
})

const submissionSender = (template: number) => SUBMISSION_TEMPLATES[template % SUBMISSION_TEMPLATES.length]!.sender

/** An HTTP arbitrary per sending system, picked by the template's sender (no chain: cheaper, and it shrinks). */
function perSender(make: (sender: 'CBSA' | 'IRCC') => fc.Arbitrary<Http>): fc.Arbitrary<{ CBSA: Http; IRCC: Http }> {
  return fc.record({ CBSA: make('CBSA'), IRCC: make('IRCC') })
}

const submitCase = once(function submitCase(validShare: number): fc.Arbitrary<SubmitCase> {
  const n = SUBMISSION_TEMPLATES.length
  const make = (family: string, body: SignedBody, http?: Http, repeat?: SubmitCase['repeat']): SubmitCase => ({
    kind: 'submit',
    endpoint: 'messages',
    family,
    body,
    http: http ?? validHttp('messages', submissionSender(body.template)),
    ...(repeat ? { repeat } : {})
  })
  const invalidWeight = Math.round((1 - validShare) * 1000)
  const validWeight = Math.round(validShare * 1000)
  return fc.oneof(
    { weight: validWeight, arbitrary: validBody('messages', n).map((b) => make('valid', b)) },
    {
      weight: Math.max(1, Math.round(validWeight / 5)),
      arbitrary: fc.tuple(fc.nat(100_000), validBody('messages', n)).map(([pick, b]) => make('valid-repeat', b, undefined, { pick, sameBytes: true }))
    },
    { weight: Math.round(invalidWeight * 0.74), arbitrary: invalidBody('messages', n).map(({ body, family }) => make(family, body)) },
    { weight: Math.round(invalidWeight * 0.06), arbitrary: invalidPayloadBody().map((b) => make('invalid-example', b)) },
    {
      weight: Math.round(invalidWeight * 0.14),
      arbitrary: fc
        .tuple(
          validBody('messages', n),
          perSender((s) => badHttp('messages', s, true, 'application/jose'))
        )
        .map(([b, h]) => make('http', b, h[submissionSender(b.template)]))
    },
    {
      weight: Math.round(invalidWeight * 0.02),
      arbitrary: fc.tuple(fc.nat(100_000), validBody('messages', n)).map(([pick, b]) => make('repeat-other-bytes', b, undefined, { pick, sameBytes: false }))
    },
    {
      weight: Math.round(invalidWeight * 0.02),
      arbitrary: fc.tuple(validBody('messages', n), ambiguousEncodingEdit()).map(([b, e]) => make('ambiguous', { ...b, encoding: [e] }))
    },
    {
      weight: Math.round(invalidWeight * 0.02),
      arbitrary: fc
        .tuple(
          validBody('messages', n),
          perSender((s) => ambiguousHttp('messages', s))
        )
        .map(([b, h]) => make('ambiguous', b, h[submissionSender(b.template)]))
    }
  )
})

const exchangeCase = once(function exchangeCase(validShare: number): fc.Arbitrary<ExchangeCase> {
  const n = EXCHANGE_TEMPLATES.length
  const make = (family: string, body: SignedBody, http?: Http, repeat?: ExchangeCase['repeat']): ExchangeCase => ({
    kind: 'exchange',
    endpoint: 'exchange',
    family,
    body,
    http: http ?? validHttp('exchange', 'US_GATEWAY'),
    ...(repeat ? { repeat } : {})
  })
  const invalidWeight = Math.round((1 - validShare) * 1000)
  const validWeight = Math.round(validShare * 1000)
  return fc.oneof(
    { weight: validWeight, arbitrary: validBody('exchange', n).map((b) => make('valid', b)) },
    {
      weight: Math.max(1, Math.round(validWeight / 5)),
      arbitrary: fc.tuple(fc.nat(100_000), validBody('exchange', n)).map(([pick, b]) => make('valid-repeat', b, undefined, { pick, sameBytes: true }))
    },
    { weight: Math.round(invalidWeight * 0.8), arbitrary: invalidBody('exchange', n).map(({ body, family }) => make(family, body)) },
    {
      weight: Math.round(invalidWeight * 0.14),
      arbitrary: fc.tuple(validBody('exchange', n), badHttp('exchange', 'US_GATEWAY', true, 'application/jose')).map(([b, h]) => make('http', b, h))
    },
    {
      weight: Math.round(invalidWeight * 0.02),
      arbitrary: fc.tuple(fc.nat(100_000), validBody('exchange', n)).map(([pick, b]) => make('repeat-other-bytes', b, undefined, { pick, sameBytes: false }))
    },
    {
      weight: Math.round(invalidWeight * 0.02),
      arbitrary: fc.tuple(validBody('exchange', n), ambiguousEncodingEdit()).map(([b, e]) => make('ambiguous', { ...b, encoding: [e] }))
    },
    {
      weight: Math.round(invalidWeight * 0.02),
      arbitrary: fc.tuple(validBody('exchange', n), ambiguousHttp('exchange', 'US_GATEWAY')).map(([b, h]) => make('ambiguous', b, h))
    }
  )
})

function readCase<T>(valid: (v: boolean) => fc.Arbitrary<T>, validShare: number): fc.Arbitrary<T> {
  return fc.oneof({ weight: Math.round(validShare * 1000), arbitrary: valid(true) }, { weight: Math.round((1 - validShare) * 1000), arbitrary: valid(false) })
}

/** Every input, in the proportions of `mix`. */
export const fuzzCase = once(function fuzzCase(mix: Mix = DEFAULT_MIX): fc.Arbitrary<FuzzCase> {
  const scale = (w: number) => Math.round(w * 100)
  return fc.oneof(
    { weight: scale(mix.messages), arbitrary: submitCase(mix.validBodies) as fc.Arbitrary<FuzzCase> },
    { weight: scale(mix.exchange), arbitrary: exchangeCase(mix.validBodies) as fc.Arbitrary<FuzzCase> },
    { weight: scale(mix.status), arbitrary: readCase(statusCase, mix.validReads) as fc.Arbitrary<FuzzCase> },
    { weight: scale(mix.audit), arbitrary: readCase(auditCase, mix.validReads) as fc.Arbitrary<FuzzCase> },
    { weight: scale(mix.framing), arbitrary: framingCase() as fc.Arbitrary<FuzzCase> }
  )
})
