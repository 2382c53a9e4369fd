// tools/malloc-census: the shims docs/architecture.md ("Targets", memory)
// measured the roster's allocations with, built with the machine's C
// compiler and loaded into a real Node process, as the document says to.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const census = join(root, 'tools', 'malloc-census')

function build(dir: string, source: string): string {
  const out = join(dir, source.replace(/\.c$/, '.so'))
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-Werror', '-shared', '-fPIC', '-o', out, join(census, source), '-ldl', '-lpthread'], { encoding: 'utf8' })
  if (cc.status !== 0) throw new Error(`gcc ${source}: ${cc.stderr}`)
  return out
}

/** Node with a shim loaded, running `source`; the shims write into `dir`. */
function nodeWith(shim: string, dir: string, source: string): void {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
    env: { ...process.env, LD_PRELOAD: shim, MALLOC_CENSUS_DIR: dir, NODE_OPTIONS: undefined },
    encoding: 'utf8',
    timeout: 60_000
  })
  if (run.status !== 0) throw new Error(`node under ${shim}: ${run.stderr}`)
}

t.test('big allocations are logged with their call site and summed per site', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-malloc-census-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const shim = build(dir, 'big-allocations.c')
  // Ten Buffers of 3 MiB from JavaScript, and small ones that stay under the threshold.
  nodeWith(shim, dir, 'const kept = []; for (let i = 0; i < 10; i++) kept.push(Buffer.alloc(3 * 2 ** 20), Buffer.alloc(1024)); console.log(kept.length)')
  const logs = readdirSync(dir).filter((f) => f.startsWith('big-allocations-'))
  t.equal(logs.length, 1, 'one log, named by the process id')
  const log = join(dir, logs[0]!)
  const sizes = readFileSync(log, 'latin1')
    .split('\n')
    .filter((l) => l.startsWith('@@ '))
    .map((l) => Number(l.split(' ')[2]))
  t.equal(sizes.filter((s) => s === 3 * 2 ** 20).length, 10, 'each 3 MiB Buffer, once')
  t.notOk(
    sizes.some((s) => s < 256 * 1024),
    'nothing under the threshold'
  )

  const summary = spawnSync(process.execPath, [join(census, 'summarise.ts'), '--per', '10', log], { encoding: 'utf8' })
  t.equal(summary.status, 0, summary.stderr)
  t.match(summary.stdout, /\(JavaScript: a Buffer, ArrayBuffer or external string\)/, 'Buffers counted under one site')
  const line = summary.stdout.split('\n').find((l) => l.includes('(JavaScript'))!
  t.match(line, /^\s+1\.0 × 3\.00 MiB =\s+3\.0 MiB/, 'per tenth: one 3 MiB allocation')

  const usage = spawnSync(process.execPath, [join(census, 'summarise.ts')], { encoding: 'utf8' })
  t.equal(usage.status, 2, 'no log: the usage, and exit 2')
  t.match(usage.stderr, /usage: node tools\/malloc-census\/summarise\.ts/)
})

t.test("the arenas' own account is sampled while the process runs", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-malloc-census-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const shim = build(dir, 'arena-usage.c')
  // Runs until the first whole sample is written: the sampler's own file is the condition waited on.
  nodeWith(
    shim,
    dir,
    `import { readdirSync, readFileSync } from 'node:fs'
     const held = Buffer.alloc(2 ** 20)
     const deadline = Date.now() + 30_000
     const sampled = () => readdirSync(${JSON.stringify(dir)}).some((f) => f.startsWith('arena-usage-') && readFileSync(${JSON.stringify(dir)} + '/' + f, 'utf8').includes('\\n'))
     while (!sampled()) {
       if (Date.now() > deadline) throw new Error('no sample in 30 s')
       await new Promise((resolve) => setTimeout(resolve, 50))
     }
     console.log(held.length)`
  )
  const log = readdirSync(dir).find((f) => f.startsWith('arena-usage-'))!
  const first = readFileSync(join(dir, log), 'utf8').split('\n')[0]!
  t.match(first, /^\d+ arena=\d+ inuse=\d+ free=\d+ mmapped=\d+$/, 'seconds, then MiB held, in use, free and mmapped')
})
