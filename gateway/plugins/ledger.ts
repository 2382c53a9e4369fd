import fp from 'fastify-plugin'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { PostgresStore } from '../store/ledger-postgres.ts'
import { SqliteStoreThread } from '../store/store-thread.ts'
import type { GatewayStore } from '../store/records.ts'
import { AuditFeed, announceAppends } from '../observability/audit-feed.ts'

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
  readonly postgres?: { readonly url: string; readonly schema: string } | undefined
}

async function openStore(opts: LedgerOptions): Promise<GatewayStore> {
  if (opts.postgres !== undefined) {
    const store = PostgresStore.open(opts.postgres.url, opts.postgres.schema)
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
  return SqliteStoreThread.open(opts.path)
}

export const ledgerPlugin = fp(async function ledger(app: FastifyInstance, opts: LedgerOptions) {
  const store = await openStore(opts)
  const auditFeed = new AuditFeed()
  app.decorate('auditFeed', auditFeed)
  app.decorate('store', announceAppends(store, auditFeed))
  app.addHook('onClose', () => store.close())
}, { name: 'ledger', fastify: '5.x' })
