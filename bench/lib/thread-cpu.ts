// Where a run's CPU went, by thread: each thread's time on a core from
// /proc (Linux), read before and after a timed phase, for this process (the
// gateway's event loop, its ledger thread, V8's GC helpers, the load
// generator's thread), for any gateway process started apart, and for the
// servers on this machine it names (redis-server, or PostgreSQL's
// processes). Divided by the messages of the phase, it says what a message
// costs and where, beside the rate (docs/architecture.md, "Targets": the
// figures that cannot be met on this machine are explained from these).
// The gateway names its threads (ledger, wal-checkpoint, ledger-verify); V8's
// and libuv's name themselves. Threads of the same name are added together.
// A thread's time is read from its scheduler counters, in nanoseconds, where
// the kernel keeps them: its user and system times move by clock ticks (10 ms
// as /proc gives them), and a gateway process's event loop read zero over a
// smoke run's phase on a busy machine. A server's processes are read by their
// times, every thread of each together.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { whole } from './common.ts'

/** Clock ticks per second of /proc's times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100

export type CpuByThread = ReadonlyMap<string, number>

/**
 * The fields of a /proc stat file from the third on (the state): what
 * follows the command name, which is in parentheses and may hold spaces and
 * parentheses itself. Field n of proc(5) is at index n - 3.
 */
export function procStatFields(statPath: string): string[] {
  const stat = readFileSync(statPath, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** utime + stime of one /proc stat file, in seconds (fields 14 and 15). */
function cpuSeconds(statPath: string): number {
  const fields = procStatFields(statPath)
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

/**
 * Visits each thread of process `pid` with its name and its /proc directory;
 * false where there is none to list (not Linux, or the process is gone). A
 * thread that ends between the listing and its visit is skipped.
 */
export function forEachThread(pid: number | 'self', visit: (name: string, dir: string) => void): boolean {
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return false
  }
  for (const task of tasks) {
    const dir = `/proc/${pid}/task/${task}`
    try {
      visit(readFileSync(`${dir}/comm`, 'utf8').trim(), dir)
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return true
}

/** A thread's time on a core so far, in seconds: its scheduler counter where there is one (bench/lib/thread-time.ts), else its times. */
function threadCpuSeconds(dir: string): number {
  let schedstat: string
  try {
    schedstat = readFileSync(`${dir}/schedstat`, 'utf8')
  } catch {
    return cpuSeconds(`${dir}/stat`)
  }
  return Number(schedstat.slice(0, schedstat.indexOf(' '))) / 1e9
}

function addThreads(into: Map<string, number>, pid: number | 'self', label: string): void {
  forEachThread(pid, (name, dir) => {
    const labelled = `${label}${name}`
    into.set(labelled, (into.get(labelled) ?? 0) + threadCpuSeconds(dir))
  })
}

function pidsNamed(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/**
 * CPU seconds so far of every thread of this process, of `processes` (label
 * → pid, or pids whose threads of one name are added together: the gateway
 * processes of one supervisor) and of every process of the `servers` named
 * (each server's processes added together under its name: PostgreSQL's
 * backends are one per connection).
 */
export function cpuByThread(processes: Readonly<Record<string, number | readonly number[]>> = {}, servers: readonly string[] = ['redis-server']): CpuByThread {
  const seconds = new Map<string, number>()
  addThreads(seconds, 'self', '')
  for (const [label, pids] of Object.entries(processes)) {
    for (const pid of typeof pids === 'number' ? [pids] : pids) addThreads(seconds, pid, `${label}:`)
  }
  for (const server of servers) {
    for (const pid of pidsNamed(server)) {
      try {
        seconds.set(server, (seconds.get(server) ?? 0) + cpuSeconds(`/proc/${pid}/stat`))
      } catch {
        // stopped meanwhile
      }
    }
  }
  return seconds
}

export interface CpuPerMessage {
  /** µs of CPU per message, by thread, largest first (threads that used under 1 % of the total are left out). */
  readonly byThread: ReadonlyArray<{ readonly thread: string; readonly us: number }>
  readonly totalUs: number
}

/** What each message cost between two readings, by thread. A thread that ended meanwhile is not counted. */
export function cpuPerMessage(before: CpuByThread, after: CpuByThread, messages: number): CpuPerMessage {
  const used = [...after].map(([thread, s]) => ({ thread, us: ((s - (before.get(thread) ?? 0)) / messages) * 1e6 }))
  const totalUs = used.reduce((sum, t) => sum + t.us, 0)
  return { byThread: used.filter((t) => t.us >= totalUs * 0.01).sort((a, b) => b.us - a.us), totalUs }
}

/** "2,097 µs of CPU a message: MainThread 1,099, ledger 484, …"; `unit` names what the CPU was divided by. */
export function describeCpu(cpu: CpuPerMessage, unit = 'a message'): string {
  return `${whole(cpu.totalUs)} µs of CPU ${unit}: ${cpu.byThread.map((t) => `${t.thread} ${whole(t.us)}`).join(', ')}`
}
