// npm run fuzz [-- --runs N --seed S --from I --concurrency C --shrink-seconds T --json]
//
// Property-based fuzzing of a running CA/US gateway pair over real mutual TLS
// (see campaign.ts). Prints a summary table and every kind of violation with a
// minimal counterexample; exits 1 when any invariant was violated, 2 when the
// command line is wrong or the run could not be made. Needs Redis on
// 127.0.0.1:6379, like the tests.
import { parseArgs } from 'node:util'
import { runCampaign } from './campaign.ts'
import { hasViolations, summary, violations } from './report.ts'

const USAGE = `usage: npm run fuzz -- [--runs N] [--seed S] [--from I] [--concurrency C] [--shrink-seconds T] [--max-shrunk K] [--json]
  --runs N            inputs to generate (default 100000)
  --seed S            32-bit seed; the same seed generates the same inputs (default 20261201)
  --from I            start at input I of that seed (--from I --runs 1 replays input I alone)
  --concurrency C     requests in flight (default 32)
  --shrink-seconds T  at most this long shrinking each kind of violation (default 10)
  --max-shrunk K      kinds of violation to shrink (default 60)
  --json              print the result as one JSON object instead of the tables`

function int(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!/^-?\d+$/.test(value)) {
    process.stderr.write(`--${name} must be an integer, not ${value}\n${USAGE}\n`)
    process.exit(2)
  }
  return Number(value)
}

let args
try {
  args = parseArgs({
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      from: { type: 'string' },
      concurrency: { type: 'string' },
      'shrink-seconds': { type: 'string' },
      'max-shrunk': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' }
    }
  }).values
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
  process.exit(2)
}
if (args.help === true) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}

const options = {
  runs: int(args.runs, 100_000, 'runs'),
  seed: int(args.seed, 20261201, 'seed') | 0,
  from: int(args.from, 0, 'from'),
  concurrency: int(args.concurrency, 32, 'concurrency'),
  shrinkMs: int(args['shrink-seconds'], 10, 'shrink-seconds') * 1000,
  maxShrunk: int(args['max-shrunk'], 60, 'max-shrunk'),
  settleMs: 60_000,
  onProgress: (done: number, stats: { started: number }) => {
    const seconds = (Date.now() - stats.started) / 1000
    process.stderr.write(`fuzz: ${done}/${options.runs} (${Math.round((100 * done) / options.runs)}%) ${(done / seconds).toFixed(0)}/s\n`)
  }
}

let result
try {
  result = await runCampaign(options)
} catch (err) {
  // Not a finding: the run itself could not happen (no Redis, a port taken, a gateway that does not build).
  process.stderr.write(`fuzz: the run could not be made: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(2)
}
if (args.json === true) {
  process.stdout.write(`${JSON.stringify({ ...result, options: { ...result.options, onProgress: undefined } }, null, 2)}\n`)
} else {
  process.stdout.write(`${summary(result)}\n\n${violations(result)}\n`)
}
process.exit(hasViolations(result) ? 1 : 0)
