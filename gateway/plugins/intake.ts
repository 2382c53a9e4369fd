// The intake both directions share (intake/intake.ts), built once over the
// ledger and the queues.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Intake } from '../intake/intake.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Commits a prepared message with its outbox item and audit entry, then queues it. */
    intake: Intake
  }
}

export const intakePlugin = fp(
  async function intake(app: FastifyInstance) {
    app.decorate('intake', new Intake({ store: app.store, queues: app.queues }))
  },
  { name: 'intake', fastify: '5.x', dependencies: ['ledger', 'delivery'] }
)
