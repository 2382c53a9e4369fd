// The operator's API (docs/architecture.md, "The pipeline, one message":
// dead letters): dead letters, listed and inspected
// as metadata only, resent from the durable outbox, or discarded with a
// reason. Operator certificates with a bound token only; agency systems,
// privacy officers and the partner are refused.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { MESSAGE_ID_PATTERN } from '../../schemas/index.ts'
import { REASON_SCHEMA } from '../lib/text-schemas.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import { SECURITY, cursorPage, jsonResponse, problemResponses, type ErrorCode } from '../plugins/openapi.ts'
import { DeadLetters, QUEUES, type OperationResult, type QueueName } from '../queue/dead-letters.ts'
import { statusUrl } from '../intake/message-status.ts'
import { QUEUE_NAMES } from '../queue/queue-names.ts'

const TAGS = ['operations']
const OPERATOR_ONLY = 'For operators (their certificate and a token from `POST /v1/token`).'
const OPERATOR_REFUSALS: readonly ErrorCode[] = ['UNAUTHENTICATED', 'TOKEN_CERT_MISMATCH', 'FORBIDDEN']
const BODY_REFUSALS: readonly ErrorCode[] = ['REQUEST_INVALID', 'BODY_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']

const QUEUE = {
  type: 'string',
  enum: QUEUES,
  description: `\`${QUEUE_NAMES.outbound}\` (outbound, to the partner gateway) or \`${QUEUE_NAMES.inbound}\` (inbound, to a local agency's webhook).`
} as const

const FAILURE_PROPERTIES = {
  code: { type: 'string', description: "`ECONNREFUSED`, `TIMEOUT`, `HTTP_503`, the far end's problem code (`POLICY_DENIED`)…" },
  status: { type: ['integer', 'null'], description: 'The HTTP status the far end answered, if it answered.' }
} as const

const FAILURE = {
  type: ['object', 'null'],
  description: 'Why the last attempt failed, as a code: never the text the far end sent.',
  additionalProperties: false,
  required: ['code', 'status'],
  properties: FAILURE_PROPERTIES
} as const

const DEAD_LETTER_PROPERTIES = {
  id: { type: 'string', description: 'The message id.' },
  queue: QUEUE,
  direction: { type: 'string', enum: ['outbound', 'inbound'] },
  kind: { type: 'string' },
  purpose: { type: 'string' },
  from: { type: 'string', description: 'The sending system.' },
  to: { type: 'string', description: 'The receiving agency (outbound) or system (inbound).' },
  attempts: { type: 'integer', description: 'Every failed attempt since it was accepted, those before each resend included.' },
  acceptedAt: { type: 'string', format: 'date-time' },
  firstFailureAt: { type: ['string', 'null'], format: 'date-time' },
  lastFailureAt: { type: ['string', 'null'], format: 'date-time' },
  deadLetteredAt: { type: 'string', format: 'date-time' },
  lastError: FAILURE,
  policyVersion: { type: ['string', 'null'], description: 'The content hash of the policy applied.' },
  digest: { type: 'string', description: 'base64url SHA-256 of the JWS as received.' }
} as const

// Response schemas double as an allow-list: fast-json-stringify writes only
// the properties named here, so nothing else a record holds can slip out.
const DEAD_LETTER = {
  type: 'object',
  description: "A dead letter's metadata: never its payload, envelope or JWS.",
  additionalProperties: false,
  required: Object.keys(DEAD_LETTER_PROPERTIES),
  properties: DEAD_LETTER_PROPERTIES
} as const

const DEAD_LETTER_DETAIL = {
  ...DEAD_LETTER,
  required: [...DEAD_LETTER.required, 'correlationId', 'failures'],
  properties: {
    ...DEAD_LETTER_PROPERTIES,
    correlationId: { type: ['string', 'null'], description: 'The request a response answers, for a response.' },
    failures: {
      type: 'array',
      description: 'Every failed attempt, oldest first.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['at', 'code', 'status'],
        properties: { at: { type: 'string', format: 'date-time' }, ...FAILURE_PROPERTIES }
      }
    }
  }
} as const

const RESULT = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'queue', 'outcome', 'status', 'changed', 'detail', 'statusUrl'],
  properties: {
    id: { type: 'string' },
    queue: QUEUE,
    outcome: { type: 'string', enum: ['requeued', 'already-queued', 'already-delivered', 'discarded', 'already-discarded'] },
    status: { type: 'string', enum: ['accepted', 'delivered', 'dead-lettered', 'discarded', 'withdrawn'], description: "The message's status now." },
    changed: { type: 'boolean', description: '`false` when there was nothing to do: nothing was changed or audited.' },
    detail: { type: 'string' },
    statusUrl: { type: 'string', description: "The message's status, as its sender reads it." }
  }
} as const

const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: MESSAGE_ID_PATTERN, description: 'The message id (lower-case UUID).' } }
} as const

const ITEM_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: { queue: { ...QUEUE, description: "Needed only when the id names a message in both queues (ids are the senders' choice)." } }
} as const

// One line of printable text, with something in it: the reason is written to the ledger.
const REASON = REASON_SCHEMA

const SCHEMAS = {
  list: {
    summary: 'List dead letters',
    description: `${OPERATOR_ONLY} Messages whose delivery exhausted its attempts, in both queues or one, oldest first, with a stable cursor.`,
    tags: TAGS,
    security: SECURITY.certificateAndToken,
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        queue: QUEUE,
        cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,400}$', description: '`nextCursor` of the page before.' },
        limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }
      }
    },
    response: {
      200: jsonResponse('A page of dead letters.', cursorPage('deadLetters', DEAD_LETTER)),
      ...problemResponses(...OPERATOR_REFUSALS, 'REQUEST_INVALID')
    }
  },
  show: {
    summary: 'Inspect a dead letter',
    description: `${OPERATOR_ONLY} Its parties, kind, purpose, policy version and digest, and every failed attempt as a code.`,
    tags: TAGS,
    security: SECURITY.certificateAndToken,
    params: ID_PARAMS,
    querystring: ITEM_QUERY,
    response: {
      200: jsonResponse('The dead letter.', DEAD_LETTER_DETAIL),
      ...problemResponses(...OPERATOR_REFUSALS, 'REQUEST_INVALID', 'DEAD_LETTER_NOT_FOUND')
    }
  },
  resend: {
    summary: 'Resend a dead letter',
    description:
      `${OPERATOR_ONLY} Queues the sealed copy kept in the outbox again (not the Redis job, which may be lost), with a fresh set ` +
      'of attempts, and audits it. A message already queued or delivered is left as it is: `200` with `changed: false`.',
    tags: TAGS,
    security: SECURITY.certificateAndToken,
    params: ID_PARAMS,
    querystring: ITEM_QUERY,
    body: { type: 'object', additionalProperties: false, properties: { reason: REASON } },
    response: {
      200: jsonResponse('Nothing to do: already queued or delivered.', RESULT),
      202: jsonResponse('Queued again.', RESULT),
      ...problemResponses(...OPERATOR_REFUSALS, ...BODY_REFUSALS, 'DEAD_LETTER_NOT_FOUND', 'DEAD_LETTER_CONFLICT')
    }
  },
  discard: {
    summary: 'Discard a dead letter',
    description:
      `${OPERATOR_ONLY} Gives up on the message for good: its sealed copy is deleted, the outbox relay never sends it, ` +
      'its sender sees `discarded`, and the reason is written to the audit ledger. While a legal hold covers the message, ' +
      'its sealed copy is kept until the retention purge after the hold is released (`detail` says so).',
    tags: TAGS,
    security: SECURITY.certificateAndToken,
    params: ID_PARAMS,
    querystring: ITEM_QUERY,
    body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: REASON } },
    response: {
      200: jsonResponse('Discarded (or discarded already: `changed: false`).', RESULT),
      ...problemResponses(...OPERATOR_REFUSALS, ...BODY_REFUSALS, 'DEAD_LETTER_NOT_FOUND', 'DEAD_LETTER_CONFLICT')
    }
  }
} as const

/**
 * A resend's body is optional: none at all reads as an empty one, which is
 * then validated like any other by the app's validator (lib/ajv-options.ts),
 * so `{"reason": 42}` or a misspelt member is still refused as sent.
 */
async function noBodyIsEmpty(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {}
}

interface ItemRequest {
  Params: { id: string }
  Querystring: { queue?: QueueName }
}

function withStatusUrl(result: OperationResult): OperationResult & { statusUrl: string } {
  return { ...result, statusUrl: statusUrl(result.id) }
}

export async function operationsRoutes(app: FastifyInstance): Promise<void> {
  // onRequest, not preHandler: a caller who is not an operator is refused
  // before its body is read or checked, so a 400 never tells a stranger anything.
  app.addHook('onRequest', requireRole('operator'))
  app.addHook('onRequest', requireBoundToken)

  const deadLetters = new DeadLetters(app.store, app.queues)

  app.get<{ Querystring: { queue?: QueueName; cursor?: string; limit?: number } }>('/v1/operations/dead-letters', { schema: SCHEMAS.list }, async (request) =>
    deadLetters.list(request.query)
  )

  app.get<ItemRequest>('/v1/operations/dead-letters/:id', { schema: SCHEMAS.show }, async (request) =>
    deadLetters.inspect(request.params.id, request.query.queue)
  )

  app.post<ItemRequest & { Body: { reason?: string } | null }>(
    '/v1/operations/dead-letters/:id/resend',
    { schema: SCHEMAS.resend, preValidation: noBodyIsEmpty },
    async (request, reply) => {
      const reason = request.body?.reason
      const result = await deadLetters.resend(request.params.id, {
        operator: request.caller!.id,
        ...(reason === undefined ? {} : { reason }),
        ...(request.query.queue === undefined ? {} : { queue: request.query.queue })
      })
      request.log.info({ messageId: result.id, queue: result.queue, outcome: result.outcome, operator: request.caller!.id }, 'dead letter resend')
      return reply.code(result.changed ? 202 : 200).send(withStatusUrl(result))
    }
  )

  app.post<ItemRequest & { Body: { reason: string } }>('/v1/operations/dead-letters/:id/discard', { schema: SCHEMAS.discard }, async (request) => {
    const result = await deadLetters.discard(request.params.id, {
      operator: request.caller!.id,
      reason: request.body.reason,
      ...(request.query.queue === undefined ? {} : { queue: request.query.queue })
    })
    request.log.info({ messageId: result.id, queue: result.queue, outcome: result.outcome, operator: request.caller!.id }, 'dead letter discard')
    return withStatusUrl(result)
  })
}
