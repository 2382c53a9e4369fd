// Prometheus metrics for operators. Message outcomes are counted where the
// ledger commits them (the audit feed), not at each outcome point; queue
// depths, dead letters and certificate expiry are read when Prometheus
// scrapes, from the queues, the ledger and the trust store in force then.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { GatewayMetrics, QUEUE_STATES, type WatchedCertificate } from '../observability/gateway-metrics.ts'
import { RecentAcceptances } from '../observability/recent-acceptances.ts'
import { countDeadLetters } from '../queue/dead-letters.ts'
import { DIRECTIONS, QUEUE_NAMES } from '../queue/queue-names.ts'
import type { TrustStore } from '../trust/trust-store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: GatewayMetrics
  }
}

/** The certificates the trust store holds: this gateway's own, and the roots it trusts. */
export function trustCertificates(trust: TrustStore): WatchedCertificate[] {
  return [
    { certificate: 'gateway', system: '', validTo: new Date(trust.gatewayCert.validTo) },
    { certificate: 'agency-ca', system: '', validTo: new Date(trust.agencyCa.validTo) },
    { certificate: 'partner-ca', system: '', validTo: new Date(trust.partner.caCert.validTo) }
  ]
}

export const metricsPlugin = fp(
  async function metrics(app: FastifyInstance) {
    const log = app.log.child({ component: 'metrics' })
    const metrics = new GatewayMetrics({
      // app.queues and app.trust are read at each scrape: the trust store may be reloaded while the gateway runs.
      queueDepths: () =>
        Promise.all(
          DIRECTIONS.map(async (direction) => ({
            queue: QUEUE_NAMES[direction],
            counts: await app.queues.queue(direction).getJobCounts(...QUEUE_STATES)
          }))
        ),
      deadLetters: async () => (await countDeadLetters(app.store)).byQueue,
      certificates: () => trustCertificates(app.trust),
      deliveryBudget: () => app.deliveryBudget,
      intakeBudget: () => app.intakeBudget,
      partnerIntakeBudget: () => app.partnerIntakeBudget,
      trustReloads: () => app.trustReloads,
      onError: (what, err) => log.warn({ err }, `metrics: could not read ${what}`)
    })
    app.decorate('metrics', metrics)

    const acceptances = new RecentAcceptances()
    const unsubscribe = app.auditFeed.subscribe((entry) => {
      acceptances.remember(entry)
      if (!GatewayMetrics.needsRecord(entry)) return metrics.observe(entry)
      // Delivery entries name only the message: its kind, purpose and
      // acceptance time are what its acceptance said, or on its record.
      const accepted = acceptances.recall(entry)
      if (accepted !== undefined) return metrics.observe(entry, accepted)
      app.store.findMessage(entry.direction, entry.messageId).then(
        (record) => metrics.observe(entry, record),
        () => metrics.observe(entry)
      )
    })

    // Client certificates are not in the trust store (only their thumbprints):
    // their expiry is read once per connection, from the certificate presented
    // (authenticate-client reads it with the thumbprint).
    const seen = new WeakSet<object>()
    app.addHook('onRequest', (request, _reply, done) => {
      const caller = request.caller
      const expiry = request.clientCertExpiry
      if (caller !== null && expiry !== null && (caller.role === 'agency' || caller.role === 'partner')) {
        const socket = request.raw.socket
        if (!seen.has(socket)) {
          seen.add(socket)
          metrics.presented(caller.role === 'agency' ? 'agency-system' : 'partner-gateway', caller.id, expiry)
        }
      }
      done()
    })

    app.addHook('onClose', async () => {
      unsubscribe()
      metrics.close()
    })
  },
  { name: 'metrics', fastify: '5.x', dependencies: ['ledger', 'trust', 'authenticate-client'] }
)
