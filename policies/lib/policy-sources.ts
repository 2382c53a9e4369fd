// The source files a kind's policy is made of: its module, and every module
// of the policies it imports, however deep. A policy's conditions and
// exclusions are functions, and JSON holds only their own text: a set they
// consult (the subject categories a match response may disclose) or a helper
// they call (what counts as an air exit) would change what leaves the country
// without changing the policy's version. The version hashes these files'
// text as well (engine.ts, policyVersion), so that it changes whenever the
// rules could (docs/architecture.md, "Privacy principles in code"), and the
// received schema's, so that it changes whenever what the receiving side
// takes of a partner could. And the rules are only half of it: what they
// apply to is the kind's JSON Schema and the schemas it refers to, which the
// sending side validates against and the receiving side derives what it
// accepts from; an edit to one (a name let longer, a code added) with its
// `$id` unchanged is another contract, and so another version
// (kindSchemaSources).
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

/** The policies' own folder: imports that leave it (the schemas, node:) are not the policy's rules. */
const POLICIES_DIR = resolve(import.meta.dirname, '..')

/** A relative import or re-export at the start of a line, types included: the statement up to its first quote, which is its module's. */
const RELATIVE_IMPORT = /^(?:import|export)\s[^'"]*?\sfrom\s+'(\.{1,2}\/[^']+)'/gm

/**
 * The files of `entries` and of every module inside `root` they import,
 * transitively: each as its path relative to `root` and its text, with line
 * ends as LF so that a checkout's line endings do not change the version.
 * Sorted by path.
 */
export function policySources(entries: readonly string[], root: string = POLICIES_DIR): Array<{ path: string; text: string }> {
  const seen = new Map<string, string>()
  const visit = (file: string): void => {
    if (seen.has(file) || relative(root, file).startsWith('..')) return
    const text = readFileSync(file, 'utf8').replaceAll('\r\n', '\n')
    seen.set(file, text)
    for (const match of text.matchAll(RELATIVE_IMPORT)) visit(resolve(dirname(file), match[1]!))
  }
  for (const entry of entries) visit(resolve(entry))
  return [...seen]
    .map(([file, text]) => ({ path: relative(root, file).split('\\').join('/'), text }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

/** The sources of `entries` as one text: each file's path and text, NUL-separated, in path order. */
export function sourcesText(entries: readonly string[], root: string = POLICIES_DIR): string {
  return policySources(entries, root)
    .map(({ path, text }) => `\0${path}\0${text}`)
    .join('')
}

/** A kind's policy module: `policies/<kind>.policy.ts`, as policies/index.ts names them. */
export function policyModule(kind: string): string {
  return join(POLICIES_DIR, `${kind}.policy.ts`)
}

/** The engine that carries the rules out (what a generaliser keeps, what default deny withholds): part of every policy's sources. */
export const ENGINE_MODULE = join(POLICIES_DIR, 'lib', 'engine.ts')

/**
 * What the receiving gateway accepts of a partner under the policy (what may
 * arrive, what must): part of every policy's sources too, so that a change
 * to it changes the version both gateways check and every ledger entry names
 * (docs/architecture.md, "The pipeline, one message", step 13).
 */
export const RECEIVED_SCHEMA_MODULE = join(POLICIES_DIR, 'lib', 'received-schema.ts')

/** The files a kind's version hashes (engine.ts, policyVersion): its module, the engine and the received schema, with what they import. */
export function versionEntries(kind: string): string[] {
  return [policyModule(kind), ENGINE_MODULE, RECEIVED_SCHEMA_MODULE]
}

/** The contract's schemas, next to policies/ as in the repository (schemas/index.ts reads the same files). */
const SCHEMAS_DIR = resolve(POLICIES_DIR, '..', 'schemas')

/** A kind's payload schema: `schemas/kinds/<kind>.schema.json`, as schemas/index.ts loads them. */
export function kindSchemaFile(kind: string, schemasDir: string = SCHEMAS_DIR): string {
  return join(schemasDir, 'kinds', `${kind}.schema.json`)
}

/** Every `$ref` in a schema document, resolved to the `$id` of the document it points into (nested `$id`s moving the base, as JSON Schema has it). */
function referencedIds(node: unknown, base: string, out: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) referencedIds(item, base, out)
    return
  }
  if (node === null || typeof node !== 'object') return
  const schema = node as Record<string, unknown>
  const here = typeof schema.$id === 'string' ? new URL(schema.$id, base).href : base
  if (typeof schema.$ref === 'string') {
    const target = new URL(schema.$ref, here)
    target.hash = ''
    out.add(target.href)
  }
  for (const [key, value] of Object.entries(schema)) {
    // An enum's or a const's values are data, not schemas: a `$ref` among them refers to nothing.
    if (key !== 'enum' && key !== 'const') referencedIds(value, here, out)
  }
}

/**
 * The schema files a kind's payload is validated against, and its received
 * schema derived from (policies/lib/received-schema.ts): the kind's own and
 * every document it refers to, however deep (a batch's refers to its
 * record's, every kind's to the common definitions). Each as its path
 * relative to the repository and its text with line ends as LF, sorted by
 * path; none if the kind has no schema (a policy made in a test).
 */
export function kindSchemaSources(kind: string, schemasDir: string = SCHEMAS_DIR): Array<{ path: string; text: string }> {
  const files = new Map<string, string>()
  for (const dir of [schemasDir, join(schemasDir, 'kinds')]) {
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.schema.json')) continue
      const file = join(dir, name)
      const id = (JSON.parse(readFileSync(file, 'utf8')) as { $id?: unknown }).$id
      if (typeof id === 'string') files.set(new URL(id).href, file)
    }
  }
  const own = kindSchemaFile(kind, schemasDir)
  const seen = new Map<string, string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    const text = readFileSync(file, 'utf8').replaceAll('\r\n', '\n')
    seen.set(file, text)
    const schema: unknown = JSON.parse(text)
    const ids = new Set<string>()
    referencedIds(schema, String((schema as { $id?: unknown }).$id), ids)
    for (const id of ids) {
      const target = files.get(id)
      // A reference to nothing in schemas/ would fail the gateway's schema compilation (schemas/index.ts): a version of it would name no contract.
      if (target === undefined) throw new Error(`${relative(schemasDir, file)}: $ref to ${id}, which no file in schemas/ is`)
      visit(target)
    }
  }
  if (existsSync(own)) visit(own)
  const root = dirname(schemasDir)
  return [...seen]
    .map(([file, text]) => ({ path: relative(root, file).split('\\').join('/'), text }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

/** A kind's schema sources as one text, in the form of sourcesText. */
export function kindSchemaText(kind: string, schemasDir: string = SCHEMAS_DIR): string {
  return kindSchemaSources(kind, schemasDir)
    .map(({ path, text }) => `\0${path}\0${text}`)
    .join('')
}
