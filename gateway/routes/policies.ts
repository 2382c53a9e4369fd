// Transparency (P7) and a dry run. GET /v1/policies publishes what the policy
// modules say, built from them once at start-up; any registered caller may
// read it. POST /v1/policies/dry-run lets an agency system see what the
// gateway would do with a message: the same checks as POST /v1/messages
// (pipeline/inspect-submission.ts), the decisions with their reasons and the
// payload that would be sent, and nothing written: no message, no outbox item,
// no job, no audit entry (nothing leaves the gateway, so nothing is disclosed).
import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { buildCatalogue, explainDecisions } from '../../policies/catalogue.ts'
import { isKind } from '../../schemas/index.ts'
import { NotFoundError } from '../errors.ts'
import { requireCaller, requireRole, type Caller } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import type { FreshnessWindow } from '../pipeline/check-envelope.ts'
import type { Envelope } from '../pipeline/envelope.ts'
import { refusalError } from '../pipeline/refusal-data.ts'
import { PRINCIPLE_IDS } from '../../policies/principles.ts'
import type { Generaliser } from '../../policies/lib/types.ts'
import { SECURITY, jsonResponse, jwsPayload, problemResponses } from '../plugins/openapi.ts'
import { SUBMISSION_BODY, SUBMISSION_REFUSALS } from '../intake/submission-contract.ts'
import { ACTIONS, FIELD_DECISION_PROPERTIES } from '../audit/field-decision-schema.ts'
import { JOSE, takesOnly } from '../plugins/body-parsers.ts'

export type PolicyRouteOptions = FreshnessWindow

// Listed through a Record so that the compiler fails when the policy types gain a member.
const GENERALISERS = Object.keys({
  'date-to-year': 1,
  'date-to-year-month': 1,
  'datetime-to-date': 1,
  'datetime-to-hour': 1,
  'subject-category-to-disclosable': 1
} satisfies Record<Generaliser, 1>)
const PRINCIPLE = { type: 'string', enum: [...PRINCIPLE_IDS], description: 'The privacy principle the rule serves (see `principles`).' } as const

/** The JSON Schemas of the published catalogue (policies/catalogue.ts), shared by both GETs. */
const PRINCIPLE_SCHEMA = {
  $id: 'privacy-principle',
  title: 'Privacy principle',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'title', 'gatewayDoes'],
  properties: {
    id: { type: 'string', enum: [...PRINCIPLE_IDS] },
    title: { type: 'string' },
    gatewayDoes: { type: 'string', description: 'What the gateway does to enforce or evidence it.' },
    note: { type: 'string' }
  }
} as const

const DIRECTION_RULES = {
  type: 'object',
  additionalProperties: false,
  required: ['recipients', 'retentionDays', 'onwardTransfer', 'humanReviewRequired', 'exclusions', 'fields'],
  properties: {
    recipients: { type: 'array', items: { type: 'string' }, description: 'The agencies that may receive it.' },
    retentionDays: { type: 'integer', minimum: 0 },
    onwardTransfer: { type: 'boolean' },
    humanReviewRequired: { type: 'boolean' },
    exclusions: {
      type: 'array',
      description: 'Records the policy refuses outright (`POLICY_DENIED`).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['rule', 'principle', 'why'],
        properties: { rule: { type: 'string' }, principle: PRINCIPLE, why: { type: 'string' } }
      }
    },
    fields: {
      type: 'array',
      description: "One rule for every field of the kind's schema: a field no rule names is withheld (default deny).",
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'action', 'rule', 'principle', 'why'],
        properties: {
          path: { type: 'string' },
          action: { type: 'string', enum: ACTIONS },
          generaliser: { type: 'string', enum: GENERALISERS },
          rule: { type: 'string' },
          principle: PRINCIPLE,
          why: { type: 'string' },
          condition: { type: 'string', description: 'When it does not hold, the field is withheld.' },
          legalBasis: { type: 'array', items: { type: 'string' } }
        }
      }
    }
  }
} as const

const COUNTRY = { type: 'string', enum: ['CA', 'US'] } as const
const AUTHORITY_IDS = { type: 'array', items: { type: 'string' } } as const

/** One entry of the registry of legal authorities (policies/authorities.ts). */
const LEGAL_AUTHORITY_SCHEMA = {
  $id: 'legal-authority',
  title: 'Legal authority',
  description:
    'A statute, regulation or instrument of the arrangement an envelope may cite as its `legalAuthority` (P1): which sending country may cite it, ' +
    'and for which kinds and purposes. Anything else is refused with `LEGAL_AUTHORITY_MISMATCH`.',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'title', 'citableBy', 'citableFor'],
  properties: {
    id: { type: 'string', description: 'As an envelope cites it, e.g. `CustomsAct-92`.' },
    title: { type: 'string' },
    citableBy: {
      type: 'array',
      items: COUNTRY,
      description: "The sending countries that may cite it: a country's own law by that country, an instrument of the arrangement by both."
    },
    citableFor: {
      type: 'array',
      description: 'What it may be cited for: every purpose listed, with every kind listed.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['kinds', 'purposes'],
        properties: { kinds: { type: 'array', items: { type: 'string' } }, purposes: { type: 'array', items: { type: 'string' } } }
      }
    }
  }
} as const

/** One entry of the registry of arrangements (policies/authorities.ts). */
const ARRANGEMENT_SCHEMA = {
  $id: 'arrangement',
  title: 'Arrangement',
  description:
    'A bilateral arrangement an exchange falls under, as an envelope names it in `agreementRef`, and the kinds and purposes that travel under it. ' +
    'Anything else is refused with `AGREEMENT_MISMATCH`.',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'title', 'covers'],
  properties: {
    id: { type: 'string', description: 'As an envelope names it, e.g. `CA-US-NEXUS-Arrangement-2002`.' },
    title: LEGAL_AUTHORITY_SCHEMA.properties.title,
    covers: {
      type: 'array',
      description: 'The kinds and purposes that travel under it: every purpose listed, with every kind listed.',
      items: LEGAL_AUTHORITY_SCHEMA.properties.citableFor.items
    }
  }
} as const

const KIND_POLICY_PROPERTIES = {
  kind: { type: 'string' },
  version: { type: 'string', description: "The module's own version label." },
  policyVersion: { type: 'string', description: 'The content hash that forwarded envelopes, audit entries and receipts name.' },
  fields: { type: 'array', items: { type: 'string' }, description: "Every leaf field path of the kind's payload schema." },
  purposes: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['purpose', 'legalAuthorities', 'legalAuthoritiesByCountry', 'agreementRefs'],
      properties: {
        purpose: { type: 'string' },
        legalAuthorities: { ...AUTHORITY_IDS, description: 'Every authority either country may cite under this purpose.' },
        legalAuthoritiesByCountry: {
          type: 'object',
          additionalProperties: false,
          required: ['CA', 'US'],
          description: 'What a sender of each country may cite under this purpose (from `legalAuthorities` of the catalogue).',
          properties: { CA: AUTHORITY_IDS, US: AUTHORITY_IDS }
        },
        agreementRefs: { ...AUTHORITY_IDS, description: 'The arrangement a message under this purpose names as its `agreementRef` (from `arrangements`).' },
        outbound: DIRECTION_RULES,
        inbound: DIRECTION_RULES
      }
    }
  }
} as const

const KIND_POLICY_SCHEMA = {
  $id: 'kind-policy',
  title: 'The policy of one kind',
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'version', 'policyVersion', 'fields', 'purposes'],
  properties: KIND_POLICY_PROPERTIES
} as const

const ETAG_HEADERS = {
  etag: { type: 'string', description: 'Changes only with the policies: send it back as `If-None-Match`.' },
  'cache-control': { type: 'string', description: '`no-cache`: cache, but revalidate.' }
} as const

const CONDITIONAL = {
  type: 'object',
  properties: { 'if-none-match': { type: 'string', description: 'The `ETag` of a copy you hold: `304` if it is still current.' } }
} as const

const PRINCIPLES = { type: 'array', items: { $ref: `${PRINCIPLE_SCHEMA.$id}#` } } as const
const NOT_MODIFIED = { type: 'null', description: 'Not modified: the copy you hold is current.', headers: ETAG_HEADERS } as const

const CATALOGUE_SCHEMA = {
  summary: 'Read every published policy',
  description:
    'Transparency (P7): for each kind, the purposes with the legal authorities each sending country may cite for them and, for each direction, who may ' +
    'receive it, for how long, and the rule for every field with its principle and its reason; and the registries of legal authorities (P1) ' +
    'and of the arrangements an envelope names as its `agreementRef`. ' +
    'Built from the policy modules the gateway applies, so it cannot say one thing while the engine does another. For any registered certificate.',
  tags: ['policies'],
  security: SECURITY.certificate,
  headers: CONDITIONAL,
  response: {
    200: jsonResponse(
      'The catalogue.',
      {
        type: 'object',
        additionalProperties: false,
        required: ['kinds', 'legalAuthorities', 'arrangements', 'principles'],
        properties: {
          kinds: { type: 'array', items: { $ref: `${KIND_POLICY_SCHEMA.$id}#` } },
          legalAuthorities: { type: 'array', items: { $ref: `${LEGAL_AUTHORITY_SCHEMA.$id}#` } },
          arrangements: { type: 'array', items: { $ref: `${ARRANGEMENT_SCHEMA.$id}#` } },
          principles: PRINCIPLES
        }
      },
      ETAG_HEADERS
    ),
    304: NOT_MODIFIED,
    ...problemResponses('UNAUTHENTICATED', 'REQUEST_INVALID')
  }
}

const KIND_SCHEMA = {
  summary: 'Read the policy of one kind',
  description: 'The policy of one kind, as in the catalogue, with the principles. For any registered certificate.',
  tags: ['policies'],
  security: SECURITY.certificate,
  headers: CONDITIONAL,
  params: {
    type: 'object',
    required: ['kind'],
    properties: { kind: { type: 'string', description: 'A message kind, e.g. `entry-exit.record`.' } }
  },
  response: {
    200: jsonResponse(
      'The policy of the kind.',
      {
        type: 'object',
        additionalProperties: false,
        required: [...KIND_POLICY_SCHEMA.required, 'principles'],
        properties: { ...KIND_POLICY_PROPERTIES, principles: PRINCIPLES }
      },
      ETAG_HEADERS
    ),
    304: NOT_MODIFIED,
    ...problemResponses('UNAUTHENTICATED', 'REQUEST_INVALID', 'NOT_FOUND')
  }
}

const DRY_RUN_SCHEMA = {
  summary: 'See what the gateway would share of a message, and why',
  description:
    'The same checks as `POST /v1/messages`, with the same refusal codes, and nothing written: no message, no outbox item, ' +
    'no queued job, no audit entry (nothing leaves the gateway, so nothing is disclosed). Answers the decision for every field, with ' +
    'the rule, its principle and its reason, and the payload as it would be sent.',
  tags: ['policies'],
  security: SECURITY.certificateAndToken,
  body: SUBMISSION_BODY,
  'x-jws-payload': jwsPayload('envelope'),
  response: {
    200: {
      description: 'What would be sent, and why.',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'kind', 'purpose', 'policy', 'handling', 'decisions', 'shared'],
            properties: {
              id: { type: 'string' },
              kind: { type: 'string' },
              purpose: { type: 'string' },
              policy: {
                type: 'object',
                additionalProperties: false,
                required: ['id', 'version'],
                properties: { id: { type: 'string', description: '`kind/purpose/outbound`' }, version: { type: 'string' } }
              },
              handling: {
                type: 'object',
                additionalProperties: false,
                required: ['retentionDays', 'onwardTransfer', 'humanReviewRequired'],
                properties: { retentionDays: { type: 'integer' }, onwardTransfer: { type: 'boolean' }, humanReviewRequired: { type: 'boolean' } }
              },
              decisions: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['path', 'action', 'rule', 'principle', 'why'],
                  properties: {
                    ...FIELD_DECISION_PROPERTIES,
                    principle: PRINCIPLE,
                    why: { type: 'string' },
                    condition: { type: 'string' }
                  }
                }
              },
              // The minimised payload: whatever the kind's schema and the policy leave.
              shared: { type: 'object', additionalProperties: true, description: 'The payload as it would be sent to the partner gateway.' }
            }
          }
        }
      }
    },
    ...problemResponses(...SUBMISSION_REFUSALS)
  }
}

type AgencyCaller = Extract<Caller, { role: 'agency' }>

/** A JSON document serialised once, with its entity tag. */
interface Published {
  readonly body: string
  readonly etag: string
}

function publish(value: unknown): Published {
  const body = JSON.stringify(value)
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` }
}

function send(request: FastifyRequest, reply: FastifyReply, doc: Published): FastifyReply {
  // Policies change only with a deployment: clients may cache, but must revalidate.
  reply.header('etag', doc.etag).header('cache-control', 'no-cache')
  if (request.headers['if-none-match'] === doc.etag) return reply.code(304).send()
  return reply.type('application/json; charset=utf-8').send(doc.body)
}

export async function policyRoutes(app: FastifyInstance, opts: PolicyRouteOptions): Promise<void> {
  // The versions are the PolicyBook's, so the catalogue names exactly the hash
  // that forwarded envelopes, audit entries and receipts carry.
  const catalogue = buildCatalogue((kind) => app.policyBook.version(kind))
  const whole = publish(catalogue)
  const byKind = new Map(catalogue.kinds.map((k) => [k.kind, publish({ ...k, principles: catalogue.principles })]))
  const window: FreshnessWindow = { clockSkewSeconds: opts.clockSkewSeconds, maxAgeSeconds: opts.maxAgeSeconds }

  app.addSchema(PRINCIPLE_SCHEMA)
  app.addSchema(LEGAL_AUTHORITY_SCHEMA)
  app.addSchema(ARRANGEMENT_SCHEMA)
  app.addSchema(KIND_POLICY_SCHEMA)

  app.get('/v1/policies', { schema: CATALOGUE_SCHEMA, onRequest: requireCaller }, async (request, reply) => send(request, reply, whole))

  app.get<{ Params: { kind: string } }>('/v1/policies/:kind', { schema: KIND_SCHEMA, onRequest: requireCaller }, async (request, reply) => {
    const { kind } = request.params
    const doc = isKind(kind) ? byKind.get(kind) : undefined
    if (doc === undefined) throw new NotFoundError(`no policy for kind ${kind.slice(0, 64)}`)
    return send(request, reply, doc)
  })

  const jose = takesOnly(JOSE, 'POST /v1/policies/dry-run')
  app.post<{ Body: string }>(
    '/v1/policies/dry-run',
    { schema: DRY_RUN_SCHEMA, onRequest: [requireRole('agency'), requireBoundToken, jose.onRequest], preValidation: jose.preValidation },
    async (request) => {
      const caller = request.caller as AgencyCaller
      // On a pipeline thread for a large message, as a submission is (pipeline/pipeline-pool.ts).
      const prepared = await app.pipeline.dryRun({
        jws: request.body,
        system: caller.system,
        keys: app.trust.agencyKeys,
        claims: { kinds: request.user.kinds, purposes: request.user.purposes },
        window,
        partnerCountry: app.trust.partnerCountry
      })
      if (prepared.refusal !== undefined) throw refusalError(prepared.refusal)
      const { envelope, decisions, shared } = prepared.result!
      // The rules themselves (their conditions are functions) stay on this thread: chosen again, as the thread chose them.
      const policy = app.policyBook.select(envelope as Envelope, 'outbound')
      return {
        id: envelope.id,
        kind: envelope.kind,
        purpose: envelope.purpose,
        policy: { id: policy.id, version: policy.version },
        handling: {
          retentionDays: policy.rules.retentionDays,
          onwardTransfer: policy.rules.onwardTransfer,
          humanReviewRequired: policy.rules.humanReviewRequired
        },
        decisions: explainDecisions(policy.rules, decisions),
        shared
      }
    }
  )
}
