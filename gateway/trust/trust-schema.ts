// The trust file's shape, checked against schemas/trust.schema.json when the
// gateway loads it (trust-store.ts) and before the keys CLI writes it
// (trust-edit.ts): one schema, one Ajv configuration (lib/ajv-options.ts).
// A refusal names the member that is wrong, by its JSON Pointer.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import { ajv2020Module } from '../lib/lazy-packages.ts'
import { AJV_OPTIONS } from '../lib/ajv-options.ts'
import { validatorSet } from '../lib/validator-cache.ts'
import type { TrustFile } from './trust-file.ts'

export const TRUST_SCHEMA_PATH = join(import.meta.dirname, '..', '..', 'schemas', 'trust.schema.json')

const TRUST_SCHEMA = JSON.parse(readFileSync(TRUST_SCHEMA_PATH, 'utf8')) as object
// Compiled, or read from the validator cache (lib/validator-cache.ts).
const validate = validatorSet({
  name: 'trust',
  source: [AJV_OPTIONS, TRUST_SCHEMA],
  keys: ['trust'],
  build: (codeOptions) => new (ajv2020Module().Ajv2020)({ ...AJV_OPTIONS, ...codeOptions }).addSchema(TRUST_SCHEMA, 'trust')
}).get('trust') as ValidateFunction<TrustFile>

/** What is wrong, where: `/agencies/0/kinds: must be array`, `/partner: unknown member "pin"`. */
function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? '/' : error.instancePath
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties':
      return `${where}: unknown member ${JSON.stringify(params.additionalProperty)}`
    case 'required':
      return `${where}: missing member ${JSON.stringify(params.missingProperty)}`
    default:
      return `${where}: ${error.message ?? error.keyword}`
  }
}

/** The file's content as a TrustFile, or an error naming the first member that is not what the schema says. */
export function checkTrustFile(value: unknown, source: string): TrustFile {
  if (validate(value)) return value
  throw new Error(`trust file ${source}: ${describe(validate.errors![0]!)}`)
}
