// The JSON Schemas of the contract (docs/architecture.md, "The contract"),
// read once when this module is first imported: nothing re-reads a schema
// per message (docs/architecture.md, "Targets").
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** The message kinds of the contract, in the order the catalogue lists them. */
export const KINDS = [
  'biometric.match-request',
  'biometric.match-response',
  'traveller.designation',
  'traveller.designation-batch',
  'entry-exit.record',
  'entry-exit.batch'
] as const

export type Kind = (typeof KINDS)[number]

/** A JSON Schema document or subschema, as parsed from its file. */
export type JsonSchema = Readonly<Record<string, unknown>>

export const SCHEMA_BASE = 'https://schemas.btb-gateway.example'
export const COMMON_SCHEMA_ID = `${SCHEMA_BASE}/common/1.0`
export const ENVELOPE_SCHEMA_ID = `${SCHEMA_BASE}/envelope/1.0`

/** The $id of a kind's payload schema, e.g. https://schemas.btb-gateway.example/kinds/entry-exit.record/1.0 */
export function kindSchemaId(kind: Kind): string {
  return `${SCHEMA_BASE}/kinds/${kind}/1.0`
}

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value)
}

const here = import.meta.dirname

function load(relative: string, expectedId: string): JsonSchema {
  const schema: unknown = JSON.parse(readFileSync(join(here, relative), 'utf8'))
  if (typeof schema !== 'object' || schema === null || (schema as JsonSchema).$id !== expectedId) {
    throw new Error(`schemas/${relative}: expected $id ${expectedId}`)
  }
  return schema as JsonSchema
}

export const commonSchema: JsonSchema = load('common.schema.json', COMMON_SCHEMA_ID)
export const envelopeSchema: JsonSchema = load('envelope.schema.json', ENVELOPE_SCHEMA_ID)

/**
 * A message id in its one canonical spelling (common.schema.json#/$defs/messageId),
 * for the routes that take an id in their path or query: the same rule as in the envelope.
 */
export const MESSAGE_ID_PATTERN: string = String((commonSchema.$defs as Record<string, JsonSchema>).messageId.pattern)

const MESSAGE_ID = new RegExp(MESSAGE_ID_PATTERN)

/** Whether `value` is a message id in the contract's form: one of any other form was never stored. */
export function isMessageId(value: unknown): value is string {
  return typeof value === 'string' && MESSAGE_ID.test(value)
}

/** The contract's one RFC 3339 profile for instants (common.schema.json#/$defs/dateTime), for query strings. */
export const DATE_TIME_PATTERN: string = String((commonSchema.$defs as Record<string, JsonSchema>).dateTime.pattern)

export const kindSchemas: Readonly<Record<Kind, JsonSchema>> = Object.freeze(
  Object.fromEntries(KINDS.map((kind) => [kind, load(join('kinds', `${kind}.schema.json`), kindSchemaId(kind))])) as Record<Kind, JsonSchema>
)

/** Every schema document, for `ajv.addSchema(allSchemas)`; look them up by $id afterwards. */
export const allSchemas: readonly JsonSchema[] = Object.freeze([commonSchema, envelopeSchema, ...KINDS.map((kind) => kindSchemas[kind])])

export interface Example {
  /** File name without `.json`, e.g. `invalid-image-format`; says why an invalid example is invalid. */
  readonly name: string
  readonly valid: boolean
  readonly envelope: unknown
}

/**
 * The example envelopes of a kind (or the envelope-level ones), sorted by
 * name. Read from disk on each call: examples are for tests and integrators,
 * not for the message path.
 */
export function listExamples(kind: Kind | 'envelope'): Example[] {
  const dir = join(here, 'examples', kind)
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json') && (file.startsWith('valid-') || file.startsWith('invalid-')))
    .sort()
    .map((file) => ({
      name: file.slice(0, -'.json'.length),
      valid: file.startsWith('valid-'),
      envelope: JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown
    }))
}
