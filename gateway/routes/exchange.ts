// POST /v1/exchange: the partner gateway delivers here. Inbound pipeline:
// pinned certificate → partner's signature → replay → validate → inbound
// policy → signed receipt and push (pipeline/prepare-inbound.ts, on a worker
// thread for a large message) → audit + outbox → queued push to the agency.
import type { FastifyInstance } from 'fastify'
import { ReplayedError } from '../errors.ts'
import { refusalAuditHook } from '../intake/refusal-audit.ts'
import { requireRequestAnswered } from '../intake/correlation.ts'
import { checkNoLoop, checkSupersedes, nearestHeld } from '../intake/supersession.ts'
import { refusalError } from '../pipeline/refusal-data.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { ENVELOPE_TYP, PUSH_TYP } from '../pipeline/envelope.ts'
import type { FreshnessWindow } from '../pipeline/check-envelope.ts'
import type { Receiver } from '../pipeline/prepare-inbound.ts'
import { RECEIPT_TYP } from '../pipeline/receipt.ts'
import type { MessageRecord } from '../store/records.ts'
import { gatewayOwner, type AgencySystem } from '../trust/trust-store.ts'
import { joseBody, joseResponse, jwsPayload, problemResponses, SECURITY } from '../plugins/openapi.ts'
import { EXCHANGE_REFUSALS } from '../intake/submission-contract.ts'
import { JOSE, takesOnly } from '../plugins/body-parsers.ts'

const EXCHANGE_SCHEMA = {
  summary: 'Deliver a message from the partner gateway',
  description:
    "For the partner gateway only (its pinned certificate; no token). The inbound pipeline: the partner's signature, replay " +
    "protection, the forwarded envelope's schema and the payload against what the sender's outbound policy lets through, the policy version, " +
    'the legal authority against what the sending country may cite, the inbound policy, then audit and outbox, a signed receipt, and a queued push to the receiving agency system. A message id is accepted ' +
    'once: the same bytes again get the same receipt (never an error, so retries cannot loop); the same id with other bytes, `409 REPLAYED`. ' +
    "A correction or retraction (`supersedes`) is checked against this gateway's record of the original, when it has one, and pushed to " +
    'the system that received the original. One whose original never reached this gateway supersedes the nearest of `handling.earlierLinks` ' +
    'that did, and its push names that one.',
  tags: ['gateway-to-gateway'],
  security: SECURITY.certificate,
  body: joseBody(
    `A compact JWS signed with the partner gateway's key, \`typ\` \`${ENVELOPE_TYP}\`, whose payload is the forwarded envelope: see \`x-jws-payload\`.`
  ),
  'x-jws-payload': jwsPayload('forwarded-envelope'),
  response: {
    200: joseResponse(
      `The signed receipt: a compact JWS with \`typ\` \`${RECEIPT_TYP}\`, signed with this gateway's key, whose payload is ` +
        '`{ messageId, digest, receivedAt, receiver, policyVersion }`; `digest` is the base64url SHA-256 of exactly the compact JWS received (the body, whitespace around it set aside).'
    ),
    ...problemResponses(...EXCHANGE_REFUSALS)
  }
}

export interface ExchangeRouteOptions {
  readonly bodyLimitBytes: number
  /** How late a forwarded envelope may arrive (pipeline/check-envelope.ts, checkForwarded). */
  readonly window: FreshnessWindow
  /** A delivery of at least this many bytes is looked up as a repeat before it is prepared (PIPELINE_WORKER_MIN_BYTES; intake.ts, sameBytesAgain). */
  readonly repeatFirstMinBytes: number
}

/** The local systems that take deliveries: those with a webhook (plugins/partner.ts says which, as the pushes do). */
function receivers(systems: Iterable<AgencySystem>, webhookFor: (systemId: string) => string | undefined): Receiver[] {
  const found: Receiver[] = []
  for (const system of systems) {
    if (webhookFor(system.id) !== undefined) found.push({ id: system.id, agency: system.agency, kinds: system.kinds })
  }
  return found
}

export async function exchangeRoutes(app: FastifyInstance, opts: ExchangeRouteOptions): Promise<void> {
  const partner = gatewayOwner(app.trust.partner.country)
  app.addHook('onRequest', requireRole('partner'))
  app.addHook('onError', refusalAuditHook({ direction: 'inbound', role: 'partner', store: app.store, policyBook: app.policyBook }))

  app.post<{ Body: string }>(
    '/v1/exchange',
    { schema: EXCHANGE_SCHEMA, bodyLimit: opts.bodyLimitBytes, ...takesOnly(JOSE, 'POST /v1/exchange') },
    async (request, reply) => {
      // A large delivery sent again, as it was: its receipt at once (intake.ts, sameBytesAgain).
      const again = request.body.length < opts.repeatFirstMinBytes ? undefined : await app.intake.sameBytesAgain('inbound', request.body)
      if (again !== undefined) return reply.code(200).type('application/jose').send(again.receipt)
      const trust = app.trust
      const prepared = await app.pipeline.inbound({
        jws: request.body,
        partnerCountry: trust.partner.country,
        partnerKeys: trust.partner.keys,
        country: trust.country,
        signingKey: trust.signingKey,
        receivers: receivers(trust.agencies.values(), app.partner.webhookFor),
        window: opts.window
      })
      const { digest } = prepared

      // Replay protection: an id is accepted once; the same bytes again get the
      // same receipt (retries must not loop on an error, the AS4 lesson), here
      // or by the admission below.
      // An id read from a payload whose signature no longer verifies (the
      // partner's key since dropped from this gateway's trust) answers only
      // exactly the bytes received before: anything else under it is refused as it is.
      const existing = await app.intake.repeatOf('inbound', prepared.claimedId ?? prepared.unverifiedId, prepared)
      if (existing !== undefined && (prepared.claimedId !== undefined || existing.digest === digest)) return replay(existing)
      request.auditEnvelope = prepared.facts
      if (prepared.refusal !== undefined) throw refusalError(prepared.refusal)
      const result = prepared.result!
      const { envelope } = result
      const sender = `${envelope.from.country}/${envelope.from.agency}/${envelope.from.system}`
      let target = result.target
      // A correction or retraction: its original, if it reached this gateway.
      // One that did not was withdrawn by its sender before it was delivered,
      // and never comes after this message (delivery/delivery-outcome.ts):
      // this one then supersedes the nearest link before it that reached
      // this gateway (the sender forwards them: intake/supersession.ts,
      // nearestHeld), so that the agency's record of it is put right; with
      // none held, it is taken all the same, with the link, and pushed as routed.
      const stored = (id: string) => app.intake.stored('inbound', id)
      const original = envelope.supersedes === undefined ? undefined : await nearestHeld(envelope.supersedes.id, result.earlierLinks, stored)
      const supersedes =
        envelope.supersedes !== undefined && original !== undefined && original.id !== envelope.supersedes.id
          ? { ...envelope.supersedes, id: original.id }
          : envelope.supersedes
      if (supersedes !== undefined) {
        await checkNoLoop(envelope.id, supersedes, original, stored)
        if (original !== undefined) {
          checkSupersedes(supersedes, original, { sender, kind: envelope.kind, purpose: envelope.purpose })
          // It goes where the original went (docs/integrators.md, "Corrections and retractions").
          target = original.recipient
        }
      }
      // A match response answers a request this gateway's agency sent (intake/correlation.ts).
      await requireRequestAnswered(envelope, 'outbound', (direction, id) => app.intake.stored(direction, id), original)
      // Linked to an earlier link than the one named: recorded so, and the
      // push, signed again, names it to the agency, which never had the one named.
      const linked =
        supersedes === envelope.supersedes
          ? result
          : {
              ...result,
              envelope: { ...envelope, supersedes },
              sealed: await app.pipeline.amend({ sealed: result.sealed, id: envelope.id, typ: PUSH_TYP, signingKey: trust.signingKey, members: { supersedes } })
            }
      const admission = await app.intake.admit({
        direction: 'inbound',
        event: 'received',
        caller: partner,
        sender,
        recipient: target,
        target,
        receipt: result.receipt,
        digest,
        auditDigest: prepared.auditDigest,
        prepared: linked,
        ...(original === undefined ? {} : { original }),
        log: request.log
      })
      if (!admission.accepted) return replay(admission.existing)
      if (result.narrowed) {
        // No value here: the ledger's entry says which fields the policy withheld or changed.
        request.log.warn(
          { alert: 'PARTNER_SENT_WITHHELD', messageId: envelope.id, kind: envelope.kind },
          "the partner sent what this gateway's inbound policy withholds; the agency gets the message without it"
        )
      }
      return reply.code(200).type('application/jose').send(result.receipt)

      function replay(existing: MessageRecord) {
        if (existing.digest !== digest) throw new ReplayedError(existing.id)
        return reply.code(200).type('application/jose').send(existing.receipt)
      }
    }
  )
}
