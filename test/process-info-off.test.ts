// test/lib/process-info-off.ts, which `npm test` preloads into every process
// of a run (docs/architecture.md, "The test suite"): neither a test process
// nor its threads load tap's process-info hook (were it loaded, it would
// record nothing), and the processes a test starts (gateways, CLIs,
// sandboxes) are not told of it.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const PRELOAD = join(import.meta.dirname, 'lib', 'process-info-off.ts')
// Where tap's runner puts the hook: in the NODE_OPTIONS of each test process.
const HOOK = import.meta.resolve('@tapjs/processinfo/import')
/** Source of an expression that is true in a process or thread that loaded the hook: its spawn wrapper marks the global object. */
const HOOK_LOADED = `Object.getOwnPropertySymbols(globalThis).some((s) => String(s).includes('process-on-spawn'))`

t.test("a test process's hook records nothing, and what it starts does not load the hook", async (t) => {
  // A stand-in for a test process, started as tap starts one; it starts a process as a test does.
  const testProcess = `
    const { execFileSync } = require('node:child_process')
    const started = execFileSync(process.execPath, ['-p', 'process.env.NODE_OPTIONS'], { encoding: 'utf8' }).trim()
    process.stdout.write(JSON.stringify({ exclude: process.env._TAPJS_PROCESSINFO_EXCLUDE_, started }))
  `
  const { stdout } = await run(process.execPath, ['-e', testProcess], {
    env: { ...process.env, NODE_OPTIONS: `--import=${PRELOAD} --import=${HOOK}` }
  })
  const seen = JSON.parse(stdout) as { exclude: string; started: string }
  t.equal(seen.exclude, '/./', 'the hook is told to leave out every file')
  t.equal(seen.started, `--import=${PRELOAD}`, 'the process it starts gets this preload, not the hook')
})

// tap's runner writes each option in double quotes (`"--import=…" "--import=…"`),
// as Node's own parser reads them: a filter that left a quoted NODE_OPTIONS
// alone let every gateway, CLI and sandbox of a run load the hook, and with
// it a module hook on every load.
t.test("tap's quoted NODE_OPTIONS: what a test process starts keeps every other option, and not the hook", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-process-info-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Another preload, at a path with a space and a double quote in it: it must reach the started process unchanged.
  const other = join(dir, 'a "quoted" dir', 'other preload.mjs')
  mkdirSync(dirname(other))
  writeFileSync(other, 'globalThis.otherPreloadRan = true\n')
  const quoted = (option: string): string => `"${option.replace(/[\\"]/g, '\\$&')}"`
  const testProcess = `
    const { execFileSync } = require('node:child_process')
    const started = execFileSync(process.execPath, ['-p', ${JSON.stringify(`JSON.stringify({ options: process.env.NODE_OPTIONS, other: globalThis.otherPreloadRan === true, hook: ${HOOK_LOADED} })`)}], { encoding: 'utf8' })
    process.stdout.write(started)
  `
  const { stdout } = await run(process.execPath, ['-e', testProcess], {
    env: { ...process.env, NODE_OPTIONS: [`--import=${PRELOAD}`, `--import=${other}`, `--import=${HOOK}`].map(quoted).join(' ') }
  })
  const seen = JSON.parse(stdout) as { options: string; other: boolean; hook: boolean }
  t.notMatch(seen.options, /processinfo/, `the hook is not passed on: ${seen.options}`)
  t.notOk(seen.hook, 'nor loaded: no spawn of the started process is wrapped')
  t.ok(seen.other, 'the other preload, at its quoted path, still runs in the started process')
  t.match(seen.options, PRELOAD, 'nor is this preload lost')
})

// Told to record nothing, the hook still stood in front of every module a
// test process and each of its threads loaded (0.15–0.25 s of CPU for a
// process that builds an app). tap's runner names it last, after this preload:
// the preload answers it with an empty module.
t.test('a test process, started as tap starts one, and its threads do not load the hook', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-process-info-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // A thread as the gateway starts one: a module file.
  const threadFile = join(dir, 'thread.mjs')
  writeFileSync(threadFile, `import { parentPort } from 'node:worker_threads'\nparentPort.postMessage(${HOOK_LOADED})\n`)
  const probe = join(dir, 'test-process.mjs')
  writeFileSync(
    probe,
    `
    const { Worker } = await import('node:worker_threads')
    const thread = await new Promise((resolve, reject) => {
      new Worker(${JSON.stringify(threadFile)}).once('message', resolve).once('error', reject)
    })
    process.stdout.write(JSON.stringify({ process: ${HOOK_LOADED}, thread }))
  `
  )
  // As tap's runner starts a test process: the preload through NODE_OPTIONS, the hook there and last on the command line.
  const { stdout } = await run(process.execPath, [`--import=${HOOK}`, probe], {
    env: { ...process.env, NODE_OPTIONS: `"--import=${PRELOAD}" "--import=${HOOK}"` }
  })
  t.same(JSON.parse(stdout), { process: false, thread: false }, 'the hook is loaded in neither')
})
