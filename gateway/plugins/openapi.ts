// OpenAPI 3.1 at /docs (JSON at /docs/json, YAML at /docs/yaml), made from
// what the gateway runs on: the route schemas Fastify validates requests and
// serialises responses with, and the contract's own JSON Schemas (schemas/),
// placed in the document as the very objects the validator compiles. The
// documentation cannot say one thing while the gateway does another.
//
// The pages carry no data, so they need neither a client certificate nor a
// token: the listener asks for a certificate but does not refuse a handshake
// without one (see tls-options.ts), so a browser can read them.
import { readFileSync } from 'node:fs'
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { KINDS, commonSchema, envelopeSchema, kindSchemas, listExamples, type JsonSchema, type Kind } from '../../schemas/index.ts'
import { ERROR_CODES, statusOf, type ErrorCode } from '../errors.ts'
import { HANDLING_SCHEMA } from '../pipeline/envelope.ts'

export type { ErrorCode } from '../errors.ts'

/** The $id of the shared RFC 9457 schema: `{ $ref: 'problem#' }` in a route schema. */
export const PROBLEM_SCHEMA_ID = 'problem'
export const PROBLEM_MEDIA_TYPE = 'application/problem+json'

/** Every refusal (problem-details.ts): the code is one of the contract's, never anything else. */
export const PROBLEM_SCHEMA = {
  $id: PROBLEM_SCHEMA_ID,
  title: 'Problem details (RFC 9457)',
  description: 'Every refusal and every failure. `code` is stable: integrators switch on it (docs/integrators.md, "Error codes"); `detail` is for people.',
  type: 'object',
  additionalProperties: false,
  required: ['type', 'title', 'status', 'detail', 'instance', 'code'],
  properties: {
    type: { type: 'string', format: 'uri', description: 'A URI naming the problem type, derived from `code`.' },
    title: { type: 'string', description: '`code` in words.' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string', description: 'What was wrong with this request. Never personal data.' },
    instance: {
      type: 'string',
      description:
        'The request path: the pattern of the route reached (`/v1/messages/{id}`), else the path (without its query, at most 64 characters); ' +
        'empty, a reference to the request itself, when the request was refused before its path was read (headers over 16 KiB, a request line that does not parse).'
    },
    code: { type: 'string', enum: [...ERROR_CODES] }
  }
} as const

/**
 * What any route that takes a body can answer before reading it: the body's
 * own refusals, a query string the route takes none of, an `Expect` other
 * than 100-continue, and a body not sent in time (plugins/http-hardening.ts,
 * plugins/intake-budget.ts).
 */
export const BODY_REFUSALS: readonly ErrorCode[] = [
  'BODY_INVALID',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'REQUEST_INVALID',
  'EXPECTATION_FAILED',
  'REQUEST_TIMEOUT'
]

/**
 * What verifying a compact JWS can answer, in the order of its steps
 * (jws/verify-compact.ts), then the payload's I-JSON pass: the same for a
 * submission, a partner's delivery and a partner's checkpoint.
 */
export const SIGNATURE_REFUSALS: readonly ErrorCode[] = [
  'JWS_INVALID',
  'JWS_HEADER_NOT_ALLOWED',
  'JWS_TYP_INVALID',
  'JWS_ALG_NOT_ALLOWED',
  'JWS_KID_UNKNOWN',
  'JWS_KEY_NOT_CALLERS',
  'JWS_SIGNATURE_INVALID',
  'PAYLOAD_UNSAFE'
]

/**
 * The problem responses of a route, one per status, each naming the codes
 * the route can answer with. `INTERNAL` (500) is always possible.
 */
export function problemResponses(...codes: ErrorCode[]): Record<string, { description: string; content: Record<string, { schema: { $ref: string } }> }> {
  const byStatus = new Map<number, string[]>()
  for (const code of new Set<ErrorCode>([...codes, 'INTERNAL'])) {
    const status = statusOf(code)
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  return Object.fromEntries(
    [...byStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, list]) => [
        String(status),
        {
          description: `Problem document; \`code\`: ${list.map((c) => `\`${c}\``).join(', ')}.`,
          content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: `${PROBLEM_SCHEMA_ID}#` } } }
        }
      ])
  )
}

/** Security requirements: mutual TLS alone, or mutual TLS and the token bound to that certificate. */
export const SECURITY = {
  certificate: [{ mutualTLS: [] }],
  certificateAndToken: [{ mutualTLS: [], bearerToken: [] }]
} as const

/** A compact JWS request body (RFC 7515 §7.1). The extension says what its payload is. */
export function joseBody(description: string) {
  return { content: { 'application/jose': { schema: { type: 'string', description } } } } as const
}

/** A JSON response: what it is, its schema, and any headers it carries. */
export function jsonResponse(description: string, schema: object, headers?: object) {
  return { description, ...(headers === undefined ? {} : { headers }), content: { 'application/json': { schema } } }
}

/** One page of a cursor-paged list: the items under `name`, and the cursor of the next page. */
export function cursorPage(name: string, items: object) {
  return {
    type: 'object',
    additionalProperties: false,
    required: [name, 'nextCursor'],
    properties: {
      [name]: { type: 'array', items },
      nextCursor: { type: ['string', 'null'], description: 'Pass it as `cursor` for the next page; `null` on the last.' }
    }
  }
}

/** A compact JWS response (a receipt, a countersignature). */
export function joseResponse(description: string) {
  return { description, content: { 'application/jose': { schema: { type: 'string' } } } } as const
}

const SCHEMAS_REF = '#/components/schemas/'
const EXAMPLES_REF = '#/components/examples/'

/**
 * What the partner gateway sends on: the envelope with its payload minimised
 * and a `handling` block, as MessageValidator (pipeline/validate-message.ts)
 * builds its schema.
 */
const forwardedEnvelopeSchema: JsonSchema = (() => {
  const schema = structuredClone(envelopeSchema) as Record<string, any>
  schema.$id = 'https://schemas.btb-gateway.example/forwarded-envelope/1.0'
  schema.title = 'Forwarded envelope (the payload of a gateway-to-gateway JWS)'
  schema.description =
    "The envelope as the sending gateway forwards it: its payload minimised by that gateway's outbound policy " +
    "(no more than the policy lets through, so a subset of the kind's schema) and `handling`, naming the policy applied and the limits that travel with the record."
  schema.properties.handling = HANDLING_SCHEMA
  schema.required = [...schema.required, 'handling']
  return schema
})()

/**
 * The contract's schemas by component name: the objects schemas/ exports,
 * not copies, so the document is the contract. Their $refs are absolute
 * ($id-based, JSON Schema 2020-12): OpenAPI 3.1 resolves them within the
 * document, against the schema resources embedded here.
 */
export const CONTRACT_SCHEMAS: Readonly<Record<string, JsonSchema>> = Object.freeze({
  common: commonSchema,
  envelope: envelopeSchema,
  ...(Object.fromEntries(KINDS.map((kind) => [kind, kindSchemas[kind]])) as Record<Kind, JsonSchema>),
  'forwarded-envelope': forwardedEnvelopeSchema
})

type ExampleObject = { readonly summary: string; readonly value: unknown }

/** The valid examples of schemas/examples/ as OpenAPI Example Objects, read once at start-up. */
const CONTRACT_EXAMPLES: Readonly<Record<string, ExampleObject>> = Object.freeze(
  Object.fromEntries(
    (['envelope', ...KINDS] as const).flatMap((group) =>
      listExamples(group)
        .filter((example) => example.valid)
        .map((example) => {
          const kind = String((example.envelope as { kind?: unknown }).kind)
          const summary = `${kind}: ${example.name.replace(/^valid-/, '').replaceAll('-', ' ')}`
          return [`${group}.${example.name}`, { summary, value: example.envelope }]
        })
    )
  )
)

/**
 * The `x-jws-payload` extension of an `application/jose` body: the schema of
 * the JWS payload, the schema of its `payload` member for each `kind`, and
 * (for an agency's submission) examples of the JWS payload.
 */
export function jwsPayload(form: 'envelope' | 'forwarded-envelope') {
  return {
    description:
      form === 'envelope'
        ? 'The JWS payload is the envelope (`envelope`); its `payload` member is validated against the schema of its `kind` (`kindSchemas`).'
        : "The JWS payload is the forwarded envelope (`forwarded-envelope`). Its `payload` member is what the sender's outbound policy " +
          "let through of the `kind`'s schema (`kindSchemas`).",
    schema: { $ref: `${SCHEMAS_REF}${form}` },
    kindSchemas: Object.fromEntries(KINDS.map((kind) => [kind, { $ref: `${SCHEMAS_REF}${kind}` }])),
    ...(form === 'envelope' ? { examples: Object.fromEntries(Object.keys(CONTRACT_EXAMPLES).map((name) => [name, { $ref: `${EXAMPLES_REF}${name}` }])) } : {})
  }
}

type OpenApiDocument = Record<string, any>

/**
 * Adds the contract to the generated document and moves each operation's
 * `x-jws-payload` onto its `application/jose` media type, where it belongs:
 * Fastify's body schema can only say "a string".
 */
function addContract(doc: OpenApiDocument): any {
  doc.components.schemas = { ...doc.components.schemas, ...CONTRACT_SCHEMAS }
  doc.components.examples = { ...CONTRACT_EXAMPLES }
  for (const item of Object.values(doc.paths ?? {}) as Array<Record<string, any>>) {
    for (const operation of Object.values(item)) {
      const payload = operation?.['x-jws-payload']
      const media = operation?.requestBody?.content?.['application/jose']
      if (payload === undefined || media === undefined) continue
      media['x-jws-payload'] = payload
      delete operation['x-jws-payload']
    }
  }
  return doc
}

const DESCRIPTION = `The gateway through which Canadian and U.S. border agencies exchange signed records about travellers
(Beyond the Border). The integrator's guide is docs/integrators.md in the repository: token, envelope, signing, submission, status, receiving.

**Who may call what.** Every API route is over mutual TLS (\`mutualTLS\`): a client certificate issued by the country's CA and registered in
the trust file. Agency systems submit messages and read their status; privacy officers read the audit ledger; the partner gateway (its pinned
certificate) delivers to \`/v1/exchange\` and has its checkpoints cosigned at \`/v1/witness/add-checkpoint\`. Routes marked with \`bearerToken\` also need the access token from
\`POST /v1/token\`, which is bound to the certificate it was issued to (RFC 8705): presented over another certificate it is refused.

**Messages** are compact JWS (\`application/jose\`). The schema of the JWS payload (the envelope) and of each kind's payload are in
\`components.schemas\`: they are the JSON Schemas (2020-12) the gateway validates with, and the valid examples of \`schemas/examples/\` are in
\`components.examples\`. The \`x-jws-payload\` extension of each JWS body names them.

**Refusals** are RFC 9457 problem documents (\`application/problem+json\`) with a stable \`code\` (schema \`problem\`); each response lists the
codes a route can answer with. A refused request changes nothing.`

export const openapiPlugin = fp(
  async function openapi(app: FastifyInstance) {
    // Read, not imported: the image copies package.json beside gateway/ (docker/Dockerfile).
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    app.addSchema(PROBLEM_SCHEMA)
    await app.register(swagger, {
      // Typed loosely: openapi-types does not know OpenAPI 3.1's `mutualTLS` scheme.
      openapi: {
        openapi: '3.1.0',
        info: { title: 'Beyond the Border exchange gateway', version, description: DESCRIPTION },
        tags: [
          { name: 'token', description: 'Certificate-bound access tokens' },
          { name: 'messages', description: "Agency systems submit messages and follow them to the partner's receipt" },
          { name: 'policies', description: 'The published privacy policies (P7, transparency) and a dry run against them' },
          { name: 'gateway-to-gateway', description: 'The partner gateway: deliveries and ledger checkpoints' },
          { name: 'audit', description: 'The audit ledger, for privacy officers' },
          { name: 'keys', description: "Public signing keys (JWKS): this gateway's and the partner's, for verifying pushes and receipts" },
          { name: 'operations', description: 'Health, readiness, metrics and dead letters, for operators' }
        ],
        components: {
          securitySchemes: {
            mutualTLS: {
              type: 'mutualTLS',
              description:
                "A client certificate that chains to this country's CA and is registered (not revoked) in the trust file: an agency system, " +
                "a privacy officer or an operator; on the gateway-to-gateway routes, the partner gateway's pinned certificate. Without one, API routes answer `UNAUTHENTICATED`."
            },
            bearerToken: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description:
                'The `access_token` of `POST /v1/token`, sent over the same client certificate: an ES256 JWT bound to that certificate ' +
                '(RFC 8705, `cnf.x5t#S256`). Missing, invalid or expired: `UNAUTHENTICATED`; over another certificate: `TOKEN_CERT_MISMATCH`.'
            }
          }
        }
      } as Record<string, unknown>,
      // Shared schemas keep their $id as their component name (`problem`), not `def-0`.
      refResolver: {
        buildLocalReference(json, _baseUri, _fragment, i) {
          return typeof json.$id === 'string' && /^[A-Za-z0-9._-]+$/.test(json.$id) ? json.$id : `def-${i}`
        }
      },
      transformObject: (generated) => addContract((generated as { openapiObject: OpenApiDocument }).openapiObject)
    })
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      // No badge fetched from validator.swagger.io: the page tells no third party where the gateway is.
      uiConfig: { validatorUrl: null, deepLinking: true, docExpansion: 'list' }
    })
  },
  { name: 'openapi', fastify: '5.x' }
)
