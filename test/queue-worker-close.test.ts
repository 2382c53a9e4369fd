// A BullMQ worker closed while its stalled-job check is in flight lets its
// process end (gateway/queue/stalled-check-stop.ts). Without the stop, the
// check's next wait (120 s here) held the process open after the close.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { randomUUID } from 'node:crypto'
import { closeWhenStarted } from '../gateway/queue/delivery-queues.ts'
import { eventually, privateRedis } from './helper.ts'

t.test('a worker closed mid-check lets its process exit', async (t) => {
  // A Redis of its own: the script pauses its writes.
  const redis = await privateRedis(t)
  const port = redis.opts.port

  const child = spawn(process.execPath, [join(import.meta.dirname, 'lib', 'close-mid-stalled-check.ts'), String(port), 'guarded'], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => child.kill('SIGKILL'))
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8')
  })
  const exited = once(child, 'exit')
  const code = await eventually(() => (child.exitCode === null ? undefined : child.exitCode), 15_000, 'the process to end by itself')
  await exited
  t.equal(code, 0, 'it ends cleanly')
  t.equal(out, 'closed\n', 'the worker closed before it ended')
})

t.test(
  'a queue closes at once while its Redis is paused (a frozen host, a network cut off): it does not wait for an answer to its QUIT that never comes',
  async (t) => {
    // docs/operators.md, "Shutdown": with Redis not answering, the close does
    // not wait for it. A Redis that is down refuses the connection; one that is
    // paused takes the QUIT and never answers it. The retention job's queue has
    // no command timeout, and its close held a SIGTERM for the whole bound.
    const redis = await privateRedis(t)
    const queue = new Queue(`test-paused-${randomUUID()}`, { connection: { host: '127.0.0.1', port: redis.opts.port } })
    await queue.waitUntilReady()
    const pid = redis.pid!
    process.kill(pid, 'SIGSTOP')
    const resume = () => {
      try {
        process.kill(pid, 'SIGCONT')
      } catch {}
    }
    t.teardown(resume)
    let timer: NodeJS.Timeout | undefined
    let closed: unknown
    try {
      closed = await Promise.race([
        closeWhenStarted(queue).then(
          () => 'closed',
          (err: Error) => `the close failed: ${err.message}`
        ),
        new Promise((resolve) => {
          timer = setTimeout(() => resolve('still closing after 20 s'), 20_000)
        })
      ])
    } finally {
      clearTimeout(timer)
      // Before the Redis is stopped: a paused process does not end on SIGTERM.
      resume()
    }
    t.equal(closed, 'closed', 'the queue closed')
  }
)
