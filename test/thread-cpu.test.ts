// CPU by thread (bench/lib/thread-cpu.ts): read to the nanosecond where the
// kernel keeps each thread's scheduler counters, not in clock ticks. The
// benches' smoke run divides phases of a few milliseconds by it
// (test/bench-smoke.test.ts), where a thread's ticks read zero.
import t from 'tap'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { cpuByThread } from '../bench/lib/thread-cpu.ts'

t.test("a thread's few milliseconds of work are read as they are, not as clock ticks", async (t) => {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads')
     parentPort.on('message', () => {
       const end = Date.now() + 7
       while (Date.now() < end) {}
       parentPort.postMessage('done')
     })
     parentPort.postMessage('ready')`,
    { eval: true, name: 'tc-spin' }
  )
  t.teardown(() => worker.terminate())
  await once(worker, 'message')
  const before = cpuByThread({}, [])
  worker.postMessage('go')
  await once(worker, 'message')
  const seconds = cpuByThread({}, []).get('tc-spin')! - (before.get('tc-spin') ?? 0)
  // /proc's times are whole hundredths of a second: 7 ms of work would read 0 or 0.01.
  t.ok(seconds > 0 && seconds < 0.05, `the spinning thread's CPU: ${seconds} s`)
  t.not(Math.round(seconds * 1e6) % 10_000, 0, 'not a whole number of clock ticks')
})
