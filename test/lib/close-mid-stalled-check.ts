// Closes a BullMQ worker while its stalled-job check is in flight, then lets
// the process end by itself (test/queue-worker-close.test.ts). Arguments: the
// Redis port, and `guarded` or `bare` (without stopStalledCheckOnClose).
// Prints `closed` once the worker has closed.
import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { stopStalledCheckOnClose } from '../../gateway/queue/stalled-check-stop.ts'
import { eventually } from './eventually.ts'

const port = Number(process.argv[2])
const guarded = process.argv[3] === 'guarded'
const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true })
await admin.connect()
const bare = new Worker('close-mid-check', async () => {}, {
  connection: { port, host: '127.0.0.1', maxRetriesPerRequest: null },
  prefix: `close-mid-check-${process.pid}`,
  autorun: false,
  // Far longer than the test waits for this process to end.
  stalledInterval: 120_000
})
const worker = guarded ? stopStalledCheckOnClose(bare) : bare
await worker.waitUntilReady()
// Writes wait for 1.5 s, the check's script among them: the close below
// lands while it is in flight.
await admin.client('PAUSE', 1500, 'WRITE')
void worker.startStalledCheckTimer()
await eventually(
  async () => (Number(/blocked_clients:(\d+)/.exec(await admin.info('clients'))?.[1]) >= 1 ? true : undefined),
  5_000,
  'the stalled check to wait on the paused Redis'
)
await worker.close()
await admin.quit()
process.stdout.write('closed\n')
