import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { TrustStore } from '../trust/trust-store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    trust: TrustStore
  }
}

export const trustPlugin = fp(async function trust(app: FastifyInstance, opts: { trust: TrustStore }) {
  app.decorate('trust', opts.trust)
}, { name: 'trust', fastify: '5.x' })
