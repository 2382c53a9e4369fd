// Ajv's generated validators, kept beside Node's compile cache.
//
// Compiling the message schemas costs about 0.45 s of CPU, and the trust
// file's about 0.17 s, in every process and every pipeline thread that starts
// (docs/architecture.md, "The test suite"); Ajv spends it generating code,
// which V8 then compiles in milliseconds. Ajv can hand that code over as a
// module (its "standalone" mode). Where Node's compile cache is on
// (NODE_COMPILE_CACHE, as `npm test` sets it), the code is written beside it,
// in a file named by a digest of everything it was generated from, and the
// next start reads that file instead of generating it again. A schema,
// option or Ajv version that changes gives another digest, so another file:
// nothing stale is read.
//
// Where the compile cache is off (`npm start` and the image leave it off),
// nothing is written or read and the schemas compile in memory, as they
// always did: only a directory the operator chose for cached code holds any.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire, getCompileCacheDir } from 'node:module'
import { join } from 'node:path'
import type { ValidateFunction } from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'

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
const VERSIONS = ['ajv', 'ajv-formats'].map((name) => `${name}@${(requireHere(`${name}/package.json`) as { version: string }).version}`)

/** Where generated validators are kept, or undefined when Node's compile cache is off. */
function cacheDir(): string | undefined {
  const dir = getCompileCacheDir()
  return dir === undefined ? undefined : join(dir, 'ajv-validators')
}

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
  const module = { exports: {} as Record<string, ValidateFunction> }
  new Function('require', 'module', 'exports', readFileSync(file, 'utf8'))(requireHere, module, module.exports)
  const found = new Map<string, ValidateFunction>()
  for (const key of keys) {
    const validate = module.exports[key]
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
  const dir = cacheDir()
  if (dir === undefined) return compileAll(opts.build({}), opts.keys)

  const digest = createHash('sha256')
    .update(JSON.stringify([VERSIONS, opts.keys, opts.source]))
    .digest('hex')
    .slice(0, 32)
  const file = join(dir, `${opts.name}-${digest}.cjs`)
  try {
    return load(file, opts.keys)
  } catch {
    // Not there yet (or unreadable): generate it.
  }
  const ajv = opts.build({ code: { source: true } })
  const validators = compileAll(ajv, opts.keys)
  try {
    const code = standaloneCode.default(ajv as never, Object.fromEntries(opts.keys.map((key) => [key, key])))
    mkdirSync(dir, { recursive: true })
    // Written whole, then renamed: a process starting meanwhile reads the old state or the new, never half.
    const partial = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`
    writeFileSync(partial, code)
    renameSync(partial, file)
  } catch {
    // A cache that cannot be written (a read-only directory) only costs the next start its compile.
  }
  return validators
}
