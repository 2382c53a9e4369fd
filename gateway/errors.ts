// Every refusal the gateway can give, with the stable code integrators code
// against. The codes are the public contract (docs/integrators.md, "Error codes"): add new
// ones, never rename or reuse one.
import createError from '@fastify/error'

export const UnauthenticatedError = createError('UNAUTHENTICATED', 'Not authenticated: %s', 401)
export const TokenCertMismatchError = createError('TOKEN_CERT_MISMATCH', 'The access token is bound to another client certificate (RFC 8705 cnf.x5t#S256)', 401)
export const ForbiddenError = createError('FORBIDDEN', 'Forbidden: %s', 403)
export const NotFoundError = createError('NOT_FOUND', 'Not found: %s', 404)
export const UnsupportedMediaTypeError = createError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type: %s', 415)
export const PayloadTooLargeError = createError('PAYLOAD_TOO_LARGE', 'The body is larger than the %d bytes allowed', 413)
export const BodyInvalidError = createError('BODY_INVALID', 'The body could not be read: %s', 400)
export const RequestInvalidError = createError('REQUEST_INVALID', 'The request is not valid: %s', 400)
export const CheckpointConflictError = createError('CHECKPOINT_CONFLICT', 'The checkpoint contradicts one already countersigned: %s', 409)
export const DeadLetterNotFoundError = createError('DEAD_LETTER_NOT_FOUND', 'No dead letter %s', 404)
export const DeadLetterConflictError = createError('DEAD_LETTER_CONFLICT', 'Message %s', 409)
export const GrantTypeUnsupportedError = createError('GRANT_TYPE_UNSUPPORTED', 'The token request is not one this gateway answers: %s', 400)

// Refusals below HTTP semantics (RFC 9112 message framing), answered before a route is chosen.
export const HttpInvalidError = createError('HTTP_INVALID', 'The request is not acceptable HTTP/1.1: %s', 400)
export const HeadersTooLargeError = createError('HEADERS_TOO_LARGE', 'The request headers are larger than the %d bytes allowed', 431)
export const RequestTimeoutError = createError('REQUEST_TIMEOUT', 'The request was not received in time: %s', 408)
export const ExpectationFailedError = createError('EXPECTATION_FAILED', 'Only Expect: 100-continue is understood, not %s', 417)

export const JwsInvalidError = createError('JWS_INVALID', 'The message is not a valid compact JWS: %s', 400)
export const JwsAlgorithmError = createError('JWS_ALG_NOT_ALLOWED', 'JWS algorithm %s is not allowed (allowed: ES256, EdDSA)', 400)
export const JwsHeaderNotAllowedError = createError('JWS_HEADER_NOT_ALLOWED', 'The JWS protected header carries a parameter the contract does not allow: %s', 400)
export const JwsTypInvalidError = createError('JWS_TYP_INVALID', 'The JWS typ must be %s', 400)
export const JwsKidUnknownError = createError('JWS_KID_UNKNOWN', 'No registered signing key has kid %s', 400)
export const JwsKeyNotCallersError = createError('JWS_KEY_NOT_CALLERS', 'Signing key %s is not registered to the calling system', 403)
export const JwsSignatureError = createError('JWS_SIGNATURE_INVALID', 'The JWS signature does not verify', 400)
export const PayloadUnsafeError = createError('PAYLOAD_UNSAFE', 'The signed payload is not acceptable JSON: %s', 400)

export const SchemaInvalidError = createError('SCHEMA_INVALID', 'The message does not match its schema: %s', 422)
export const KindUnknownError = createError('KIND_UNKNOWN', 'Unknown message kind: %s', 422)
export const MessageExpiredError = createError('MESSAGE_EXPIRED', 'createdAt %s is older than the accepted window', 400)
export const MessageFutureDatedError = createError('MESSAGE_FUTURE_DATED', 'createdAt %s is later than the accepted clock skew', 400)
export const SenderMismatchError = createError('SENDER_MISMATCH', 'The envelope names a sender other than the calling system: %s', 403)
export const RecipientInvalidError = createError('RECIPIENT_INVALID', 'The envelope names a recipient this gateway cannot deliver to: %s', 422)
export const KindNotAllowedError = createError('KIND_NOT_ALLOWED', 'The calling system may not send messages of kind %s', 403)
export const PurposeNotAllowedError = createError('PURPOSE_NOT_ALLOWED', 'The calling system may not send for purpose %s', 403)
export const PolicyDeniedError = createError('POLICY_DENIED', 'No policy allows this exchange: %s', 403)
export const IdConflictError = createError('ID_CONFLICT', 'Message %s was already submitted with other content', 409)
export const ReplayedError = createError('REPLAYED', 'Message %s was already received with other content', 409)
export const ServiceUnavailableError = createError('SERVICE_UNAVAILABLE', 'Temporarily unavailable: %s', 503)

/** The codes, for docs/integrators.md ("Error codes") and the OpenAPI document. */
export const ERROR_CODES = [
  'UNAUTHENTICATED', 'TOKEN_CERT_MISMATCH', 'FORBIDDEN', 'NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE', 'BODY_INVALID', 'REQUEST_INVALID', 'CHECKPOINT_CONFLICT', 'DEAD_LETTER_NOT_FOUND', 'DEAD_LETTER_CONFLICT',
  'GRANT_TYPE_UNSUPPORTED', 'HTTP_INVALID', 'HEADERS_TOO_LARGE', 'REQUEST_TIMEOUT', 'EXPECTATION_FAILED',
  'JWS_INVALID', 'JWS_HEADER_NOT_ALLOWED', 'JWS_TYP_INVALID', 'JWS_ALG_NOT_ALLOWED', 'JWS_KID_UNKNOWN',
  'JWS_KEY_NOT_CALLERS', 'JWS_SIGNATURE_INVALID', 'PAYLOAD_UNSAFE', 'SCHEMA_INVALID', 'KIND_UNKNOWN',
  'MESSAGE_EXPIRED', 'MESSAGE_FUTURE_DATED', 'SENDER_MISMATCH', 'RECIPIENT_INVALID', 'KIND_NOT_ALLOWED',
  'PURPOSE_NOT_ALLOWED', 'POLICY_DENIED', 'ID_CONFLICT', 'REPLAYED', 'SERVICE_UNAVAILABLE', 'INTERNAL'
] as const

