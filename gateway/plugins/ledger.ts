import fp from 'fastify-plugin'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { SqliteStoreThread } from '../store/store-thread.ts'
import type { CommitListener, GatewayStore } from '../store/records.ts'
import { AuditFeed } from '../observability/audit-feed.ts'

declare module 'fastify' {
  interface FastifyInstance {
    store: GatewayStore
    /** Each audit entry, once committed: what metrics count. */
    auditFeed: AuditFeed
  }
}

export interface LedgerOptions {
  /** SQLite file, used unless `postgres` is given. */
  readonly path: string
  /** How SQLite makes a commit durable (store/ledger-sqlite.ts, SqliteStoreOptions). */
  readonly synchronous: 'normal' | 'full'
  readonly postgres?: { readonly url: string; readonly schema: string } | undefined
}

async function openStore(opts: LedgerOptions, onCommitted: CommitListener): Promise<GatewayStore> {
  if (opts.postgres !== undefined) {
    // Loaded only here: a gateway on SQLite, and every process that builds
    // one (tests, the sandbox), does not load the pg driver at start.
    const { PostgresStore } = await import('../store/ledger-postgres.ts')
    const store = PostgresStore.open(opts.postgres.url, { schema: opts.postgres.schema, onCommitted })
    try {
      await store.create()
    } catch (err) {
      await store.close()
      throw err
    }
    return store
  }
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true })
  // SQLite runs on a thread of its own: its synchronous work stays off the
  // event loop (store/store-thread.ts).
  return SqliteStoreThread.open(opts.path, { onCommitted, synchronous: opts.synchronous })
}

export const ledgerPlugin = fp(
  async function ledger(app: FastifyInstance, opts: LedgerOptions) {
    const auditFeed = new AuditFeed()
    // The store announces what each commit appended; the feed passes it on.
    const store = await openStore(opts, (entries) => {
      for (const entry of entries) auditFeed.publish(entry)
    })
    app.decorate('auditFeed', auditFeed)
    app.decorate('store', store)
    app.addHook('onClose', () => store.close())
  },
  { name: 'ledger', fastify: '5.x' }
)
