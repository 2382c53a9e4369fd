// Where a thread's time went (bench/lib/thread-time.ts): real threads, one
// that never stops working and one that only sleeps, read from the kernel's
// counters, and the arithmetic that splits a phase. The ingest bench reports
// its event loop's split from this (test/bench-smoke.test.ts).
import t from 'tap'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { describeTimeSplit, idleShare, machineTicks, threadTimes, timeSplit, type ThreadTimes } from '../bench/lib/thread-time.ts'

const WORK_MS = 300

/**
 * A thread named `name` that, once told, either keeps the CPU busy or sleeps
 * for WORK_MS, then says so and stays alive (a thread that has ended is gone
 * from /proc, and the reading after must still find it). It listens with
 * `on`, not `once`: a port with no listener left lets the thread's event loop
 * end, and the thread could exit before the reading after its work.
 */
function thread(name: string, mode: 'spin' | 'sleep'): Worker {
  const source = `
    const { parentPort } = require('node:worker_threads')
    parentPort.on('message', () => {
      const end = Date.now() + ${WORK_MS}
      if (${JSON.stringify(mode)} === 'spin') { while (Date.now() < end) {} }
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${WORK_MS})
      parentPort.postMessage('done')
    })
    parentPort.postMessage('ready')`
  return new Worker(source, { eval: true, name })
}

t.test("a working thread's phase is all running or waiting for a core; a sleeping one's is asleep", async (t) => {
  const spinner = thread('tt-spin', 'spin')
  const sleeper = thread('tt-sleep', 'sleep')
  t.teardown(async () => {
    await Promise.all([spinner.terminate(), sleeper.terminate()])
  })
  await Promise.all([once(spinner, 'message'), once(sleeper, 'message')])

  const before = threadTimes()
  t.ok(before, "this kernel keeps each thread's scheduler counters")
  const started = process.hrtime.bigint()
  const done = Promise.all([once(spinner, 'message'), once(sleeper, 'message')])
  spinner.postMessage('go')
  sleeper.postMessage('go')
  await done
  const after = threadTimes()!
  const wallNs = Number(process.hrtime.bigint() - started)

  const [spin, sleep] = timeSplit(before!, after, wallNs, ['tt-spin', 'tt-sleep'])
  // However busy the machine, a thread that never blocks is running or ready
  // to run for all of its WORK_MS: only the scheduler decides which.
  t.ok(spin!.running + spin!.waiting >= (0.9 * WORK_MS * 1e6) / wallNs, `the spinning thread ran or waited for a core (${JSON.stringify(spin)})`)
  t.ok(spin!.running > 0, 'and ran')
  t.ok(sleep!.running < 0.2 && sleep!.asleep > 0.5, `the sleeping thread slept (${JSON.stringify(sleep)})`)
})

t.test('a phase split in shares of its wall time', async (t) => {
  const before: ThreadTimes = new Map([
    ['MainThread', { runNs: 1e9, waitNs: 2e8 }],
    ['ledger', { runNs: 1e8, waitNs: 0 }]
  ])
  const after: ThreadTimes = new Map([
    ['MainThread', { runNs: 1.7e9, waitNs: 3.2e8 }],
    ['ledger', { runNs: 4e8, waitNs: 1e8 }],
    ['V8Worker', { runNs: 5e8, waitNs: 1e8 }]
  ])
  const splits = timeSplit(before, after, 1e9, ['MainThread', 'ledger', 'V8Worker'])
  t.same(
    splits.map((s) => ({ ...s, running: Math.round(s.running * 100), waiting: Math.round(s.waiting * 100), asleep: Math.round(s.asleep * 100) })),
    [
      { thread: 'MainThread', running: 70, waiting: 12, asleep: 18 },
      { thread: 'ledger', running: 30, waiting: 10, asleep: 60 }
    ],
    'a thread missing from the first reading is left out'
  )
  t.equal(
    describeTimeSplit(splits, 0.25),
    "MainThread ran 70 %, waited for a core 12 %, slept 18 %; ledger ran 30 %, waited for a core 10 %, slept 60 %; the machine's cores idle 25 %"
  )
  t.throws(() => timeSplit(before, after, 0, ['MainThread']), RangeError, 'a phase of no time has no split')
})

t.test("the machine's idle share, and a process that is gone", async (t) => {
  t.equal(idleShare({ idle: 100, total: 400 }, { idle: 150, total: 600 }), 0.25)
  t.equal(idleShare({ idle: 100, total: 400 }, { idle: 100, total: 400 }), 0, 'no ticks between the readings: nothing idle')
  const now = machineTicks()
  t.ok(now !== undefined && now.total > 0 && now.idle <= now.total, 'read from /proc/stat')
  t.equal(threadTimes(2 ** 30), undefined, 'no such process: nothing to read')
})
