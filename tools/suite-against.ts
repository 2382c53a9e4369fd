// How long `npm test` takes in this checkout against another checkout's on
// the same machine, measured as the redesign's target is set: half the wall
// time of the suite before it (a6206dc), on the same 2-core machine
// (docs/architecture.md, "The test suite"). Runs alternate, this checkout
// first in odd pairs and the baseline first in even ones, so that the
// machine's drift (up to a fifth within half an hour on these VMs) falls on
// both; each pair's ratio is this run over the baseline's.
//
//   git worktree add /tmp/a6206dc a6206dc && (cd /tmp/a6206dc && npm ci)
//   node tools/suite-against.ts --baseline /tmp/a6206dc [--pairs 3] [--out result.json] [--logs DIR] [-- tap's arguments]
//
// Each run is that checkout's own `npm test`, with its own node_modules/.bin
// first on PATH and none of this process's Node, tap or npm settings, and
// nothing else should run meanwhile: the machine's idle share during each run
// is printed beside it. Arguments after `--` go to both checkouts' tap (a
// file list, say).
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { median } from '../bench/lib/common.ts'
import { describePageFaultCost, measurePageFaultCost, type PageFaultCost } from './page-fault-cost.ts'

export type Checkout = 'this' | 'baseline'

/** What tap printed last of its totals: `# { total: N, pass: N, fail: N }` and `# time=…ms`. */
export interface TapSummary {
  readonly total: number | null
  readonly pass: number | null
  readonly fail: number | null
  readonly timeMs: number | null
}

export interface SuiteRun {
  readonly pair: number
  readonly checkout: Checkout
  readonly wallSeconds: number
  /** The whole machine's busy CPU during the run (every process, not only the suite's), and the share of it left idle. */
  readonly machineCpuSeconds: number
  readonly idleShare: number
  /** `npm test`'s exit status (null if it ended on a signal). */
  readonly status: number | null
  readonly tap: TapSummary
  readonly log: string
}

export interface SuiteComparison {
  readonly startedAt: string
  readonly machine: {
    readonly cpus: number
    readonly model: string
    /** What a page fault cost before the first run and after the last (tools/page-fault-cost.ts): what moves these figures most between machines. */
    readonly pageFault: { readonly before: PageFaultCost; readonly after: PageFaultCost }
  }
  readonly checkouts: Record<Checkout, { readonly dir: string; readonly commit: string | null }>
  readonly tapArgs: readonly string[]
  readonly runs: readonly SuiteRun[]
  /** Each pair's ratio, this run's wall time over the baseline's. */
  readonly pairRatios: readonly number[]
  readonly medianPairRatio: number
  /** The median of this checkout's runs over the median of the baseline's. */
  readonly medianRunRatio: number
  /** Whether every run's `npm test` passed: a figure from a failed run may stand for less than the whole suite. */
  readonly allPassed: boolean
}

/** The last totals tap printed in `output`. */
export function tapSummary(output: string): TapSummary {
  const totals = [...output.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?[^}]*\}$/gm)].at(-1)
  const time = [...output.matchAll(/^# time=([\d.]+)ms$/gm)].at(-1)
  const count = (s: string | undefined): number | null => (s === undefined ? null : Number(s))
  return {
    total: count(totals?.[1]),
    pass: totals === undefined ? null : (count(totals[2]) ?? 0),
    fail: totals === undefined ? null : (count(totals[3]) ?? 0),
    timeMs: time === undefined ? null : Number(time[1])
  }
}

/** The order of the runs: this checkout first in odd pairs, the baseline first in even ones. */
export function runOrder(pairs: number): Array<{ pair: number; checkout: Checkout }> {
  const order: Array<{ pair: number; checkout: Checkout }> = []
  for (let pair = 1; pair <= pairs; pair++) {
    const first: Checkout = pair % 2 === 1 ? 'this' : 'baseline'
    order.push({ pair, checkout: first }, { pair, checkout: first === 'this' ? 'baseline' : 'this' })
  }
  return order
}

/** Busy and idle jiffies of the whole machine (/proc/stat's first line). */
function machineJiffies(): { busy: number; idle: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest time is inside user already)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields
  return { busy: user + nice + system + irq + softirq + steal, idle: idle + iowait }
}

/**
 * The environment a checkout's `npm test` runs in: this process's, without
 * what would change how that suite runs (Node's options and compile cache,
 * tap's settings, which would make its tap think it is a test process, npm's
 * own), and with the checkout's node_modules/.bin first, as `npm test` puts
 * it (it brings the checkout's own Node 24).
 */
export function suiteEnvironment(dir: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const kept = Object.entries(env).filter(
    ([name]) => !/^(NODE_OPTIONS|NODE_COMPILE_CACHE|NODE_DISABLE_COMPILE_CACHE|TAP|TAP_.*|npm_.*|SUITE_CPU_DIR)$/i.test(name)
  )
  return { ...Object.fromEntries(kept), PATH: `${join(dir, 'node_modules', '.bin')}:${env.PATH ?? ''}` }
}

const JIFFIES_PER_SECOND = 100

async function runSuite(dir: string, tapArgs: readonly string[], log: string): Promise<Omit<SuiteRun, 'pair' | 'checkout' | 'log'>> {
  const args = ['test', ...(tapArgs.length > 0 ? ['--', ...tapArgs] : [])]
  const before = machineJiffies()
  const from = performance.now()
  // Its output goes straight to the log, which is then read for tap's totals.
  const out = openSync(log, 'w')
  const status = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('npm', args, { cwd: dir, env: suiteEnvironment(dir), stdio: ['ignore', out, out] })
    child.once('error', reject)
    child.once('close', (code) => resolve(code))
  }).finally(() => closeSync(out))
  const wallSeconds = (performance.now() - from) / 1000
  const after = machineJiffies()
  const busy = after.busy - before.busy
  const idle = after.idle - before.idle
  return {
    wallSeconds,
    machineCpuSeconds: busy / JIFFIES_PER_SECOND,
    idleShare: busy + idle === 0 ? 0 : idle / (busy + idle),
    status,
    tap: tapSummary(readFileSync(log, 'utf8'))
  }
}

function commitOf(dir: string): string | null {
  const git = spawnSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return git.status === 0 ? git.stdout.trim() : null
}

export interface CompareOptions {
  readonly thisDir: string
  readonly baselineDir: string
  readonly pairs: number
  readonly tapArgs: readonly string[]
  readonly logs: string
  /** Told of each run as it ends. */
  readonly onRun?: (run: SuiteRun) => void
}

export async function compareSuites(opts: CompareOptions): Promise<SuiteComparison> {
  const dirs: Record<Checkout, string> = { this: opts.thisDir, baseline: opts.baselineDir }
  const startedAt = new Date().toISOString()
  const pageFaultBefore = measurePageFaultCost()
  const runs: SuiteRun[] = []
  for (const { pair, checkout } of runOrder(opts.pairs)) {
    const log = join(opts.logs, `pair-${pair}-${checkout}.log`)
    const run: SuiteRun = { pair, checkout, log, ...(await runSuite(dirs[checkout], opts.tapArgs, log)) }
    runs.push(run)
    opts.onRun?.(run)
  }
  const pageFaultAfter = measurePageFaultCost()
  const wall = (pair: number, checkout: Checkout): number => runs.find((r) => r.pair === pair && r.checkout === checkout)!.wallSeconds
  const pairRatios = Array.from({ length: opts.pairs }, (_, i) => wall(i + 1, 'this') / wall(i + 1, 'baseline'))
  const medianOf = (checkout: Checkout): number => median(runs.filter((r) => r.checkout === checkout).map((r) => r.wallSeconds))
  return {
    startedAt,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', pageFault: { before: pageFaultBefore, after: pageFaultAfter } },
    checkouts: {
      this: { dir: opts.thisDir, commit: commitOf(opts.thisDir) },
      baseline: { dir: opts.baselineDir, commit: commitOf(opts.baselineDir) }
    },
    tapArgs: opts.tapArgs,
    runs,
    pairRatios,
    medianPairRatio: median(pairRatios),
    medianRunRatio: medianOf('this') / medianOf('baseline'),
    allPassed: runs.every((r) => r.status === 0)
  }
}

/** One run, as the table and the progress lines show it. */
export function describeRun(run: SuiteRun): string {
  const checks = run.tap.total === null ? 'no tap totals' : `${run.tap.pass} of ${run.tap.total} checks passed`
  const failed = run.status === 0 ? '' : `, npm test exited ${run.status ?? 'on a signal'}`
  return `${run.wallSeconds.toFixed(1)} s (${checks}${failed}; machine ${run.machineCpuSeconds.toFixed(0)} s of CPU, ${(run.idleShare * 100).toFixed(0)} % idle)`
}

export function table(result: SuiteComparison): string {
  const { checkouts } = result
  const name = (c: Checkout): string => `${c === 'this' ? 'this checkout' : 'baseline'} (${checkouts[c].commit ?? checkouts[c].dir})`
  const lines = [`| pair | first | ${name('this')} | ${name('baseline')} | ratio |`, '|---|---|---|---|---:|']
  for (let pair = 1; pair <= result.pairRatios.length; pair++) {
    const of = (c: Checkout): SuiteRun => result.runs.find((r) => r.pair === pair && r.checkout === c)!
    const first = result.runs.find((r) => r.pair === pair)!.checkout
    lines.push(`| ${pair} | ${first} | ${describeRun(of('this'))} | ${describeRun(of('baseline'))} | ${result.pairRatios[pair - 1]!.toFixed(3)}× |`)
  }
  lines.push(
    '',
    `median of the pairs' ratios: ${result.medianPairRatio.toFixed(3)}×; median run against median run: ${result.medianRunRatio.toFixed(3)}×` +
      (result.allPassed ? '' : ' (some runs failed: their times may stand for less than the whole suite)'),
    `the machine: ${result.machine.cpus} × ${result.machine.model}; before the runs, ${describePageFaultCost(result.machine.pageFault.before)}; after them, ${describePageFaultCost(result.machine.pageFault.after)}`
  )
  return lines.join('\n')
}

const USAGE = 'usage: node tools/suite-against.ts --baseline DIR [--pairs N] [--out FILE.json] [--logs DIR] [-- tap arguments]\n'

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`)
  process.exit(2)
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: { baseline: { type: 'string' }, pairs: { type: 'string', default: '3' }, out: { type: 'string' }, logs: { type: 'string' } },
      allowPositionals: true
    })
  } catch (err) {
    fail((err as Error).message)
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine()
  const pairs = Number(values.pairs)
  if (!Number.isInteger(pairs) || pairs < 1) fail(`--pairs takes a whole number of pairs, at least 1, not ${JSON.stringify(values.pairs)}`)
  if (values.baseline === undefined) fail('--baseline names the checkout to compare against')
  const thisDir = resolve(import.meta.dirname, '..')
  const baselineDir = resolve(values.baseline)
  for (const dir of [thisDir, baselineDir]) {
    if (!existsSync(join(dir, 'package.json'))) fail(`${dir} has no package.json: not a checkout`)
    if (!existsSync(join(dir, 'node_modules', '.bin'))) fail(`${dir} has no node_modules/.bin: run npm ci there first`)
  }
  const logs = values.logs === undefined ? mkdtempSync(join(tmpdir(), 'suite-against-')) : resolve(values.logs)
  mkdirSync(logs, { recursive: true })
  process.stderr.write(`${pairs} ${pairs === 1 ? 'pair' : 'pairs'} of npm test; each run's output in ${logs}\n`)
  const result = await compareSuites({
    thisDir,
    baselineDir,
    pairs,
    tapArgs: positionals,
    logs,
    onRun: (run) => process.stderr.write(`  pair ${run.pair}, ${run.checkout}: ${describeRun(run)}\n`)
  })
  process.stdout.write(`${table(result)}\n`)
  if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`)
}

if (import.meta.main) await main()
