// What happens after each delivery attempt, for both queues: a failed attempt
// is recorded (and audited); the last one dead-letters the message, raises the
// alert and leaves the sealed copy in the outbox for an operator to resend.
import { UnrecoverableError, type Job } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { DeliveryJob } from '../queue/delivery-queues.ts'
import type { GatewayStore } from '../store/records.ts'

export class DeliveryRefusedError extends UnrecoverableError {
  readonly code: string
  constructor(status: number, code: string) {
    super(`refused with ${status} ${code}`)
    this.code = code
  }
}

export async function recordFailure(
  store: GatewayStore, log: FastifyBaseLogger, job: Job<DeliveryJob>, err: unknown
): Promise<void> {
  const at = new Date().toISOString()
  const error = err instanceof Error ? err.message : String(err)
  const attempt = { at, error }
  const { id, direction } = job.data
  const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
  const code = err instanceof DeliveryRefusedError ? err.code : null
  if (final) {
    await store.markDeadLettered(direction, id, attempt, auditEntry({ event: 'dead-lettered', direction, messageId: id, code, at }))
    log.error({ alert: 'DEAD_LETTER', messageId: id, direction, attempts: job.attemptsMade + 1, error }, 'delivery dead-lettered')
  } else {
    await store.recordAttempt(direction, id, attempt, auditEntry({ event: 'delivery-failed', direction, messageId: id, code, at }))
    log.warn({ messageId: id, direction, attempt: job.attemptsMade + 1, error }, 'delivery attempt failed')
  }
}

/** 4xx answers other than 408/429 will not change on retry. */
export function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429
}

export function problemCode(body: string): string {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code
    return typeof code === 'string' ? code : 'UNKNOWN'
  } catch {
    return 'UNKNOWN'
  }
}
