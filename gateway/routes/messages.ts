// POST /v1/messages and GET /v1/messages/{id}: the outbound pipeline, one
// named step after another (DESIGN §3): authenticate → token → verify →
// validate → check → policy → sign and seal (pipeline/prepare-outbound.ts, on a
// worker thread for a large message) → audit + outbox → queue → 202.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { MESSAGE_ID_PATTERN } from '../../schemas/index.ts'
import { IdConflictError, NotFoundError, ServiceUnavailableError, UnsupportedMediaTypeError } from '../errors.ts'
import { refusalError } from '../pipeline/refusal-data.ts'
import { requireRole, type Caller } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { FreshnessWindow } from '../pipeline/check-envelope.ts'
import { ENVELOPE_TYP } from '../pipeline/envelope.ts'
import { problemFor } from '../plugins/problem-details.ts'
import type { MessageRecord, OutboxItem } from '../store/records.ts'
import { PARTNER_TARGET } from '../delivery/deliver-to-partner.ts'
import { SECURITY, joseBody, jwsPayload, problemResponses, type ErrorCode } from '../plugins/openapi.ts'
import { MESSAGE_STATUS_SCHEMA, messageStatus, statusUrl } from './message-status.ts'


/** Every refusal a submission can meet, step by step: also those of a dry run. */
export const SUBMISSION_REFUSALS: readonly ErrorCode[] = [
  'UNAUTHENTICATED', 'TOKEN_CERT_MISMATCH', 'FORBIDDEN', 'BODY_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE',
  'JWS_INVALID', 'JWS_HEADER_NOT_ALLOWED', 'JWS_TYP_INVALID', 'JWS_ALG_NOT_ALLOWED', 'JWS_KID_UNKNOWN', 'JWS_KEY_NOT_CALLERS',
  'JWS_SIGNATURE_INVALID', 'PAYLOAD_UNSAFE', 'KIND_UNKNOWN', 'SCHEMA_INVALID', 'MESSAGE_EXPIRED', 'MESSAGE_FUTURE_DATED', 'SENDER_MISMATCH', 'RECIPIENT_INVALID',
  'KIND_NOT_ALLOWED', 'PURPOSE_NOT_ALLOWED', 'POLICY_DENIED'
]

/** The compact JWS an agency system submits (README, "Integrator's guide", steps 2–4). */
export const SUBMISSION_BODY = joseBody('A compact JWS (RFC 7515) signed with the calling system\'s registered key. Protected header: ' +
  `\`alg\` ES256 or EdDSA (for ES256 the raw 64-byte r‖s signature), \`kid\` of that key, \`typ\` \`${ENVELOPE_TYP}\`. ` +
  'Its payload is the envelope: see `x-jws-payload` on this media type, and the `envelope` schema and the schema of each kind in `components.schemas`.')

const STATUS_RESPONSE = { content: { 'application/json': { schema: { $ref: `${MESSAGE_STATUS_SCHEMA.$id}#` } } } } as const
const LOCATION = { location: { type: 'string', description: 'The status URL: `/v1/messages/{id}`.' } } as const

const SUBMIT_SCHEMA = {
  summary: 'Submit a signed message',
  description: 'The outbound pipeline: the token, the JWS signature (the calling system\'s own key), the envelope and payload schemas, ' +
    'the sender, recipient, kinds, purposes and freshness, then the policy for (kind, purpose, recipient), which shares, generalises, ' +
    'pseudonymises or withholds every field. The decision is audited and the minimised envelope, re-signed by this gateway, is committed to the ' +
    'outbox before the answer: a `202` is never lost. The envelope `id` is the idempotency key: the same id and bytes again get `200` ' +
    'and the current status; the same id with other bytes, `409 ID_CONFLICT`. Every refusal from an identified system is audited too.',
  tags: ['messages'],
  security: SECURITY.certificateAndToken,
  body: SUBMISSION_BODY,
  'x-jws-payload': jwsPayload('envelope'),
  response: {
    200: { description: 'A repeat of a message already accepted (same id, same bytes): its current status.', headers: LOCATION, ...STATUS_RESPONSE },
    202: { description: 'Accepted: audited, committed to the outbox and queued for the partner gateway.', headers: LOCATION, ...STATUS_RESPONSE },
    ...problemResponses(...SUBMISSION_REFUSALS, 'ID_CONFLICT', 'SERVICE_UNAVAILABLE')
  }
}

const STATUS_SCHEMA = {
  summary: 'Follow a submitted message',
  description: 'Its status, every failed delivery attempt, and once delivered the partner gateway\'s signed receipt. ' +
    'Only the system that submitted the message sees it: another system\'s message is `404`, like a missing one.',
  tags: ['messages'],
  security: SECURITY.certificateAndToken,
  params: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: MESSAGE_ID_PATTERN, description: 'The envelope id you submitted (lower-case UUID).' } }
  },
  response: {
    200: { description: 'The status.', ...STATUS_RESPONSE },
    ...problemResponses('UNAUTHENTICATED', 'TOKEN_CERT_MISMATCH', 'FORBIDDEN', 'REQUEST_INVALID', 'NOT_FOUND')
  }
}

type AgencyCaller = Extract<Caller, { role: 'agency' }>

export interface MessageRouteOptions extends FreshnessWindow {
  readonly bodyLimitBytes: number
}

export async function messageRoutes(app: FastifyInstance, opts: MessageRouteOptions): Promise<void> {
  app.addSchema(MESSAGE_STATUS_SCHEMA)
  app.addHook('onRequest', requireRole('agency'))
  app.addHook('onRequest', requireBoundToken)

  // Refusals from an authenticated caller are audited too (DESIGN §3 step 6).
  app.addHook('onError', async (request: FastifyRequest, _reply, error) => {
    if (request.caller === null || request.method !== 'POST') return
    const { code } = problemFor(error as never)
    try {
      await app.store.appendAudit(auditEntry({
        event: 'refused', direction: 'outbound', caller: request.caller.id, envelope: request.auditEnvelope, code,
        digest: typeof request.body === 'string' ? app.policyBook.digest(request.body) : null
      }))
    } catch (err) {
      request.log.error({ err }, 'could not audit a refusal')
    }
  })

  app.post('/v1/messages', { schema: SUBMIT_SCHEMA, bodyLimit: opts.bodyLimitBytes }, async (request, reply) => {
    if (typeof request.body !== 'string') throw new UnsupportedMediaTypeError('POST /v1/messages takes application/jose')
    const caller = request.caller as AgencyCaller
    const trust = app.trust
    const prepared = await app.pipeline.outbound({
      jws: request.body, system: caller.system, keys: trust.agencyKeys, claims: request.user, window: opts,
      partnerCountry: trust.partnerCountry, country: trust.country, signingKey: trust.signingKey
    })
    const { digest } = prepared
    request.auditEnvelope = prepared.facts

    // A repeat of the same bytes is answered with the status, whatever the
    // clock says now: a retrying client must never be told it failed.
    const claimedId = prepared.facts?.id
    if (claimedId !== undefined) {
      const existing = await app.store.findMessage('outbound', claimedId)
      if (existing !== undefined) return repeat(existing, caller, digest)
    }
    if (prepared.refusal !== undefined) throw refusalError(prepared.refusal)
    const { envelope, policy, decisions, subjects, sealed, at } = prepared.result!

    const record: MessageRecord = {
      direction: 'outbound', id: envelope.id, digest, kind: envelope.kind, purpose: envelope.purpose,
      sender: caller.id, recipient: `${envelope.to.country}/${envelope.to.agency}`, status: 'accepted',
      acceptedAt: at, updatedAt: at, attempts: [], receipt: null,
      correlationId: envelope.correlationId ?? null, policyVersion: policy.version
    }
    const item: OutboxItem = { direction: 'outbound', id: envelope.id, target: PARTNER_TARGET, sealed, createdAt: at }
    const audit = auditEntry({
      event: 'accepted', direction: 'outbound', caller: caller.id, envelope, policy,
      digest: prepared.auditDigest, fields: decisions, at, subjects
    })
    let accepted: boolean
    try {
      accepted = await app.store.accept(record, item, audit)
    } catch (err) {
      request.log.error({ err }, 'ledger write failed')
      throw new ServiceUnavailableError('the ledger could not record the message; nothing was accepted, retry later')
    }
    if (!accepted) {
      // Lost a race with a concurrent submission of the same id.
      return repeat((await app.store.findMessage('outbound', envelope.id))!, caller, digest)
    }
    try {
      await app.queues.enqueue(item)
    } catch (err) {
      // Committed to the outbox: the relay will enqueue it. The 202 stands.
      request.log.warn({ err, messageId: envelope.id }, 'enqueue failed; left to the outbox relay')
    }
    return reply.code(202).header('location', statusUrl(envelope.id)).send(messageStatus(record))

    function repeat(existing: MessageRecord, who: AgencyCaller, bytesDigest: string) {
      if (existing.digest !== bytesDigest || existing.sender !== who.id) throw new IdConflictError(existing.id)
      return reply.code(200).header('location', statusUrl(existing.id)).send(messageStatus(existing))
    }
  })

  app.get<{ Params: { id: string } }>('/v1/messages/:id', { schema: STATUS_SCHEMA }, async (request) => {
    const record = await app.store.findMessage('outbound', request.params.id)
    // Another system's message is as invisible as a missing one.
    if (record === undefined || record.sender !== request.caller!.id) throw new NotFoundError(`message ${request.params.id}`)
    return messageStatus(record)
  })
}
