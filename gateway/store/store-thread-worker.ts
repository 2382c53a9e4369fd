// The thread of a SqliteStoreThread (store-thread.ts): the ledger's one
// connection, answering calls in the order they come. A call's failure is
// its own; the thread carries on.
import { parentPort, workerData } from 'node:worker_threads'
import { SqliteStore } from './ledger-sqlite.ts'
import { committedEntry } from './records.ts'
import type { StoreCall, StoreCommitted, StoreReply } from './store-thread.ts'

const port = parentPort!
// Posted as the commit happens, so before the answers of the calls it holds.
const store = new SqliteStore((workerData as { path: string }).path, {
  onCommitted: (entries) => {
    port.postMessage({ committed: entries.map(committedEntry) } satisfies StoreCommitted)
  }
})
/** Calls not yet answered: close answers them all before the thread ends. */
const inFlight = new Set<Promise<void>>()
port.postMessage('ready')

port.on('message', (call: StoreCall) => {
  if (call.method === 'close') {
    void (async () => {
      await store.close()
      await Promise.all(inFlight)
      port.postMessage({ id: call.id, ok: true, value: undefined } satisfies StoreReply)
      port.close()
    })()
    return
  }
  const method = store[call.method] as (...args: unknown[]) => Promise<unknown>
  const answered = method
    .apply(store, [...call.args])
    .then(
      (value) => {
        port.postMessage({ id: call.id, ok: true, value } satisfies StoreReply)
      },
      (error: unknown) => {
        port.postMessage({ id: call.id, ok: false, error } satisfies StoreReply)
      }
    )
    .finally(() => {
      inFlight.delete(answered)
    })
  inFlight.add(answered)
})
