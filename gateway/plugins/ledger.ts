import fp from 'fastify-plugin'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { SqliteStore } from '../store/ledger-sqlite.ts'
import type { GatewayStore } from '../store/records.ts'

declare module 'fastify' {
  interface FastifyInstance {
    store: GatewayStore
  }
}

export const ledgerPlugin = fp(async function ledger(app: FastifyInstance, opts: { path: string }) {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true })
  const store = new SqliteStore(opts.path)
  app.decorate('store', store)
  app.addHook('onClose', () => store.close())
}, { name: 'ledger', fastify: '5.x' })
