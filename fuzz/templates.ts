// The messages the fuzzer starts from: the contract's own valid examples
// (schemas/examples), re-addressed to the systems that send them. Every
// mutation is applied to one of these, so that what makes an input invalid is
// the mutation and nothing else; unmutated, they are the known-valid stream
// that the gateway must accept.
//
// The examples are named, not discovered: a valid example that a policy
// excludes (an air exit record, say) is valid for the schema and still refused,
// and would turn the known-valid stream into noise. These names were checked
// against the policies when this file was written; a renamed example fails
// loudly here rather than silently shrinking the stream.
import { randomBytes } from 'node:crypto'
import { listExamples, type Kind } from '../schemas/index.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import { handlingFor, type Envelope, type Handling } from '../gateway/pipeline/envelope.ts'
import { sha256b64u } from './jws.ts'

export type Sender = 'CBSA' | 'IRCC'

export interface SubmissionTemplate {
  readonly name: string
  readonly kind: Kind
  readonly sender: Sender
  /** The envelope without id and createdAt (filled in per input); `from` is the sender's system. */
  readonly envelope: Readonly<Record<string, unknown>>
}

export interface ExchangeTemplate {
  readonly name: string
  readonly kind: Kind
  /** The forwarded envelope as the US gateway sends it (minimised payload, handling) without id, createdAt, handling.forwardedAt. */
  readonly envelope: Readonly<Record<string, unknown>>
}

const CA_SYSTEMS = {
  CBSA: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
  IRCC: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' }
} as const
const US_SYSTEMS: Record<string, { country: 'US'; agency: string; system: string }> = {
  CBP: { country: 'US', agency: 'CBP', system: 'ades' },
  USCIS: { country: 'US', agency: 'USCIS', system: 'ident-gateway' }
}

/** Sent by a Canadian agency system to the CA gateway. */
const SUBMISSIONS: ReadonlyArray<readonly [Kind, string, Sender]> = [
  ['entry-exit.record', 'valid-land-entry-ca-to-us', 'CBSA'],
  ['entry-exit.batch', 'valid-three-land-entries-ca-to-us', 'CBSA'],
  ['traveller.designation', 'valid-nexus-approved-ca-to-us', 'CBSA'],
  ['traveller.designation', 'valid-xpt-after-sales-ca-to-us', 'CBSA'],
  ['biometric.match-request', 'valid-visa-application-ca-to-us', 'IRCC'],
  ['biometric.match-response', 'valid-asylum-match-protected-person', 'IRCC'],
  ['biometric.match-response', 'valid-error-insufficient-quality', 'IRCC'],
  ['biometric.match-response', 'valid-no-match-ca-to-us', 'IRCC']
]

/** Sent by a US agency system to the US gateway, which forwards them to the CA gateway's /v1/exchange. */
const EXCHANGES: ReadonlyArray<readonly [Kind, string]> = [
  ['entry-exit.record', 'valid-land-entry-us-to-ca-residency'],
  ['entry-exit.record', 'valid-rail-exit-removal-us-to-ca'],
  ['entry-exit.batch', 'valid-residency-batch-us-to-ca'],
  ['traveller.designation', 'valid-nexus-revoked-us-to-ca'],
  ['traveller.designation', 'valid-tn-professional-us-to-ca'],
  ['biometric.match-request', 'valid-asylum-claim-us-to-ca'],
  ['biometric.match-request', 'valid-single-print-without-capture-time'],
  ['biometric.match-response', 'valid-match-third-country-national'],
  ['biometric.match-response', 'valid-match-us-citizen'],
  ['biometric.match-response', 'valid-no-match']
]

function example(kind: Kind, name: string): Record<string, unknown> {
  const found = listExamples(kind).find((e) => e.name === name)
  if (found === undefined || !found.valid) throw new Error(`fuzz: schemas/examples/${kind}/${name}.json is gone or no longer valid`)
  return structuredClone(found.envelope) as Record<string, unknown>
}

function withoutPerMessageFields(envelope: Record<string, unknown>): Record<string, unknown> {
  delete envelope.id
  delete envelope.createdAt
  return envelope
}

// The instant is the one thing materialize sets per case (fuzz/materialize.ts).
function withoutForwardedAt({ forwardedAt: _, ...handling }: Handling): Omit<Handling, 'forwardedAt'> {
  return handling
}

export const SUBMISSION_TEMPLATES: readonly SubmissionTemplate[] = SUBMISSIONS.map(([kind, name, sender]) => {
  const envelope = withoutPerMessageFields(example(kind, name))
  envelope.from = { ...CA_SYSTEMS[sender] }
  return { name, kind, sender, envelope }
})

/**
 * What the US gateway would forward: its outbound policy applied to the
 * example (the same policy code the CA gateway holds, so the versions agree),
 * and the handling block it adds. Built once; the keys only shape pseudonyms.
 */
export const EXCHANGE_TEMPLATES: readonly ExchangeTemplate[] = (() => {
  const book = new PolicyBook(randomBytes(32), randomBytes(32))
  return EXCHANGES.map(([kind, name]) => {
    const source = example(kind, name)
    const agency = (source.from as { agency: string }).agency
    const from = US_SYSTEMS[agency]
    if (from === undefined) throw new Error(`fuzz: ${name} is not sent by a US system this fuzzer knows`)
    const envelope = { ...source, from, id: '00000000-0000-4000-8000-000000000000', createdAt: '2026-01-01T00:00:00Z' } as unknown as Envelope
    const policy = book.select(envelope, 'outbound')
    const { payload } = book.apply(policy, envelope.payload)
    const forwarded = withoutPerMessageFields({
      ...source,
      from,
      payload,
      handling: withoutForwardedAt(handlingFor(policy, { forwardedBy: 'US', forwardedAt: '', originDigest: sha256b64u(`origin of ${name}`) }))
    })
    return { name, kind, envelope: forwarded }
  })
})()

/**
 * The contract's invalid examples of each kind, as payloads: each is invalid
 * for a reason inside the payload (its file name says which), so it stays
 * invalid in a fresh envelope from the system that may send that kind.
 */
export const INVALID_PAYLOADS: ReadonlyArray<{ readonly name: string; readonly kind: Kind; readonly sender: Sender; readonly payload: unknown }> =
  SUBMISSION_TEMPLATES.filter((t, i, all) => all.findIndex((u) => u.kind === t.kind) === i).flatMap((t) =>
    listExamples(t.kind)
      .filter((e) => !e.valid)
      .map((e) => ({
        name: e.name,
        kind: t.kind,
        sender: t.sender,
        payload: (e.envelope as { payload: unknown }).payload
      }))
  )
