// The per-message machinery, built once: compiled validators, policies with
// their version hashes, keys for sealing and digests.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Sealer } from '../lib/seal.ts'
import { PolicyBook } from '../pipeline/apply-policy.ts'
import { MessageValidator } from '../pipeline/validate-message.ts'

declare module 'fastify' {
  interface FastifyInstance {
    validator: MessageValidator
    policyBook: PolicyBook
    sealer: Sealer
  }
}

export interface PipelineOptions {
  readonly sealKey: Buffer
  readonly auditKey: Buffer
  readonly pseudonymKey: Buffer
}

export const pipelinePlugin = fp(async function pipeline(app: FastifyInstance, opts: PipelineOptions) {
  app.decorate('validator', new MessageValidator())
  app.decorate('policyBook', new PolicyBook(opts.auditKey, opts.pseudonymKey))
  app.decorate('sealer', new Sealer(opts.sealKey))
}, { name: 'pipeline', fastify: '5.x' })
