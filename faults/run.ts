// `npm run faults [-- --only name,name --messages N --markdown]`: each fault
// under a load, on a fresh exchange of real processes, and a table of what
// became of the messages. Exit status 0 only if every row has lost 0,
// duplicated 0 (ledgers and agency), recovered, and both ledgers verify.
// Progress goes to stderr; the table, legend and findings to stdout.
import { commandLine } from './command-line.ts'
import { FAULTS, faultsNamed, type FaultTimings } from './faults.ts'
import { details, LEGEND, table } from './report.ts'
import { runFault, type FaultRow, type ScenarioSettings } from './scenario.ts'

const USAGE = `usage: npm run faults [-- options]

  --only a,b          run these faults only: ${FAULTS.map((f) => f.name).join(', ')}
  --messages N        messages per fault (default 3000)
  --concurrency N     submissions in flight (default 32)
  --outage S          partner down / webhook down, seconds (default 60)
  --slow S            how long the partner is slow, seconds (default 30)
  --slow-delay MS     latency added each way while slow (default 500)
  --redis-down MS     between Redis going down and coming back (default 1000)
  --bound S           recovery bound after the fault is undone and the load sent, seconds (default 300)
  --quiet MS          how long nothing may move before counting (default 3000)
  --inject-at F       inject once this share of the messages was accepted (default 0.33)
  --backoff-ms MS     the gateways' DELIVERY_BACKOFF_MS (default: the gateway's, 1000)
  --relay-ms MS       the gateways' RELAY_INTERVAL_MS (default: the gateway's, 5000)
  --keep              keep every run's directory (logs, ledgers); failed runs are always kept
  --markdown          also print the table as markdown
`

const { values, number } = commandLine(USAGE, {
  only: { type: 'string' },
  messages: { type: 'string' },
  concurrency: { type: 'string' },
  outage: { type: 'string' },
  slow: { type: 'string' },
  'slow-delay': { type: 'string' },
  'redis-down': { type: 'string' },
  bound: { type: 'string' },
  quiet: { type: 'string' },
  'inject-at': { type: 'string' },
  'backoff-ms': { type: 'string' },
  'relay-ms': { type: 'string' },
  keep: { type: 'boolean', default: false },
  markdown: { type: 'boolean', default: false }
})
const num = (value: string | undefined, fallback: number, name: string): number => (value === undefined ? fallback : number(name, value, { zero: true }))

let faults
try {
  faults = faultsNamed(
    values.only
      ?.split(',')
      .map((n) => n.trim())
      .filter((n) => n !== '')
  )
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exit(2)
}
const timings: FaultTimings = {
  outageMs: num(values.outage, 60, 'outage') * 1000,
  slowMs: num(values.slow, 30, 'slow') * 1000,
  slowDelayMs: num(values['slow-delay'], 500, 'slow-delay'),
  redisDownMs: num(values['redis-down'], 1000, 'redis-down')
}
const backoff = values['backoff-ms'] === undefined ? undefined : num(values['backoff-ms'], 1000, 'backoff-ms')
const relay = values['relay-ms'] === undefined ? undefined : num(values['relay-ms'], 5000, 'relay-ms')
const settings: ScenarioSettings = {
  messages: Math.max(1, Math.round(num(values.messages, 3000, 'messages'))),
  concurrency: Math.max(1, Math.round(num(values.concurrency, 32, 'concurrency'))),
  timings,
  // The gateways' own defaults unless asked: the faults test the settings an operator runs.
  gateway: { ...(backoff !== undefined ? { deliveryBackoffMs: backoff } : {}), ...(relay !== undefined ? { relayIntervalMs: relay } : {}) },
  recoveryBoundMs: num(values.bound, 300, 'bound') * 1000,
  quietMs: num(values.quiet, 3000, 'quiet'),
  injectAt: num(values['inject-at'], 0.33, 'inject-at'),
  keep: values.keep ? 'always' : 'failed',
  say: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)
}

const rows: FaultRow[] = []
const started = Date.now()
for (const fault of faults) {
  try {
    const row = await runFault(fault, settings)
    rows.push(row)
    settings.say(`[${fault.name}] ${row.pass ? 'PASS' : 'FAIL'}`)
  } catch (err) {
    // A fault whose run broke (a process would not start…) is a failed row, not the end of the table.
    settings.say(`[${fault.name}] the run itself failed: ${(err as Error).stack ?? String(err)}`)
  }
}

const out = (s: string): void => {
  process.stdout.write(`${s}\n`)
}
out(
  `\nFaults: ${settings.messages} messages each (CA/CBSA -> US/CBP traveller.designation), concurrency ${settings.concurrency}, ` +
    `fault at ${Math.round(settings.injectAt * 100)} % accepted, recovery bound ${settings.recoveryBoundMs / 1000} s, ` +
    `gateway settings ${JSON.stringify(settings.gateway)}; total ${((Date.now() - started) / 60_000).toFixed(1)} min\n`
)
out(table(rows, false))
if (values.markdown) out(`\n${table(rows, true)}`)
out(`\n${LEGEND.map((l) => `  ${l}`).join('\n')}`)
out(`\n${details(rows)}`)
const failed = faults.length - rows.filter((r) => r.pass).length
out(
  `\n${rows.filter((r) => r.pass).length} of ${faults.length} faults: lost 0, duplicated 0, recovered, ledgers verify${failed > 0 ? ` (${failed} did not)` : ''}`
)
process.exitCode = failed > 0 ? 1 : 0
