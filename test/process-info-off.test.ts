// test/lib/process-info-off.ts, which `npm test` preloads into every process
// of a run (docs/architecture.md, "The test suite"): in a test process, tap's
// process-info hook records nothing, and the processes a test starts
// (gateways, CLIs, sandboxes) do not load the hook at all.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const PRELOAD = join(import.meta.dirname, 'lib', 'process-info-off.ts')
// Where tap's runner puts the hook: in the NODE_OPTIONS of each test process.
const HOOK = import.meta.resolve('@tapjs/processinfo/import')

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
