// POST /v1/checkpoints: bilateral oversight of the ledgers. The partner
// gateway sends each signed checkpoint of its ledger head; this gateway
// countersigns and keeps it. Once countersigned, the partner cannot rewrite
// or rewind its history without contradicting a checkpoint it can no longer
// take back: a second checkpoint at the same sequence with another hash, or
// one behind the last, is refused and raises an alert.
import type { FastifyInstance } from 'fastify'
import { CheckpointConflictError, UnsupportedMediaTypeError } from '../errors.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import { COUNTERSIGNATURE_TYP, countersignCheckpoint } from '../audit/checkpoint-exchange.ts'
import { CHECKPOINT_JWS_TYP, verifyCheckpointJws } from '../audit/checkpointer.ts'
import { BODY_REFUSALS, joseBody, joseResponse, problemResponses, SECURITY, SIGNATURE_REFUSALS } from '../plugins/openapi.ts'

const CHECKPOINT_SCHEMA = {
  summary: "Countersign a checkpoint of the partner's ledger",
  description:
    'For the partner gateway only (its pinned certificate; no token). Bilateral oversight (P12): the partner sends each signed ' +
    'checkpoint of its ledger head; this gateway countersigns it and keeps both. The same checkpoint again gets the same countersignature; ' +
    'one at the same sequence with another hash, or one behind the last, is refused (`409 CHECKPOINT_CONFLICT`), audited and alerted.',
  tags: ['gateway-to-gateway'],
  security: SECURITY.certificate,
  body: joseBody(
    `A compact JWS signed with the partner gateway's key, \`typ\` \`${CHECKPOINT_JWS_TYP}\`, whose payload is ` +
      '`{ gateway, seq, hash, at }`: the head of its audit ledger.'
  ),
  response: {
    200: joseResponse(
      `The countersignature: a compact JWS with \`typ\` \`${COUNTERSIGNATURE_TYP}\`, signed with this gateway's key, ` +
        "whose payload is the checkpoint's claims plus `countersignedBy` and `countersignedAt`."
    ),
    ...problemResponses('UNAUTHENTICATED', 'FORBIDDEN', ...BODY_REFUSALS, ...SIGNATURE_REFUSALS, 'CHECKPOINT_CONFLICT')
  }
}

export async function checkpointRoutes(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', requireRole('partner'))

  app.post('/v1/checkpoints', { schema: CHECKPOINT_SCHEMA }, async (request, reply) => {
    if (typeof request.body !== 'string') throw new UnsupportedMediaTypeError('POST /v1/checkpoints takes application/jose')
    const partner = app.trust.partner.country
    const claims = await verifyCheckpointJws(request.body, app.trust.partner.keys, partner)

    const latest = await app.store.latestPartnerCheckpoint(partner)
    if (latest !== undefined && claims.seq <= latest.seq) {
      if (claims.seq === latest.seq && claims.hash === latest.hash) {
        return reply.type('application/jose').send(latest.countersignature)
      }
      request.log.error(
        { alert: 'CHECKPOINT_CONFLICT', partner, seq: claims.seq, keptSeq: latest.seq },
        'the partner presented a checkpoint that contradicts its history'
      )
      await app.store.appendAudit(auditEntry({ event: 'refused', direction: 'inbound', caller: request.caller!.id, code: 'CHECKPOINT_CONFLICT' }))
      throw new CheckpointConflictError(`sequence ${claims.seq} after ${latest.seq} (${latest.hash})`)
    }
    const countersignature = await countersignCheckpoint(claims, app.trust.country, app.trust.signingKey)
    await app.store.keepPartnerCheckpoint({ partner, seq: claims.seq, hash: claims.hash, at: claims.at, jws: request.body, countersignature })
    await app.store.appendAudit(auditEntry({ event: 'checkpoint-countersigned', direction: 'inbound', caller: request.caller!.id }))
    return reply.type('application/jose').send(countersignature)
  })
}
