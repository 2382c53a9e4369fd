// tools/suite-against.ts: `npm test` here against another checkout's on the
// same machine, alternated, as docs/architecture.md ("The test suite")
// measures the suite against a6206dc. Two stand-in checkouts take the place
// of the suites: each `npm test` records how it was run and prints tap's
// totals, so that nothing here runs a whole suite.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { median } from '../bench/lib/common.ts'
import { describePageFaultCost, measurePageFaultCost } from '../tools/page-fault-cost.ts'
import { compareSuites, runOrder, suiteEnvironment, table, tapSummary } from '../tools/suite-against.ts'

const tool = join(import.meta.dirname, '..', 'tools', 'suite-against.ts')

/**
 * A checkout whose `npm test` appends its name and what it was given to
 * `record`, prints tap's totals (with `timeMs` as tap's time) and exits with
 * `status`.
 */
function standIn(root: string, name: string, record: string, timeMs: number, status: number): string {
  const dir = join(root, name)
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `stand-in-${name}`, private: true, scripts: { test: 'node suite.mjs' } }))
  writeFileSync(
    join(dir, 'suite.mjs'),
    [
      `import { appendFileSync } from 'node:fs'`,
      `const tapEnv = Object.keys(process.env).filter((k) => /^(TAP|TAP_.*|NODE_COMPILE_CACHE)$/.test(k))`,
      `appendFileSync(${JSON.stringify(record)}, JSON.stringify({ name: ${JSON.stringify(name)}, args: process.argv.slice(2), path0: process.env.PATH.split(':')[0], tapEnv }) + '\\n')`,
      `console.log('# { total: 12, pass: ${12 - status}${status === 0 ? '' : `, fail: ${status}`} }')`,
      `console.log('# time=${timeMs}.5ms')`,
      `process.exit(${status})`
    ].join('\n')
  )
  return dir
}

t.test('runs alternate, each its checkout’s own npm test, and every figure is reported beside its pair', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'btb-suite-against-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const record = join(root, 'record.ndjson')
  const here = standIn(root, 'here', record, 50, 0)
  const before = standIn(root, 'before', record, 300, 1)
  const logs = join(root, 'logs')
  mkdirSync(logs)
  const told: string[] = []

  const result = await compareSuites({
    thisDir: here,
    baselineDir: before,
    pairs: 2,
    tapArgs: ['test/one.test.ts'],
    logs,
    onRun: (run) => told.push(`${run.pair}:${run.checkout}`)
  })

  const runs = readFileSync(record, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { name: string; args: string[]; path0: string; tapEnv: string[] })
  t.same(
    runs.map((r) => r.name),
    ['here', 'before', 'before', 'here'],
    'this checkout first in the first pair, the baseline first in the second'
  )
  t.same(told, ['1:this', '1:baseline', '2:baseline', '2:this'], 'each run told as it ends')
  for (const r of runs) {
    t.same(r.args, ['test/one.test.ts'], `${r.name}: the arguments after -- reach its suite`)
    t.equal(r.path0, join(root, r.name, 'node_modules', '.bin'), `${r.name}: its own node_modules/.bin first on PATH`)
    // NODE_OPTIONS is not looked at here: tap's process-info hook puts its
    // own back into whatever a test process spawns (suiteEnvironment's own
    // test, below, shows it is dropped).
    t.same(r.tapEnv, [], `${r.name}: none of this test process's tap settings, nor its compile cache`)
  }

  t.equal(result.runs.length, 4)
  for (const run of result.runs) {
    t.ok(run.wallSeconds > 0 && run.machineCpuSeconds >= 0 && run.idleShare >= 0 && run.idleShare <= 1, `${run.pair}:${run.checkout}: its figures`)
    t.match(readFileSync(run.log, 'utf8'), /# \{ total: 12/, `${run.pair}:${run.checkout}: its output kept in its log`)
  }
  const of = (pair: number, checkout: 'this' | 'baseline') => result.runs.find((r) => r.pair === pair && r.checkout === checkout)!
  t.same(of(1, 'this').tap, { total: 12, pass: 12, fail: 0, timeMs: 50.5 }, "tap's totals and time, from this checkout's output")
  t.same(of(1, 'baseline').tap, { total: 12, pass: 11, fail: 1, timeMs: 300.5 }, "and from the baseline's")
  t.equal(of(1, 'baseline').status, 1, "the baseline's exit status")
  t.equal(result.allPassed, false, 'a failed run is not hidden')
  t.same(
    result.pairRatios,
    [1, 2].map((pair) => of(pair, 'this').wallSeconds / of(pair, 'baseline').wallSeconds),
    "each pair's ratio is this run's wall time over the baseline's"
  )
  t.equal(result.medianPairRatio, median(result.pairRatios))
  t.equal(
    result.medianRunRatio,
    median([of(1, 'this').wallSeconds, of(2, 'this').wallSeconds]) / median([of(1, 'baseline').wallSeconds, of(2, 'baseline').wallSeconds])
  )
  const printed = table(result)
  t.match(printed, /^\| pair \| first \| this checkout \(.*here\) \| baseline \(.*before\) \| ratio \|$/m, 'the table names both checkouts')
  t.match(printed, /^\| 2 \| baseline \| .* \| .*npm test exited 1.* \| \d\.\d{3}× \|$/m, 'a row a pair, with who ran first and a failed run marked')
  t.match(printed, /median of the pairs' ratios: \d+\.\d{3}×; median run against median run: \d+\.\d{3}× \(some runs failed/)
  // What a page fault cost, before the first run and after the last: a
  // fresh 64 MiB mapping faults in its 16,384 pages once.
  for (const when of ['before', 'after'] as const) {
    const cost = result.machine.pageFault[when]
    t.ok(cost.faults >= 16_384 * 0.9, `${when}: the first fill faulted in the buffer's pages (${cost.faults})`)
    t.ok(cost.microsPerFault !== null && cost.microsPerFault > 0, `${when}: what a fault cost (${cost.microsPerFault} µs)`)
  }
  t.match(
    printed,
    /^the machine: \d+ × .*; before the runs, a page fault: [\d.]+ µs \(\d+ faults;.*; after them, a page fault: [\d.]+ µs/m,
    'the table says what a page fault cost'
  )
})

t.test('what a page fault costs: counted in a fresh mapping, and not claimed when the pages were already mapped', async (t) => {
  const cost = measurePageFaultCost(64)
  t.ok(cost.faults >= 16_384 * 0.9, `the first fill faulted in the pages (${cost.faults})`)
  t.ok(cost.firstFillMs > cost.secondFillMs, `the first fill (${cost.firstFillMs} ms) cost more than the second (${cost.secondFillMs} ms)`)
  t.ok(Math.abs(cost.microsPerFault! - ((cost.firstFillMs - cost.secondFillMs) * 1000) / cost.faults) < 1e-6, 'the first fill’s CPU over the second’s, a fault')
  t.match(describePageFaultCost(cost), /^a page fault: [\d.]+ µs \(\d+ faults; first fill \d+ ms of CPU, second \d+ ms\)$/)
  t.equal(
    describePageFaultCost({ faults: 3, firstFillMs: 1, secondFillMs: 1, microsPerFault: null }),
    'a page fault: not measured: the buffer was already mapped (3 faults; first fill 1 ms of CPU, second 1 ms)'
  )
  const run = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'tools', 'page-fault-cost.ts'), '--megabytes', 'many'], { encoding: 'utf8' })
  t.equal(run.status, 2, 'a size that is not a number: exits 2')
  t.match(run.stderr, /--megabytes takes a whole number, at least 1, not "many"/)
})

t.test('the pieces: the order of runs, tap’s totals, the median, the environment', async (t) => {
  t.same(
    runOrder(3).map((r) => `${r.pair}:${r.checkout}`),
    ['1:this', '1:baseline', '2:baseline', '2:this', '3:this', '3:baseline']
  )
  t.same(
    tapSummary('# { total: 3, pass: 3 }\n# time=1.5ms\n# { total: 7403, pass: 7402, fail: 1 }\n# time=229751.8ms\n'),
    {
      total: 7403,
      pass: 7402,
      fail: 1,
      timeMs: 229751.8
    },
    'the last totals tap printed'
  )
  t.same(tapSummary('tsc: error TS2322\n'), { total: null, pass: null, fail: null, timeMs: null }, 'none when tap never ran')
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 3, 2]), 2.5)
  const env = suiteEnvironment('/c', {
    PATH: '/usr/bin',
    HOME: '/root',
    NODE_OPTIONS: '--import=x',
    TAP_CHILD_ID: '3',
    TAP: '1',
    npm_lifecycle_event: 'test',
    NODE_COMPILE_CACHE: '/x'
  })
  t.same(env, { PATH: '/c/node_modules/.bin:/usr/bin', HOME: '/root' })
})

t.test('a command line it cannot run is refused with what is wrong, before any suite runs', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'btb-suite-against-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const noModules = join(root, 'bare')
  mkdirSync(noModules)
  writeFileSync(join(noModules, 'package.json'), '{}')
  appendFileSync(join(root, 'not-a-checkout'), '')
  const cases: Array<[string[], RegExp]> = [
    [[], /--baseline names the checkout to compare against/],
    [['--baseline', noModules, '--pairs', '0'], /--pairs takes a whole number of pairs, at least 1, not "0"/],
    [['--baseline', join(root, 'nowhere')], /has no package\.json: not a checkout/],
    [['--baseline', noModules], /bare has no node_modules\/\.bin: run npm ci there first/],
    [['--baseline', noModules, '--frequency', '3'], /Unknown option '--frequency'/]
  ]
  for (const [args, message] of cases) {
    const run = spawnSync(process.execPath, [tool, ...args], { encoding: 'utf8' })
    t.equal(run.status, 2, `${args.join(' ') || '(nothing)'}: exits 2`)
    t.match(run.stderr, message, `${args.join(' ') || '(nothing)'}: says why`)
    t.match(run.stderr, /usage: node tools\/suite-against\.ts --baseline DIR/)
    t.equal(run.stdout, '', 'and runs nothing')
  }
})
