// What a gateway process costs to start: the CPU of each of its threads and
// its resident memory, a moment after its first /healthz answered. Each start
// is a gateway process as the benches and tests start one
// (bench/lib/gateway-process.ts: the gateway's heap limits, the checkout's
// compile cache, a ledger and a queue prefix of its own), stopped before the
// next. The test suite starts about fifty, so what one costs is what the
// suite's time is made of (docs/measurements.md, "The test suite's time"):
//
//   node tools/gateway-start.ts [--runs N] [--env NAME=VALUE ...]
//
// e.g. `--env PIPELINE_THREADS=0` against the defaults, run alternately.
import { parseArgs } from 'node:util'
import { withTeardowns } from '../bench/lib/common.ts'
import { startGatewayProcess } from '../bench/lib/gateway-process.ts'
import { MB, residentMemory } from '../bench/lib/resident-memory.ts'
import { cpuByThread } from '../bench/lib/thread-cpu.ts'
import { freePorts } from '../test/helper.ts'

/** After /healthz first answers, the start's tail (the relay's first pass, the connections' handshakes) is let run this long. */
const SETTLE_MS = 300

interface Start {
  /** CPU seconds by thread name (threads of one name added). */
  readonly threads: ReadonlyMap<string, number>
  readonly cpuSeconds: number
  readonly residentMb: number
}

async function oneStart(env: Record<string, string>): Promise<Start> {
  return withTeardowns(async (t) => {
    const [port] = await freePorts(1)
    const { child } = await startGatewayProcess(t, 'CA', port!, env)
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const threads = new Map<string, number>()
    for (const [name, seconds] of cpuByThread({ gateway: child.pid! })) {
      if (name.startsWith('gateway:')) threads.set(name.slice('gateway:'.length), seconds)
    }
    const cpuSeconds = [...threads.values()].reduce((a, b) => a + b, 0)
    return { threads, cpuSeconds, residentMb: residentMemory(child.pid!).rss / MB }
  })
}

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, env: { type: 'string', multiple: true, default: [] } } })
const env = Object.fromEntries(
  values.env.map((pair) => {
    const at = pair.indexOf('=')
    if (at < 1) throw new Error(`--env takes NAME=VALUE, not ${JSON.stringify(pair)}`)
    return [pair.slice(0, at), pair.slice(at + 1)]
  })
)
const runs = Number(values.runs)
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number of starts')

const starts: Start[] = []
for (let i = 0; i < runs; i++) starts.push(await oneStart(env))
const ms = (seconds: number): string => (seconds * 1000).toFixed(0)
console.log(`gateway start${Object.keys(env).length > 0 ? ` with ${values.env.join(' ')}` : ''}, ${runs} ${runs === 1 ? 'start' : 'starts'}:`)
console.log(`  CPU to /healthz and ${SETTLE_MS} ms after, ms: ${starts.map((s) => ms(s.cpuSeconds)).join(' ')}`)
console.log(`  resident, MB: ${starts.map((s) => s.residentMb.toFixed(0)).join(' ')}`)
const names = [...new Set(starts.flatMap((s) => [...s.threads.keys()]))].filter((name) => starts.some((s) => (s.threads.get(name) ?? 0) > 0))
for (const name of names) console.log(`  ${name}, ms: ${starts.map((s) => ms(s.threads.get(name) ?? 0)).join(' ')}`)
