// Oversight of the ledger over time: signed checkpoints of its head, each
// sent to the partner gateway for countersigning (bilateral oversight, P12),
// and the retention purge (P5). Both stop in onClose.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { sendCheckpoint } from '../audit/checkpoint-exchange.ts'
import { Checkpointer } from '../audit/checkpointer.ts'
import { RetentionJob } from '../queue/retention.ts'
import { gatewayOwner } from '../trust/trust-store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    checkpointer: Checkpointer
  }
}

export interface OversightOptions {
  readonly everyEntries: number
  readonly everyMs: number
  readonly redisUrl: string
  readonly prefix: string
  readonly retentionDays: number
  readonly purgeEveryMs: number
  readonly runWorkers: boolean
}

export const oversightPlugin = fp(
  async function oversight(app: FastifyInstance, opts: OversightOptions) {
    const { store } = app
    const log = app.log.child({ component: 'oversight' })
    const checkpointer = new Checkpointer({
      store,
      key: () => app.trust.signingKey,
      country: app.trust.country,
      schedule: { everyEntries: opts.everyEntries, everyMs: opts.everyMs },
      onCheckpoint: async (cp) => {
        try {
          const { partner } = app.trust
          await sendCheckpoint(cp, {
            client: app.partner.client,
            url: app.partner.endpoint('/v1/checkpoints'),
            store,
            partnerKeys: partner.keys,
            partnerOwner: gatewayOwner(partner.country)
          })
        } catch (err) {
          // Kept uncountersigned; the next checkpoint goes to the partner again.
          log.warn({ err, seq: cp.seq }, 'the partner did not countersign the checkpoint')
        }
      },
      onError: (err) => log.warn({ err }, 'checkpoint failed')
    })
    app.decorate('checkpointer', checkpointer)
    const retention = opts.runWorkers
      ? new RetentionJob(store, { redisUrl: opts.redisUrl, prefix: opts.prefix, retentionDays: opts.retentionDays, everyMs: opts.purgeEveryMs }, log)
      : undefined

    app.addHook('onReady', async () => {
      checkpointer.start()
      await retention?.schedule()
    })
    app.addHook('onClose', async () => {
      await checkpointer.stop()
      await retention?.close()
    })
  },
  { name: 'oversight', fastify: '5.x', dependencies: ['ledger', 'trust', 'partner'] }
)
