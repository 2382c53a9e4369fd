// Ajv's generated validators for the message schemas and the trust file's,
// kept as lib/code-cache.ts keeps generated code (beside Node's compile cache,
// when it is on). Compiling the message schemas costs about 0.45 s of CPU, and
// the trust file's about 0.17 s, in every process and every pipeline thread
// that starts (docs/architecture.md, "The test suite"); Ajv spends it
// generating code, which V8 then compiles in milliseconds, and Ajv can hand
// that code over as a module (its "standalone" mode). Where the compile cache
// is off (`npm start` and the image leave it off), the schemas compile in
// memory, as they always did.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { ValidateFunction } from 'ajv'
import { ajvStandaloneModule } from './lazy-packages.ts'
import { codeCacheDir, codeDigest, keepModule, loadKeptModule, packageVersions } from './code-cache.ts'

/** What `build` must add to its Ajv options: the generated code is kept only when caching. */
export interface CodeOptions {
  readonly code?: { readonly source: true }
}

/** The Ajv instance `build` returns, as far as this module uses it. */
interface AjvLike {
  readonly opts: { readonly code: { readonly source?: boolean } }
  getSchema(key: string): ValidateFunction | undefined
}

export interface ValidatorSetOptions {
  /** Part of the file's name, to tell sets apart in the directory. */
  readonly name: string
  /** Every schema and option the validators are generated from: its digest names the file. */
  readonly source: unknown
  /** A new Ajv, made with `codeOptions` spread into its options, with every schema added. */
  readonly build: (codeOptions: CodeOptions) => AjvLike
  /** The keys (or `$id`s) of the schemas wanted, as `getSchema` takes them. */
  readonly keys: readonly string[]
}

const requireHere = createRequire(import.meta.url)
const VERSIONS = packageVersions(requireHere, ['ajv', 'ajv-formats'])

function compileAll(ajv: AjvLike, keys: readonly string[]): Map<string, ValidateFunction> {
  return new Map(
    keys.map((key) => {
      const validate = ajv.getSchema(key)
      if (validate === undefined) throw new Error(`no schema ${key}`)
      return [key, validate]
    })
  )
}

/** The generated module, evaluated as CommonJS: its `require`s (Ajv's runtime, the formats) resolve from here. */
function load(file: string, keys: readonly string[]): Map<string, ValidateFunction> {
  const exports = loadKeptModule(file, requireHere) as Record<string, ValidateFunction>
  const found = new Map<string, ValidateFunction>()
  for (const key of keys) {
    const validate = exports[key]
    if (typeof validate !== 'function') throw new Error(`${file} lacks ${key}`)
    found.set(key, validate)
  }
  return found
}

/**
 * The validators for `keys`: read from the cache when it holds them,
 * otherwise compiled (and written to the cache when it is on).
 */
export function validatorSet(opts: ValidatorSetOptions): Map<string, ValidateFunction> {
  const dir = codeCacheDir('ajv-validators')
  if (dir === undefined) return compileAll(opts.build({}), opts.keys)

  const file = join(dir, `${opts.name}-${codeDigest([VERSIONS, opts.keys, opts.source])}.cjs`)
  try {
    return load(file, opts.keys)
  } catch {
    // Not there yet (or unreadable): generate it.
  }
  const ajv = opts.build({ code: { source: true } })
  const validators = compileAll(ajv, opts.keys)
  keepModule(file, ajvStandaloneModule().default(ajv as never, Object.fromEntries(opts.keys.map((key) => [key, key]))))
  return validators
}
