// The schema of a payload after a policy has been applied to it: withheld
// fields are gone (so nothing is required), generalised and pseudonymised
// fields have their coarser form, shared fields keep their original schema.
// The receiving gateway validates what it gets against this, so a sender
// cannot pass on a field its own policy should have withheld, nor an empty
// list or record its policy would never have forwarded (a batch with no
// record in it), nor a message without the list it is of (requiredLists), a
// member its policy always forwards (alwaysForwarded: a batch's reference,
// a print's template), or an object the kind requires that holds one (a
// designation's traveller and risk assessment), whether the kind requires it
// always or under an `if` the receiver can read as the sender did (a match
// response's subject on MATCH).
import { GENERALISED_FORMS, PSEUDONYM_FORM, TOTAL_GENERALISERS } from './engine.ts'
import type { FieldRule, FieldRules } from './types.ts'

type Schema = Record<string, unknown>

/** Every schema by `$id`, so that `$ref`s across files resolve. */
export type SchemaRegistry = ReadonlyMap<string, Schema>

const ANNOTATIONS = new Set(['$id', '$schema', '$comment', 'title', 'description', 'examples', '$defs', 'default'])

function pointer(root: Schema, fragment: string): Schema {
  let node: unknown = root
  for (const raw of fragment.split('/').slice(1)) {
    const part = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~')
    node = (node as Schema)[part]
    if (node === undefined) throw new Error(`unresolvable schema pointer #${fragment}`)
  }
  return node as Schema
}

function resolveRef(ref: string, base: string, registry: SchemaRegistry): { schema: Schema; base: string } {
  const url = new URL(ref, base)
  const fragment = url.hash.slice(1)
  url.hash = ''
  const id = url.toString()
  const root = registry.get(id)
  if (root === undefined) throw new Error(`unknown schema ${id}`)
  return { schema: fragment === '' ? root : pointer(root, fragment), base: id }
}

/** Follows `$ref` until a schema with content, merging sibling keywords. */
function deref(node: Schema, base: string, registry: SchemaRegistry): { schema: Schema; base: string } {
  let current = { schema: node, base: typeof node.$id === 'string' ? node.$id : base }
  while (typeof current.schema.$ref === 'string') {
    const { $ref, ...siblings } = current.schema
    const target = resolveRef($ref as string, current.base, registry)
    const targetBase = typeof target.schema.$id === 'string' ? target.schema.$id : target.base
    current = { schema: { ...target.schema, ...siblings }, base: targetBase }
  }
  return current
}

/** A self-contained copy of a leaf schema: refs inlined, annotations dropped. */
function inline(node: unknown, base: string, registry: SchemaRegistry): unknown {
  if (Array.isArray(node)) return node.map((n) => inline(n, base, registry))
  if (node === null || typeof node !== 'object') return node
  const { schema, base: b } = deref(node as Schema, base, registry)
  const out: Schema = {}
  for (const [k, v] of Object.entries(schema)) {
    if (ANNOTATIONS.has(k)) continue
    out[k] = k === 'enum' || k === 'const' ? v : inline(v, b, registry)
  }
  return out
}

/** Properties of an object schema, including those declared only in conditional branches. */
function objectProperties(schema: Schema, base: string, registry: SchemaRegistry): Array<[string, Schema, string]> {
  const found = new Map<string, [Schema, string]>()
  const collect = (s: Schema, b: string): void => {
    const { schema: d, base: db } = deref(s, b, registry)
    for (const [k, v] of Object.entries((d.properties ?? {}) as Record<string, Schema>)) {
      if (!found.has(k) || Object.keys(v).length > 0) {
        if (!found.has(k) || Object.keys(found.get(k)![0]).length === 0) found.set(k, [v, db])
      }
    }
    for (const key of ['then', 'else'] as const) if (d[key] !== undefined) collect(d[key] as Schema, db)
    for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
      for (const branch of (d[key] ?? []) as Schema[]) collect(branch, db)
    }
  }
  collect(schema, base)
  return [...found].map(([k, [v, b]]) => [k, v, b])
}

/** objectProperties, by name. */
function propertiesByName(schema: Schema, base: string, registry: SchemaRegistry): Map<string, { child: Schema; childBase: string }> {
  return new Map(objectProperties(schema, base, registry).map(([key, child, childBase]) => [key, { child, childBase }]))
}

function isObjectSchema(s: Schema): boolean {
  return s.type === 'object' || s.properties !== undefined
}

function isArraySchema(s: Schema): boolean {
  return s.type === 'array' || s.items !== undefined
}

/**
 * The lists a message of the kind is of: those at the payload's root the kind
 * requires, never empty (a batch's `records` or `designations`, a match
 * request's `fingerprints`). Nothing else at the root stays required once a
 * policy has been applied, since a rule may withhold it; a list the kind
 * requires is always sent, or the message is not (gateway/pipeline/apply-policy.ts,
 * PolicyBook.apply, refuses one its policy would leave nothing of). A
 * retraction carries none: its payload is `{}`, and the envelope's schema
 * holds it to that instead.
 */
export function requiredLists(kindSchema: Schema, registry: SchemaRegistry): string[] {
  const { schema, base } = deref(kindSchema, String(kindSchema.$id), registry)
  const properties = (schema.properties ?? {}) as Record<string, Schema>
  return ((schema.required ?? []) as string[]).filter((key) => {
    if (properties[key] === undefined) return false
    const list = deref(properties[key], base, registry).schema
    return isArraySchema(list) && typeof list.minItems === 'number' && list.minItems >= 1
  })
}

function derive(node: Schema, base: string, path: string, fields: FieldRules, registry: SchemaRegistry): Schema | undefined {
  const { schema, base: b } = deref(node, base, registry)
  if (isObjectSchema(schema)) {
    const properties: Schema = {}
    for (const [key, child, childBase] of objectProperties(schema, b, registry)) {
      const derived = derive(child, childBase, path === '' ? key : `${path}.${key}`, fields, registry)
      if (derived !== undefined) properties[key] = derived
    }
    if (Object.keys(properties).length === 0 && path !== '') return undefined
    const required = ((schema.required ?? []) as string[]).filter((key) => {
      if (!Object.hasOwn(properties, key)) return false
      const derived = properties[key] as Schema
      // An object the kind requires goes whenever a member of it always
      // does (its own `required`, derived first): a designation's traveller,
      // its surname always shared. Without this, only the members were
      // required, and only when the object came: a designation of no one
      // was taken, one its sender's policy never forwards.
      if (derived.type === 'object') return Array.isArray(derived.required) && derived.required.length > 0
      const field = path === '' ? key : `${path}.${key}`
      return alwaysForwarded(Object.hasOwn(fields, field) ? fields[field] : undefined)
    })
    const conditional = conditionalRequirements(schema, b, path, properties, fields, registry)
    // The policy drops an object it leaves nothing of (engine.ts, applyPolicy):
    // only the payload itself can arrive empty, as a retraction's does.
    return {
      type: 'object',
      properties,
      additionalProperties: false,
      ...(path === '' ? {} : { minProperties: 1 }),
      ...(required.length === 0 ? {} : { required }),
      ...(conditional.length === 0 ? {} : { allOf: conditional })
    }
  }
  if (isArraySchema(schema)) {
    const items = derive(schema.items as Schema, b, `${path}[]`, fields, registry)
    if (items === undefined) return undefined
    // Nor does it forward an empty list: a batch with no record is none the sender's policy made.
    const out: Schema = { type: 'array', items, minItems: 1 }
    if (typeof schema.maxItems === 'number') out.maxItems = schema.maxItems
    return out
  }
  const rule = fields[path]
  if (rule === undefined || rule.action === 'withhold') return undefined
  if (rule.action === 'pseudonymise') return { ...PSEUDONYM_FORM }
  if (rule.action === 'generalise') return { ...GENERALISED_FORMS[rule.generaliser!] }
  return inline(schema, b, registry) as Schema
}

/**
 * The kind's conditional requirements (`if`/`then`, alone or in `allOf`) at
 * this object, as the received message must still meet them: a match
 * response's `subject` when its `result` is MATCH. Only an `if` the receiver
 * reads as the sender did, on members the policy shares as they are whatever
 * the payload; and of its `then`, only the members of which the policy
 * forwards something whenever that `if` holds (forwardedWhen). Before, these
 * were left out, and a MATCH of no one was received and pushed, though the
 * sender's own schema refuses one and its policy never makes one.
 */
function conditionalRequirements(schema: Schema, base: string, path: string, properties: Schema, fields: FieldRules, registry: SchemaRegistry): Schema[] {
  const children = propertiesByName(schema, base, registry)
  const out: Schema[] = []
  for (const raw of [schema, ...((schema.allOf ?? []) as Schema[])]) {
    const { schema: branch, base: bb } = deref(raw, base, registry)
    if (typeof branch.if !== 'object' || typeof branch.then !== 'object') continue
    const test = deref(branch.if as Schema, bb, registry).schema
    const values = readableValues(test, path, fields)
    if (values === undefined) continue
    const then = deref(branch.then as Schema, bb, registry).schema
    const required = ((then.required ?? []) as string[]).filter((key) => {
      const found = children.get(key)
      if (!Object.hasOwn(properties, key) || found === undefined) return false
      // A condition (`when`) sees the whole payload: only an `if` at its root says what it holds on.
      return forwardedWhen(found.child, found.childBase, path === '' ? key : `${path}.${key}`, fields, registry, path === '' ? values : {})
    })
    if (required.length > 0) out.push({ if: inline(test, bb, registry), then: { required } })
  }
  return out
}

/**
 * The values an `if` tests (`{ result: 'MATCH' }`), when the receiver can
 * read it as the sender did: it names members only (`properties`,
 * `required`), each shared unconditionally, so that each arrives as it was
 * or, absent, stays absent. Otherwise undefined, and nothing is required by it.
 */
function readableValues(test: Schema, path: string, fields: FieldRules): Record<string, unknown> | undefined {
  if (Object.keys(test).some((k) => !ANNOTATIONS.has(k) && k !== 'properties' && k !== 'required')) return undefined
  const tested = Object.entries((test.properties ?? {}) as Record<string, unknown>)
  if (tested.length === 0) return undefined
  const values: Record<string, unknown> = {}
  for (const [key, sub] of tested) {
    const field = path === '' ? key : `${path}.${key}`
    const rule = Object.hasOwn(fields, field) ? fields[field] : undefined
    if (rule === undefined || rule.action !== 'share' || rule.when !== undefined) return undefined
    const present = ((test.required ?? []) as string[]).includes(key)
    if (present && sub !== null && typeof sub === 'object' && Object.hasOwn(sub, 'const')) values[key] = (sub as Schema).const
  }
  return values
}

/**
 * Whether the policy forwards something of a member whenever the payload's
 * root has `values`: a leaf it forwards (forwards) under no condition, or
 * under one that holds on those values (FieldRule.holdsWhen); an object with
 * such a member the kind requires of it; a list the kind never leaves empty
 * of such items.
 */
function forwardedWhen(node: Schema, base: string, path: string, fields: FieldRules, registry: SchemaRegistry, values: Record<string, unknown>): boolean {
  const { schema, base: b } = deref(node, base, registry)
  if (isObjectSchema(schema)) {
    const children = propertiesByName(schema, b, registry)
    return ((schema.required ?? []) as string[]).some((key) => {
      const found = children.get(key)
      return found !== undefined && forwardedWhen(found.child, found.childBase, `${path}.${key}`, fields, registry, values)
    })
  }
  if (isArraySchema(schema)) {
    return typeof schema.minItems === 'number' && schema.minItems >= 1 && forwardedWhen(schema.items as Schema, b, `${path}[]`, fields, registry, values)
  }
  const rule = Object.hasOwn(fields, path) ? fields[path] : undefined
  if (rule === undefined || !forwards(rule)) return false
  if (rule.when === undefined) return true
  const holdsWhen = Object.entries(rule.holdsWhen ?? {})
  return holdsWhen.length > 0 && holdsWhen.every(([key, value]) => Object.hasOwn(values, key) && values[key] === value)
}

/**
 * Whether `rule`'s action forwards a leaf whatever its value: shared,
 * pseudonymised, or generalised by a generaliser that gives every value a
 * coarser form (engine.ts, TOTAL_GENERALISERS). Another generalised leaf is
 * not: a value that cannot be generalised is withheld (engine.ts, applyPolicy).
 */
function forwards(rule: FieldRule): boolean {
  return rule.action === 'share' || rule.action === 'pseudonymise' || (rule.action === 'generalise' && TOTAL_GENERALISERS.has(rule.generaliser!))
}

/**
 * Whether a leaf the kind requires is always forwarded by `rule`: forwarded
 * whatever its value (forwards), with no condition that could withhold it.
 * The sender's gateway validates a message against its kind before its
 * policy applies, so a message it forwards has every such leaf (a batch's
 * `batchRef`, a match request's `transactionRef`, each print's `template`);
 * one without is none its policy made.
 */
function alwaysForwarded(rule: FieldRule | undefined): boolean {
  return rule !== undefined && rule.when === undefined && forwards(rule)
}

export function receivedSchema(kindSchema: Schema, fields: FieldRules, registry: SchemaRegistry): Schema {
  const base = String(kindSchema.$id)
  const received = derive(kindSchema, base, '', fields, registry) ?? { type: 'object', properties: {}, additionalProperties: false }
  // Only a list something of which is shared: a policy that withholds all of one sends no message of the kind.
  const lists = requiredLists(kindSchema, registry).filter((key) => Object.hasOwn(received.properties as Schema, key))
  const required = [...new Set([...lists, ...((received.required ?? []) as string[])])]
  return required.length === 0 ? received : { ...received, required }
}
