// The NEXUS roster as an integrator runs it (docs/architecture.md, "Targets":
// 917,000 designations end to end in 10 minutes, at most 300 MB resident per
// gateway process): `npm run sandbox` on ports of its own, then
// `npm run sandbox:load -- nexus-roster --json` against its manifest, timed
// from the first submission to the partner's last signed receipt
// (docs/integrators.md, "Bulk loads"). Each gateway's peak is the kernel's
// high-water mark (VmHWM) for its process, read before the sandbox stops:
// the whole roster, with the sandbox's sample traffic before it.
import { join } from 'node:path'
import { runningSandbox, runScript } from '../test/helper.ts'
import { round, withTeardowns, type BenchOptions, type BenchResult } from './lib/common.ts'
import { MB, residentMemory } from './lib/resident-memory.ts'

/** The roster's size, and the issue's figure for it. */
const ROSTER = 917_000
const TARGET_SECONDS = 600
const TARGET_PEAK_MB = 300

/** What `sandbox:load -- --json` prints (sandbox/bulk-load.ts, printSummary): the parts read here. */
interface LoadSummary {
  readonly count: number
  readonly batchSize: number
  readonly elapsedMs: number
  readonly recordsPerSecond: number
  readonly accepted: { readonly messages: number; readonly records: number }
  readonly delivered: { readonly records: number; readonly lastReceiptMs: number; readonly recordsPerSecond: number } | null
}

export async function rosterBench(opts: BenchOptions): Promise<BenchResult> {
  // A smoke run only shows that every figure is computed: three batches of 100.
  const count = opts.smoke ? 300 : opts.quick ? 100_000 : ROSTER
  const batchArgs = opts.smoke ? ['--batch-size', '100'] : []
  return withTeardowns(async (t) => {
    const { setting, pids } = await runningSandbox(t)
    const manifest = join(setting.dir, 'sandbox.json')
    const idle = { CA: residentMemory(pids.CA).rss, US: residentMemory(pids.US).rss }
    opts.log(`sandbox up: idle RSS CA ${(idle.CA / MB).toFixed(0)} MB, US ${(idle.US / MB).toFixed(0)} MB; sending ${count.toLocaleString('en')} designations`)

    const load = await runScript(['sandbox/bulk-load.ts', 'nexus-roster', '--count', String(count), ...batchArgs, '--manifest', manifest, '--json'])
    // Exit 0: every designation accepted, and every one delivered with the partner's receipt.
    if (load.code !== 0) throw new Error(`sandbox:load exited with ${load.code}:\n${load.stdout.slice(-2000)}${load.stderr.slice(-2000)}`)
    const summary = JSON.parse(load.stdout) as LoadSummary
    if (summary.delivered === null || summary.delivered.records !== count) {
      throw new Error(`sandbox:load delivered ${summary.delivered?.records ?? 0} of ${count} designations`)
    }
    const peak = { CA: residentMemory(pids.CA).peak, US: residentMemory(pids.US).peak }
    const seconds = summary.delivered.lastReceiptMs / 1000
    opts.log(
      `${count.toLocaleString('en')} designations delivered in ${seconds.toFixed(1)} s (${summary.delivered.recordsPerSecond}/s end to end, ` +
        `${summary.recordsPerSecond}/s accepted); peak RSS CA ${(peak.CA / MB).toFixed(0)} MB, US ${(peak.US / MB).toFixed(0)} MB`
    )

    const peakFigure = (country: 'CA' | 'US', role: string) => ({
      name: `peak RSS under the roster, ${country} gateway (${role})`,
      value: peak[country] / MB,
      unit: 'MB',
      baseline: { name: 'the same process idle, before the load', value: idle[country] / MB, unit: 'MB' },
      ratio: round(peak[country] / idle[country], 3),
      target: `≤ ${TARGET_PEAK_MB} MB`,
      met: peak[country] <= TARGET_PEAK_MB * MB
    })
    return {
      bench: 'roster',
      figures: [
        {
          name: `the NEXUS roster: ${count.toLocaleString('en')} designations CA → US in batches of ${summary.batchSize}, to the partner's last receipt`,
          value: seconds,
          unit: 's',
          target: `≤ ${TARGET_SECONDS} s for ${ROSTER.toLocaleString('en')}`,
          met: count >= ROSTER && seconds <= TARGET_SECONDS,
          extra: `${summary.delivered.recordsPerSecond} designations/s end to end, ${summary.recordsPerSecond}/s accepted (sent in ${(summary.elapsedMs / 1000).toFixed(1)} s)`
        },
        peakFigure('CA', 'sending'),
        peakFigure('US', 'receiving')
      ],
      notes: [
        `npm run sandbox, then npm run sandbox:load -- nexus-roster --count ${count}${batchArgs.length > 0 ? ` ${batchArgs.join(' ')}` : ''}: ` +
          'both gateways and the mock agencies as processes, with their defaults; the peaks include the sandbox sample traffic before the roster'
      ],
      details: { count, batchSize: summary.batchSize, idle, peak, load: summary }
    }
  })
}
