// What a submission is, for the OpenAPI document: its body and every refusal
// it can meet. POST /v1/messages and its dry run (POST /v1/policies/dry-run)
// take the same body and meet the same checks, so both routes describe them
// from here.
import { ENVELOPE_TYP } from '../pipeline/envelope.ts'
import { BODY_REFUSALS, joseBody, SIGNATURE_REFUSALS, type ErrorCode } from '../plugins/openapi.ts'

/**
 * What a signed envelope can meet at either door, an agency's submission or
 * the partner's delivery (routes/exchange.ts): its signature, its kind and
 * schema, and its time (`createdAt` here, `handling.forwardedAt` there).
 */
export const ENVELOPE_REFUSALS: readonly ErrorCode[] = [...SIGNATURE_REFUSALS, 'KIND_UNKNOWN', 'SCHEMA_INVALID', 'MESSAGE_EXPIRED', 'MESSAGE_FUTURE_DATED']

/** Every refusal a submission can meet, step by step: also those of a dry run. */
export const SUBMISSION_REFUSALS: readonly ErrorCode[] = [
  'UNAUTHENTICATED',
  'TOKEN_CERT_MISMATCH',
  'FORBIDDEN',
  ...BODY_REFUSALS,
  ...ENVELOPE_REFUSALS,
  'SENDER_MISMATCH',
  'RECIPIENT_INVALID',
  'KIND_NOT_ALLOWED',
  'PURPOSE_NOT_ALLOWED',
  'POLICY_DENIED',
  'LEGAL_AUTHORITY_MISMATCH',
  'AGREEMENT_MISMATCH'
]

/** The compact JWS an agency system submits (docs/integrators.md, "Step by step", steps 2–4). */
export const SUBMISSION_BODY = joseBody(
  "A compact JWS (RFC 7515) signed with the calling system's registered key. Protected header: " +
    `\`alg\` ES256 or EdDSA (for ES256 the raw 64-byte r‖s signature), \`kid\` of that key, \`typ\` \`${ENVELOPE_TYP}\`. ` +
    'Its payload is the envelope: see `x-jws-payload` on this media type, and the `envelope` schema and the schema of each kind in `components.schemas`.'
)
