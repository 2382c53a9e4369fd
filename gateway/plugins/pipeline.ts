// The per-message machinery, built once: compiled validators, policies with
// their version hashes, keys for sealing and digests, and the worker threads
// that prepare large messages off the event loop (pipeline/pipeline-pool.ts).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Sealer } from '../lib/seal.ts'
import { PolicyBook } from '../pipeline/apply-policy.ts'
import { PipelinePool } from '../pipeline/pipeline-pool.ts'
import { messageValidator, type MessageValidator } from '../pipeline/validate-message.ts'

declare module 'fastify' {
  interface FastifyInstance {
    validator: MessageValidator
    policyBook: PolicyBook
    sealer: Sealer
    /** Prepares a submission or a partner delivery, on this thread or a worker's. */
    pipeline: PipelinePool
  }
}

export interface PipelineOptions {
  readonly sealKey: Buffer
  readonly auditKey: Buffer
  readonly pseudonymKey: Buffer
  /** Worker threads for large messages (0: none). */
  readonly threads: number
  /** The smallest JWS, in bytes, prepared on a worker thread. */
  readonly workerMinBytes: number
}

export const pipelinePlugin = fp(
  async function pipeline(app: FastifyInstance, opts: PipelineOptions) {
    const tools = { validator: messageValidator(), policyBook: new PolicyBook(opts.auditKey, opts.pseudonymKey), sealer: new Sealer(opts.sealKey) }
    app.decorate('validator', tools.validator)
    app.decorate('policyBook', tools.policyBook)
    app.decorate('sealer', tools.sealer)
    const pool = new PipelinePool(tools, {
      threads: opts.threads,
      workerMinBytes: opts.workerMinBytes,
      keys: { sealKey: opts.sealKey, auditKey: opts.auditKey, pseudonymKey: opts.pseudonymKey }
    })
    app.decorate('pipeline', pool)
    app.addHook('onClose', () => pool.close())
  },
  { name: 'pipeline', fastify: '5.x' }
)
