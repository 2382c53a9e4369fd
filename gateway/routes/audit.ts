// The privacy officer's view of the ledger (DESIGN §4, §6): search, one entry,
// a traveller's disclosure report, streamed exports, verification, and legal
// holds (P9). Privacy-officer certificates with a bound token only; agency
// systems and the partner are refused.
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { verifyLedger } from '../audit/verify-ledger.ts'
import { NotFoundError, RequestInvalidError } from '../errors.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import { documentSubject, membershipSubject } from '../pipeline/traveller-subjects.ts'
import type { AuditQuery, GatewayStore, StoredAuditEntry } from '../store/records.ts'
import { auditPage, csvHeader, csvRow, type AuditFilterQuery, AUDIT_FILTER_SCHEMA, toAuditQuery } from './audit-query.ts'

const PAGE = 500

/** Every entry matching the query, page by page: constant memory however large the export. */
async function * allMatching(store: GatewayStore, query: AuditQuery): AsyncGenerator<StoredAuditEntry> {
  let after = 0
  for (;;) {
    const page = await store.searchAudit(query, after, PAGE)
    yield * page
    if (page.length < PAGE) return
    after = page[page.length - 1]!.seq
  }
}

interface DisclosureBody {
  documentNumber?: string
  issuingCountry?: string
  membershipId?: string
}

const DISCLOSURE_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    documentNumber: { type: 'string', minLength: 1, maxLength: 20 },
    issuingCountry: { type: 'string', pattern: '^[A-Z<]{1,3}$' },
    membershipId: { type: 'string', minLength: 1, maxLength: 20 }
  },
  oneOf: [{ required: ['documentNumber', 'issuingCountry'] }, { required: ['membershipId'] }]
} as const

function subjectOf(body: DisclosureBody): string {
  if (body.membershipId !== undefined) return membershipSubject(body.membershipId)
  if (body.documentNumber !== undefined && body.issuingCountry !== undefined) return documentSubject(body.issuingCountry, body.documentNumber)
  throw new RequestInvalidError('give documentNumber and issuingCountry, or membershipId')
}

export async function auditRoutes(app: FastifyInstance): Promise<void> {
  app.addHook('preHandler', requireRole('privacy-officer'))
  app.addHook('preHandler', requireBoundToken)

  app.get<{ Querystring: AuditFilterQuery }>('/v1/audit/entries', { schema: { querystring: AUDIT_FILTER_SCHEMA } }, async (request) => {
    return auditPage(app.store, toAuditQuery(request.query), request.query)
  })

  app.get<{ Params: { seq: string } }>('/v1/audit/entries/:seq', async (request) => {
    const seq = Number(request.params.seq)
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RequestInvalidError('seq must be a positive integer')
    const entry = await app.store.auditEntry(seq)
    if (entry === undefined) throw new NotFoundError(`audit entry ${seq}`)
    return entry
  })

  // POST, so that a document number never appears in a URL or an access log.
  app.post<{ Body: DisclosureBody }>('/v1/audit/disclosures', { schema: { body: DISCLOSURE_BODY } }, async (request) => {
    const subject = app.policyBook.digest(subjectOf(request.body))
    const disclosures = []
    for await (const e of allMatching(app.store, { subject })) {
      disclosures.push({
        seq: e.seq,
        at: e.entry.at,
        event: e.entry.event,
        direction: e.entry.direction,
        messageId: e.entry.messageId,
        kind: e.entry.kind,
        purpose: e.entry.purpose,
        legalAuthority: e.entry.legalAuthority,
        from: e.entry.from,
        to: e.entry.to,
        policy: e.entry.policy,
        shared: e.entry.fields.filter((f) => f.action !== 'withhold').map((f) => ({ path: f.path, action: f.action, rule: f.rule, principle: f.principle })),
        withheld: e.entry.fields.filter((f) => f.action === 'withhold').length
      })
    }
    await app.store.appendAudit(auditEntry({ event: 'disclosure-report', direction: 'outbound', caller: request.caller!.id, subjects: [subject] }))
    return { subject, disclosures }
  })

  app.get<{ Querystring: AuditFilterQuery & { format?: 'ndjson' | 'csv' } }>('/v1/audit/export', {
    schema: {
      querystring: {
        ...AUDIT_FILTER_SCHEMA,
        properties: { ...AUDIT_FILTER_SCHEMA.properties, format: { type: 'string', enum: ['ndjson', 'csv'] } }
      }
    }
  }, async (request, reply) => {
    const query = toAuditQuery(request.query)
    const csv = request.query.format === 'csv'
    const entries = allMatching(app.store, query)
    async function * lines(): AsyncGenerator<string> {
      if (csv) yield csvHeader()
      for await (const e of entries) yield csv ? csvRow(e) : `${JSON.stringify(e)}\n`
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    return reply
      .type(csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .header('content-disposition', `attachment; filename="audit-${app.trust.country}-${stamp}.${csv ? 'csv' : 'ndjson'}"`)
      .send(Readable.from(lines()))
  })

  app.get('/v1/audit/verification', async () => {
    const result = await verifyLedger(app.store, app.trust.ownLedgerKeys, app.trust.partner.ledgerKeys)
    const latest = await app.store.latestCheckpoint()
    return {
      ...result,
      latestCheckpoint: latest === undefined ? null : { seq: latest.seq, hash: latest.hash, at: latest.at, countersigned: latest.countersignature !== null }
    }
  })

  app.get('/v1/audit/legal-holds', async () => ({ holds: await app.store.legalHolds() }))

  app.post<{ Body: DisclosureBody & { ref: string; reason: string; messageId?: string } }>('/v1/audit/legal-holds', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['ref', 'reason'],
        properties: {
          ref: { type: 'string', pattern: '^[A-Za-z0-9._:-]{3,64}$' },
          reason: { type: 'string', minLength: 1, maxLength: 500 },
          messageId: { type: 'string', format: 'uuid' },
          ...DISCLOSURE_BODY.properties
        }
      }
    }
  }, async (request, reply) => {
    const { ref, reason, messageId } = request.body
    const subject = messageId === undefined ? app.policyBook.digest(subjectOf(request.body)) : null
    const hold = { ref, reason, messageId: messageId ?? null, subject, placedAt: new Date().toISOString(), releasedAt: null }
    if (!await app.store.addLegalHold(hold)) throw new RequestInvalidError(`legal hold ${ref} already exists`)
    await app.store.appendAudit(auditEntry({
      event: 'legal-hold-placed', direction: 'outbound', caller: request.caller!.id, messageId: hold.messageId,
      reference: ref, subjects: subject === null ? [] : [subject]
    }))
    return reply.code(201).send(hold)
  })

  app.delete<{ Params: { ref: string } }>('/v1/audit/legal-holds/:ref', async (request, reply) => {
    if (!await app.store.releaseLegalHold(request.params.ref, new Date().toISOString())) throw new NotFoundError(`active legal hold ${request.params.ref}`)
    await app.store.appendAudit(auditEntry({ event: 'legal-hold-released', direction: 'outbound', caller: request.caller!.id, reference: request.params.ref }))
    return reply.code(204).send()
  })
}
