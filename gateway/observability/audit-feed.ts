// Every decision the gateway makes about a message is an audit entry (DESIGN
// §3 step 6): accepted, refused, received, delivered, failed, dead-lettered.
// So the ledger's appends are the one place to watch what happens, and
// whoever counts (metrics) subscribes here instead of being called from each
// outcome point. An entry is announced only once the store has committed it:
// what is counted is what the ledger holds.
import { purgeEntry, type AuditEntry, type GatewayStore } from '../store/records.ts'

export type AuditListener = (entry: AuditEntry) => void

export class AuditFeed {
  readonly #listeners = new Set<AuditListener>()

  /** Returns the unsubscribe function. */
  subscribe(listener: AuditListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  publish(entry: AuditEntry): void {
    for (const listener of this.#listeners) {
      try {
        listener(entry)
      } catch {
        // A listener's failure is not the ledger's: the entry is committed whatever it does.
      }
    }
  }
}

/**
 * The store methods that append their last argument to the ledger. Those
 * that answer a boolean answer false when they wrote nothing (a duplicate, a
 * dead letter someone else moved first).
 */
const APPENDS_LAST_ARGUMENT: ReadonlySet<keyof GatewayStore> = new Set<keyof GatewayStore>([
  'accept', 'recordAttempt', 'markDelivered', 'markDeadLettered', 'appendAudit', 'requeueDeadLetter', 'discardDeadLetter'
])

/**
 * The store, announcing each audit entry it commits. Every other method is
 * the store's own, bound to it (its private fields need the real `this`).
 */
export function announceAppends(store: GatewayStore, feed: AuditFeed): GatewayStore {
  const methods = new Map<PropertyKey, unknown>()
  const purge: GatewayStore['purge'] = async (before, audit) => {
    const counts = await store.purge(before, audit)
    // The store appends an entry only when it removed something.
    if (counts.messages + counts.outbox > 0) feed.publish(purgeEntry(audit, counts))
    return counts
  }
  methods.set('purge', purge)
  return new Proxy(store, {
    get(target, property) {
      let method = methods.get(property)
      if (method !== undefined) return method
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (APPENDS_LAST_ARGUMENT.has(property as keyof GatewayStore)) {
        method = async (...args: unknown[]) => {
          const result: unknown = await value.apply(target, args)
          const entry = args[args.length - 1] as AuditEntry | null
          if (result !== false && entry !== null) feed.publish(entry)
          return result
        }
      } else {
        method = value.bind(target)
      }
      methods.set(property, method)
      return method
    }
  })
}
