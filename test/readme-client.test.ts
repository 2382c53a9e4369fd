// The integrator's guide's client (docs/integrators.md, "A complete client in
// Node": node:https and node:crypto only) is run exactly as written, against
// two live gateways, CA→US and back US→CA.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { buildManifest } from '../sandbox/manifest.ts'
import { eventually, KEYS_DIR, REDIS_URL, startExchange } from './helper.ts'

const readme = readFileSync(join(import.meta.dirname, '..', 'docs', 'integrators.md'), 'utf8')
const block = /<!-- readme-client -->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1]

t.test("the integrator's guide client sends a message CA→US and US→CA and sees it delivered", async (t) => {
  t.ok(block, 'docs/integrators.md has the client block')
  const ex = await startExchange(t)
  const dir = mkdtempSync(join(tmpdir(), 'btb-readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'submit.mjs'), block!)
  writeFileSync(
    join(dir, 'sandbox.json'),
    JSON.stringify(buildManifest({ root: dir, keysDir: KEYS_DIR, urls: { CA: ex.ca.url, US: ex.us.url }, redisUrl: REDIS_URL }))
  )
  for (const [country, agency, receiver] of [
    ['CA', 'CBSA', ex.mocks.CBP],
    ['US', 'CBP', ex.mocks.CBSA]
  ] as const) {
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'submit.mjs'), join(dir, 'sandbox.json'), country, agency], { timeout: 30_000 })
    t.match(stdout, /^submitted 202 /m, `${country}: accepted`)
    t.match(stdout, /^delivered receipt: [0-9a-f-]{36} [A-Za-z0-9_-]{43}$/m, `${country}: delivered, with the partner's receipt`)
    const id = /"id":"([0-9a-f-]{36})"/.exec(stdout)![1]
    const pushed = await eventually(() => receiver.received.find((m) => m.id === id), 10_000, 'the push')
    t.equal(pushed.from, `${country}/${agency}/${country === 'CA' ? 'pik-primary' : 'ades'}`, `${country}: pushed to the partner's agency`)
  }
})
