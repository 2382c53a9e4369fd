// tools/fill-compile-cache.ts: the image's modules are stripped of their types
// at build time, as the user the service runs as, none of them run, and the
// service then loads them from a cache it cannot write, without Node's type
// stripper (docker/Dockerfile; docs/measurements.md, "Speed and memory").
import t from 'tap'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const root = join(import.meta.dirname, '..')
const fillTool = join(root, 'tools', 'fill-compile-cache.ts')

// Run as root (as CI is), the service's side is played by `nobody`, as the
// image's is by `node`: root would write to a read-only directory regardless.
const asRoot = process.getuid?.() === 0
const SERVICE_UID = 65534

function asService(args: readonly string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const command = asRoot
    ? ['setpriv', `--reuid=${SERVICE_UID}`, `--regid=${SERVICE_UID}`, '--clear-groups', process.execPath, ...args]
    : [process.execPath, ...args]
  const childEnv: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: undefined, NODE_COMPILE_CACHE: undefined, ...env }
  return spawnSync(command[0]!, command.slice(1), { cwd: root, env: childEnv as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 60_000 })
}

/** A directory the service's user can read (and, when `writable`, write). */
function serviceDir(t: { teardown(fn: () => unknown): void }, writable = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'btb-compile-cache-'))
  chmodSync(dir, 0o755)
  if (writable && asRoot) chownSync(dir, SERVICE_UID, SERVICE_UID)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Hands a filled cache to root, read-only, as the image's runtime stage does. */
function makeReadOnly(dir: string): void {
  if (asRoot) spawnSync('chown', ['-R', '0:0', dir])
  spawnSync('chmod', ['-R', 'a+rX,a-w', dir])
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
}

/** Imports each module in a process of the service's user with the cache on; answers whether Node loaded its type stripper. */
function loadsStripper(cache: string, modules: readonly string[]): { stripper: boolean; result: SpawnSyncReturns<string> } {
  const imports = modules.map((file) => `await import(${JSON.stringify(pathToFileURL(file).href)})`).join('; ')
  const probe = `${imports}; console.log(JSON.stringify(process.moduleLoadList.some((m) => m.includes('amaro'))))`
  const result = asService(['--input-type=module', '-e', probe], { NODE_COMPILE_CACHE: cache })
  return { stripper: result.stdout.trim().split('\n').at(-1) === 'true', result }
}

t.test('every module under a root is stripped into the cache and none of them runs; the service then loads them read-only without the stripper', async (t) => {
  const tree = serviceDir(t, true)
  const marker = join(tree, 'ran')
  mkdirSync(join(tree, 'threads'))
  writeFileSync(join(tree, 'entry.ts'), "import { note } from './effect.ts'\nconst kind: string = 'entry'\nnote(kind)\n")
  writeFileSync(
    join(tree, 'effect.ts'),
    `import { writeFileSync } from 'node:fs'\nexport function note(what: string): void {}\nwriteFileSync(${JSON.stringify(marker)}, 'evaluated')\n`
  )
  // Imported by nothing, as a worker thread's entry file is not.
  writeFileSync(join(tree, 'threads', 'worker-entry.ts'), 'const n: number = 1\nexport default n\n')
  // Not entered: Node strips no types under node_modules, and a dot names a tool's own directory.
  for (const skipped of ['node_modules', '.cache']) {
    mkdirSync(join(tree, skipped))
    writeFileSync(join(tree, skipped, 'skipped.ts'), 'const n: number = 1\n')
    chmodSync(join(tree, skipped), 0o755)
  }
  for (const file of filesUnder(tree)) chmodSync(file, 0o644)
  chmodSync(join(tree, 'threads'), 0o755)
  const cache = join(serviceDir(t, true), 'cache')

  const filled = asService([fillTool, cache, tree])
  t.equal(filled.status, 0, filled.stderr)
  t.match(filled.stdout, /\b3 modules/, 'the three of the tree, none under node_modules or .cache')
  t.notOk(existsSync(marker), 'no module ran while the cache was filled')

  makeReadOnly(cache)
  const before = filesUnder(cache).length
  const { stripper, result } = loadsStripper(cache, [join(tree, 'entry.ts'), join(tree, 'threads', 'worker-entry.ts')])
  t.equal(result.status, 0, result.stderr)
  t.equal(stripper, false, 'every module, the one nothing imports included, came stripped from the cache')
  t.ok(existsSync(marker), 'and they ran, once loaded for real')
  t.equal(filesUnder(cache).length, before, 'the service wrote nothing to the cache')

  const empty = join(serviceDir(t, true), 'cache')
  t.equal(loadsStripper(empty, [join(tree, 'entry.ts')]).stripper, true, 'without it, the same process loads the stripper')
})

t.test('a module that cannot be loaded fails the fill, with what is wrong', async (t) => {
  const tree = serviceDir(t)
  writeFileSync(join(tree, 'entry.ts'), "import './missing.ts'\n")
  chmodSync(join(tree, 'entry.ts'), 0o644)
  const filled = asService([fillTool, join(serviceDir(t, true), 'cache'), tree])
  t.not(filled.status, 0)
  t.match(filled.stderr, /ERR_MODULE_NOT_FOUND/)
  t.match(filled.stderr, /missing\.ts/)
})

t.test("the gateway's modules, as the image fills them, load without the stripper", async (t) => {
  const cache = join(serviceDir(t, true), 'cache')
  const filled = asService([fillTool, cache, 'gateway', 'docker/healthcheck.ts'])
  t.equal(filled.status, 0, filled.stderr)
  makeReadOnly(cache)
  const { stripper, result } = loadsStripper(cache, [join(root, 'gateway', 'app.ts')])
  t.equal(result.status, 0, result.stderr)
  t.equal(stripper, false)
})

t.test('the image runs with the cache its compile-cache stage fills, for the modules it runs', async (t) => {
  const dockerfile = readFileSync(join(root, 'docker', 'Dockerfile'), 'utf8')
  const fill = /^RUN node tools\/fill-compile-cache\.ts (\S+) (.+)$/m.exec(dockerfile)
  t.ok(fill, 'the compile-cache stage runs the fill')
  const [, directory, roots] = fill!
  t.same(roots!.split(' '), ['gateway', 'docker/healthcheck.ts'], "the gateway's modules and its health check's")
  const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'))
  t.match(runtime, new RegExp(`^ENV NODE_COMPILE_CACHE=${directory}$`, 'm'), 'the runtime stage reads it')
  t.match(runtime, new RegExp(`^RUN chown -R root:root ${directory} && chmod -R a\\+rX,a-w ${directory}$`, 'm'), "root's, read-only")
  t.match(runtime, /^USER node$/m, 'as the user it was filled as')
})

t.test('in a process whose compile cache is on already, the fill fills that one or refuses', async (t) => {
  const tree = serviceDir(t)
  writeFileSync(join(tree, 'entry.ts'), 'const n: number = 1\nexport default n\n')
  chmodSync(join(tree, 'entry.ts'), 0o644)
  const cache = join(serviceDir(t, true), 'cache')
  const same = asService([fillTool, cache, tree], { NODE_COMPILE_CACHE: cache })
  t.equal(same.status, 0, same.stderr)
  const other = asService([fillTool, cache, tree], { NODE_COMPILE_CACHE: join(serviceDir(t, true), 'other') })
  t.not(other.status, 0)
  t.match(other.stderr, /ERR_COMPILE_CACHE_FILL/)
})

t.test("the sandbox and the benches fill the checkout's cache once for its modules as they are", async (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'btb-checkout-cache-'))
  t.teardown(() => rmSync(cache, { recursive: true, force: true }))
  // In a process of its own, its cache named by NODE_COMPILE_CACHE, as `npm test` runs the sandbox and the benches.
  const script = `
    import { fillCheckoutCompileCache } from ${JSON.stringify(pathToFileURL(fillTool).href)}
    const first = fillCheckoutCompileCache()
    const second = fillCheckoutCompileCache()
    process.stdout.write(JSON.stringify([first, second]))
  `
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: undefined, NODE_COMPILE_CACHE: cache } as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: 60_000
  })
  t.equal(run.status, 0, run.stderr)
  const [first, second] = JSON.parse(run.stdout) as Array<{ directory: string; filled: boolean; error?: string }>
  t.same(first, { directory: cache, filled: true }, 'the first call fills it')
  t.same(second, { directory: cache, filled: false }, 'the second finds it filled, and does nothing')
  const entries = readdirSync(cache)
  t.equal(entries.filter((name) => name.startsWith('checkout-filled-')).length, 1, 'one stamp')
  const versions = entries.filter((name) => name.startsWith('v'))
  t.ok(versions.length === 1 && readdirSync(join(cache, versions[0]!)).length > 100, "and the gateway's modules in Node's own directory")
})

t.test("the stamp's digest changes when a module is edited, added or removed, and not for node_modules", async (t) => {
  const { modulesDigest } = await import('../tools/fill-compile-cache.ts')
  const tree = mkdtempSync(join(tmpdir(), 'btb-modules-digest-'))
  t.teardown(() => rmSync(tree, { recursive: true, force: true }))
  writeFileSync(join(tree, 'a.ts'), 'export const a = 1\n')
  mkdirSync(join(tree, 'node_modules'))
  const digests = [modulesDigest([tree])]
  writeFileSync(join(tree, 'node_modules', 'b.ts'), 'export const b = 2\n')
  t.equal(modulesDigest([tree]), digests[0], 'a file under node_modules: the same')
  writeFileSync(join(tree, 'a.ts'), 'export const a = 10\n')
  digests.push(modulesDigest([tree]))
  writeFileSync(join(tree, 'c.ts'), 'export const c = 3\n')
  digests.push(modulesDigest([tree]))
  rmSync(join(tree, 'c.ts'))
  rmSync(join(tree, 'a.ts'))
  digests.push(modulesDigest([tree]))
  t.equal(new Set(digests).size, digests.length, 'edited, added, removed: each another digest')
})
