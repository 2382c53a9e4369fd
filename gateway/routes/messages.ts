// POST /v1/messages and GET /v1/messages/{id}: the outbound pipeline, one
// named step after another (docs/architecture.md, "The pipeline, one
// message"): authenticate → token → verify →
// validate → check → policy → sign and seal (pipeline/prepare-outbound.ts, on a
// worker thread for a large message) → audit + outbox → queue → 202.
import type { FastifyInstance } from 'fastify'
import { MESSAGE_ID_PATTERN } from '../../schemas/index.ts'
import { IdConflictError, NotFoundError } from '../errors.ts'
import { MESSAGE_STATUS_SCHEMA, messageStatus, statusUrl } from '../intake/message-status.ts'
import { refusalAuditHook } from '../intake/refusal-audit.ts'
import { SUBMISSION_BODY, SUBMISSION_REFUSALS } from '../intake/submission-contract.ts'
import { requireRequestAnswered } from '../intake/correlation.ts'
import { checkSupersedes, earlierLinksOf } from '../intake/supersession.ts'
import { ENVELOPE_TYP } from '../pipeline/envelope.ts'
import { refusalError } from '../pipeline/refusal-data.ts'
import { requireRole, type Caller } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import type { FreshnessWindow } from '../pipeline/check-envelope.ts'
import type { MessageRecord } from '../store/records.ts'
import { PARTNER_TARGET } from '../delivery/deliver-to-partner.ts'
import { SECURITY, jwsPayload, problemResponses } from '../plugins/openapi.ts'
import { JOSE, takesOnly } from '../plugins/body-parsers.ts'

const STATUS_RESPONSE = { content: { 'application/json': { schema: { $ref: `${MESSAGE_STATUS_SCHEMA.$id}#` } } } } as const
const LOCATION = { location: { type: 'string', description: 'The status URL: `/v1/messages/{id}`.' } } as const

const SUBMIT_SCHEMA = {
  summary: 'Submit a signed message',
  description:
    "The outbound pipeline: the token, the JWS signature (the calling system's own key), the envelope and payload schemas, " +
    'the sender, recipient, kinds, purposes and freshness, then the policy for (kind, purpose, recipient), which shares, generalises, ' +
    'pseudonymises or withholds every field. The decision is audited and the minimised envelope, re-signed by this gateway, is committed to the ' +
    'outbox before the answer: a `202` is never lost. The envelope `id` is the idempotency key: the same id and envelope again get `200` ' +
    'and the current status, whether the same bytes or the same payload signed again; the same id with another payload, `409 ID_CONFLICT`. Every refusal from an identified system is audited too. ' +
    'An envelope with `supersedes` corrects or retracts an earlier message of the same system, kind, purpose and recipient: it follows ' +
    'the original to the system that received it, and one not yet delivered is withdrawn (docs/integrators.md, "Corrections and retractions").',
  tags: ['messages'],
  security: SECURITY.certificateAndToken,
  body: SUBMISSION_BODY,
  'x-jws-payload': jwsPayload('envelope'),
  response: {
    200: { description: 'A repeat of a message already accepted (same id, same payload): its current status.', headers: LOCATION, ...STATUS_RESPONSE },
    202: { description: 'Accepted: audited, committed to the outbox and queued for the partner gateway.', headers: LOCATION, ...STATUS_RESPONSE },
    ...problemResponses(
      ...SUBMISSION_REFUSALS,
      'FORWARD_TOO_LARGE',
      'ID_CONFLICT',
      'SUPERSEDES_UNKNOWN',
      'ANSWERS_NO_REQUEST',
      'SUPERSEDES_NOT_YOURS',
      'SUPERSEDES_MISMATCH',
      'SUPERSEDES_CONFLICT',
      'SERVICE_UNAVAILABLE'
    )
  }
}

const STATUS_SCHEMA = {
  summary: 'Follow a submitted message',
  description:
    "Its status, every failed delivery attempt, and once delivered the partner gateway's signed receipt. " +
    "Only the system that submitted the message sees it: another system's message is `404`, like a missing one.",
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
  /** A submission of at least this many bytes is looked up as a repeat before it is prepared (PIPELINE_WORKER_MIN_BYTES; intake.ts, sameBytesAgain). */
  readonly repeatFirstMinBytes: number
}

export async function messageRoutes(app: FastifyInstance, opts: MessageRouteOptions): Promise<void> {
  app.addSchema(MESSAGE_STATUS_SCHEMA)
  app.addHook('onRequest', requireRole('agency'))
  app.addHook('onRequest', requireBoundToken)

  // Refusals from an authenticated caller are audited too (docs/architecture.md,
  // "The pipeline, one message");
  // a status read is not a submission.
  app.addHook('onError', refusalAuditHook({ direction: 'outbound', method: 'POST', store: app.store, policyBook: app.policyBook }))

  app.post<{ Body: string }>(
    '/v1/messages',
    { schema: SUBMIT_SCHEMA, bodyLimit: opts.bodyLimitBytes, ...takesOnly(JOSE, 'POST /v1/messages') },
    async (request, reply) => {
      const caller = request.caller as AgencyCaller
      const trust = app.trust
      // A large submission sent again by the system that sent it, as it was:
      // its status at once (intake.ts, sameBytesAgain). Another system's goes
      // through the pipeline, to be refused as it always was.
      const again = request.body.length < opts.repeatFirstMinBytes ? undefined : await app.intake.sameBytesAgain('outbound', request.body)
      if (again !== undefined && again.sender === caller.id) return reply.code(200).header('location', statusUrl(again.id)).send(messageStatus(again))
      const prepared = await app.pipeline.outbound({
        jws: request.body,
        system: caller.system,
        keys: trust.agencyKeys,
        claims: request.user,
        window: opts,
        partnerCountry: trust.partnerCountry,
        country: trust.country,
        signingKey: trust.signingKey,
        forwardLimitBytes: opts.bodyLimitBytes
      })
      const { digest, payloadDigest } = prepared
      request.auditEnvelope = prepared.facts

      // A repeat is answered with the status, whatever the clock says now: a
      // retrying client must never be told it failed (here, or by the
      // admission below). It is the same bytes, or the same envelope signed
      // again: the same payload, from the same system, under a signature that
      // verified with its own key (docs/integrators.md, "Step by step").
      const existing = await app.intake.repeatOf('outbound', prepared.facts?.id, prepared)
      if (existing !== undefined) return repeat(existing)
      if (prepared.refusal !== undefined) throw refusalError(prepared.refusal)
      const result = prepared.result!
      const { envelope } = result
      const recipient = `${envelope.to.country}/${envelope.to.agency}`
      // A correction or retraction names a message this system sent through
      // this gateway (docs/integrators.md, "Corrections and retractions").
      const original = envelope.supersedes === undefined ? undefined : await app.intake.stored('outbound', envelope.supersedes.id)
      if (envelope.supersedes !== undefined) {
        checkSupersedes(envelope.supersedes, original, { sender: caller.id, kind: envelope.kind, purpose: envelope.purpose, recipient })
      }
      // A match response answers a request this agency received (intake/correlation.ts).
      await requireRequestAnswered(envelope, 'inbound', (direction, id) => app.intake.stored(direction, id), original)
      // An original not delivered yet may never reach the partner: the links
      // before it travel with this message, for the partner to link it to
      // the nearest it holds (intake/supersession.ts, earlierLinksOf).
      const earlierLinks = original === undefined ? [] : await earlierLinksOf(original, (id) => app.intake.stored('outbound', id))
      const forwarded =
        earlierLinks.length === 0
          ? result
          : {
              ...result,
              sealed: await app.pipeline.amend({
                sealed: result.sealed,
                id: envelope.id,
                typ: ENVELOPE_TYP,
                signingKey: trust.signingKey,
                handling: { earlierLinks },
                limitBytes: opts.bodyLimitBytes
              })
            }
      const admission = await app.intake.admit({
        direction: 'outbound',
        event: 'accepted',
        caller: caller.id,
        sender: caller.id,
        recipient,
        target: PARTNER_TARGET,
        receipt: null,
        digest,
        auditDigest: prepared.auditDigest,
        ...(payloadDigest === undefined ? {} : { payloadDigest }),
        prepared: forwarded,
        ...(original === undefined ? {} : { original }),
        log: request.log
      })
      if (!admission.accepted) return repeat(admission.existing)
      return reply.code(202).header('location', statusUrl(envelope.id)).send(messageStatus(admission.record))

      function repeat(existing: MessageRecord) {
        const same = existing.digest === digest || (existing.payloadDigest !== undefined && existing.payloadDigest === payloadDigest)
        if (!same || existing.sender !== caller.id) throw new IdConflictError(existing.id)
        return reply.code(200).header('location', statusUrl(existing.id)).send(messageStatus(existing))
      }
    }
  )

  app.get<{ Params: { id: string } }>('/v1/messages/:id', { schema: STATUS_SCHEMA }, async (request) => {
    const record = await app.store.findMessage('outbound', request.params.id)
    // Another system's message is as invisible as a missing one.
    if (record === undefined || record.sender !== request.caller!.id) throw new NotFoundError(`message ${request.params.id}`)
    return messageStatus(record)
  })
}
