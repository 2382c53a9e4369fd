// POST /v1/exchange: the partner gateway delivers here. Inbound pipeline:
// pinned certificate → partner's signature → replay → validate → inbound
// policy → audit + outbox → signed receipt → queued push to the agency.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ForbiddenError, PolicyDeniedError, RecipientInvalidError, ReplayedError, ServiceUnavailableError, UnsupportedMediaTypeError } from '../errors.ts'
import { sha256 } from '../lib/digest.ts'
import { parseSignedJson } from '../lib/safe-json.ts'
import { signCompactJws } from '../jws/sign-compact.ts'
import { verifyCompactJws } from '../jws/verify-compact.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import { ENVELOPE_TYP, type DeliveredEnvelope, type Envelope } from '../pipeline/envelope.ts'
import { RECEIPT_TYP, signReceipt } from '../pipeline/receipt.ts'
import { travellerSubjects } from '../pipeline/traveller-subjects.ts'
import { problemFor } from '../plugins/problem-details.ts'
import type { MessageRecord } from '../store/records.ts'
import { gatewayOwner, type AgencySystem } from '../trust/trust-store.ts'
import { SECURITY, joseBody, joseResponse, jwsPayload, problemResponses } from '../plugins/openapi.ts'

const EXCHANGE_SCHEMA = {
  summary: 'Deliver a message from the partner gateway',
  description: 'For the partner gateway only (its pinned certificate; no token). The inbound pipeline: the partner\'s signature, replay ' +
    'protection, the forwarded envelope\'s schema and the payload against what the sender\'s outbound policy lets through, the policy version, ' +
    'the inbound policy, then audit and outbox, a signed receipt, and a queued push to the receiving agency system. A message id is accepted ' +
    'once: the same bytes again get the same receipt (never an error, so retries cannot loop); the same id with other bytes, `409 REPLAYED`.',
  tags: ['gateway-to-gateway'],
  security: SECURITY.certificate,
  body: joseBody(`A compact JWS signed with the partner gateway's key, \`typ\` \`${ENVELOPE_TYP}\`, whose payload is the forwarded envelope: ` +
    'see `x-jws-payload`.'),
  'x-jws-payload': jwsPayload('forwarded-envelope'),
  response: {
    200: joseResponse(`The signed receipt: a compact JWS with \`typ\` \`${RECEIPT_TYP}\`, signed with this gateway's key, whose payload is ` +
      '`{ messageId, digest, receivedAt, receiver, policyVersion }`; `digest` is the base64url SHA-256 of exactly the JWS received.'),
    ...problemResponses(
      'UNAUTHENTICATED', 'FORBIDDEN', 'BODY_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE',
      'JWS_INVALID', 'JWS_ALG_NOT_ALLOWED', 'JWS_KID_UNKNOWN', 'JWS_KEY_NOT_CALLERS', 'JWS_SIGNATURE_INVALID', 'PAYLOAD_UNSAFE',
      'KIND_UNKNOWN', 'SCHEMA_INVALID', 'RECIPIENT_INVALID', 'POLICY_DENIED', 'REPLAYED', 'SERVICE_UNAVAILABLE'
    )
  }
}

export interface ExchangeRouteOptions {
  readonly bodyLimitBytes: number
  /** System id -> webhook URL, overriding the trust file. */
  readonly webhooks: Readonly<Record<string, string>>
}

function receiver(systems: Iterable<AgencySystem>, agency: string, kind: string, webhooks: Readonly<Record<string, string>>): { system: AgencySystem; url: string } | undefined {
  let fallback: { system: AgencySystem; url: string } | undefined
  for (const system of systems) {
    const url = webhooks[system.id] ?? system.webhook
    if (system.agency !== agency || url === undefined) continue
    if (system.kinds.has(kind)) return { system, url }
    fallback ??= { system, url }
  }
  return fallback
}

export async function exchangeRoutes(app: FastifyInstance, opts: ExchangeRouteOptions): Promise<void> {
  const partner = gatewayOwner(app.trust.partner.country)
  app.addHook('onRequest', requireRole('partner'))
  app.addHook('onError', async (request: FastifyRequest, _reply, error) => {
    if (request.caller?.role !== 'partner') return
    try {
      await app.store.appendAudit(auditEntry({
        event: 'refused', direction: 'inbound', caller: request.caller.id, code: problemFor(error as never).code,
        envelope: request.auditEnvelope,
        digest: typeof request.body === 'string' ? app.policyBook.digest(request.body) : null
      }))
    } catch (err) {
      request.log.error({ err }, 'could not audit a refusal')
    }
  })

  app.post('/v1/exchange', { schema: EXCHANGE_SCHEMA, bodyLimit: opts.bodyLimitBytes }, async (request, reply) => {
    if (typeof request.body !== 'string') throw new UnsupportedMediaTypeError('POST /v1/exchange takes application/jose')
    const jws = request.body
    const digest = sha256(jws)
    const verified = await verifyCompactJws(jws, { keys: app.trust.partner.keys, owner: partner, typ: ENVELOPE_TYP })
    const value = parseSignedJson(verified.payload) as Partial<Envelope> | null
    const claimedId = typeof value?.id === 'string' ? value.id : undefined

    // Replay protection: an id is accepted once; the same bytes again get the
    // same receipt (retries must not loop on an error, the AS4 lesson).
    if (claimedId !== undefined) {
      const existing = await app.store.findMessage('inbound', claimedId)
      if (existing !== undefined) return replay(existing)
    }

    const envelope = app.validator.forwarded(value)
    request.auditEnvelope = envelope
    if (envelope.from.country !== app.trust.partner.country) throw new ForbiddenError(`the partner cannot send for ${envelope.from.country}`)
    if (envelope.to.country !== app.trust.country) throw new RecipientInvalidError(`country ${envelope.to.country}`)
    if (envelope.handling.policyVersion !== app.policyBook.version(envelope.kind)) {
      throw new PolicyDeniedError(`policy version ${envelope.handling.policyVersion} of ${envelope.kind} is not the one this gateway holds`)
    }
    const policy = app.policyBook.select(envelope, 'inbound')
    const target = receiver(app.trust.agencies.values(), envelope.to.agency, envelope.kind, opts.webhooks)
    if (target === undefined) throw new RecipientInvalidError(`no system of ${envelope.to.agency} takes deliveries`)
    const minimised = app.policyBook.apply(policy, envelope.payload)

    const now = new Date().toISOString()
    const receipt = await signReceipt({
      messageId: envelope.id, digest, receivedAt: now, receiver: `gateway:${app.trust.country}`, policyVersion: policy.version
    }, app.trust.signingKey)
    const delivered: DeliveredEnvelope = {
      ...envelope,
      payload: minimised.payload,
      receivedFrom: { gateway: app.trust.partner.country, jws, receipt }
    }
    const push = await signCompactJws(JSON.stringify(delivered), app.trust.signingKey, ENVELOPE_TYP)
    const record: MessageRecord = {
      direction: 'inbound', id: envelope.id, digest, kind: envelope.kind, purpose: envelope.purpose,
      sender: `${envelope.from.country}/${envelope.from.agency}/${envelope.from.system}`, recipient: target.system.id,
      status: 'accepted', acceptedAt: now, updatedAt: now, attempts: [], receipt,
      correlationId: envelope.correlationId ?? null, policyVersion: policy.version
    }
    const item = { direction: 'inbound' as const, id: envelope.id, target: target.system.id, sealed: app.sealer.seal(push, envelope.id), createdAt: now }
    const audit = auditEntry({
      event: 'received', direction: 'inbound', caller: partner, envelope, policy,
      digest: app.policyBook.digest(jws), fields: minimised.decisions, at: now,
      subjects: travellerSubjects(envelope.payload).map((s) => app.policyBook.digest(s))
    })
    let accepted: boolean
    try {
      accepted = await app.store.accept(record, item, audit)
    } catch (err) {
      request.log.error({ err }, 'ledger write failed')
      throw new ServiceUnavailableError('the ledger could not record the message; retry later')
    }
    if (!accepted) return replay((await app.store.findMessage('inbound', envelope.id))!)
    try {
      await app.queues.enqueue(item)
    } catch (err) {
      request.log.warn({ err, messageId: envelope.id }, 'enqueue failed; left to the outbox relay')
    }
    return reply.code(200).type('application/jose').send(receipt)

    function replay(existing: MessageRecord) {
      if (existing.digest !== digest) throw new ReplayedError(existing.id)
      return reply.code(200).type('application/jose').send(existing.receipt)
    }
  })
}
