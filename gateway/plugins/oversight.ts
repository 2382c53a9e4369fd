// Oversight of the ledger over time: signed checkpoints of its Merkle tree
// head, each sent to the partner gateway, its witness, for cosigning
// (bilateral oversight, P12; docs/architecture.md, "The verifiable ledger"),
// and the retention purge (P5). Both stop in onClose.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { witnessKeys } from '../audit/checkpoint.ts'
import { Checkpointer } from '../audit/checkpointer.ts'
import { ADD_CHECKPOINT_PATH, WitnessRefusedError, requestCosignature } from '../audit/witness-client.ts'
import { checkpointConflictEntry } from '../audit/checkpoint-conflict.ts'
import { gatewayOwner } from '../trust/trust-store.ts'
import { RetentionJob } from '../queue/retention.ts'

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
  /** CLOCK_SKEW_SECONDS: a cosignature dated further from this gateway's clock is none (witness-client.ts). */
  readonly clockSkewSeconds: number
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
          await requestCosignature(cp, {
            client: app.partner.client,
            url: () => app.partner.endpoint(ADD_CHECKPOINT_PATH),
            store,
            witnesses: () => witnessKeys(app.trust.partner.country, app.trust.partner.ledgerKeys),
            clockSkewSeconds: opts.clockSkewSeconds
          })
        } catch (err) {
          if (!(err instanceof WitnessRefusedError)) {
            // Kept uncosigned; it goes to the partner again, or the next one does (checkpointer.ts).
            log.warn({ err, size: cp.size }, 'the partner did not cosign the checkpoint')
            return
          }
          // The partner holds a checkpoint of this ledger that this ledger no
          // longer extends (it was cut short or rewritten here), or the
          // partner's witness went back on one it cosigned (its state lost).
          log.error(
            { alert: 'CHECKPOINT_CONFLICT', size: cp.size, root: cp.root, detail: err.message },
            "the partner refused this ledger's checkpoint as a contradiction of one it cosigned"
          )
          await store.appendAudit(
            checkpointConflictEntry(
              gatewayOwner(app.trust.partner.country),
              `the partner refused the checkpoint of ${cp.size} entries: ${err.message}`.slice(0, 500)
            )
          )
        }
      },
      onError: (err) => log.warn({ err }, 'checkpoint failed')
    })
    app.decorate('checkpointer', checkpointer)
    const retention = opts.runWorkers
      ? new RetentionJob(
          store,
          { redisUrl: opts.redisUrl, prefix: opts.prefix, retentionDays: opts.retentionDays, everyMs: opts.purgeEveryMs },
          log,
          (outcome) => app.metrics.retentionPurged(outcome)
        )
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
  { name: 'oversight', fastify: '5.x', dependencies: ['ledger', 'trust', 'partner', 'metrics'] }
)
