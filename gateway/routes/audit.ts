// The privacy officer's view of the ledger (docs/architecture.md, "The
// contract" and "Privacy principles in code"): search, one entry, a
// traveller's disclosure report, streamed exports, verification, and legal
// holds (P9). Privacy-officer certificates with a bound token only; agency
// systems and the partner are refused.
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { MESSAGE_ID_PATTERN } from '../../schemas/index.ts'
import { verifyLedger } from '../audit/verify-ledger.ts'
import { NotFoundError, RequestInvalidError } from '../errors.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import { documentSubject, membershipSubject } from '../pipeline/traveller-subjects.ts'
import type { AuditQuery, Direction, GatewayStore, StoredAuditEntry } from '../store/records.ts'
import { SECURITY, cursorPage, jsonResponse, problemResponses, type ErrorCode } from '../plugins/openapi.ts'
import { auditPage, csvHeader, csvRow, type AuditFilterQuery, AUDIT_ENTRY_SCHEMA, AUDIT_FILTER_SCHEMA, toAuditQuery } from '../audit/audit-query.ts'

const PAGE = 500

/** Every entry matching the query, page by page: constant memory however large the export. */
async function* allMatching(store: GatewayStore, query: AuditQuery): AsyncGenerator<StoredAuditEntry> {
  let after = 0
  for (;;) {
    const page = await store.searchAudit(query, after, PAGE)
    yield* page
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
    documentNumber: { type: 'string', minLength: 1, maxLength: 20, description: "The travel document's number, as the traveller shows it." },
    issuingCountry: { type: 'string', pattern: '^[A-Z<]{1,3}$', description: 'Its issuing state (ICAO code), e.g. `CAN`.' },
    membershipId: { type: 'string', minLength: 1, maxLength: 20, description: 'A trusted-traveller membership (NEXUS PASSID).' }
  },
  oneOf: [{ required: ['documentNumber', 'issuingCountry'] }, { required: ['membershipId'] }]
} as const

/** Refusals every route here can give: the role, the token, and the 5xx of a failing ledger. */
const OFFICER_REFUSALS: readonly ErrorCode[] = ['UNAUTHENTICATED', 'TOKEN_CERT_MISMATCH', 'FORBIDDEN']
const BODY_REFUSALS: readonly ErrorCode[] = ['REQUEST_INVALID', 'BODY_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']
const OFFICER_ONLY = 'For privacy officers (their certificate and a token from `POST /v1/token`).'

const AUDIT_ENTRY = { $ref: `${AUDIT_ENTRY_SCHEMA.$id}#` } as const

/**
 * Ledger entries are served exactly as stored, not re-serialised from the
 * schema: whoever reads one can recompute its hash from the text received.
 */
const asStored = () => (data: unknown) => JSON.stringify(data)

const LEGAL_HOLD_SCHEMA = {
  $id: 'legal-hold',
  title: 'Legal hold',
  description: 'Retention (P5) does not purge a message it covers, by id or by a traveller digest, until it is released (P9).',
  type: 'object',
  additionalProperties: false,
  required: ['ref', 'reason', 'messageId', 'subject', 'placedAt', 'releasedAt'],
  properties: {
    ref: { type: 'string', description: 'The complaint or inquiry reference.' },
    reason: { type: 'string' },
    messageId: { type: ['string', 'null'] },
    subject: { type: ['string', 'null'], description: 'Keyed digest of the traveller identifier it covers.' },
    placedAt: { type: 'string', format: 'date-time' },
    releasedAt: { type: ['string', 'null'], format: 'date-time' }
  }
} as const

const NULLABLE_STRING = { type: ['string', 'null'] } as const

const DISCLOSURE_REPORT = {
  type: 'object',
  additionalProperties: false,
  required: ['subject', 'disclosures'],
  properties: {
    subject: { type: 'string', description: 'The keyed digest the ledger knows the traveller by.' },
    disclosures: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['seq', 'at', 'event', 'messageId', 'kind', 'purpose', 'legalAuthority', 'from', 'to', 'policy', 'shared', 'withheld'],
        properties: {
          seq: { type: 'integer' },
          at: { type: 'string', format: 'date-time' },
          event: { type: 'string' },
          direction: { type: 'string', enum: ['outbound', 'inbound'], description: 'Absent on an entry about no message (a legal hold, a disclosure report).' },
          messageId: NULLABLE_STRING,
          kind: NULLABLE_STRING,
          purpose: NULLABLE_STRING,
          legalAuthority: NULLABLE_STRING,
          from: NULLABLE_STRING,
          to: NULLABLE_STRING,
          policy: {
            type: ['object', 'null'],
            additionalProperties: false,
            required: ['id', 'version'],
            properties: { id: { type: 'string' }, version: { type: 'string' } }
          },
          shared: {
            type: 'array',
            description: 'The fields that left, and how (never their values).',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['path', 'action', 'rule', 'principle'],
              properties: { path: { type: 'string' }, action: { type: 'string' }, rule: { type: 'string' }, principle: { type: 'string' } }
            }
          },
          withheld: { type: 'integer', minimum: 0, description: 'How many fields were withheld.' },
          supersedes: {
            type: 'object',
            additionalProperties: false,
            required: ['messageId', 'action'],
            description: 'This entry is of a correction or a retraction: the message it supersedes (P4).',
            properties: {
              messageId: { type: 'string' },
              action: { type: 'string', enum: ['correct', 'retract'] },
              reason: { type: 'string', description: "The sender's reason, a code." }
            }
          },
          supersededBy: {
            type: 'object',
            additionalProperties: false,
            required: ['messageId', 'action', 'seq', 'withdrawn'],
            description:
              "This entry's message was corrected or retracted: by which message, and the seq of that message's entry in this report. " +
              '`withdrawn`: this gateway stopped the message before it was delivered onward.',
            properties: {
              messageId: { type: 'string' },
              action: { type: 'string', enum: ['correct', 'retract'] },
              reason: { type: 'string' },
              seq: { type: 'integer' },
              withdrawn: { type: 'boolean' }
            }
          }
        }
      }
    }
  }
} as const

const VERIFICATION = {
  type: 'object',
  additionalProperties: false,
  required: ['ok', 'entries', 'checkpoints', 'countersignatures', 'checkpointedTo', 'latestCheckpoint'],
  properties: {
    ok: { type: 'boolean' },
    entries: { type: 'integer', description: 'Entries whose chain verified.' },
    checkpoints: { type: 'integer', description: 'Checkpoints whose signature and claims verified.' },
    countersignatures: { type: 'integer', description: 'Of those, how many carried a partner countersignature that verified too.' },
    checkpointedTo: {
      type: 'integer',
      description: 'The seq the last verified checkpoint signs (0: none). Entries after it are held by the chain alone until a checkpoint signs them.'
    },
    firstBad: {
      type: 'object',
      additionalProperties: false,
      required: ['seq', 'reason'],
      description: 'The first entry that does not verify: nothing from it on can be relied on.',
      properties: { seq: { type: 'integer' }, reason: { type: 'string' } }
    },
    latestCheckpoint: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['seq', 'hash', 'at', 'countersigned'],
      properties: { seq: { type: 'integer' }, hash: { type: 'string' }, at: { type: 'string', format: 'date-time' }, countersigned: { type: 'boolean' } }
    }
  }
} as const

// The export streams every match: it has no pages, so neither cursor nor limit.
const { cursor: _cursor, limit: _limit, ...FILTERS } = AUDIT_FILTER_SCHEMA.properties
const EXPORT_QUERY = {
  ...AUDIT_FILTER_SCHEMA,
  properties: { ...FILTERS, format: { type: 'string', enum: ['ndjson', 'csv'], description: 'Default `ndjson`.' } }
} as const

const LEGAL_HOLD_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['ref', 'reason'],
  description: 'A hold on one message (`messageId`), or on a traveller (`documentNumber` and `issuingCountry`, or `membershipId`).',
  properties: {
    ref: { type: 'string', pattern: '^[A-Za-z0-9._:-]{3,64}$', description: 'The complaint or inquiry reference; unique.' },
    reason: { type: 'string', minLength: 1, maxLength: 500, description: 'Never personal data.' },
    messageId: { type: 'string', pattern: MESSAGE_ID_PATTERN, description: "The message's id, lower-case as submitted." },
    ...DISCLOSURE_BODY.properties
  }
} as const

const SCHEMAS = {
  entries: {
    summary: 'Search the audit ledger',
    description: `${OFFICER_ONLY} Every filter given must match; pages in ledger order, with a stable cursor.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    querystring: AUDIT_FILTER_SCHEMA,
    response: {
      200: jsonResponse('A page of entries, as stored.', cursorPage('entries', AUDIT_ENTRY)),
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID')
    }
  },
  entry: {
    summary: 'Read one audit entry',
    description: `${OFFICER_ONLY} The entry as stored, with its hash and the hash before it.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    params: {
      type: 'object',
      required: ['seq'],
      properties: { seq: { type: 'string', pattern: '^[1-9][0-9]{0,14}$', description: 'Its sequence number, a positive integer.' } }
    },
    response: {
      200: jsonResponse('The entry.', AUDIT_ENTRY),
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID', 'NOT_FOUND')
    }
  },
  disclosures: {
    summary: "A traveller's disclosure report",
    description:
      `${OFFICER_ONLY} Every entry that names the traveller: who received which fields of their record, when, for what purpose, ` +
      'under which authority and policy (P8, individual access). A message corrected or retracted says by which message (`supersededBy`), ' +
      'and the correction or retraction is in the report too (`supersedes`), with what it disclosed. ' +
      'A POST, so that a document number never appears in a URL or an access log; ' +
      'the identifier is matched by its keyed digest, and the request itself is audited.',
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    body: DISCLOSURE_BODY,
    response: {
      200: jsonResponse('The disclosures.', DISCLOSURE_REPORT),
      ...problemResponses(...OFFICER_REFUSALS, ...BODY_REFUSALS)
    }
  },
  export: {
    summary: 'Export the audit ledger',
    description: `${OFFICER_ONLY} Every entry matching the filters, streamed: NDJSON (one entry per line, as stored) or CSV.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    querystring: EXPORT_QUERY,
    response: {
      200: {
        description: 'The entries, as an attachment.',
        headers: { 'content-disposition': { type: 'string', description: '`attachment; filename="audit-<country>-<time>.<format>"`' } },
        content: {
          'application/x-ndjson': { schema: { type: 'string', description: 'One audit entry (schema `audit-entry`) per line.' } },
          'text/csv': { schema: { type: 'string', description: 'A header row, then one row per entry; cells that could start a formula are quoted.' } }
        }
      },
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID')
    }
  },
  verification: {
    summary: 'Verify the audit ledger',
    description:
      `${OFFICER_ONLY} Re-verifies the whole chain from the genesis hash, every signed checkpoint of its head and every partner ` +
      'countersignature, and the search index against the entries (P11, effective oversight). It stops at the first entry that does not verify.',
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    response: {
      200: jsonResponse('The verification.', VERIFICATION),
      ...problemResponses(...OFFICER_REFUSALS)
    }
  },
  holds: {
    summary: 'List legal holds',
    description: `${OFFICER_ONLY} Active and released.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    response: {
      200: jsonResponse('The holds.', {
        type: 'object',
        additionalProperties: false,
        required: ['holds'],
        properties: { holds: { type: 'array', items: { $ref: `${LEGAL_HOLD_SCHEMA.$id}#` } } }
      }),
      ...problemResponses(...OFFICER_REFUSALS)
    }
  },
  placeHold: {
    summary: 'Place a legal hold',
    description: `${OFFICER_ONLY} Keeps a message, or every message naming a traveller, from the retention purge until released. Audited.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    body: LEGAL_HOLD_BODY,
    response: {
      201: jsonResponse('The hold placed.', { $ref: `${LEGAL_HOLD_SCHEMA.$id}#` }),
      ...problemResponses(...OFFICER_REFUSALS, ...BODY_REFUSALS)
    }
  },
  releaseHold: {
    summary: 'Release a legal hold',
    description: `${OFFICER_ONLY} Audited.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    params: {
      type: 'object',
      required: ['ref'],
      properties: { ref: { type: 'string', pattern: '^[A-Za-z0-9._:-]{3,64}$', description: "The hold's reference." } }
    },
    response: {
      204: { type: 'null', description: 'Released.' },
      ...problemResponses(...OFFICER_REFUSALS, 'NOT_FOUND')
    }
  }
}

function subjectOf(body: DisclosureBody): string {
  if (body.membershipId !== undefined) return membershipSubject(body.membershipId)
  if (body.documentNumber !== undefined && body.issuingCountry !== undefined) return documentSubject(body.issuingCountry, body.documentNumber)
  throw new RequestInvalidError('give documentNumber and issuingCountry, or membershipId')
}

export async function auditRoutes(app: FastifyInstance): Promise<void> {
  app.addSchema(AUDIT_ENTRY_SCHEMA)
  app.addSchema(LEGAL_HOLD_SCHEMA)
  app.addHook('onRequest', requireRole('privacy-officer'))
  app.addHook('onRequest', requireBoundToken)

  app.get<{ Querystring: AuditFilterQuery }>('/v1/audit/entries', { schema: SCHEMAS.entries, serializerCompiler: asStored }, async (request) => {
    return auditPage(app.store, toAuditQuery(request.query), request.query)
  })

  app.get<{ Params: { seq: string } }>('/v1/audit/entries/:seq', { schema: SCHEMAS.entry, serializerCompiler: asStored }, async (request) => {
    const seq = Number(request.params.seq)
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RequestInvalidError('seq must be a positive integer')
    const entry = await app.store.auditEntry(seq)
    if (entry === undefined) throw new NotFoundError(`audit entry ${seq}`)
    return entry
  })

  // POST, so that a document number never appears in a URL or an access log.
  app.post<{ Body: DisclosureBody }>('/v1/audit/disclosures', { schema: SCHEMAS.disclosures }, async (request) => {
    const subject = app.policyBook.digest(subjectOf(request.body))
    const disclosures = []
    // A correction's or retraction's entry names the travellers of what it
    // supersedes too (intake/intake.ts), so it is among these: each original
    // is linked to it here, by (direction, id).
    const supersededBy = new Map<string, { messageId: string; action: 'correct' | 'retract'; reason?: string; seq: number }>()
    const key = (direction: string | undefined, id: string): string => `${direction} ${id}`
    for await (const e of allMatching(app.store, { subject })) {
      const { supersedes } = e.entry
      if (supersedes !== undefined && e.entry.messageId !== null && !supersededBy.has(key(e.entry.direction, supersedes.id))) {
        supersededBy.set(key(e.entry.direction, supersedes.id), {
          messageId: e.entry.messageId,
          action: supersedes.action,
          ...(supersedes.reason === undefined ? {} : { reason: supersedes.reason }),
          seq: e.seq
        })
      }
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
        withheld: e.entry.fields.filter((f) => f.action === 'withhold').length,
        ...(supersedes === undefined
          ? {}
          : { supersedes: { messageId: supersedes.id, action: supersedes.action, ...(supersedes.reason === undefined ? {} : { reason: supersedes.reason }) } })
      })
    }
    const withdrawn = new Map<string, Promise<boolean>>()
    const wasWithdrawn = (direction: Direction, id: string): Promise<boolean> => {
      let found = withdrawn.get(key(direction, id))
      if (found === undefined) {
        found = app.store.searchAudit({ messageId: id, direction, event: 'withdrawn' }, 0, 1).then((page) => page.length > 0)
        withdrawn.set(key(direction, id), found)
      }
      return found
    }
    const report = []
    for (const d of disclosures) {
      const by = d.messageId === null || d.direction === undefined ? undefined : supersededBy.get(key(d.direction, d.messageId))
      report.push(by === undefined ? d : { ...d, supersededBy: { ...by, withdrawn: await wasWithdrawn(d.direction!, d.messageId!) } })
    }
    await app.store.appendAudit(auditEntry({ event: 'disclosure-report', caller: request.caller!.id, subjects: [subject] }))
    return { subject, disclosures: report }
  })

  app.get<{ Querystring: AuditFilterQuery & { format?: 'ndjson' | 'csv' } }>('/v1/audit/export', { schema: SCHEMAS.export }, async (request, reply) => {
    const query = toAuditQuery(request.query)
    const csv = request.query.format === 'csv'
    const entries = allMatching(app.store, query)
    async function* lines(): AsyncGenerator<string> {
      if (csv) yield csvHeader()
      for await (const e of entries) yield csv ? csvRow(e) : `${JSON.stringify(e)}\n`
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    return reply
      .type(csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .header('content-disposition', `attachment; filename="audit-${app.trust.country}-${stamp}.${csv ? 'csv' : 'ndjson'}"`)
      .send(Readable.from(lines()))
  })

  app.get('/v1/audit/verification', { schema: SCHEMAS.verification }, async () => {
    const result = await verifyLedger(app.store, app.trust.ownLedgerKeys, app.trust.partner.ledgerKeys)
    const latest = await app.store.latestCheckpoint()
    return {
      ...result,
      latestCheckpoint: latest === undefined ? null : { seq: latest.seq, hash: latest.hash, at: latest.at, countersigned: latest.countersignature !== null }
    }
  })

  app.get('/v1/audit/legal-holds', { schema: SCHEMAS.holds }, async () => ({ holds: await app.store.legalHolds() }))

  app.post<{ Body: DisclosureBody & { ref: string; reason: string; messageId?: string } }>(
    '/v1/audit/legal-holds',
    { schema: SCHEMAS.placeHold },
    async (request, reply) => {
      const { ref, reason, messageId } = request.body
      const subject = messageId === undefined ? app.policyBook.digest(subjectOf(request.body)) : null
      const hold = { ref, reason, messageId: messageId ?? null, subject, placedAt: new Date().toISOString(), releasedAt: null }
      if (!(await app.store.addLegalHold(hold))) throw new RequestInvalidError(`legal hold ${ref} already exists`)
      await app.store.appendAudit(
        auditEntry({
          event: 'legal-hold-placed',
          caller: request.caller!.id,
          messageId: hold.messageId,
          reference: ref,
          subjects: subject === null ? [] : [subject]
        })
      )
      return reply.code(201).send(hold)
    }
  )

  app.delete<{ Params: { ref: string } }>('/v1/audit/legal-holds/:ref', { schema: SCHEMAS.releaseHold }, async (request, reply) => {
    if (!(await app.store.releaseLegalHold(request.params.ref, new Date().toISOString()))) throw new NotFoundError(`active legal hold ${request.params.ref}`)
    await app.store.appendAudit(auditEntry({ event: 'legal-hold-released', caller: request.caller!.id, reference: request.params.ref }))
    return reply.code(204).send()
  })
}
