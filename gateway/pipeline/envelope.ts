// The contract's envelope (docs/architecture.md, "The contract"), and the
// form a gateway sends on: the same envelope with the minimised payload and
// a `handling` block that names
// the policy applied and the limits that travel with the record (P5, P10, P11).
import { envelopeSchema } from '../../schemas/index.ts'
import type { Country } from '../trust/trust-store.ts'

/** The JWS `typ` of an envelope, as an agency submits it and as a gateway forwards it to the partner (docs/integrators.md, "Step by step"). */
export const ENVELOPE_TYP = 'btb-envelope+jws'

/**
 * The JWS `typ` of a push, the envelope as delivered to an agency. A gateway
 * signs pushes and forwarded envelopes with the same key, and an agency
 * holds both (a forwarded one inside each push, `receivedFrom.jws`): each
 * typed as what it is, neither passes for the other (RFC 8725 §3.11).
 */
export const PUSH_TYP = 'btb-push+jws'

/** What a correction or a retraction does to the message it supersedes (docs/integrators.md, "Corrections and retractions"). */
export type SupersedeAction = 'correct' | 'retract'

const SUPERSEDES_SCHEMA = (envelopeSchema.properties as { supersedes: { properties: Record<'action' | 'reason', { enum: readonly string[] }> } }).supersedes

/** The actions and the reasons the contract names (schemas/envelope.schema.json, `supersedes`). */
export const SUPERSEDE_ACTIONS: ReadonlySet<string> = new Set(SUPERSEDES_SCHEMA.properties.action.enum)
export const SUPERSEDE_REASONS: ReadonlySet<string> = new Set(SUPERSEDES_SCHEMA.properties.reason.enum)

/** The envelope's `supersedes`: an earlier message of the same system, by id (P4). */
export interface Supersedes {
  readonly id: string
  readonly action: SupersedeAction
  /** A code from the contract's closed list, never free text. */
  readonly reason?: string
}

export interface Envelope {
  readonly id: string
  readonly kind: string
  readonly schemaVersion: string
  readonly purpose: string
  readonly legalAuthority: string
  readonly agreementRef: string
  readonly from: { readonly country: Country; readonly agency: string; readonly system: string }
  readonly to: { readonly country: Country; readonly agency: string }
  readonly createdAt: string
  readonly correlationId?: string | null
  /** On a correction or a retraction: the message it supersedes. */
  readonly supersedes?: Supersedes
  readonly payload: Record<string, unknown>
}

export interface Handling {
  /** `kind/purpose/direction` of the rules applied. */
  readonly policy: string
  readonly policyVersion: string
  readonly retentionDays: number
  readonly onwardTransfer: boolean
  readonly humanReviewRequired: boolean
  readonly forwardedBy: Country
  readonly forwardedAt: string
  /** SHA-256 of the agency's JWS as the sending gateway received it. */
  readonly originDigest: string
  /**
   * On a correction or retraction whose original (`supersedes.id`) had not
   * been delivered when it was accepted: the ids of the links before that
   * original in its chain, nearest first, back to the nearest one delivered
   * (at most EARLIER_LINKS_MAX). The partner may never have had the original
   * (withdrawn before it went); it then links the message to the nearest of
   * these it holds, and tells its agency so (docs/integrators.md,
   * "Corrections and retractions"). Ids only: nothing about a traveller.
   */
  readonly earlierLinks?: readonly string[]
}

/** The most earlier links a forwarded envelope carries (Handling's earlierLinks). */
export const EARLIER_LINKS_MAX = 32

/** What `handling` says of the policy a sending gateway applied; the limits travel with the record (P5, P10, P11). */
export function handlingFor(
  policy: { readonly id: string; readonly version: string; readonly rules: Pick<Handling, 'retentionDays' | 'onwardTransfer' | 'humanReviewRequired'> },
  forwarded: Pick<Handling, 'forwardedBy' | 'forwardedAt' | 'originDigest'>
): Handling {
  const { retentionDays, onwardTransfer, humanReviewRequired } = policy.rules
  return { policy: policy.id, policyVersion: policy.version, retentionDays, onwardTransfer, humanReviewRequired, ...forwarded }
}

/**
 * The handling a received record is pushed to its agency with: the
 * receiving side enforces its own limits (P11, P10, P5; docs/integrators.md,
 * "Step by step"), so each is the stricter of the partner's and this side's
 * inbound policy's. A partner that sent looser ones, by a fault or by
 * intent, does not loosen them here; what the partner signed stays in its JWS.
 */
export function stricterHandling(partner: Handling, own: Pick<Handling, 'retentionDays' | 'onwardTransfer' | 'humanReviewRequired'>): Handling {
  // The earlier links are for the receiving gateway: the push's `supersedes`
  // names the one it linked (routes/exchange.ts).
  const { earlierLinks: _earlierLinks, ...handling } = partner
  return {
    ...handling,
    retentionDays: Math.min(partner.retentionDays, own.retentionDays),
    onwardTransfer: partner.onwardTransfer && own.onwardTransfer,
    humanReviewRequired: partner.humanReviewRequired || own.humanReviewRequired
  }
}

export interface ForwardedEnvelope extends Envelope {
  readonly handling: Handling
}

/** What the receiving gateway pushes to its agency, signed with its own key. */
export interface DeliveredEnvelope extends ForwardedEnvelope {
  readonly receivedFrom: {
    readonly gateway: Country
    /** SHA-256 (base64url) of the partner gateway's JWS as received: what the receipt names. */
    readonly digest: string
    /**
     * The partner gateway's JWS exactly as received, the second signature:
     * only when the inbound policy left its payload as it was
     * (prepare-inbound.ts).
     */
    readonly jws?: string
    readonly receipt: string
  }
}

export const HANDLING_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['policy', 'policyVersion', 'retentionDays', 'onwardTransfer', 'humanReviewRequired', 'forwardedBy', 'forwardedAt', 'originDigest'],
  properties: {
    policy: { type: 'string', pattern: '^[a-z.-]+/[a-z0-9-]+/(outbound|inbound)$' },
    policyVersion: { type: 'string', pattern: '^sha256:[A-Za-z0-9_-]{43}$' },
    retentionDays: { type: 'integer', minimum: 0, maximum: 36500 },
    onwardTransfer: { type: 'boolean' },
    humanReviewRequired: { type: 'boolean' },
    forwardedBy: { enum: ['CA', 'US'] },
    forwardedAt: { $ref: 'https://schemas.btb-gateway.example/common/1.0#/$defs/dateTime' },
    originDigest: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
    earlierLinks: {
      description:
        'On a correction or retraction whose original had not been delivered when the sending gateway accepted it: the ids of the links before that original in its chain, nearest first, back to the nearest one delivered. The receiving gateway links the message to the nearest of `supersedes.id` and these that it holds, and its push names that one (docs/integrators.md, "Corrections and retractions"). Absent otherwise, and from a gateway that predates it.',
      type: 'array',
      minItems: 1,
      maxItems: EARLIER_LINKS_MAX,
      uniqueItems: true,
      items: { $ref: 'https://schemas.btb-gateway.example/common/1.0#/$defs/messageId' }
    }
  }
} as const
