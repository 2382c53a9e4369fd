// Generated code kept beside Node's compile cache: what Ajv and
// fast-json-stringify generate from a schema costs far more CPU to generate
// than to load, and every process that starts would generate the same again
// (docs/architecture.md, "The test suite"). Where the compile cache is on
// (NODE_COMPILE_CACHE, as `npm test` sets it), a module is written once, in a
// file named by a digest of everything it was generated from, and read by the
// next process; a schema, option or version that changes names another file,
// so nothing stale is read. Where it is off (`npm start`), there is no
// directory and nothing is written or read. The image's is read-only
// (docker/Dockerfile, filled with stripped modules only): nothing kept there,
// so each start generates its code, and the write that follows fails quietly.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { getCompileCacheDir } from 'node:module'
import { join } from 'node:path'

/** The directory for one kind of generated code, or undefined when Node's compile cache is off. */
export function codeCacheDir(kind: string): string | undefined {
  const dir = getCompileCacheDir()
  return dir === undefined ? undefined : join(dir, kind)
}

/** A file name's digest of what the code was generated from. */
export function codeDigest(source: unknown): string {
  return createHash('sha256').update(JSON.stringify(source)).digest('hex').slice(0, 32)
}

/** `name@version` of each package as `require` resolves it: generated code depends on its generators' versions too. */
export function packageVersions(require: NodeJS.Require, names: readonly string[]): string[] {
  return names.map((name) => `${name}@${(require(`${name}/package.json`) as { version: string }).version}`)
}

/** The exports of generated CommonJS code, its `require`s resolved by `require` (the generating package's runtime, its formats). */
export function evaluateModule(code: string, require: NodeJS.Require): unknown {
  const module = { exports: {} as unknown }
  new Function('require', 'module', 'exports', code)(require, module, module.exports)
  return module.exports
}

/** A kept module's exports. Throws when there is no such file, and whatever evaluating it throws. */
export function loadKeptModule(file: string, require: NodeJS.Require): unknown {
  return evaluateModule(readFileSync(file, 'utf8'), require)
}

/** A kept module's code, or undefined when there is none (or it cannot be read). */
export function keptCode(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Writes a module whole, then renames it into place: a process starting
 * meanwhile reads the old state or the new, never half. A cache that cannot be
 * written (a read-only directory) only costs the next start its generation.
 */
export function keepModule(file: string, code: string): void {
  try {
    mkdirSync(join(file, '..'), { recursive: true })
    const partial = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`
    writeFileSync(partial, code)
    renameSync(partial, file)
  } catch {
    // Generated again next time.
  }
}
