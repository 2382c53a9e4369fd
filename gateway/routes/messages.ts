// POST /v1/messages and GET /v1/messages/{id}: the outbound pipeline, one
// named step after another (DESIGN §3): authenticate → token → verify →
// validate → check → policy (pipeline/inspect-submission.ts) → audit + outbox
// → sign → queue → 202.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { IdConflictError, NotFoundError, ServiceUnavailableError, UnsupportedMediaTypeError } from '../errors.ts'
import { sha256 } from '../lib/digest.ts'
import { signCompactJws } from '../jws/sign-compact.ts'
import { requireRole, type Caller } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { FreshnessWindow } from '../pipeline/check-envelope.ts'
import type { ForwardedEnvelope } from '../pipeline/envelope.ts'
import { inspectSubmission, readSubmission } from '../pipeline/inspect-submission.ts'
import { travellerSubjects } from '../pipeline/traveller-subjects.ts'
import { problemFor } from '../plugins/problem-details.ts'
import type { MessageRecord, OutboxItem } from '../store/records.ts'
import { PARTNER_TARGET } from '../delivery/deliver-to-partner.ts'
import { messageStatus, statusUrl } from './message-status.ts'

export const ENVELOPE_TYP = 'btb-envelope+jws'

type AgencyCaller = Extract<Caller, { role: 'agency' }>

export interface MessageRouteOptions extends FreshnessWindow {
  readonly bodyLimitBytes: number
}

export async function messageRoutes(app: FastifyInstance, opts: MessageRouteOptions): Promise<void> {
  app.addHook('preHandler', requireRole('agency'))
  app.addHook('preHandler', requireBoundToken)

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

  app.post('/v1/messages', { bodyLimit: opts.bodyLimitBytes }, async (request, reply) => {
    if (typeof request.body !== 'string') throw new UnsupportedMediaTypeError('POST /v1/messages takes application/jose')
    const caller = request.caller as AgencyCaller
    const jws = request.body
    const digest = sha256(jws)

    const { value, facts } = await readSubmission(jws, app.trust, caller.system)
    request.auditEnvelope = facts

    // A repeat of the same bytes is answered with the status, whatever the
    // clock says now: a retrying client must never be told it failed.
    const claimedId = request.auditEnvelope?.id
    if (claimedId !== undefined) {
      const existing = await app.store.findMessage('outbound', claimedId)
      if (existing !== undefined) return repeat(existing, caller, digest)
    }

    const { envelope, policy, minimised } = inspectSubmission(value, {
      trust: app.trust, validator: app.validator, policyBook: app.policyBook, system: caller.system, claims: request.user, window: opts
    })
    const now = new Date().toISOString()
    const forwarded: ForwardedEnvelope = {
      ...envelope,
      payload: minimised.payload,
      handling: {
        policy: policy.id,
        policyVersion: policy.version,
        retentionDays: policy.rules.retentionDays,
        onwardTransfer: policy.rules.onwardTransfer,
        humanReviewRequired: policy.rules.humanReviewRequired,
        forwardedBy: app.trust.country,
        forwardedAt: now,
        originDigest: digest
      }
    }
    const outgoing = await signCompactJws(JSON.stringify(forwarded), app.trust.signingKey, ENVELOPE_TYP)
    const record: MessageRecord = {
      direction: 'outbound', id: envelope.id, digest, kind: envelope.kind, purpose: envelope.purpose,
      sender: caller.id, recipient: `${envelope.to.country}/${envelope.to.agency}`, status: 'accepted',
      acceptedAt: now, updatedAt: now, attempts: [], receipt: null,
      correlationId: envelope.correlationId ?? null, policyVersion: policy.version
    }
    const item: OutboxItem = { direction: 'outbound', id: envelope.id, target: PARTNER_TARGET, sealed: app.sealer.seal(outgoing, envelope.id), createdAt: now }
    const audit = auditEntry({
      event: 'accepted', direction: 'outbound', caller: caller.id, envelope, policy,
      digest: app.policyBook.digest(jws), fields: minimised.decisions, at: now,
      subjects: travellerSubjects(envelope.payload).map((s) => app.policyBook.digest(s))
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

  app.get<{ Params: { id: string } }>('/v1/messages/:id', async (request) => {
    const record = await app.store.findMessage('outbound', request.params.id)
    // Another system's message is as invisible as a missing one.
    if (record === undefined || record.sender !== request.caller!.id) throw new NotFoundError(`message ${request.params.id}`)
    return messageStatus(record)
  })
}
