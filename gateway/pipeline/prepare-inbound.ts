// The inbound pipeline's computation, like prepare-outbound.ts: the partner
// gateway's JWS verified, the forwarded envelope validated against what the
// sender's outbound policy lets through, the inbound policy applied, the
// receipt signed and the push to the agency signed and sealed. No store, no
// socket, plain data in and out: it runs on a worker for a large message.
import { isDeepStrictEqual } from 'node:util'
import { ForbiddenError, PolicyDeniedError, RecipientInvalidError } from '../errors.ts'
import { refusalData } from './refusal-data.ts'
import { echo } from '../lib/echo.ts'
import { parseSignedJson } from '../lib/safe-json.ts'
import { signCompactJws } from '../jws/sign-compact.ts'
import type { SigningKey, VerificationKey } from '../jws/signing-key.ts'
import { verifyCompactJws } from '../jws/verify-compact.ts'
import { gatewayOwner, type Country } from '../trust/trust-store.ts'
import { ENVELOPE_TYP, PUSH_TYP, stricterHandling, type DeliveredEnvelope, type Envelope } from './envelope.ts'
import { envelopeFacts } from './inspect-submission.ts'
import { textDigests, withoutPayload, type EnvelopeFacts, type PipelineTools, type PreparedDecisions, type Preparation } from './prepare-outbound.ts'
import { signReceipt } from './receipt.ts'
import { checkForwarded, type FreshnessWindow } from './check-envelope.ts'
import { entrySubjects } from './subject-fields.ts'

/** A local agency system that takes deliveries: where a push may go. */
export interface Receiver {
  readonly id: string
  readonly agency: string
  readonly kinds: ReadonlySet<string>
}

export interface InboundTask {
  readonly jws: string
  readonly partnerCountry: Country
  readonly partnerKeys: ReadonlyMap<string, VerificationKey>
  readonly country: Country
  readonly signingKey: SigningKey
  /** The systems with a webhook, from the trust store and configuration in force. */
  readonly receivers: readonly Receiver[]
  /** How late a forwarded envelope may arrive: as long as this gateway keeps received ids (check-envelope.ts, checkForwarded). */
  readonly window: FreshnessWindow
}

export interface PreparedInbound extends PreparedDecisions {
  /** The system the message is pushed to. */
  readonly target: string
  /** This gateway's signed receipt (non-repudiation of receipt). */
  readonly receipt: string
  /** The push, signed by this gateway and sealed for the outbox and the queue. */
  readonly sealed: string
  readonly at: string
  /**
   * Whether the inbound policy took away or changed anything the partner
   * sent: its outbound policy should have left nothing of the kind, so the
   * partner sent more than the agreement lets through (logged as an alert).
   */
  readonly narrowed: boolean
  /** The links before the one `supersedes` names, as the partner forwarded them (Handling's earlierLinks). */
  readonly earlierLinks?: readonly string[]
}

/**
 * Which system of `agency` receives `kind`: one registered for it, or none.
 * A system's `kinds` are those it may send and receive (docs/operators.md,
 * "Keys and trust CLI"), so another system of the same agency is no stand-in:
 * with the one registered for the kind revoked, the message is refused
 * `RECIPIENT_INVALID` rather than pushed to a system never issued for it.
 */
export function receiverFor(receivers: readonly Receiver[], agency: string, kind: string): Receiver | undefined {
  return receivers.find((r) => r.agency === agency && r.kinds.has(kind))
}

export async function prepareInbound(task: InboundTask, tools: PipelineTools): Promise<Preparation<PreparedInbound>> {
  const { digest, auditDigest } = textDigests(task.jws, tools.policyBook)
  let claimedId: string | undefined
  let facts: Partial<Envelope> | null = null
  try {
    const verified = await verifyCompactJws(task.jws, { keys: task.partnerKeys, owner: gatewayOwner(task.partnerCountry), typ: ENVELOPE_TYP })
    const value = parseSignedJson(verified.payload) as Partial<Envelope> | null
    claimedId = typeof value?.id === 'string' ? value.id : undefined
    const envelope = tools.validator.forwarded(value)
    facts = envelopeFacts(envelope)
    if (envelope.from.country !== task.partnerCountry) throw new ForbiddenError(`the partner cannot send for ${envelope.from.country}`)
    // The push, signed by this gateway, hands the agency the handling as its
    // own word (docs/integrators.md, "Step by step", Receiving): who forwarded
    // the record, and under which of the partner's policies, are held to the
    // message as the policy's version is below, not passed on as written.
    if (envelope.handling.forwardedBy !== task.partnerCountry)
      throw new ForbiddenError(`handling.forwardedBy ${envelope.handling.forwardedBy} is not the partner`)
    if (envelope.to.country !== task.country) throw new RecipientInvalidError(`country ${envelope.to.country}`)
    checkForwarded(envelope, task.window)
    const sendersPolicy = `${envelope.kind}/${envelope.purpose}/outbound`
    if (envelope.handling.policy !== sendersPolicy) {
      throw new PolicyDeniedError(`handling.policy ${echo(envelope.handling.policy)} is not ${sendersPolicy}, the policy the partner applies to this message`)
    }
    if (envelope.handling.policyVersion !== tools.policyBook.version(envelope.kind)) {
      throw new PolicyDeniedError(`policy version ${envelope.handling.policyVersion} of ${envelope.kind} is not the one this gateway holds`)
    }
    const policy = tools.policyBook.select(envelope, 'inbound')
    const target = receiverFor(task.receivers, envelope.to.agency, envelope.kind)
    if (target === undefined) throw new RecipientInvalidError(`no system of ${envelope.to.agency} takes deliveries of ${envelope.kind}`)
    const minimised = tools.policyBook.apply(policy, envelope.payload)

    const at = new Date().toISOString()
    const receipt = await signReceipt(
      {
        messageId: envelope.id,
        digest,
        receivedAt: at,
        receiver: `gateway:${task.country}`,
        policyVersion: policy.version
      },
      task.signingKey
    )
    // The partner's JWS carries its payload as sent. It goes to the agency,
    // to verify the partner's signature, only when the inbound policy left
    // that payload as it was; otherwise it would hand over what the policy
    // just withheld, and the agency gets its digest (which the receipt
    // signs) instead (docs/integrators.md, "Receiving").
    const narrowed = !isDeepStrictEqual(minimised.payload, envelope.payload)
    const delivered: DeliveredEnvelope = {
      ...envelope,
      handling: stricterHandling(envelope.handling, policy.rules),
      payload: minimised.payload,
      receivedFrom: narrowed ? { gateway: task.partnerCountry, digest, receipt } : { gateway: task.partnerCountry, digest, jws: task.jws, receipt }
    }
    const push = await signCompactJws(JSON.stringify(delivered), task.signingKey, PUSH_TYP)
    const { handling: _handling, ...plain } = withoutPayload(envelope) as EnvelopeFacts & { handling?: unknown }
    return {
      digest,
      auditDigest,
      facts,
      claimedId,
      result: {
        envelope: plain,
        policy: { id: policy.id, version: policy.version },
        decisions: minimised.decisions,
        ...entrySubjects(envelope.payload, minimised, (s) => tools.policyBook.digest(s)),
        target: target.id,
        receipt,
        sealed: tools.sealer.seal(push, envelope.id),
        at,
        narrowed,
        ...(envelope.handling.earlierLinks === undefined ? {} : { earlierLinks: envelope.handling.earlierLinks })
      }
    }
  } catch (err) {
    const refusal = refusalData(err)
    if (refusal === undefined) throw err
    return { digest, auditDigest, facts, claimedId, ...(claimedId === undefined ? { unverifiedId: unverifiedId(task.jws) } : {}), refusal }
  }
}

/**
 * The id the payload of a JWS that did not verify names, unchecked. A
 * message received under it is answered again only for exactly these bytes,
 * which verified when they first came (routes/exchange.ts): a partner whose
 * key this gateway has since dropped (the end of a rotation's overlap) then
 * gets its receipt for a retry, not a refusal that would dead-letter, at its
 * side, a message this gateway has. Also what a large delivery sent again is
 * looked up by, before the pipeline works on it (routes/exchange.ts).
 */
export function unverifiedId(jws: string): string | undefined {
  try {
    const value = parseSignedJson(Buffer.from(jws.split('.', 3)[1] ?? '', 'base64url')) as { id?: unknown } | null
    return typeof value?.id === 'string' ? value.id : undefined
  } catch {
    return undefined
  }
}
