import type { FastifyInstance } from 'fastify'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { SECURITY, problemResponses } from '../plugins/openapi.ts'

/**
 * GET /metrics: Prometheus text format, for operators. Authentication is the
 * client certificate alone (role operator), with no token: Prometheus can
 * present a certificate (`tls_config`) but cannot fetch a token.
 */
export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/metrics',
    {
      onRequest: requireRole('operator'),
      schema: {
        summary: 'Prometheus metrics (operator client certificate)',
        description:
          'Message outcomes, queue depths, dead letters, delivery latency, certificate expiry and process metrics. ' +
          'Labels never carry personal data or message ids.',
        tags: ['operations'],
        security: SECURITY.certificate,
        response: {
          200: { description: 'the metrics, in the Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...problemResponses('UNAUTHENTICATED', 'FORBIDDEN')
        }
      }
    },
    async (_request, reply) => {
      const text = await app.metrics.scrape()
      return reply.type(app.metrics.contentType).send(text)
    }
  )
}
