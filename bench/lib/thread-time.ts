// Where a thread's time went during a timed phase, not only its CPU: the
// share of the phase it ran, the share it was ready to run but waited for a
// core, and the share it slept with nothing to do. The scheduler keeps the
// first two for every thread in /proc/<pid>/task/<tid>/schedstat (Linux,
// nanoseconds); the rest of the phase the thread slept. Beside the machine's
// idle share (/proc/stat), this says whether a gateway's event loop is the
// limit of a run (it ran or waited for a core nearly all the phase), or
// whether the messages were held elsewhere while it slept
// (docs/architecture.md, "Where the missed targets stand").
import { readFileSync } from 'node:fs'
import { forEachThread } from './thread-cpu.ts'

/** Nanoseconds a thread (or the threads of one name, added together) ran, and waited to run. */
export interface ThreadTime {
  readonly runNs: number
  readonly waitNs: number
}

export type ThreadTimes = ReadonlyMap<string, ThreadTime>

/**
 * Every thread of process `pid`, by name, as its scheduler counters stand
 * now; undefined where the kernel does not keep them (not Linux, or built
 * without schedstat) or the process is gone.
 */
export function threadTimes(pid: number | 'self' = 'self'): ThreadTimes | undefined {
  try {
    readFileSync(`/proc/${pid}/schedstat`, 'utf8')
  } catch {
    return undefined
  }
  const times = new Map<string, ThreadTime>()
  const listed = forEachThread(pid, (name, dir) => {
    // "run-ns wait-ns timeslices" (the kernel's Documentation/scheduler/sched-stats).
    const [runNs, waitNs] = readFileSync(`${dir}/schedstat`, 'utf8').trim().split(' ').map(Number)
    const sum = times.get(name) ?? { runNs: 0, waitNs: 0 }
    times.set(name, { runNs: sum.runNs + runNs!, waitNs: sum.waitNs + waitNs! })
  })
  return listed ? times : undefined
}

/** The machine's CPU time so far, in clock ticks of all its cores: how much of it was idle (idle and iowait). */
export interface MachineTicks {
  readonly idle: number
  readonly total: number
}

export function machineTicks(): MachineTicks | undefined {
  let line: string
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
  } catch {
    return undefined
  }
  // "cpu user nice system idle iowait irq softirq steal …": all cores together.
  const ticks = line.trim().split(/\s+/).slice(1).map(Number)
  return { idle: ticks[3]! + ticks[4]!, total: ticks.reduce((sum, n) => sum + n, 0) }
}

/** Of a phase's wall time, the shares one thread ran, waited for a core and slept. */
export interface TimeSplit {
  readonly thread: string
  readonly running: number
  readonly waiting: number
  readonly asleep: number
}

/**
 * The split of each of `threads` between two readings `wallNs` apart. Only a
 * thread alone under its name is split: for V8's helpers, of one name, the
 * shares would add up over several threads and "asleep" would mean nothing.
 * A thread missing from either reading is left out.
 */
export function timeSplit(before: ThreadTimes, after: ThreadTimes, wallNs: number, threads: readonly string[]): TimeSplit[] {
  if (!(wallNs > 0)) throw new RangeError(`a phase of ${wallNs} ns has no split`)
  const splits: TimeSplit[] = []
  for (const thread of threads) {
    const a = before.get(thread)
    const b = after.get(thread)
    if (a === undefined || b === undefined) continue
    const running = (b.runNs - a.runNs) / wallNs
    const waiting = (b.waitNs - a.waitNs) / wallNs
    splits.push({ thread, running, waiting, asleep: Math.max(0, 1 - running - waiting) })
  }
  return splits
}

/** The machine's idle share between two readings. */
export function idleShare(before: MachineTicks, after: MachineTicks): number {
  const total = after.total - before.total
  return total > 0 ? (after.idle - before.idle) / total : 0
}

/** One reading of a phase: each process's threads (label → its times), the machine's ticks, and when. */
export interface PhaseReading {
  readonly byProcess: ReadonlyMap<string, ThreadTimes>
  readonly machine: MachineTicks | undefined
  readonly at: bigint
}

/** Reads `processes` (label → pid, or 'self'); a process the kernel gives no counters for is left out. */
export function readPhase(processes: Readonly<Record<string, number | 'self'>>): PhaseReading {
  const byProcess = new Map<string, ThreadTimes>()
  for (const [label, pid] of Object.entries(processes)) {
    const times = threadTimes(pid)
    if (times !== undefined) byProcess.set(label, times)
  }
  return { byProcess, machine: machineTicks(), at: process.hrtime.bigint() }
}

/** Where a phase's time went: the split of each thread named in each process read, and the machine's idle share. */
export interface PhaseSplit {
  readonly threads: readonly TimeSplit[]
  readonly idle: number
}

/**
 * The split of `threads` in every process read at both ends of a phase, each
 * named "label thread" (the thread's name alone where the label is empty);
 * undefined where the kernel keeps no counters.
 */
export function phaseSplit(before: PhaseReading, after: PhaseReading, threads: readonly string[]): PhaseSplit | undefined {
  if (before.machine === undefined || after.machine === undefined || before.byProcess.size === 0) return undefined
  const wallNs = Number(after.at - before.at)
  const splits: TimeSplit[] = []
  for (const [label, times] of before.byProcess) {
    const end = after.byProcess.get(label)
    if (end === undefined) continue
    for (const split of timeSplit(times, end, wallNs, threads)) splits.push({ ...split, thread: label === '' ? split.thread : `${label} ${split.thread}` })
  }
  return { threads: splits, idle: idleShare(before.machine, after.machine) }
}

/** "MainThread ran 71 %, waited for a core 12 %, slept 17 %; ledger ran 30 %, …; the machine's cores idle 26 %". */
export function describeTimeSplit(splits: readonly TimeSplit[], idle: number): string {
  const pc = (share: number): string => `${Math.round(share * 100)} %`
  const threads = splits.map((s) => `${s.thread} ran ${pc(s.running)}, waited for a core ${pc(s.waiting)}, slept ${pc(s.asleep)}`)
  return [...threads, `the machine's cores idle ${pc(idle)}`].join('; ')
}
