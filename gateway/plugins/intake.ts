// The intake both directions share (intake/intake.ts), built once over the
// ledger and the queues; what its messages wait for goes to the metrics.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Intake } from '../intake/intake.ts'
import { LedgerWrites } from '../intake/ledger-writes.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Commits a prepared message with its outbox item and audit entry, then queues it. */
    intake: Intake
    /** Whether the ledger took the intake's last write (for /readyz). */
    ledgerWrites: LedgerWrites
  }
}

export const intakePlugin = fp(
  async function intake(app: FastifyInstance) {
    const { metrics } = app
    const writes = new LedgerWrites()
    app.decorate('ledgerWrites', writes)
    app.decorate(
      'intake',
      new Intake({ store: app.store, queues: app.queues, writes, onWaited: (direction, stage, seconds) => metrics.intakeWaited(direction, stage, seconds) })
    )
  },
  { name: 'intake', fastify: '5.x', dependencies: ['ledger', 'delivery', 'metrics'] }
)
