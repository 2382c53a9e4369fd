// The thread of a SqliteStoreThread (store-thread.ts): the ledger's one
// connection, answering calls in the order they come. A call's failure is
// its own; the thread carries on.
import { parentPort, workerData } from 'node:worker_threads'
import { SqliteStore } from './ledger-sqlite.ts'
import { committedEntry } from './records.ts'
import { codesOf, postTogether, type StoreAnswers, type StoreCall, type StoreCalls, type StoreCommitted, type StoreReply } from './store-thread.ts'

const port = parentPort!

/** The answers and commits of this turn, in the order they happened, posted together at its end. */
let outgoing: Array<StoreReply | StoreCommitted> = []

function send(message: StoreReply | StoreCommitted): void {
  if (outgoing.push(message) === 1) setImmediate(post)
}

function post(): void {
  const answers: StoreAnswers = outgoing
  if (answers.length === 0) return
  outgoing = []
  // An answer that cannot be cloned fails its own call, not the others of the turn.
  postTogether(port, answers, (message, error) => {
    if ('id' in message) port.postMessage([{ id: message.id, ok: false, error: String(error) }] satisfies StoreAnswers)
  })
}

// Sent as the commit happens, so before the answers of the calls it holds.
const { path, synchronous } = workerData as { path: string; synchronous?: 'normal' | 'full' }
const store = new SqliteStore(path, {
  ...(synchronous === undefined ? {} : { synchronous }),
  onCommitted: (entries) => send({ committed: entries.map(committedEntry) })
})
/** Calls not yet answered: close answers them all before the thread ends. */
const inFlight = new Set<Promise<void>>()
port.postMessage('ready')

function answer(call: StoreCall): void {
  if (call.method === 'close') {
    void (async () => {
      await store.close()
      await Promise.all(inFlight)
      // Its answer is the last message: posted now, not at a turn's end that the closed port would not see.
      post()
      port.postMessage([{ id: call.id, ok: true, value: undefined }] satisfies StoreAnswers)
      port.close()
    })()
    return
  }
  const method = store[call.method] as (...args: unknown[]) => Promise<unknown>
  const answered = method
    .apply(store, [...call.args])
    .then(
      (value) => send({ id: call.id, ok: true, value }),
      (error: unknown) => send({ id: call.id, ok: false, error, codes: codesOf(error) })
    )
    .finally(() => {
      inFlight.delete(answered)
    })
  inFlight.add(answered)
}

port.on('message', (calls: StoreCalls) => {
  for (const call of calls) answer(call)
})
