// A pipeline thread that ends under a preparation (out of memory, a
// crash, an exit) is the gateway's failure, not the message's: the agency is
// told to send it again (503), nothing of it is accepted, and the next
// message is prepared on a new thread.
import t from 'tap'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import type { WorkerOptions } from 'node:worker_threads'
import { borderDayRecord, seedHash } from '../sandbox/synthetic-travellers.ts'
import { entryExitBatch, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, eventually, injectGateway, testConfig } from './helper.ts'

// The pipeline's threads are piscina's: each is kept as it is made, so that
// the test can end one under a preparation, as running out of memory or a
// crash would. Nothing in the product is changed for it.
const threads = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads')
const pipelineThreads: import('node:worker_threads').Worker[] = []
class KeptWorker extends threads.Worker {
  constructor(filename: string | URL, options?: WorkerOptions) {
    super(filename, options)
    if (String(filename).includes('piscina')) pipelineThreads.push(this)
  }
}
threads.Worker = KeptWorker
syncBuiltinESMExports()

t.test('a pipeline thread that ends under a batch: 503, nothing accepted, and the next message is prepared on a new thread', async (t) => {
  // Every message on the thread, however small.
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, pipelineThreads: 1, pipelineWorkerMinBytes: 0 }))
  const cbsa = client(t, 'CBSA', gw.url)
  const single = async () =>
    (await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))).status
  t.equal(await single(), 202, 'a single record, on the thread')

  const day = { seed: seedHash('pipeline-thread-failure'), recordedBy: 'CA' as const, date: '2026-11-30', count: 5000 }
  const batch = cbsa.envelope(
    entryExitBatch(
      'SYN-EE-CA-20261130-00001',
      Array.from({ length: day.count }, (_, i) => borderDayRecord(day, i))
    )
  )
  const submitted = cbsa.submit(await cbsa.sign(batch))
  // Handed to the thread (counted as it is posted, in the same turn), whose
  // preparation of 5,000 records takes hundreds of milliseconds: ended then.
  await eventually(() => (gw.app.pipeline.counts.worker === 2 ? true : undefined), 10_000, 'the batch handed to the thread')
  t.equal(pipelineThreads.length, 1, 'one pipeline thread')
  await pipelineThreads[0]!.terminate()
  const res = await submitted
  t.equal(res.status, 503, 'the agency is told to send it again')
  t.match(res.json(), { code: 'SERVICE_UNAVAILABLE', detail: /pipeline thread/ })
  t.equal(await gw.app.store.findMessage('outbound', String(batch.id)), undefined, 'nothing of it accepted')

  t.equal(await single(), 202, 'the next message, on a new thread')
  t.equal((await gw.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
})
