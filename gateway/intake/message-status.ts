// What GET /v1/messages/{id} and a repeated POST answer: the status, the
// failed attempts, and the partner's signed receipt once delivered. Outside
// gateway/routes/ because more than one route uses it (operations.ts links
// to a message's status URL).
import { RECEIPT_TYP } from '../pipeline/receipt.ts'
import { mayHaveArrived } from '../queue/dead-letters.ts'
import type { MessageRecord, SupersessionLink } from '../store/records.ts'

export interface MessageStatus {
  readonly id: string
  readonly status: MessageRecord['status']
  readonly kind: string
  readonly purpose: string
  readonly acceptedAt: string
  readonly updatedAt: string
  readonly statusUrl: string
  readonly attempts: MessageRecord['attempts']
  readonly policyVersion: string | null
  readonly receipt: { readonly jws: string; readonly [claim: string]: unknown } | null
  readonly supersedes: SupersessionLink | null
  readonly supersededBy: SupersessionLink | null
  /** On a withdrawn message: whether a failed attempt before it may have reached the far side. */
  readonly mayHaveArrived?: boolean
}

/** One side of a supersession, as the status shows it (docs/integrators.md, "Corrections and retractions"). */
const SUPERSESSION_LINK = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['id', 'action'],
  properties: {
    id: { type: 'string', description: 'The other message, by id.' },
    action: { type: 'string', enum: ['correct', 'retract'] },
    reason: { type: 'string', enum: ['data-error', 'wrong-traveller', 'duplicate', 'sent-in-error'], description: "The sender's reason, when given." }
  }
} as const

/**
 * The JSON Schema of a MessageStatus: the responses are serialised with it,
 * so a property it does not name is never sent. Shared as `message-status#`.
 */
export const MESSAGE_STATUS_SCHEMA = {
  $id: 'message-status',
  title: 'Message status',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'status', 'kind', 'purpose', 'acceptedAt', 'updatedAt', 'statusUrl', 'attempts', 'policyVersion', 'receipt', 'supersedes', 'supersededBy'],
  properties: {
    id: { type: 'string', description: 'The envelope id.' },
    status: {
      type: 'string',
      enum: ['accepted', 'delivered', 'dead-lettered', 'discarded', 'withdrawn'],
      description:
        '`accepted`: audited, kept in the outbox, queued. `delivered`: the partner gateway answered with its signed receipt. ' +
        '`dead-lettered`: every delivery attempt failed; an operator can resend it. `discarded`: an operator gave up on the dead letter. ' +
        '`withdrawn`: a correction or retraction you sent (`supersededBy`) superseded it before it was delivered; it will not be sent again ' +
        '(`mayHaveArrived` says whether a failed attempt before may have reached the far side all the same).'
    },
    kind: { type: 'string' },
    purpose: { type: 'string' },
    acceptedAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    statusUrl: { type: 'string', description: 'This status, as a path.' },
    attempts: {
      type: 'array',
      description: 'The failed delivery attempts.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['at', 'error'],
        properties: { at: { type: 'string', format: 'date-time' }, error: { type: 'string' } }
      }
    },
    policyVersion: { type: ['string', 'null'], description: 'The content hash of the policy applied.' },
    receipt: {
      type: ['object', 'null'],
      description: `Once delivered: the partner gateway's signed receipt (\`jws\`, a compact JWS with \`typ\` \`${RECEIPT_TYP}\`), and its claims decoded.`,
      // Every claim the partner signed is shown, whatever it is.
      additionalProperties: true,
      required: ['jws'],
      properties: {
        jws: { type: 'string' },
        messageId: { type: 'string' },
        digest: { type: 'string', description: 'base64url SHA-256 of exactly the JWS the partner received.' },
        receivedAt: { type: 'string', format: 'date-time' },
        receiver: { type: 'string', description: 'e.g. `gateway:US`' },
        policyVersion: { type: 'string' }
      }
    },
    supersedes: { ...SUPERSESSION_LINK, description: 'On a correction or a retraction: the message it supersedes.' },
    supersededBy: {
      ...SUPERSESSION_LINK,
      description: 'The correction or retraction that superseded this message, if any: it still says whether this one was delivered.'
    },
    mayHaveArrived: {
      type: 'boolean',
      description:
        'On a withdrawn message only: true when one of its failed attempts (a timeout, a 5xx answer) may have reached the far side before it was withdrawn; ' +
        'false when none could have (no connection, or a refusal).'
    }
  }
} as const

export function statusUrl(id: string): string {
  return `/v1/messages/${id}`
}

function decodeReceipt(jws: string): { jws: string; [claim: string]: unknown } {
  // Verified when it was stored; decoded here for the reader's convenience.
  const claims = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  return { ...claims, jws }
}

export function messageStatus(record: MessageRecord): MessageStatus {
  return {
    id: record.id,
    status: record.status,
    kind: record.kind,
    purpose: record.purpose,
    acceptedAt: record.acceptedAt,
    updatedAt: record.updatedAt,
    statusUrl: statusUrl(record.id),
    attempts: record.attempts,
    policyVersion: record.policyVersion,
    receipt: record.receipt === null ? null : decodeReceipt(record.receipt),
    supersedes: record.supersedes ?? null,
    supersededBy: record.supersededBy ?? null,
    ...(record.status === 'withdrawn' ? { mayHaveArrived: record.attempts.some((a) => mayHaveArrived(a.error)) } : {})
  }
}
