// Preloaded into every process of a test run, it writes what CPU the
// process used when it exits, so that tools/suite-cpu/summarise.ts can say
// which test files the suite's CPU goes to, counting the gateways, sandboxes
// and CLIs each one starts (docs/architecture.md, "The test suite", says how
// it is run). The suite is CPU-bound on two cores: its time is its CPU.
//
// A process started by a test inherits NODE_OPTIONS, and with it this file,
// and tap's TAP_CHILD_ID, which names the test process it belongs to. One
// file per process: processes exit at the same moment, and none waits on
// another to write.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMainThread } from 'node:worker_threads'

/** One process's account, as written to `$SUITE_CPU_DIR/<pid>.json`. */
export interface ProcessCpu {
  readonly pid: number
  readonly ppid: number
  /** tap's id of the test process this one is, or was started by; null outside a test run. */
  readonly tapChild: string | null
  /** The script it ran, as its command line named it. */
  readonly script: string
  /** CPU of all its threads, in seconds. */
  readonly userSeconds: number
  readonly systemSeconds: number
}

const dir = process.env.SUITE_CPU_DIR
// process.cpuUsage() covers every thread of the process: the main thread
// alone writes, once.
if (dir !== undefined && dir !== '' && isMainThread) {
  process.on('exit', () => {
    const { user, system } = process.cpuUsage()
    const account: ProcessCpu = {
      pid: process.pid,
      ppid: process.ppid,
      tapChild: process.env.TAP_CHILD_ID ?? null,
      script: process.argv[1] ?? '',
      userSeconds: user / 1e6,
      systemSeconds: system / 1e6
    }
    try {
      writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(account))
    } catch {
      // A directory removed under a run loses that process's line, not the process's exit.
    }
  })
}
