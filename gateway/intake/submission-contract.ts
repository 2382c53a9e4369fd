// What a submission is, for the OpenAPI document: its body and every refusal
// it can meet. POST /v1/messages and its dry run (POST /v1/policies/dry-run)
// take the same body and meet the same checks, so both routes describe them
// from here. The partner's delivery (POST /v1/exchange) is described here
// too: its refusals are also what a peer may answer a delivery with
// (lib/problem-code.ts).
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

/**
 * Every refusal the partner's delivery can meet at POST /v1/exchange
 * (routes/exchange.ts), step by step. A delivery of this gateway's is
 * answered with one of these, by the partner's gateway or by an agency's
 * webhook, which receives a push as a gateway receives a delivery
 * (docs/integrators.md, "Receiving").
 */
export const EXCHANGE_REFUSALS: readonly ErrorCode[] = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  ...BODY_REFUSALS,
  ...ENVELOPE_REFUSALS,
  'RECIPIENT_INVALID',
  'POLICY_DENIED',
  'LEGAL_AUTHORITY_MISMATCH',
  'AGREEMENT_MISMATCH',
  'REPLAYED',
  'SUPERSEDES_NOT_YOURS',
  'SUPERSEDES_MISMATCH',
  'SUPERSEDES_CONFLICT',
  'ANSWERS_NO_REQUEST',
  'SERVICE_UNAVAILABLE'
]

/** The compact JWS an agency system submits (docs/integrators.md, "Step by step", steps 2–4). */
export const SUBMISSION_BODY = joseBody(
  "A compact JWS (RFC 7515) signed with the calling system's registered key. Protected header: " +
    `\`alg\` ES256 or EdDSA (for ES256 the raw 64-byte r‖s signature), \`kid\` of that key, \`typ\` \`${ENVELOPE_TYP}\`. ` +
    'Its payload is the envelope: see `x-jws-payload` on this media type, and the `envelope` schema and the schema of each kind in `components.schemas`.'
)
