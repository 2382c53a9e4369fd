// Sample traffic for the sandbox, made from the schemas' own valid examples so
// the samples cannot drift from the contract.
import { citableBy } from '../policies/authorities.ts'
import { listExamples, type Kind } from '../schemas/index.ts'
import type { ReceivedMessage } from './mock-agency.ts'

type Country = 'CA' | 'US'

export interface SampleRoute {
  readonly kind: Kind
  readonly from: { readonly country: Country; readonly agency: string; readonly system: string }
  readonly to: { readonly country: Country; readonly agency: string }
}

const BORDER = { CA: { agency: 'CBSA', system: 'pik-primary' }, US: { agency: 'CBP', system: 'ades' } } as const
const IMMIGRATION = { CA: { agency: 'IRCC', system: 'gcms-biometrics' }, US: { agency: 'USCIS', system: 'ident-gateway' } } as const

function route(kind: Kind, from: Country, systems: typeof BORDER | typeof IMMIGRATION): SampleRoute {
  const to: Country = from === 'CA' ? 'US' : 'CA'
  return { kind, from: { country: from, ...systems[from] }, to: { country: to, agency: systems[to].agency } }
}

/**
 * One message of each kind each way, the match requests first: each match
 * response answers the request the partner's agency sent (sampleAnswer), as
 * a gateway takes no other (gateway/intake/correlation.ts). The mock
 * agencies answer every request they are pushed, too.
 */
export const SAMPLE_ROUTES: readonly SampleRoute[] = [
  route('biometric.match-request', 'CA', IMMIGRATION),
  route('biometric.match-request', 'US', IMMIGRATION),
  ...(['CA', 'US'] as const).flatMap((from) => [
    route('biometric.match-response', from, IMMIGRATION),
    route('traveller.designation', from, BORDER),
    route('traveller.designation-batch', from, BORDER),
    route('entry-exit.record', from, BORDER),
    route('entry-exit.batch', from, BORDER)
  ])
]

/** Of the samples sent so far, the match request a match response on `route` answers: the one its recipient's agency sent to its own. */
export function requestAnswered<T extends { readonly route: SampleRoute }>(route: SampleRoute, sent: readonly T[]): T | undefined {
  return sent.find((s) => s.route.kind === 'biometric.match-request' && s.route.from.country === route.to.country && s.route.to.agency === route.from.agency)
}

/**
 * The sample match response of `route` in answer to `request`, the match
 * request its recipient's agency sent (gateway/intake/correlation.ts): under
 * the request's purpose, with an authority the answering country may cite
 * for it, and `correlationId` naming it.
 */
export function sampleAnswer(route: SampleRoute, request: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const envelope = sampleEnvelope('biometric.match-response', route.from.country, route.to)
  const purpose = String(request.purpose)
  const authorities = citableBy(route.from.country, 'biometric.match-response', purpose)
  return {
    ...envelope,
    purpose,
    legalAuthority: authorities.includes(String(envelope.legalAuthority)) ? envelope.legalAuthority : (authorities[0] ?? envelope.legalAuthority),
    correlationId: String(request.id)
  }
}

const cache = new Map<Kind, Record<string, unknown>[]>()

/** The valid examples of a kind, as envelopes. */
export function validExamples(kind: Kind): Record<string, unknown>[] {
  if (!cache.has(kind)) {
    cache.set(
      kind,
      listExamples(kind)
        .filter((e) => e.valid)
        .map((e) => e.envelope as Record<string, unknown>)
    )
  }
  return cache.get(kind)!
}

/**
 * The fields of a sample envelope (id, from, createdAt are the sender's to
 * set). Prefers an example whose sender is of the same country, for a
 * realistic legal authority.
 */
export function sampleEnvelope(kind: Kind, from: Country, to: SampleRoute['to'], pick = 0): Record<string, unknown> {
  const examples = validExamples(kind)
  const own = examples.filter((e) => (e.from as { country: string }).country === from)
  const chosen = structuredClone((own.length > 0 ? own : examples)[pick % Math.max(1, (own.length > 0 ? own : examples).length)]!)
  delete chosen.id
  delete chosen.from
  delete chosen.createdAt
  chosen.to = { ...to }
  return chosen
}

/**
 * A correction of a message sent from a sample (docs/integrators.md,
 * "Corrections and retractions"), made from the contract's own example of
 * one (schemas/examples/envelope/valid-correction.json), which corrects the
 * CA entry record the samples send: the same kind, purpose and recipient, the
 * record with the crossing time put right, and `supersedes` naming `original`.
 */
export function sampleCorrection(original: Record<string, unknown>): Record<string, unknown> {
  const example = listExamples('envelope').find((e) => e.name === 'valid-correction')!
  const correction = structuredClone(example.envelope) as Record<string, unknown>
  delete correction.id
  delete correction.from
  delete correction.createdAt
  correction.to = structuredClone(original.to)
  correction.supersedes = { ...(correction.supersedes as Record<string, unknown>), id: original.id }
  return correction
}

/**
 * A mock agency's answer to a match request: MATCH or NO_MATCH, echoing the
 * reference, under the request's purpose and an authority the answering
 * country may cite for it (policies/authorities.ts).
 */
export function matchResponse(request: ReceivedMessage, matched: boolean, to: Country): Record<string, unknown> {
  const examples = validExamples('biometric.match-response')
  const result = matched ? 'MATCH' : 'NO_MATCH'
  const from: Country = to === 'CA' ? 'US' : 'CA'
  const template =
    examples.find((e) => (e.payload as { result: string }).result === result && (e.from as { country: string }).country === from) ??
    examples.find((e) => (e.payload as { result: string }).result === result) ??
    examples[0]!
  const envelope = structuredClone(template)
  delete envelope.id
  delete envelope.from
  delete envelope.createdAt
  const payload = envelope.payload as Record<string, unknown>
  const ref = request.payload.transactionRef
  if (typeof ref === 'string') payload.transactionRef = ref
  payload.result = result
  if (!matched) delete payload.subject
  const authorities = citableBy(from, 'biometric.match-response', request.purpose)
  return {
    ...envelope,
    purpose: request.purpose,
    legalAuthority: authorities.includes(String(envelope.legalAuthority)) ? envelope.legalAuthority : (authorities[0] ?? envelope.legalAuthority),
    to: { country: to, agency: request.from.split('/')[1] },
    correlationId: request.id
  }
}

/**
 * The envelope fields of an entry/exit batch from CBSA to CBP, as the border
 * day's loader sends one (bulk-load.ts): the tests' and the memory bench's
 * large message.
 */
export function entryExitBatch(batchRef: string, records: readonly unknown[]): Record<string, unknown> {
  return {
    kind: 'entry-exit.batch',
    purpose: 'entry-exit-verification',
    legalAuthority: 'CustomsAct-92',
    agreementRef: 'CA-US-Entry-Exit-Joint-Statement-2012',
    to: { country: 'US', agency: 'CBP' },
    correlationId: null,
    payload: { batchRef, records }
  }
}
