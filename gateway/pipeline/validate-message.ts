// Step 4 of the pipeline: the envelope and its payload against schemas/.
// Ajv is strict and changes nothing: no coercion, no stripping, no defaults —
// the gateway validates exactly what was signed (docs/architecture.md,
// "Runtime"). These schemas are
// draft 2020-12, so they have an Ajv2020 of their own, with the app's options
// (lib/ajv-options.ts). Every validator
// is compiled once, at start-up, or read from the validator cache where Node's
// compile cache is on (lib/validator-cache.ts).
import type { Ajv2020, ValidateFunction, ErrorObject } from 'ajv/dist/2020.js'
import { KINDS, allSchemas, envelopeSchema, kindSchemas, type Kind } from '../../schemas/index.ts'
import { policies } from '../../policies/index.ts'
import { receivedSchema } from '../../policies/lib/received-schema.ts'
import { KindUnknownError, SchemaInvalidError } from '../errors.ts'
import { ajv2020Module, ajvFormatsModule } from '../lib/lazy-packages.ts'
import { AJV_OPTIONS } from '../lib/ajv-options.ts'
import { echo } from '../lib/echo.ts'
import { validatorSet, type CodeOptions } from '../lib/validator-cache.ts'
import { HANDLING_SCHEMA, type Envelope, type ForwardedEnvelope } from './envelope.ts'

const FORWARDED_ID = 'https://schemas.btb-gateway.example/forwarded-envelope/1.0'

function describe(errors: ErrorObject[] | null | undefined, prefix: string): string {
  const first = errors?.[0]
  if (first === undefined) return 'invalid'
  const where = `${prefix}${first.instancePath}` || '/'
  return `${where} ${first.message ?? first.keyword}${wanted(first)}`
}

/**
 * What the schema wanted, where Ajv's message leaves it out: the member not
 * allowed (quoted as any sent value is), or the values allowed, which are the
 * contract's own (an agency, a country), never the sender's data.
 */
function wanted(error: ErrorObject): string {
  const params = error.params as { additionalProperty?: string; allowedValue?: unknown; allowedValues?: unknown[] }
  if (error.keyword === 'additionalProperties') return ` (${echo(params.additionalProperty)})`
  if (error.keyword === 'const') return ` (${JSON.stringify(params.allowedValue)})`
  if (error.keyword === 'enum') return ` (${params.allowedValues!.map((value) => JSON.stringify(value)).join(', ')})`
  return ''
}

export function isKind(kind: unknown): kind is Kind {
  return typeof kind === 'string' && (KINDS as readonly string[]).includes(kind)
}

/** An Ajv for draft 2020-12 with the app's options and formats (and, when caching, its code kept). */
function messageAjv(codeOptions: CodeOptions): Ajv2020 {
  const ajv = new (ajv2020Module().Ajv2020)({ ...AJV_OPTIONS, ...codeOptions })
  ajvFormatsModule().default(ajv)
  return ajv
}

export class MessageValidator {
  readonly #envelope: ValidateFunction
  readonly #forwarded: ValidateFunction
  readonly #payload: Map<string, ValidateFunction>
  /** `kind/purpose` -> schema of the payload after that purpose's outbound policy. */
  readonly #received: Map<string, ValidateFunction>

  constructor() {
    const envelopeId = String((envelopeSchema as { $id: string }).$id)
    const kindId = (kind: Kind): string => String((kindSchemas[kind] as { $id: string }).$id)
    const forwarded = structuredClone(envelopeSchema) as Record<string, any>
    forwarded.$id = FORWARDED_ID
    forwarded.properties.handling = HANDLING_SCHEMA
    forwarded.required = [...forwarded.required, 'handling']
    // Compiled, or read from the validator cache (lib/validator-cache.ts).
    const strict = validatorSet({
      name: 'messages',
      source: [AJV_OPTIONS, allSchemas, forwarded],
      keys: [envelopeId, FORWARDED_ID, ...KINDS.map(kindId)],
      build: (codeOptions) => {
        const ajv = messageAjv(codeOptions)
        for (const schema of allSchemas) ajv.addSchema(schema as object)
        ajv.addSchema(forwarded)
        return ajv
      }
    })
    this.#envelope = strict.get(envelopeId)!
    this.#forwarded = strict.get(FORWARDED_ID)!
    this.#payload = new Map(KINDS.map((kind) => [kind, strict.get(kindId(kind))!]))

    const registry = new Map((allSchemas as Array<Record<string, unknown>>).map((s) => [String(s.$id), s]))
    const receivedSchemas = new Map<string, object>()
    for (const kind of KINDS) {
      for (const [purpose, rules] of Object.entries(policies[kind].purposes)) {
        if (rules.outbound === undefined) continue
        receivedSchemas.set(`${kind}/${purpose}`, receivedSchema(kindSchemas[kind] as Record<string, unknown>, rules.outbound.fields, registry))
      }
    }
    this.#received = validatorSet({
      name: 'received',
      source: [AJV_OPTIONS, [...receivedSchemas]],
      keys: [...receivedSchemas.keys()],
      build: (codeOptions) => {
        const ajv = messageAjv(codeOptions)
        for (const [key, schema] of receivedSchemas) ajv.addSchema(schema, key)
        return ajv
      }
    })
  }

  /** An envelope from an agency system, with its payload checked against its kind. */
  envelope(value: unknown): Envelope {
    if (value !== null && typeof value === 'object' && 'kind' in value && !isKind((value as { kind: unknown }).kind)) {
      throw new KindUnknownError(echo((value as { kind: unknown }).kind))
    }
    if (!this.#envelope(value)) throw new SchemaInvalidError(describe(this.#envelope.errors, ''))
    const envelope = value as Envelope
    // A retraction carries no record (the envelope schema holds its payload
    // to {}), so there is nothing of the kind to validate.
    if (envelope.supersedes?.action === 'retract') return envelope
    const payload = this.#payload.get(envelope.kind)!
    if (!payload(envelope.payload)) throw new SchemaInvalidError(describe(payload.errors, '/payload'))
    return envelope
  }

  /**
   * An envelope from the partner gateway: its payload must be no more than
   * what the named outbound policy lets through.
   */
  forwarded(value: unknown): ForwardedEnvelope {
    if (value !== null && typeof value === 'object' && 'kind' in value && !isKind((value as { kind: unknown }).kind)) {
      throw new KindUnknownError(echo((value as { kind: unknown }).kind))
    }
    if (!this.#forwarded(value)) throw new SchemaInvalidError(describe(this.#forwarded.errors, ''))
    const envelope = value as ForwardedEnvelope
    const received = this.#received.get(`${envelope.kind}/${envelope.purpose}`)
    if (received === undefined) throw new SchemaInvalidError(`/purpose ${envelope.purpose} has no outbound policy for ${envelope.kind}`)
    // A retraction carries no record (the envelope schema holds its payload
    // to {}), and none of the lists a message of its kind is of.
    if (envelope.supersedes?.action === 'retract') return envelope
    if (!received(envelope.payload)) throw new SchemaInvalidError(describe(received.errors, '/payload'))
    return envelope
  }
}

let shared: MessageValidator | undefined

/**
 * The process's validator. It holds only validators compiled from the
 * committed schemas and policies, no keys and no state between calls, so
 * every app a process builds can share one (a test process builds dozens;
 * compiling costs ~0.4 s of CPU each time).
 */
export function messageValidator(): MessageValidator {
  shared ??= new MessageValidator()
  return shared
}
