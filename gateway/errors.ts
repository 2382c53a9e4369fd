// Every refusal the gateway can give, with the stable code integrators code
// against. The codes are the public contract (docs/integrators.md, "Error codes"): add new
// ones, never rename or reuse one.
import createError from '@fastify/error'

/**
 * Each code with the message and HTTP status it is answered with. The error
 * classes below, ERROR_CODES (the OpenAPI document's list, problem-details'
 * and the metrics' known codes) and the ErrorCode type are all read from this
 * one table: a code is added here, and nowhere else.
 */
const TABLE = {
  UNAUTHENTICATED: ['Not authenticated: %s', 401],
  TOKEN_CERT_MISMATCH: ['The access token is bound to another client certificate (RFC 8705 cnf.x5t#S256)', 401],
  FORBIDDEN: ['Forbidden: %s', 403],
  NOT_FOUND: ['Not found: %s', 404],
  UNSUPPORTED_MEDIA_TYPE: ['Unsupported media type: %s', 415],
  PAYLOAD_TOO_LARGE: ['The body is larger than the %d bytes allowed', 413],
  BODY_INVALID: ['The body could not be read: %s', 400],
  REQUEST_INVALID: ['The request is not valid: %s', 400],
  CHECKPOINT_CONFLICT: ['The checkpoint contradicts the last one cosigned: %s', 409],
  CHECKPOINT_INVALID: ['The checkpoint request cannot be read: %s', 400],
  CHECKPOINT_PROOF_INVALID: ['The consistency proof does not show the checkpoint extends the last one cosigned: %s', 422],
  CHECKPOINT_UNSIGNED: ["The checkpoint is not signed by the partner ledger's key: %s", 403],
  CHECKPOINT_ORIGIN_UNKNOWN: ['The checkpoint is of a log this gateway does not witness: %s', 404],
  DEAD_LETTER_NOT_FOUND: ['No dead letter %s', 404],
  DEAD_LETTER_CONFLICT: ['Message %s', 409],
  GRANT_TYPE_UNSUPPORTED: ['The token request is not one this gateway answers: %s', 400],

  // Refusals below HTTP semantics (RFC 9112 message framing), answered before a route is chosen.
  HTTP_INVALID: ['The request is not acceptable HTTP/1.1: %s', 400],
  HEADERS_TOO_LARGE: ['The request headers are larger than the %d bytes allowed', 431],
  REQUEST_TIMEOUT: ['The request was not received in time: %s', 408],
  EXPECTATION_FAILED: ['Only Expect: 100-continue is understood, not %s', 417],

  JWS_INVALID: ['The message is not a valid compact JWS: %s', 400],
  JWS_HEADER_NOT_ALLOWED: ['The JWS protected header carries a parameter the contract does not allow: %s', 400],
  JWS_TYP_INVALID: ['The JWS typ must be %s', 400],
  JWS_ALG_NOT_ALLOWED: ['JWS algorithm %s is not allowed: %s', 400],
  JWS_KID_UNKNOWN: ['No registered signing key has kid %s', 400],
  JWS_KEY_NOT_CALLERS: ['Signing key %s is not registered to the calling system, %s', 403],
  JWS_SIGNATURE_INVALID: ['The JWS signature does not verify', 400],
  PAYLOAD_UNSAFE: ['The signed payload is not acceptable JSON: %s', 400],

  SCHEMA_INVALID: ['The message does not match its schema: %s', 422],
  KIND_UNKNOWN: ['Unknown message kind: %s', 422],
  MESSAGE_EXPIRED: ['%s is older than the accepted window: %s', 400],
  MESSAGE_FUTURE_DATED: ['%s is later than the accepted clock skew: %s', 400],
  SENDER_MISMATCH: ['The envelope names a sender other than the calling system: %s', 403],
  RECIPIENT_INVALID: ['The envelope names a recipient this gateway cannot deliver to: %s', 422],
  KIND_NOT_ALLOWED: ['The calling system may not send messages of kind %s; %s', 403],
  PURPOSE_NOT_ALLOWED: ['The calling system may not send for purpose %s; %s', 403],
  POLICY_DENIED: ['No policy allows this exchange: %s', 403],
  LEGAL_AUTHORITY_MISMATCH: ['Legal authority mismatch: %s', 403],
  AGREEMENT_MISMATCH: ['Agreement mismatch: %s', 403],
  FORWARD_TOO_LARGE: ['Minimised and signed for the partner gateway, the message would be larger than the %d bytes a gateway takes: send fewer records', 413],
  ID_CONFLICT: ['Message %s was already submitted with other content', 409],
  SUPERSEDES_UNKNOWN: ['No message this gateway took from you has the id the envelope supersedes: %s', 422],
  SUPERSEDES_NOT_YOURS: ['The message superseded was sent by another system: %s', 403],
  SUPERSEDES_MISMATCH: ['A correction or retraction must have the kind, purpose and recipient of the message it supersedes: %s', 422],
  SUPERSEDES_CONFLICT: ['The message superseded cannot be superseded now: %s', 409],
  ANSWERS_NO_REQUEST: ['A match response must answer a match request between the same agencies, for the same purpose: %s', 422],
  REPLAYED: ['Message %s was already received with other content', 409],
  SERVICE_UNAVAILABLE: ['Temporarily unavailable: %s', 503]
} as const satisfies Record<string, readonly [message: string, status: number]>

type Table = typeof TABLE
type ErrorClasses = { readonly [C in keyof Table]: createError.FastifyErrorConstructor<{ code: C; statusCode: Table[C][1] }> }

/** The error class of every code. */
export const ERRORS = Object.fromEntries(
  Object.entries(TABLE).map(([code, [message, status]]) => [code, createError(code, message, status)])
) as unknown as ErrorClasses

export const UnauthenticatedError = ERRORS.UNAUTHENTICATED
export const TokenCertMismatchError = ERRORS.TOKEN_CERT_MISMATCH
export const ForbiddenError = ERRORS.FORBIDDEN
export const NotFoundError = ERRORS.NOT_FOUND
export const UnsupportedMediaTypeError = ERRORS.UNSUPPORTED_MEDIA_TYPE
export const PayloadTooLargeError = ERRORS.PAYLOAD_TOO_LARGE
export const BodyInvalidError = ERRORS.BODY_INVALID
export const RequestInvalidError = ERRORS.REQUEST_INVALID
export const CheckpointConflictError = ERRORS.CHECKPOINT_CONFLICT
export const CheckpointProofInvalidError = ERRORS.CHECKPOINT_PROOF_INVALID
export const CheckpointInvalidError = ERRORS.CHECKPOINT_INVALID
export const CheckpointUnsignedError = ERRORS.CHECKPOINT_UNSIGNED
export const CheckpointOriginUnknownError = ERRORS.CHECKPOINT_ORIGIN_UNKNOWN
export const DeadLetterNotFoundError = ERRORS.DEAD_LETTER_NOT_FOUND
export const DeadLetterConflictError = ERRORS.DEAD_LETTER_CONFLICT
export const GrantTypeUnsupportedError = ERRORS.GRANT_TYPE_UNSUPPORTED
export const HttpInvalidError = ERRORS.HTTP_INVALID
export const HeadersTooLargeError = ERRORS.HEADERS_TOO_LARGE
export const RequestTimeoutError = ERRORS.REQUEST_TIMEOUT
export const ExpectationFailedError = ERRORS.EXPECTATION_FAILED
export const JwsInvalidError = ERRORS.JWS_INVALID
export const JwsAlgorithmError = ERRORS.JWS_ALG_NOT_ALLOWED
export const JwsHeaderNotAllowedError = ERRORS.JWS_HEADER_NOT_ALLOWED
export const JwsTypInvalidError = ERRORS.JWS_TYP_INVALID
export const JwsKidUnknownError = ERRORS.JWS_KID_UNKNOWN
export const JwsKeyNotCallersError = ERRORS.JWS_KEY_NOT_CALLERS
export const JwsSignatureError = ERRORS.JWS_SIGNATURE_INVALID
export const PayloadUnsafeError = ERRORS.PAYLOAD_UNSAFE
export const SchemaInvalidError = ERRORS.SCHEMA_INVALID
export const KindUnknownError = ERRORS.KIND_UNKNOWN
export const MessageExpiredError = ERRORS.MESSAGE_EXPIRED
export const MessageFutureDatedError = ERRORS.MESSAGE_FUTURE_DATED
export const SenderMismatchError = ERRORS.SENDER_MISMATCH
export const RecipientInvalidError = ERRORS.RECIPIENT_INVALID
export const KindNotAllowedError = ERRORS.KIND_NOT_ALLOWED
export const PurposeNotAllowedError = ERRORS.PURPOSE_NOT_ALLOWED
export const PolicyDeniedError = ERRORS.POLICY_DENIED
export const LegalAuthorityMismatchError = ERRORS.LEGAL_AUTHORITY_MISMATCH
export const AgreementMismatchError = ERRORS.AGREEMENT_MISMATCH
export const ForwardTooLargeError = ERRORS.FORWARD_TOO_LARGE
export const IdConflictError = ERRORS.ID_CONFLICT
export const SupersedesUnknownError = ERRORS.SUPERSEDES_UNKNOWN
export const SupersedesNotYoursError = ERRORS.SUPERSEDES_NOT_YOURS
export const SupersedesMismatchError = ERRORS.SUPERSEDES_MISMATCH
export const SupersedesConflictError = ERRORS.SUPERSEDES_CONFLICT
export const AnswersNoRequestError = ERRORS.ANSWERS_NO_REQUEST
export const ReplayedError = ERRORS.REPLAYED
export const ServiceUnavailableError = ERRORS.SERVICE_UNAVAILABLE

/** Every code the gateway answers with: those of the table, and `INTERNAL` for a 500 it did not foresee (plugins/problem-details.ts). */
export type ErrorCode = keyof Table | 'INTERNAL'

/** The codes, for docs/integrators.md ("Error codes") and the OpenAPI document. */
export const ERROR_CODES: readonly ErrorCode[] = [...(Object.keys(TABLE) as Array<keyof Table>), 'INTERNAL']

/** The HTTP status of each code. */
export function statusOf(code: ErrorCode): number {
  return code === 'INTERNAL' ? 500 : TABLE[code][1]
}
