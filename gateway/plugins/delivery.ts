// Queues, their workers and the outbox relay. Whoever opens a connection
// closes it: everything here is shut in onClose, workers first so that
// in-flight deliveries finish.
import fp from 'fastify-plugin'
import { Worker, type Job } from 'bullmq'
import type { FastifyInstance } from 'fastify'
import { ByteBudget } from '../lib/byte-budget.ts'
import { deadLetterStalled, queueIfResent } from '../delivery/delivery-outcome.ts'
import { agencyPush } from '../delivery/push-to-agency.ts'
import { partnerDelivery } from '../delivery/deliver-to-partner.ts'
import { TrustBoundClient } from '../delivery/tls-client.ts'
import { deliveryBackoff } from '../delivery/retry-after.ts'
import { agencyClientOptions } from '../trust/tls-options.ts'
import type { TrustStore } from '../trust/trust-store.ts'
import { DeliveryQueues, QUEUE_NAMES, redisOptions, type DeliveryJob } from '../queue/delivery-queues.ts'
import { OutboxRelay } from '../queue/outbox-relay.ts'
import { checkRedisDurability, readRedisDurability } from '../queue/redis-durability.ts'
import { stopStalledCheckOnClose } from '../queue/stalled-check-stop.ts'
import { closeWorkers } from '../queue/worker-close.ts'

declare module 'fastify' {
  interface FastifyInstance {
    queues: DeliveryQueues
    relay: OutboxRelay
    /** What the delivery workers of both queues may hold at once, and hold now. */
    deliveryBudget: ByteBudget
  }
}

export interface DeliveryOptions {
  readonly redisUrl: string
  readonly prefix: string
  readonly attempts: number
  readonly backoffMs: number
  readonly timeoutMs: number
  /** Once the gateway starts closing, how long its pushes to agencies may still run (config.ts, abandonRequestsAfterMs). */
  readonly abandonAfterMs: number
  readonly relayIntervalMs: number
  readonly concurrency: number
  /** Bytes of messages the workers of both queues may hold at once, each its sealed copy and what it opens to (lib/byte-budget.ts). */
  readonly budgetBytes: number
  /** BullMQ's lockDuration (renewed at half of it while a job runs) and stalledInterval. */
  readonly lockMs: number
  readonly stalledCheckMs: number
  /** How long the queues' own commands may wait for Redis (config.ts, redisCommandTimeoutMs). */
  readonly commandTimeoutMs: number
  readonly runWorkers: boolean
  readonly redisChecks: 'refuse' | 'warn'
}

export const deliveryPlugin = fp(
  async function delivery(app: FastifyInstance, opts: DeliveryOptions) {
    checkRedisDurability(await readRedisDurability(opts.redisUrl), opts.redisChecks, app.log)
    const queues = new DeliveryQueues({
      redisUrl: opts.redisUrl,
      prefix: opts.prefix,
      attempts: opts.attempts,
      backoffMs: opts.backoffMs,
      commandTimeoutMs: opts.commandTimeoutMs
    })
    // An attempt's answer comes within twice DELIVERY_TIMEOUT_MS (delivery/tls-client.ts).
    const attemptMs = 2 * opts.timeoutMs
    const relay = new OutboxRelay({ store: app.store, queues, log: app.log, intervalMs: opts.relayIntervalMs, attemptMs, addMs: opts.commandTimeoutMs })
    app.decorate('queues', queues)
    app.decorate('relay', relay)
    const budget = new ByteBudget(opts.budgetBytes)
    app.decorate('deliveryBudget', budget)

    const workers: Worker<DeliveryJob>[] = []
    // The partner's client belongs to the partner plugin, shared with oversight and readiness.
    let agencyClient: TrustBoundClient<TrustStore> | undefined
    if (opts.runWorkers) {
      const trust = (): TrustStore => app.trust
      agencyClient = new TrustBoundClient(trust, (t) => agencyClientOptions(t, opts.timeoutMs))
      // Workers wait out a Redis outage instead of failing (BullMQ's advice).
      const connection = { ...redisOptions(opts.redisUrl), maxRetriesPerRequest: null }
      // A lock shorter than BullMQ's 30 s default, checked more often: the jobs a
      // killed process had in hand move again within seconds, not a minute.
      const settings = {
        connection,
        prefix: opts.prefix,
        concurrency: opts.concurrency,
        lockDuration: opts.lockMs,
        stalledInterval: opts.stalledCheckMs,
        settings: { backoffStrategy: deliveryBackoff }
      }
      const log = app.log.child({ component: 'delivery' })
      // What a job back from a stall waits out.
      const deps = { store: app.store, sealer: app.sealer, log, waitMs: opts.backoffMs, attemptMs, budget }
      workers.push(
        stopStalledCheckOnClose(
          new Worker<DeliveryJob>(
            QUEUE_NAMES.outbound,
            partnerDelivery({
              ...deps,
              trust,
              client: app.partner.client,
              exchangeUrl: () => app.partner.endpoint('/v1/exchange')
            }),
            settings
          )
        ),
        stopStalledCheckOnClose(
          new Worker<DeliveryJob>(
            QUEUE_NAMES.inbound,
            agencyPush({
              ...deps,
              client: agencyClient,
              lockMs: opts.lockMs,
              webhookFor: (id) => app.partner.webhookFor(id)
            }),
            settings
          )
        )
      )
      // A dead letter resent before BullMQ removed its job (delivery/delivery-outcome.ts, queueIfResent),
      // once removed: failed, or completed where the dead letter was owed and recorded at the job's next
      // run (recordFailureOrPutOff). The relay's next pass, if this fails.
      const requeueIfResent = (job: Job<DeliveryJob>): void => {
        queueIfResent({ store: app.store, queues }, job).catch((e: unknown) =>
          log.warn({ err: e, messageId: job.id }, 'a dead letter resent while its job was held is left to the outbox relay')
        )
      }
      for (const w of workers) {
        w.on('error', (err) => log.warn({ err }, 'queue worker error'))
        w.on('failed', (job, err) => {
          if (job === undefined) return
          if (job.deferredFailure)
            deadLetterStalled(deps, job, err).catch((e: unknown) => log.error({ err: e, messageId: job.id }, 'a stalled job not dead-lettered'))
          else requeueIfResent(job)
        })
        w.on('completed', requeueIfResent)
      }
    }

    app.addHook('preClose', (done) => {
      agencyClient?.abandonAfter(opts.abandonAfterMs, (requests) =>
        app.log.warn({ component: 'delivery', requests }, 'abandoning the pushes to agencies still in hand; their messages stay queued')
      )
      done()
    })
    app.addHook('onReady', async () => {
      // Crash recovery: anything committed before a previous process died (queue/outbox-relay.ts, start).
      await relay.start()
    })
    app.addHook('onClose', async () => {
      await relay.stop()
      // A worker's close takes no new job and waits for the jobs in hand, whose
      // outcome the ledger (closed after this plugin) must still record; with
      // Redis down, it closes at once (queue/worker-close.ts).
      if (workers.length > 0) app.log.info({ component: 'delivery' }, 'closing the queue workers once their deliveries in hand finish')
      if (await closeWorkers(workers, queues.queue('outbound')))
        app.log.warn(
          { component: 'delivery' },
          'Redis did not answer: the queue workers were closed without waiting for the deliveries in hand; their messages stay in the outbox for the next process'
        )
      await agencyClient?.close()
      await queues.close()
    })
  },
  { name: 'delivery', fastify: '5.x', dependencies: ['ledger', 'pipeline', 'trust', 'partner'] }
)
