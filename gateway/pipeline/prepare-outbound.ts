// Steps 3 to 7 of the outbound pipeline as one pure computation: verify the
// agency's JWS, validate, check, apply the policy, and make what the ledger
// and the queue will hold (the re-signed, sealed message and the audit
// facts). It touches no store and no socket, and its input and output are
// plain data, so it runs on the request's thread for a small message and on
// a worker thread for a large one (plugins/pipeline.ts): a 5,000-record batch
// then never holds the event loop that every other request needs.
import type { FieldDecision } from '../../policies/lib/engine.ts'
import { ForwardTooLargeError } from '../errors.ts'
import { refusalData, type RefusalData } from './refusal-data.ts'
import type { Sealer } from '../lib/seal.ts'
import { sha256 } from '../lib/digest.ts'
import { signCompactJws } from '../jws/sign-compact.ts'
import type { SigningKey, VerificationKey } from '../jws/signing-key.ts'
import type { AgencySystem, Country } from '../trust/trust-store.ts'
import type { PolicyBook } from './apply-policy.ts'
import type { AccessTokenClaims } from './authorize-token.ts'
import type { FreshnessWindow } from './check-envelope.ts'
import { ENVELOPE_TYP, handlingFor, type Envelope, type ForwardedEnvelope } from './envelope.ts'
import { type InspectionContext, inspectSubmission, readSubmission } from './inspect-submission.ts'
import { entrySubjects, type EntrySubjects } from './subject-fields.ts'
import type { MessageValidator } from './validate-message.ts'

/** What a preparation needs that is built once per thread. */
export interface PipelineTools {
  readonly validator: MessageValidator
  readonly policyBook: PolicyBook
  readonly sealer: Sealer
}

export interface OutboundTask {
  readonly jws: string
  readonly system: AgencySystem
  /** The calling system's registered keys (only those: a key is only ever tried for its owner). */
  readonly keys: ReadonlyMap<string, VerificationKey>
  readonly claims: Pick<AccessTokenClaims, 'kinds' | 'purposes'>
  readonly window: FreshnessWindow
  readonly partnerCountry: Country
  readonly country: Country
  readonly signingKey: SigningKey
  /**
   * The largest body a gateway's POST /v1/exchange takes (BODY_LIMIT_BYTES,
   * the same on both sides): what the partner is sent must fit, or it could
   * only be refused there after this one had accepted it.
   */
  readonly forwardLimitBytes: number
}

/** The envelope without its payload: what a ledger entry and a message record may name. */
export type EnvelopeFacts = Omit<Envelope, 'payload'>

/** What either direction's preparation decided, for the message's ledger entry: its policy, each field's decision, and the travellers it names. */
export interface PreparedDecisions extends EntrySubjects {
  readonly envelope: EnvelopeFacts
  readonly policy: { readonly id: string; readonly version: string }
  readonly decisions: readonly FieldDecision[]
}

export interface PreparedOutbound extends PreparedDecisions {
  /** The minimised envelope, re-signed by this gateway and sealed for the outbox and the queue. */
  readonly sealed: string
  readonly at: string
}

/** Either way, what is known of the submission: its digests, and what a verified payload names. */
export interface Preparation<T> {
  /** SHA-256 of the JWS as received: the idempotency check compares it. */
  readonly digest: string
  /** Keyed digest of the JWS, for the ledger. */
  readonly auditDigest: string
  /**
   * An agency submission's: SHA-256 of its JWS payload as sent, by which the
   * same envelope signed again is recognised as a repeat (store/records.ts,
   * MessageRecord).
   */
  readonly payloadDigest?: string
  /** What a refusal's audit entry may name, once the signature verified. */
  readonly facts: Partial<Envelope> | null
  /** The id a verified payload claims, valid or not: a repeat or a replay is answered by it. */
  readonly claimedId?: string
  /**
   * The id the payload of a JWS whose signature did not verify names,
   * unchecked: looked up only for exactly the bytes received before
   * (routes/exchange.ts).
   */
  readonly unverifiedId?: string
  readonly result?: T
  readonly refusal?: RefusalData
}

/**
 * A JWS text's two digests: the SHA-256 its receipt names and the keyed one
 * the ledger keeps. Both come from one copy of its bytes: node:crypto turns a
 * string into a buffer three times its length for an HMAC, and a batch is
 * megabytes (docs/measurements.md, "Speed and memory").
 */
export function textDigests(jws: string, policyBook: PolicyBook): { readonly digest: string; readonly auditDigest: string } {
  return bytesDigests(Buffer.from(jws), policyBook)
}

/**
 * An agency submission's digests: textDigests' two, and the keyed digest
 * (the audit key) of its payload segment as sent (Preparation's
 * payloadDigest), from the same copy. Keyed, as every digest the gateway
 * keeps of what an agency wrote: a plain hash kept with the message record
 * would let whoever reads it try a value (a date of birth) until it matched.
 * The whole JWS's plain SHA-256 is what receipts name, and holds a
 * signature no one can guess.
 */
export function submissionDigests(
  jws: string,
  policyBook: PolicyBook
): { readonly digest: string; readonly auditDigest: string; readonly payloadDigest: string } {
  const bytes = Buffer.from(jws)
  const start = bytes.indexOf(0x2e) + 1
  const end = bytes.indexOf(0x2e, start)
  // Only a JWS that verified is ever compared by it, and that one has three segments (routes/messages.ts).
  const payload = start === 0 || end < 0 ? bytes.subarray(0, 0) : bytes.subarray(start, end)
  return { ...bytesDigests(bytes, policyBook), payloadDigest: policyBook.digest(payload) }
}

function bytesDigests(bytes: Buffer, policyBook: PolicyBook): { readonly digest: string; readonly auditDigest: string } {
  return { digest: sha256(bytes), auditDigest: policyBook.digest(bytes) }
}

export function withoutPayload(envelope: Envelope): EnvelopeFacts {
  const { payload: _payload, ...facts } = envelope
  return facts
}

/** A dry run's input (POST /v1/policies/dry-run): a submission's, less what only signing and sealing need. */
export type DryRunTask = Pick<OutboundTask, 'jws' | 'system' | 'keys' | 'claims' | 'window' | 'partnerCountry'>

/** What a dry run found: what would be shared and each field's decision, or its refusal. */
export interface DryRun {
  readonly result?: { readonly envelope: EnvelopeFacts; readonly decisions: readonly FieldDecision[]; readonly shared: Record<string, unknown> }
  readonly refusal?: RefusalData
}

/** What steps 4 to 6 check a submission against: the caller's, and the gateway's validator and policies. */
function inspectionContext(task: DryRunTask, tools: Pick<PipelineTools, 'validator' | 'policyBook'>): InspectionContext {
  const { partnerCountry, system, claims, window } = task
  return { partnerCountry, system, claims, window, validator: tools.validator, policyBook: tools.policyBook }
}

/**
 * Steps 3 to 7 without signing: what a submission would share, and why. A
 * computation as prepareOutbound is, so that a large batch's dry run runs on
 * a worker thread as its submission does, not on the event loop every other
 * request and the partner's deliveries wait on (plugins/pipeline.ts).
 */
export async function prepareDryRun(task: DryRunTask, tools: Pick<PipelineTools, 'validator' | 'policyBook'>): Promise<DryRun> {
  try {
    const { value } = await readSubmission(task.jws, task.keys, task.system)
    const { envelope, minimised } = inspectSubmission(value, inspectionContext(task, tools))
    return { result: { envelope: withoutPayload(envelope), decisions: minimised.decisions, shared: minimised.payload } }
  } catch (err) {
    const refusal = refusalData(err)
    if (refusal === undefined) throw err
    return { refusal }
  }
}

export async function prepareOutbound(task: OutboundTask, tools: PipelineTools): Promise<Preparation<PreparedOutbound>> {
  const { digest, auditDigest, payloadDigest } = submissionDigests(task.jws, tools.policyBook)
  let facts: Partial<Envelope> | null = null
  try {
    const read = await readSubmission(task.jws, task.keys, task.system)
    facts = read.facts
    const { envelope, policy, minimised, subjects } = inspectSubmission(read.value, inspectionContext(task, tools))
    const at = new Date().toISOString()
    const forwarded: ForwardedEnvelope = {
      ...envelope,
      payload: minimised.payload,
      handling: handlingFor(policy, { forwardedBy: task.country, forwardedAt: at, originDigest: digest })
    }
    const outgoing = await signCompactJws(JSON.stringify(forwarded), task.signingKey, ENVELOPE_TYP)
    // Minimised is not always smaller: the handling is added, and a
    // pseudonym (47 characters) may stand for a value of four. A submission
    // just under the limit can come out over it.
    if (outgoing.length > task.forwardLimitBytes) throw new ForwardTooLargeError(task.forwardLimitBytes)
    return {
      digest,
      auditDigest,
      payloadDigest,
      facts,
      result: {
        envelope: withoutPayload(envelope),
        policy: { id: policy.id, version: policy.version },
        decisions: minimised.decisions,
        ...entrySubjects(envelope.payload, minimised, (s) => tools.policyBook.digest(s), subjects),
        sealed: tools.sealer.seal(outgoing, envelope.id),
        at
      }
    }
  } catch (err) {
    const refusal = refusalData(err)
    if (refusal === undefined) throw err
    return { digest, auditDigest, payloadDigest, facts, refusal }
  }
}
