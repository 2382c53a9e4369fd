// Every decision the gateway makes about a message is an audit entry
// (docs/architecture.md, "The pipeline, one message", the audit entry):
// accepted, refused, received, delivered, failed, dead-lettered.
// So the ledger's appends are the one place to watch what happens, and
// whoever counts (metrics) subscribes here instead of being called from each
// outcome point. The store announces the entries of each commit, once it has
// committed (CommitListener, store/records.ts): what is counted is what the
// ledger holds.
import type { CommittedEntry } from '../store/records.ts'

export type AuditListener = (entry: CommittedEntry) => void

export class AuditFeed {
  readonly #listeners = new Set<AuditListener>()

  /** Returns the unsubscribe function. */
  subscribe(listener: AuditListener): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  publish(entry: CommittedEntry): void {
    for (const listener of this.#listeners) {
      try {
        listener(entry)
      } catch {
        // A listener's failure is not the ledger's: the entry is committed whatever it does.
      }
    }
  }
}
