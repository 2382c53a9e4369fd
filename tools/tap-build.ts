// Rebuilds tap when the plugins it was built with are not the ones .taprc
// names. tap does rebuild itself on such a mismatch, but only after its runner
// has loaded the old build: the test processes of that run still get the old
// build's loader hooks (@tapjs/mock's, 0.35 s of CPU in each process;
// docs/architecture.md, "The test suite"). A fresh clone always starts with
// tap's default build, so every CI run paid it. Run before `tap` (`npm test`).
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
// @tapjs/test cannot be imported outside a test process; its build names its plugins in one template literal.
const testBuild = join(dirname(require.resolve('@tapjs/test/package.json')), 'test-built', 'dist', 'esm', 'index.js')
const built = /export const signature = `([^`]*)`/.exec(readFileSync(testBuild, 'utf8'))?.[1]
const configured = execFileSync('tap', ['plugin', 'list'], { encoding: 'utf8' })
if (built?.trim() !== configured.trim()) {
  process.stderr.write('tap: building it with the plugins .taprc names\n')
  execFileSync('tap', ['build'], { stdio: 'inherit' })
}
