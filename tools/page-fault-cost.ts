// What a page fault costs this machine in CPU. On the 2-core VMs the suite
// and the benches run on, that cost moves the figures more than the cores'
// speed does: about 8 µs under PVM and 12 µs on the thirty-fourth session's
// Firecracker VM, where the suite took twice the CPU of the thirty-third's
// (docs/measurements.md, "The test suite's time"). A fresh buffer is filled
// twice: the first fill faults in each of its pages, the second writes the
// same pages again, so the difference in CPU over the faults counted is
// what the faults cost.
//
//   node tools/page-fault-cost.ts [--megabytes 64]
import { parseArgs } from 'node:util'
import { procStatFields } from '../bench/lib/thread-cpu.ts'

export interface PageFaultCost {
  /** Minor page faults the first fill took. */
  readonly faults: number
  /** CPU of the first fill and of the second, in milliseconds. */
  readonly firstFillMs: number
  readonly secondFillMs: number
  /** The first fill's CPU over the second's, a fault; null if the buffer's pages were already mapped (too few faults). */
  readonly microsPerFault: number | null
}

/** Larger than glibc's largest mmap threshold (32 MiB on 64-bit), so the buffer is always a fresh mapping, never reused heap. */
const DEFAULT_MEGABYTES = 64
const PAGE_BYTES = 4096

/** The process's minor faults so far (field 10 of /proc/self/stat). */
function minorFaults(): number {
  return Number(procStatFields('/proc/self/stat')[7])
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

export function measurePageFaultCost(megabytes = DEFAULT_MEGABYTES): PageFaultCost {
  const buffer = Buffer.allocUnsafeSlow(megabytes * 1024 * 1024)
  const faultsBefore = minorFaults()
  const start = cpuMicros()
  buffer.fill(1)
  const faults = minorFaults() - faultsBefore
  const firstFilled = cpuMicros()
  buffer.fill(2)
  const secondFilled = cpuMicros()
  const first = firstFilled - start
  const second = secondFilled - firstFilled
  const pages = buffer.length / PAGE_BYTES
  return {
    faults,
    firstFillMs: first / 1000,
    secondFillMs: second / 1000,
    microsPerFault: faults >= pages / 2 ? Math.max(0, first - second) / faults : null
  }
}

export function describePageFaultCost(cost: PageFaultCost): string {
  const each = cost.microsPerFault === null ? 'not measured: the buffer was already mapped' : `${cost.microsPerFault.toFixed(1)} µs`
  return `a page fault: ${each} (${cost.faults} faults; first fill ${cost.firstFillMs.toFixed(0)} ms of CPU, second ${cost.secondFillMs.toFixed(0)} ms)`
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { megabytes: { type: 'string', default: String(DEFAULT_MEGABYTES) } } })
  const megabytes = Number(values.megabytes)
  if (!Number.isInteger(megabytes) || megabytes < 1) {
    process.stderr.write(
      `--megabytes takes a whole number, at least 1, not ${JSON.stringify(values.megabytes)}\nusage: node tools/page-fault-cost.ts [--megabytes 64]\n`
    )
    process.exit(2)
  }
  process.stdout.write(`${describePageFaultCost(measurePageFaultCost(megabytes))}\n`)
}
