// Worker threads for the per-entry part of ledger verification (entry-checks.ts):
// hashing, parsing and index comparison are most of its cost, and each page's
// is independent of the others', so pages are checked on other cores while
// the caller reads the next ones and keeps the sequential part
// (docs/architecture.md, "The verifiable ledger"). With no threads, pages are
// checked on the caller's thread, one at a time.
import { Worker } from 'node:worker_threads'
import type { AuditChainLink, AuditIndexRows } from '../store/records.ts'
import { type EntriesChecked, type EntriesToCheck, checkEntries, isPacked, packTexts, packedLeaves } from './entry-checks.ts'

/** What crosses to a thread: a page. */
export interface EntryCheckTask {
  readonly id: number
  readonly entries: EntriesToCheck
}

/** What comes back: its result and the buffer the texts came in, for the next page; or the error its check threw (structured-cloned with its message). */
export type EntryCheckReply =
  | { readonly id: number; readonly ok: true; readonly checked: EntriesChecked; readonly spare?: ArrayBuffer }
  | { readonly id: number; readonly ok: false; readonly error: unknown }

interface Waiting {
  readonly resolve: (checked: EntriesChecked) => void
  readonly reject: (error: unknown) => void
}

interface Thread {
  readonly worker: Worker
  readonly waiting: Map<number, Waiting>
}

export class EntryCheckPool {
  readonly #threads: Thread[]
  #nextId = 0
  #gone: Error | undefined
  /** Buffers back from the threads, for the texts of the pages to come: a page's worth of memory is not asked of the system each time. */
  readonly #spares: ArrayBuffer[] = []

  /** `threads` worker threads; 0: check on the caller's thread. */
  constructor(threads: number) {
    this.#threads = Array.from({ length: threads }, () => this.#start())
  }

  /** How many worker threads it checks on (0: the caller's thread). */
  get threads(): number {
    return this.#threads.length
  }

  #start(): Thread {
    const worker = new Worker(new URL('./entry-check-worker.ts', import.meta.url), {
      name: 'ledger-verify',
      // A thread holds a few pages and their parsed entries (a few megabytes each):
      // a small heap keeps a verification inside the gateway's memory target
      // (docs/architecture.md, "Targets"). V8 sizes the young generation from
      // the old one, to a few megabytes for 64: a page's parsed entries then
      // overflowed it, and scavenging took a tenth of the run. 16 MB: 8 to 48
      // verified alike, about 9 % faster over a million entries; 4 was slower.
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 }
    })
    const thread: Thread = { worker, waiting: new Map() }
    worker.on('message', (reply: EntryCheckReply) => {
      const waiting = thread.waiting.get(reply.id)
      if (waiting === undefined) return
      thread.waiting.delete(reply.id)
      if (reply.ok && reply.spare !== undefined) this.#spares.push(reply.spare)
      if (reply.ok) waiting.resolve(reply.checked)
      else waiting.reject(reply.error)
    })
    const fail = (error: Error): void => {
      this.#gone ??= error
      for (const waiting of thread.waiting.values()) waiting.reject(error)
      thread.waiting.clear()
    }
    worker.on('error', (err) => fail(new Error(`a verification thread failed: ${err.message}`)))
    worker.on('exit', () => fail(new Error('a verification thread has stopped')))
    return thread
  }

  /** Checks a page: on the least busy thread, or here when there is none. */
  check(links: readonly AuditChainLink[], rows: AuditIndexRows | undefined): Promise<EntriesChecked> {
    const page = (texts: EntriesToCheck['texts']): EntriesToCheck => ({
      seqs: links.map((l) => l.seq),
      prevHashes: links.map((l) => l.prevHash),
      hashes: links.map((l) => l.hash),
      texts,
      rows
    })
    if (this.#threads.length === 0) {
      try {
        return Promise.resolve(checkEntries(page(links.map((l) => l.text))))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    if (this.#gone !== undefined) return Promise.reject(this.#gone)
    let thread = this.#threads[0]!
    for (const t of this.#threads) if (t.waiting.size < thread.waiting.size) thread = t
    const id = this.#nextId++
    const texts = packTexts(
      links.map((l) => l.prevHash),
      links.map((l) => l.text),
      this.#spares.pop()
    )
    // The page's Merkle leaves are hashed here, and the thread hashes only the
    // chain: it also parses every entry, and was the slower of the two once
    // this thread's reads got cheaper (audit:verify maps the ledger:
    // ledger-sqlite.ts, READ_ONLY_MAP_BYTES). Both, over a million entries on
    // a 2-core AMD machine: 1.04–1.21× the entries/s of neither, eleven
    // alternated pairs (docs/measurements.md, "Speed and memory").
    const leaves = isPacked(texts) ? packedLeaves(texts) : undefined
    const entries = leaves === undefined ? page(texts) : { ...page(texts), leaves }
    return new Promise<EntriesChecked>((resolve, reject) => {
      thread.waiting.set(id, { resolve, reject })
      // The texts' buffer and the leaves move to the thread, and come back with its answer.
      const moved = isPacked(texts) && leaves !== undefined ? [texts.bytes.buffer as ArrayBuffer, leaves.buffer as ArrayBuffer] : []
      thread.worker.postMessage({ id, entries } satisfies EntryCheckTask, moved)
    })
  }

  /** Ends the threads, whatever they are doing: pages still being checked are rejected. */
  async close(): Promise<void> {
    this.#gone ??= new Error('verification has finished')
    await Promise.all(this.#threads.map((t) => t.worker.terminate()))
  }
}
