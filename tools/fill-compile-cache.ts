// Fills Node's compile cache with the gateway's modules, stripped of their
// types, without running any of them (docs/measurements.md, "Speed and memory": each
// thread that strips a `.ts` file itself loads Node's type stripper, about
// 12 MB). The image fills one at build time, as the user the service runs
// as, and hands it to root read-only (docker/Dockerfile); the sandbox fills
// its own before it starts its gateways (sandbox/run.ts).
//
// Node writes a module's stripped code to the cache when it first loads it,
// and a gateway loads modules on four threads and some of them only when
// first used, so a cache filled by running the service would depend on what
// it did. Here every module is fetched and stripped as an import, and then
// nothing runs: the modules are imported beside a name no module exports, so
// linking the whole graph fails after every module in it was translated and
// before any was evaluated.
//
//   node tools/fill-compile-cache.ts <cache directory> [root …]
// The roots (files or directories, default: gateway and docker/healthcheck.ts)
// are taken whole, every `.ts` file under a directory; `npm test` fills its
// cache with `.`, the whole checkout, so that no test process strips types.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { constants, enableCompileCache, flushCompileCache } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/** The export the fill asks for and no module has: its refusal is the one error expected. */
const UNSATISFIABLE = 'compileCacheFillStopsHere'

export interface FillOptions {
  /** Where the cache goes, as NODE_COMPILE_CACHE names it. Node keeps one subdirectory per Node version and user id under it. */
  readonly directory: string
  /** `.ts` files, and directories whose `.ts` files (at any depth) are all filled. */
  readonly roots: readonly string[]
}

export class CompileCacheFillError extends Error {
  readonly code = 'ERR_COMPILE_CACHE_FILL'
}

/**
 * Every `.ts` file a root names, sorted, as absolute paths. Directories named
 * node_modules (Node strips no types there) or starting with a dot are not
 * entered, so `.` names a checkout's own modules.
 */
export function typeScriptFiles(roots: readonly string[]): string[] {
  const files: string[] = []
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path)) {
        if (entry !== 'node_modules' && !entry.startsWith('.')) walk(join(path, entry))
      }
    } else if (path.endsWith('.ts')) {
      files.push(path)
    }
  }
  for (const root of roots) walk(resolve(root))
  return files.sort()
}

/** Fills the cache with every module the roots name and what they import. Resolves to the number of `.ts` files named. */
export async function fillCompileCache({ directory, roots }: FillOptions): Promise<number> {
  const enabled = enableCompileCache(directory)
  if (enabled.status !== constants.compileCacheStatus.ENABLED && enabled.status !== constants.compileCacheStatus.ALREADY_ENABLED) {
    throw new CompileCacheFillError(`the compile cache could not be enabled in ${directory}: ${enabled.message ?? `status ${enabled.status}`}`)
  }
  // A process whose cache is on already (NODE_COMPILE_CACHE) keeps writing
  // where that says; Node then answers with its own subdirectory of it.
  if (enabled.status === constants.compileCacheStatus.ALREADY_ENABLED && dirname(enabled.directory ?? '') !== resolve(directory)) {
    throw new CompileCacheFillError(`this process's compile cache is ${enabled.directory}, not ${directory}`)
  }
  const files = typeScriptFiles(roots)
  const lines = files.map((file) => `import ${JSON.stringify(pathToFileURL(file).href)}`)
  lines.push(`import { ${UNSATISFIABLE} } from 'data:text/javascript,export {}'`)
  try {
    await import(`data:text/javascript,${encodeURIComponent(lines.join('\n'))}`)
  } catch (err) {
    // Anything else (a module missing, a syntax error, a real link error)
    // would stop the gateway too, and leaves modules unfilled.
    if (!(err instanceof SyntaxError && err.message.includes(UNSATISFIABLE))) throw err
    flushCompileCache()
    return files.length
  }
  throw new CompileCacheFillError('the modules were evaluated: the fill ran code it must not')
}

/** Where the gateways this checkout's tools start (the sandbox, the benches) keep their compile cache: NODE_COMPILE_CACHE's, else one in node_modules. */
export function checkoutCompileCache(): string {
  return process.env.NODE_COMPILE_CACHE ?? join(import.meta.dirname, '..', 'node_modules', '.cache', 'node-compile')
}

/**
 * A digest of the `.ts` files under `roots` as they are now (each one's path,
 * size and modification time) and of this Node: it changes when any of them
 * is edited, added, removed or checked out again, or Node is another.
 */
export function modulesDigest(roots: readonly string[]): string {
  const hash = createHash('sha256').update(`${process.version}\n`)
  for (const file of typeScriptFiles(roots)) {
    const { size, mtimeMs } = statSync(file)
    hash.update(`${file}\0${size}\0${mtimeMs}\n`)
  }
  return hash.digest('hex').slice(0, 32)
}

/** The name of the stamp a fill of checkoutCompileCache() leaves in it, for these modules. */
const STAMP_PREFIX = 'checkout-filled-'

/**
 * Fills checkoutCompileCache() with the gateway's modules, in a process of its
 * own (this one's modules stay as they were), for the gateway processes a tool
 * starts: they then run as the image's do. A developer's checkout, so the
 * cache is as writable as the code beside it. Answers the directory, whether
 * it filled it now, and why it was not filled if it was not (the gateways
 * then strip their own types).
 *
 * A fill leaves a stamp named by modulesDigest() of the checkout, and a
 * later call that finds it does nothing: the fill costs about 0.6 s of CPU,
 * and the sandbox and the benches start with one (a test run starts about
 * ten). A module changed since then changes the digest, so the next call
 * fills again; at worst a gateway strips a module's types itself, since Node
 * checks each cached module against its source.
 */
export function fillCheckoutCompileCache(): { readonly directory: string; readonly filled: boolean; readonly error?: string } {
  const directory = checkoutCompileCache()
  const root = join(import.meta.dirname, '..')
  const stamp = `${STAMP_PREFIX}${modulesDigest([root])}`
  if (safeReaddir(directory).includes(stamp)) return { directory, filled: false }
  const fill = spawnSync(process.execPath, [import.meta.filename, directory, join(root, 'gateway')], { cwd: root, encoding: 'utf8' })
  if (fill.status !== 0) {
    const error = fill.stderr.split('\n').find((line) => /Error\b/.test(line)) ?? `exit ${fill.status ?? fill.signal}`
    return { directory, filled: false, error }
  }
  try {
    for (const old of safeReaddir(directory).filter((name) => name.startsWith(STAMP_PREFIX))) rmSync(join(directory, old), { force: true })
    writeFileSync(join(directory, stamp), '')
  } catch {
    // Filled again next time.
  }
  return { directory, filled: true }
}

function safeReaddir(directory: string): string[] {
  try {
    return readdirSync(directory)
  } catch {
    return []
  }
}

if (import.meta.main) {
  const [directory, ...roots] = process.argv.slice(2)
  if (directory === undefined) {
    console.error('usage: node tools/fill-compile-cache.ts <cache directory> [root …]')
    process.exit(2)
  }
  const root = join(import.meta.dirname, '..')
  const count = await fillCompileCache({
    directory: resolve(directory),
    roots: roots.length > 0 ? roots : [join(root, 'gateway'), join(root, 'docker', 'healthcheck.ts')]
  })
  console.log(`compile cache: ${count} modules and their imports stripped into ${resolve(directory)}`)
}
