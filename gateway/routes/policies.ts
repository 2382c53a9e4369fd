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
import { NotFoundError, UnauthenticatedError, UnsupportedMediaTypeError } from '../errors.ts'
import { requireRole, type Caller } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import type { FreshnessWindow } from '../pipeline/check-envelope.ts'
import { inspectSubmission, readSubmission } from '../pipeline/inspect-submission.ts'

export type PolicyRouteOptions = FreshnessWindow

type AgencyCaller = Extract<Caller, { role: 'agency' }>

/** A preHandler: any registered certificate (agency system, privacy officer, partner gateway). */
async function requireCaller(request: FastifyRequest): Promise<void> {
  if (request.clientCertSha256 === null) throw new UnauthenticatedError('a client certificate issued by a trusted CA is required')
  if (request.caller === null) throw new UnauthenticatedError('the client certificate is not registered, or has been revoked')
}

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

  app.get('/v1/policies', { preHandler: requireCaller }, async (request, reply) => send(request, reply, whole))

  app.get<{ Params: { kind: string } }>('/v1/policies/:kind', { preHandler: requireCaller }, async (request, reply) => {
    const { kind } = request.params
    const doc = isKind(kind) ? byKind.get(kind) : undefined
    if (doc === undefined) throw new NotFoundError(`no policy for kind ${kind.slice(0, 64)}`)
    return send(request, reply, doc)
  })

  app.post('/v1/policies/dry-run', { preHandler: [requireRole('agency'), requireBoundToken] }, async (request) => {
    if (typeof request.body !== 'string') throw new UnsupportedMediaTypeError('POST /v1/policies/dry-run takes application/jose')
    const caller = request.caller as AgencyCaller
    const { value } = await readSubmission(request.body, app.trust, caller.system)
    const { envelope, policy, minimised } = inspectSubmission(value, {
      trust: app.trust, validator: app.validator, policyBook: app.policyBook, system: caller.system, claims: request.user, window
    })
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
      decisions: explainDecisions(policy.rules, minimised.decisions),
      shared: minimised.payload
    }
  })
}
