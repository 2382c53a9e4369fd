// A thread of an EntryCheckPool (entry-check-pool.ts): checks the pages it is
// given, in the order they come, and answers each with its result. A check
// that throws (an entry of a shape the index functions cannot read) is
// answered with the error, as verification on the caller's thread would throw it.
import { parentPort } from 'node:worker_threads'
import { type EntriesChecked, checkEntries } from './entry-checks.ts'
import type { EntryCheckReply, EntryCheckTask } from './entry-check-pool.ts'

const port = parentPort!
port.on('message', (task: EntryCheckTask) => {
  let checked: EntriesChecked
  try {
    checked = checkEntries(task.entries)
  } catch (error) {
    port.postMessage({ id: task.id, ok: false, error } satisfies EntryCheckReply)
    return
  }
  // The leaf hashes move to the caller rather than being copied, and so does
  // the buffer the texts came in, to carry the next page's.
  const { texts } = task.entries
  const spare = Array.isArray(texts) ? undefined : ((texts as { bytes: Uint8Array }).bytes.buffer as ArrayBuffer)
  const moved = [checked.leaves.buffer as ArrayBuffer, ...(spare === undefined ? [] : [spare])]
  port.postMessage({ id: task.id, ok: true, checked, ...(spare === undefined ? {} : { spare }) } satisfies EntryCheckReply, moved)
})
