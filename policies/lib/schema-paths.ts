// The leaf field paths of a kind's payload schema, in the notation of
// types.ts. The coverage test compares them with the paths a policy names, so
// a field added to a schema fails the build until every policy decides what
// happens to it (docs/architecture.md, "Privacy
// principles in code"; P2 default deny made visible).
import { allSchemas, kindSchemas } from '../../schemas/index.ts'
import type { JsonSchema, Kind } from '../../schemas/index.ts'

/** A schema reached through a $ref, with the base URI its own refs resolve against. */
export interface Resolved {
  readonly schema: JsonSchema | boolean
  readonly baseId: string
}

/** Resolves `ref` (absolute, or relative to `baseId`) to the schema it points at. */
export type SchemaResolver = (ref: string, baseId: string) => Resolved

function unescapePointerToken(token: string): string {
  return decodeURIComponent(token).replaceAll('~1', '/').replaceAll('~0', '~')
}

/** A resolver over a set of schema documents keyed by $id, with JSON Pointer fragments. */
export function createResolver(documents: readonly JsonSchema[]): SchemaResolver {
  const byId = new Map<string, JsonSchema>()
  for (const document of documents) {
    if (typeof document.$id !== 'string') throw new Error('every schema document needs an $id')
    byId.set(document.$id, document)
  }
  return (ref, baseId) => {
    const url = new URL(ref, baseId)
    const fragment = url.hash.slice(1)
    url.hash = ''
    const documentId = url.href
    const document = byId.get(documentId)
    if (document === undefined) throw new Error(`unresolvable $ref ${ref} (from ${baseId})`)
    let node: unknown = document
    if (fragment !== '') {
      if (!fragment.startsWith('/')) throw new Error(`unsupported $ref fragment ${ref}: only JSON Pointers`)
      for (const token of fragment.slice(1).split('/').map(unescapePointerToken)) {
        node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[token] : undefined
        if (node === undefined) throw new Error(`unresolvable $ref ${ref} (from ${baseId})`)
      }
    }
    if (typeof node !== 'boolean' && (typeof node !== 'object' || node === null)) {
      throw new Error(`$ref ${ref} does not point at a schema`)
    }
    return { schema: node as JsonSchema | boolean, baseId: documentId }
  }
}

/** Resolves refs among the project's schemas (common, envelope, every kind). */
export const resolveSchemaRef: SchemaResolver = createResolver(allSchemas)

const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf'] as const
// `if` only tests the data and `not` only forbids it: neither declares a field.
const SUBSCHEMA_BRANCHES = ['then', 'else'] as const
const MAX_DEPTH = 64

type Shape = 'leaf' | 'container' | 'never'

function isSchemaObject(node: unknown): node is JsonSchema {
  return typeof node === 'object' && node !== null && !Array.isArray(node)
}

function declaresContainerType(schema: JsonSchema): boolean {
  const type = schema.type
  const types = Array.isArray(type) ? type : [type]
  return types.includes('object') || types.includes('array')
}

/**
 * Sorted leaf paths of `schema`: `traveller.surname`, `fingerprints[].position`,
 * and `conditions[]` for an array of scalars. Follows $ref (to common
 * definitions and to other kinds' schemas), properties, items, allOf / anyOf /
 * oneOf and if-then-else branches. A path that is a container anywhere is not
 * a leaf; a property whose schema is `false` is never present and not listed.
 */
export function leafPaths(schema: JsonSchema, resolve: SchemaResolver = resolveSchemaRef): string[] {
  return [...leafDefinitions(schema, resolve).keys()]
}

/**
 * The leaf paths of `schema` (sorted, as leafPaths gives them), each with the
 * absolute `$ref`s followed to reach its definition, e.g.
 * `traveller.citizenship` -> [common#/$defs/nationality, common#/$defs/icaoCode].
 * Lets a test find every field of a given type (every nationality code) from
 * the schema itself, so a field added later is covered without a list.
 */
export function leafDefinitions(schema: JsonSchema, resolve: SchemaResolver = resolveSchemaRef): Map<string, readonly string[]> {
  const leaves = new Set<string>()
  const containers = new Set<string>()
  const refsAt = new Map<string, Set<string>>()
  const rootBase = typeof schema.$id === 'string' ? schema.$id : 'urn:btb:anonymous-schema'

  const child = (path: string, name: string): string => (path === '' ? name : `${path}.${name}`)

  function visit(node: unknown, path: string, base: string, depth: number): Shape {
    if (depth > MAX_DEPTH) throw new Error(`schema nesting deeper than ${MAX_DEPTH} at "${path}" (a $ref cycle?)`)
    if (node === false) return 'never'
    if (node === true) return 'leaf'
    if (!isSchemaObject(node)) throw new Error(`not a schema at "${path}"`)

    const here = typeof node.$id === 'string' ? new URL(node.$id, base).href : base
    let container = declaresContainerType(node)

    const mark = (shape: Shape): void => {
      if (shape === 'container') container = true
    }

    if (typeof node.$ref === 'string') {
      const target = resolve(node.$ref, here)
      let refs = refsAt.get(path)
      if (refs === undefined) refsAt.set(path, (refs = new Set()))
      refs.add(new URL(node.$ref, here).href)
      mark(visit(target.schema, path, target.baseId, depth + 1))
    }

    if (isSchemaObject(node.properties)) {
      container = true
      for (const [name, sub] of Object.entries(node.properties)) {
        const subPath = child(path, name)
        if (visit(sub, subPath, here, depth + 1) === 'leaf') leaves.add(subPath)
      }
    }

    if (node.items !== undefined) {
      container = true
      const itemPath = `${path}[]`
      if (visit(node.items, itemPath, here, depth + 1) === 'leaf') leaves.add(itemPath)
    }

    for (const keyword of SUBSCHEMA_LISTS) {
      const list = node[keyword]
      if (Array.isArray(list)) for (const sub of list) mark(visit(sub, path, here, depth + 1))
    }
    for (const keyword of SUBSCHEMA_BRANCHES) {
      if (node[keyword] !== undefined) mark(visit(node[keyword], path, here, depth + 1))
    }

    if (container) {
      containers.add(path)
      return 'container'
    }
    return 'leaf'
  }

  visit(schema, '', rootBase, 0)
  const paths = [...leaves].filter((path) => !containers.has(path)).sort()
  return new Map(paths.map((path) => [path, [...(refsAt.get(path) ?? [])]]))
}

const kindLeafCache = new Map<Kind, readonly string[]>()

/** Leaf paths of a kind's payload schema, computed once per kind. */
export function kindLeafPaths(kind: Kind): readonly string[] {
  let paths = kindLeafCache.get(kind)
  if (paths === undefined) {
    paths = Object.freeze(leafPaths(kindSchemas[kind], resolveSchemaRef))
    kindLeafCache.set(kind, paths)
  }
  return paths
}
