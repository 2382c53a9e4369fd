// `npm run bench [-- --quick]`: every benchmark in turn, a table of the
// figures (each a ratio against a baseline measured in the same run, the
// targets of docs/architecture.md, "Targets", beside them), and
// bench/results/latest.json (not committed), or the file --out names.
// --smoke runs every bench at sizes that show only that it runs and computes
// every figure: what CI checks (test/bench-smoke.test.ts), nothing of speed.
//
//   node bench/run.ts [--quick | --smoke] [--only ingest,delivery,ledger,ledger-postgres,memory,roster] [--out file.json]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { benchOptions, type BenchOptions, type BenchResult, type Figure } from './lib/common.ts'
import { deliveryBench } from './delivery.bench.ts'
import { ingestBench } from './ingest.bench.ts'
import { ledgerBench } from './ledger.bench.ts'
import { ledgerPostgresBench } from './ledger-postgres.bench.ts'
import { memoryBench } from './memory.bench.ts'
import { rosterBench } from './roster.bench.ts'

const BENCHES: ReadonlyArray<readonly [string, (opts: BenchOptions) => Promise<BenchResult>]> = [
  ['ingest', ingestBench],
  ['delivery', deliveryBench],
  ['ledger', ledgerBench],
  ['ledger-postgres', ledgerPostgresBench],
  ['memory', memoryBench],
  ['roster', rosterBench]
]

/** The value after a `--name` switch, if given. */
function option(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}

function only(argv: readonly string[]): Set<string> | undefined {
  const names = option(argv, '--only')
  return names === undefined ? undefined : new Set(names.split(','))
}

function fmt(value: number, unit: string): string {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
  return `${value.toFixed(digits)} ${unit}`
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  const line = (r: string[]): string =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join(' | ')
      .trimEnd()
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.slice(1).map(line)].join('\n')
}

function row(bench: string, f: Figure): string[] {
  return [
    bench,
    f.name,
    fmt(f.value, f.unit),
    f.baseline === undefined ? '' : `${fmt(f.baseline.value, f.baseline.unit)} (${f.baseline.name})`,
    f.ratio === undefined ? '' : `${f.ratio.toFixed(3)}×`,
    f.target ?? '',
    f.met === undefined ? '' : f.met ? 'yes' : 'NO'
  ]
}

const USAGE = `usage: node bench/run.ts [--quick | --smoke] [--only ${BENCHES.map(([name]) => name).join(',')}] [--out file.json]\n`
if (process.argv.includes('--help')) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const opts = benchOptions()
const selected = only(process.argv)
const started = new Date()
const results: BenchResult[] = []
const failures: Array<{ bench: string; error: string }> = []
for (const [name, bench] of BENCHES) {
  if (selected !== undefined && !selected.has(name)) continue
  process.stderr.write(`${name}${opts.smoke ? ' (smoke)' : opts.quick ? ' (quick)' : ''}…\n`)
  const t0 = performance.now()
  try {
    results.push(await bench(opts))
  } catch (err) {
    failures.push({ bench: name, error: (err as Error).stack ?? String(err) })
    process.stderr.write(`  FAILED: ${(err as Error).message}\n`)
  }
  process.stderr.write(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`)
}

const header = ['bench', 'figure', 'value', 'baseline (same run)', 'ratio', 'target', 'met']
process.stdout.write(`\n${table([header, ...results.flatMap((r) => r.figures.map((f) => row(r.bench, f)))])}\n\n`)
for (const r of results) {
  for (const f of r.figures) if (f.extra !== undefined) process.stdout.write(`${r.bench}: ${f.name}: ${f.extra}\n`)
}
process.stdout.write('\n')
for (const r of results) for (const n of r.notes) process.stdout.write(`${r.bench}: ${n}\n`)
for (const f of failures) process.stdout.write(`\n${f.bench} FAILED:\n${f.error}\n`)

const dir = join(import.meta.dirname, 'results')
mkdirSync(dir, { recursive: true })
// Results are machine- and moment-specific: never committed (this keeps `git add -A` off them too).
if (!existsSync(join(dir, '.gitignore'))) writeFileSync(join(dir, '.gitignore'), '*\n')
const file = option(process.argv, '--out') ?? join(dir, 'latest.json')
writeFileSync(
  file,
  `${JSON.stringify(
    {
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      quick: opts.quick,
      smoke: opts.smoke,
      machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' },
      results,
      failures
    },
    null,
    2
  )}\n`
)
process.stdout.write(`\nwritten: ${file}\n`)
if (failures.length > 0) process.exitCode = 1
