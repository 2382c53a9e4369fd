// A BullMQ worker closed while its stalled-job check is in flight lets its
// process end (gateway/queue/stalled-check-stop.ts). Without the stop, the
// check's next wait (120 s here) held the process open after the close.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
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
