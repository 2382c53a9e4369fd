import type { FastifyInstance } from 'fastify'

/** /healthz: the process is alive. /readyz: it can take messages now. */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, 'ok' | string> = {}
    try {
      await app.queues.queue('outbound').getWaitingCount()
      checks.redis = 'ok'
    } catch (err) {
      checks.redis = (err as Error).message
    }
    try {
      await app.store.findMessage('outbound', '00000000-0000-0000-0000-000000000000')
      checks.ledger = 'ok'
    } catch (err) {
      checks.ledger = (err as Error).message
    }
    checks.keys = app.trust.signingKey !== undefined ? 'ok' : 'missing'
    const ready = Object.values(checks).every((c) => c === 'ok')
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks })
  })
}
