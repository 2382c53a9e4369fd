import fp from 'fastify-plugin'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { SqliteStoreThread } from '../store/store-thread.ts'
import type { CommitListener, GatewayStore } from '../store/records.ts'
import { AuditFeed } from '../observability/audit-feed.ts'

declare module 'fastify' {
  interface FastifyInstance {
    store: GatewayStore
    /** Each audit entry, once committed: what metrics count. */
    auditFeed: AuditFeed
    /** Whether the ledger can still be written: /healthz reads it, and the server stops the process when it cannot. */
    ledgerLiveness: LedgerLiveness
  }
}

/**
 * A SQLite ledger runs on a thread of its own (store/store-thread.ts). Should
 * that thread stop while the process runs (out of memory, say), every
 * message from then on is refused with a 503 and nothing in this process can
 * bring the ledger back: the process is no longer alive in any useful sense,
 * and a restart is what mends it (docs/operators.md, "Metrics and
 * health"). A PostgreSQL ledger has no such thread; its connections
 * come back by themselves.
 */
export class LedgerLiveness {
  #failure: Error | undefined
  readonly #stopped = Promise.withResolvers<Error>()

  /** Settles, once, with why the ledger stopped; never, while it runs. */
  get stopped(): Promise<Error> {
    return this.#stopped.promise
  }

  /** Why the ledger can no longer be written; undefined while it can. */
  get failure(): Error | undefined {
    return this.#failure
  }

  fail(error: Error): void {
    if (this.#failure !== undefined) return
    this.#failure = error
    this.#stopped.resolve(error)
  }
}

export interface LedgerOptions {
  /** SQLite file, used unless `postgres` is given. */
  readonly path: string
  /** How SQLite makes a commit durable (store/ledger-sqlite.ts, SqliteStoreOptions). */
  readonly synchronous: 'normal' | 'full'
  /** PostgreSQL instead, with how long a statement or a connection may wait for it (config.ts, ledgerPostgresTimeoutMs). */
  readonly postgres?: { readonly url: string; readonly schema: string; readonly timeoutMs: number } | undefined
}

async function openStore(opts: LedgerOptions, onCommitted: CommitListener, liveness: LedgerLiveness, log: FastifyBaseLogger): Promise<GatewayStore> {
  if (opts.postgres !== undefined) {
    // Loaded only here: a gateway on SQLite, and every process that builds
    // one (tests, the sandbox), does not load the pg driver at start.
    const { PostgresStore } = await import('../store/ledger-postgres.ts')
    const store = PostgresStore.open(opts.postgres.url, {
      schema: opts.postgres.schema,
      timeoutMs: opts.postgres.timeoutMs,
      onCommitted,
      onConnectionLost: (err) => log.warn({ err }, 'a ledger connection to PostgreSQL was lost; another is opened when next needed')
    })
    try {
      await store.create()
    } catch (err) {
      await store.close()
      // Host, port and database only: the URL may hold a password.
      const url = new URL(opts.postgres.url)
      throw new Error(`the ledger's PostgreSQL at ${url.host}${url.pathname} could not be opened`, { cause: err })
    }
    return store
  }
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true })
  // SQLite runs on a thread of its own: its synchronous work stays off the
  // event loop (store/store-thread.ts).
  return SqliteStoreThread.open(opts.path, { onCommitted, synchronous: opts.synchronous, onStopped: (error) => liveness.fail(error) })
}

export const ledgerPlugin = fp(
  async function ledger(app: FastifyInstance, opts: LedgerOptions) {
    const auditFeed = new AuditFeed()
    const liveness = new LedgerLiveness()
    // The store announces what each commit appended; the feed passes it on.
    const store = await openStore(
      opts,
      (entries) => {
        for (const entry of entries) auditFeed.publish(entry)
      },
      liveness,
      app.log
    )
    void liveness.stopped.then((err) => app.log.fatal({ err }, 'the ledger has stopped: this process can take no message until it is started again'))
    app.decorate('auditFeed', auditFeed)
    app.decorate('ledgerLiveness', liveness)
    app.decorate('store', store)
    app.addHook('onClose', () => store.close())
  },
  { name: 'ledger', fastify: '5.x' }
)
