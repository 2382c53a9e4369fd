// The contract's schemas: they compile under strict Ajv, every valid example
// passes, and every invalid example fails for the reason its file name gives.
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import ajvFormats from 'ajv-formats'
import {
  COMMON_SCHEMA_ID,
  ENVELOPE_SCHEMA_ID,
  KINDS,
  allSchemas,
  commonSchema,
  envelopeSchema,
  isKind,
  kindSchemaId,
  kindSchemas,
  listExamples
} from '../schemas/index.ts'
import type { JsonSchema, Kind } from '../schemas/index.ts'

// The gateway's settings (docs/architecture.md, "Runtime"): strict, and nothing that changes data.
function strictAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    strict: true,
    allErrors: true,
    coerceTypes: false,
    useDefaults: false,
    removeAdditional: false
  })
  ajvFormats.default(ajv)
  ajv.addSchema(allSchemas.map((schema) => ({ ...schema })))
  return ajv
}

const ajv = strictAjv()

function validator(id: string): ValidateFunction {
  const validate = ajv.getSchema(id)
  if (validate === undefined) throw new Error(`no schema ${id}`)
  return validate
}

const validateEnvelope = validator(ENVELOPE_SCHEMA_ID)
const validatePayload = Object.fromEntries(KINDS.map((kind) => [kind, validator(kindSchemaId(kind))])) as Record<Kind, ValidateFunction>

/** Where an invalid example must fail: which schema, which keyword, at which instance path (relative to what that schema validates). */
interface Expected {
  readonly schema: 'envelope' | 'payload'
  readonly keyword: string
  readonly instancePath: string
  readonly params?: Readonly<Record<string, unknown>>
}

const payload = (keyword: string, instancePath: string, params?: Record<string, unknown>): Expected => ({
  schema: 'payload',
  keyword,
  instancePath,
  ...(params === undefined ? {} : { params })
})
const envelope = (keyword: string, instancePath: string, params?: Record<string, unknown>): Expected => ({
  schema: 'envelope',
  keyword,
  instancePath,
  ...(params === undefined ? {} : { params })
})

const EXPECTED: Readonly<Record<Kind | 'envelope', Readonly<Record<string, Expected>>>> = {
  'biometric.match-request': {
    'invalid-date-of-birth-in-request': payload('additionalProperties', '', { additionalProperty: 'dateOfBirth' }),
    'invalid-image-field-in-fingerprint': payload('additionalProperties', '/fingerprints/1', { additionalProperty: 'image' }),
    'invalid-image-format': payload('enum', '/fingerprints/0/format'),
    'invalid-name-in-request': payload('additionalProperties', '', { additionalProperty: 'surname' }),
    'invalid-no-fingerprints': payload('minItems', '/fingerprints'),
    'invalid-position-out-of-range': payload('maximum', '/fingerprints/0/position'),
    'invalid-quality-above-nfiq2-range': payload('maximum', '/fingerprints/0/quality'),
    'invalid-rolled-plain-position': payload('enum', '/fingerprints/2/impressionType'),
    'invalid-template-not-base64': payload('pattern', '/fingerprints/0/template'),
    'invalid-too-many-fingerprints': payload('maxItems', '/fingerprints')
  },
  'biometric.match-response': {
    'invalid-error-without-error-result': payload('false schema', '/error'),
    'invalid-free-text-history': payload('additionalProperties', '/subject/immigrationHistory/0', { additionalProperty: 'details' }),
    'invalid-human-review-not-required': payload('const', '/humanReviewRequired'),
    'invalid-image-in-subject': payload('additionalProperties', '/subject', { additionalProperty: 'facialImage' }),
    'invalid-match-without-subject': payload('required', '', { missingProperty: 'subject' }),
    'invalid-outcome-not-in-category': payload('enum', '/subject/immigrationHistory/0/outcome'),
    'invalid-result-value': payload('enum', '/result'),
    'invalid-subject-without-match': payload('false schema', '/subject')
  },
  'traveller.designation': {
    'invalid-admission-class': payload('enum', '/admissionClass'),
    'invalid-approved-without-validity': payload('required', '', { missingProperty: 'validUntil' }),
    'invalid-impossible-date-of-birth': payload('format', '/traveller/dateOfBirth'),
    'invalid-nexus-without-passid': payload('required', '', { missingProperty: 'membershipId' }),
    'invalid-no-document-or-membership': payload('required', '', { missingProperty: 'document' }),
    'invalid-passid-format': payload('pattern', '/membershipId'),
    'invalid-risk-outcome': payload('enum', '/riskAssessment/outcome'),
    'invalid-risk-score-field': payload('additionalProperties', '/riskAssessment', { additionalProperty: 'score' }),
    'invalid-unknown-programme': payload('enum', '/programme')
  },
  'traveller.designation-batch': {
    'invalid-batch-extra-field': payload('additionalProperties', '', { additionalProperty: 'count' }),
    'invalid-empty-designations': payload('minItems', '/designations'),
    'invalid-missing-batch-ref': payload('required', '', { missingProperty: 'batchRef' }),
    'invalid-passid-format-in-designation': payload('pattern', '/designations/1/membershipId')
  },
  'entry-exit.record': {
    'invalid-bad-port-code': payload('pattern', '/crossing/portCode'),
    'invalid-control-character-in-name': payload('pattern', '/traveller/surname'),
    'invalid-direction-field': payload('additionalProperties', '/crossing', { additionalProperty: 'direction' }),
    'invalid-document-number-too-long': payload('pattern', '/document/number'),
    'invalid-document-type': payload('pattern', '/document/type'),
    'invalid-fingerprints-in-record': payload('additionalProperties', '', { additionalProperty: 'fingerprints' }),
    'invalid-missing-date-of-birth': payload('required', '/traveller', { missingProperty: 'dateOfBirth' }),
    'invalid-nationality-code': payload('enum', '/traveller/citizenship'),
    'invalid-travel-mode': payload('enum', '/crossing/travelMode')
  },
  'entry-exit.batch': {
    'invalid-batch-extra-field': payload('additionalProperties', '', { additionalProperty: 'recordCount' }),
    'invalid-empty-records': payload('minItems', '/records'),
    'invalid-impossible-date-in-record': payload('format', '/records/2/traveller/dateOfBirth'),
    'invalid-missing-batch-ref': payload('required', '', { missingProperty: 'batchRef' }),
    'invalid-record-extra-field': payload('additionalProperties', '/records/1', { additionalProperty: 'fingerprints' })
  },
  envelope: {
    'invalid-agency-of-other-country': envelope('enum', '/from/agency'),
    'invalid-bad-uuid': envelope('pattern', '/id'),
    'invalid-id-urn-uuid': envelope('pattern', '/id'),
    'invalid-id-upper-case': envelope('pattern', '/id'),
    'invalid-correlation-id': envelope('pattern', '/correlationId'),
    'invalid-created-at-leap-second': envelope('pattern', '/createdAt'),
    'invalid-created-at-short-offset': envelope('pattern', '/createdAt'),
    'invalid-created-at-without-offset': envelope('format', '/createdAt'),
    'invalid-empty-legal-authority': envelope('minLength', '/legalAuthority'),
    'invalid-extra-top-level-property': envelope('additionalProperties', '', { additionalProperty: 'signature' }),
    'invalid-missing-purpose': envelope('required', '', { missingProperty: 'purpose' }),
    'invalid-payload-not-object': envelope('type', '/payload'),
    'invalid-purpose-pattern': envelope('pattern', '/purpose'),
    'invalid-retraction-with-payload': envelope('maxProperties', '/payload'),
    'invalid-same-country': envelope('const', '/to/country'),
    'invalid-schema-version': envelope('const', '/schemaVersion'),
    'invalid-supersedes-action': envelope('enum', '/supersedes/action'),
    'invalid-supersedes-free-text-reason': envelope('enum', '/supersedes/reason'),
    'invalid-system-name': envelope('pattern', '/from/system'),
    'invalid-unknown-kind': envelope('enum', '/kind')
  }
}

function summary(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.keyword} ${JSON.stringify(e.params)}`).join('; ')
}

function matches(error: ErrorObject, expected: Expected): boolean {
  if (error.keyword !== expected.keyword || error.instancePath !== expected.instancePath) return false
  const params = error.params as Record<string, unknown>
  return Object.entries(expected.params ?? {}).every(([key, value]) => params[key] === value)
}

function payloadOf(value: unknown): unknown {
  return (value as { payload?: unknown }).payload
}

t.test('every schema compiles under strict Ajv 2020 with formats', async (t) => {
  const ids = allSchemas.map((schema) => schema.$id)
  t.same(ids, [COMMON_SCHEMA_ID, ENVELOPE_SCHEMA_ID, ...KINDS.map(kindSchemaId)], 'common, envelope, then one per kind')
  t.equal(new Set(ids).size, ids.length, 'no two schemas share an $id')
  t.equal(commonSchema.$id, COMMON_SCHEMA_ID)
  t.equal(envelopeSchema.$id, ENVELOPE_SCHEMA_ID)
  for (const id of ids) t.ok(typeof id === 'string' && ajv.getSchema(id) !== undefined, `${String(id)} compiles`)
  for (const kind of KINDS) t.equal(kindSchemas[kind].$id, kindSchemaId(kind), `${kind} has its versioned $id`)
  // A second, independent instance proves the set is self-contained.
  t.doesNotThrow(() => strictAjv().getSchema(ENVELOPE_SCHEMA_ID))
})

t.test('the envelope lists exactly the kinds there are schemas for', async (t) => {
  const kindProperty = (envelopeSchema.properties as Record<string, { enum: string[] }>).kind
  t.same(kindProperty.enum, [...KINDS])
  t.ok(KINDS.every(isKind))
  t.notOk(isKind('passenger.manifest'))
})

t.test('every object that declares properties forbids additional ones', async (t) => {
  // Conditional branches (if/then/else/not) only constrain; the object they
  // apply to is checked where it is declared.
  const skip = new Set(['if', 'then', 'else', 'not'])
  const open: string[] = []
  const visit = (node: unknown, where: string): void => {
    if (typeof node !== 'object' || node === null) return
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, `${where}/${i}`))
      return
    }
    const schema = node as JsonSchema
    if (schema.properties !== undefined && schema.additionalProperties !== false) open.push(where)
    for (const [key, child] of Object.entries(schema)) {
      if (skip.has(key) || key === 'enum' || key === 'const') continue
      visit(child, `${where}/${key}`)
    }
  }
  for (const schema of allSchemas) visit(schema, String(schema.$id))
  t.same(open, [], 'additionalProperties: false everywhere')
})

for (const group of [...KINDS, 'envelope'] as const) {
  t.test(`${group} examples`, async (t) => {
    const examples = listExamples(group)
    const valid = examples.filter((e) => e.valid)
    const invalid = examples.filter((e) => !e.valid)
    t.ok(valid.length >= 2 || group === 'envelope', `${valid.length} valid examples`)
    t.ok(invalid.length >= 3, `${invalid.length} invalid examples`)
    t.same(
      invalid.map((e) => e.name).sort(),
      Object.keys(EXPECTED[group]).sort(),
      'every invalid example states where it must fail, and every stated failure has its example'
    )

    for (const example of valid) {
      const kind = (example.envelope as { kind?: unknown }).kind
      if (group !== 'envelope') t.equal(kind, group, `${example.name} is filed under its kind`)
      t.ok(validateEnvelope(example.envelope), `${example.name}: envelope valid`, { errors: summary(validateEnvelope.errors) })
      if (!isKind(kind)) {
        t.fail(`${example.name}: unknown kind ${String(kind)}`)
        continue
      }
      // A retraction carries no record of its kind: the envelope holds its payload to {} (as pipeline/validate-message.ts does).
      if ((example.envelope as { supersedes?: { action?: string } }).supersedes?.action === 'retract') {
        t.same(payloadOf(example.envelope), {}, `${example.name}: a retraction, with an empty payload`)
        continue
      }
      const validate = validatePayload[kind]
      t.ok(validate(payloadOf(example.envelope)), `${example.name}: payload valid`, { errors: summary(validate.errors) })
    }

    for (const example of invalid) {
      const expected = EXPECTED[group][example.name]
      if (expected === undefined) continue
      const envelopeOk = validateEnvelope(example.envelope)
      if (expected.schema === 'envelope') {
        t.notOk(envelopeOk, `${example.name}: envelope refused`)
        t.ok(
          (validateEnvelope.errors ?? []).some((e) => matches(e, expected)),
          `${example.name}: fails on ${expected.keyword} at ${expected.instancePath || '/'}`,
          { errors: summary(validateEnvelope.errors) }
        )
        continue
      }
      t.ok(envelopeOk, `${example.name}: the envelope itself is valid, the fault is in the payload`, {
        errors: summary(validateEnvelope.errors)
      })
      const validate = validatePayload[group as Kind]
      t.notOk(validate(payloadOf(example.envelope)), `${example.name}: payload refused`)
      t.ok(
        (validate.errors ?? []).some((e) => matches(e, expected)),
        `${example.name}: fails on ${expected.keyword} at /payload${expected.instancePath}`,
        { errors: summary(validate.errors) }
      )
    }
  })
}

t.test('a batch holds up to 5000 records, not one more', async (t) => {
  const example = listExamples('entry-exit.batch').find((e) => e.valid)
  if (example === undefined) throw new Error('no valid batch example')
  const base = payloadOf(example.envelope) as { batchRef: string; records: unknown[] }
  const records = (n: number): unknown[] => Array.from({ length: n }, (_, i) => base.records[i % base.records.length])
  const validate = validatePayload['entry-exit.batch']

  const started = performance.now()
  t.ok(validate({ batchRef: base.batchRef, records: records(5000) }), '5000 records validate', {
    errors: summary(validate.errors)
  })
  t.comment(`5000 records validated in ${(performance.now() - started).toFixed(1)} ms`)

  t.notOk(validate({ batchRef: base.batchRef, records: records(5001) }), '5001 records do not')
  t.ok((validate.errors ?? []).some((e) => e.keyword === 'maxItems' && e.instancePath === '/records'))
})

t.test('code lists', async (t) => {
  const defs = commonSchema.$defs as Record<string, { enum?: string[]; pattern?: string }>
  const codes = defs.icaoCode?.enum ?? []
  t.equal(new Set(codes).size, codes.length, 'no duplicate country codes')
  t.equal(codes.length, 249 + 18, 'ISO 3166-1 alpha-3 (249) plus the 18 ICAO extras')
  for (const code of ['CAN', 'USA', 'MEX', 'D', 'XXA', 'XXB', 'XXX', 'UNO', 'RKS', 'GBN']) t.ok(codes.includes(code), code)
  t.notOk(codes.includes('UK'), 'UK is not a code: GBR is')
  const validate = validatePayload['entry-exit.record']
  const example = listExamples('entry-exit.record').find((e) => e.valid)
  const record = structuredClone(payloadOf(example?.envelope)) as { traveller: { surname: string } }
  for (const name of ['Ñúñez-O’Brien', 'ÉMILIE', '李', 'VAN DER BERG']) {
    record.traveller.surname = name
    t.ok(validate(record), `name ${name} is accepted`)
  }
  for (const name of [' NGUYEN', 'NGUYEN ', 'NGU\nYEN', '', 'X'.repeat(101)]) {
    record.traveller.surname = name
    t.notOk(validate(record), `name ${JSON.stringify(name)} is refused`)
  }
})
