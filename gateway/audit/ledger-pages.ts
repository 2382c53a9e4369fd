// The ledger's entries for verification (verify-ledger.ts), page by page, read
// ahead of the page being verified: each page is handed to its per-entry
// check (entry-check-pool.ts) as soon as it is read, so that threads check
// pages while the caller reads the next ones and verifies, in order, what
// only it can (the chain's links, the tree, the checkpoints). A few pages at
// most are held: memory stays flat however long the ledger.
import type { AuditChainLink, GatewayStore } from '../store/records.ts'
import type { AuditIndexRows } from '../store/records.ts'
import type { EntriesChecked } from './entry-checks.ts'

export interface LedgerPage {
  readonly links: readonly AuditChainLink[]
  /** The per-entry checks of the page, under way. */
  readonly checked: Promise<EntriesChecked>
}

/** Marks a promise as handled: its rejection is met where it is awaited, or never if verification stops first. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined)
  return promise
}

export class LedgerPages {
  readonly #store: GatewayStore
  readonly #pageSize: number
  readonly #ahead: number
  readonly #check: (links: readonly AuditChainLink[], rows: AuditIndexRows) => Promise<EntriesChecked>
  /** Pages read or being read, in order; undefined: past the last page. */
  readonly #queue: Array<Promise<LedgerPage | undefined>> = []
  #tail: Promise<LedgerPage | undefined> | undefined
  #stopped = false

  /** Reads `pageSize` entries a page, at most `ahead` pages beyond the one being verified. */
  constructor(
    store: GatewayStore,
    pageSize: number,
    ahead: number,
    check: (links: readonly AuditChainLink[], rows: AuditIndexRows) => Promise<EntriesChecked>
  ) {
    this.#store = store
    this.#pageSize = pageSize
    this.#ahead = ahead
    this.#check = check
  }

  /** The next page, or undefined after the last. A read's failure is thrown here, when its page is reached. */
  async next(): Promise<LedgerPage | undefined> {
    this.#fill()
    const page = this.#queue.shift()!
    this.#fill()
    return page
  }

  /** Reads no further, and waits for the reads under way (the store is the caller's again once verification returns). */
  async stop(): Promise<void> {
    this.#stopped = true
    await Promise.allSettled(this.#queue)
  }

  #fill(): void {
    while (this.#queue.length <= this.#ahead) {
      const previous = this.#tail
      // Each read starts after the one before: it begins where that page ended.
      const read = handled(
        previous === undefined
          ? this.#read(0)
          : previous.then((page) => (page === undefined || page.links.length < this.#pageSize ? undefined : this.#read(page.links[page.links.length - 1]!.seq)))
      )
      this.#tail = read
      this.#queue.push(read)
    }
  }

  async #read(afterSeq: number): Promise<LedgerPage | undefined> {
    if (this.#stopped) return undefined
    const { links, index } = await this.#store.auditPage(afterSeq, this.#pageSize)
    if (links.length === 0) return { links, checked: Promise.resolve({ leaves: new Uint8Array(0) }) }
    return { links, checked: handled(this.#check(links, index)) }
  }
}
