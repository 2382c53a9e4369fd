// The last hop, inbound: push the message, signed by this gateway, to the
// receiving agency system's webhook over mTLS.
import { UnrecoverableError, type Job } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import type { Sealer } from '../lib/seal.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { DeliveryJob } from '../queue/delivery-queues.ts'
import type { GatewayStore } from '../store/records.ts'
import { awaitingDelivery, DeliveryRefusedError, giveBackIfAbandoned, isPermanent, problemCode, recordFailure, waitForOriginal } from './delivery-outcome.ts'
import type { Poster } from './tls-client.ts'

export interface AgencyPushDeps {
  /** The webhook of a local system, from the configuration in force now. */
  readonly webhookFor: (systemId: string) => string | undefined
  readonly store: GatewayStore
  readonly sealer: Sealer
  readonly client: Poster
  readonly log: FastifyBaseLogger
  /** How long a correction or retraction waits, each time, for its original's attempt under way (delivery-outcome.ts). */
  readonly waitMs: number
}

export function agencyPush(deps: AgencyPushDeps) {
  return async function pushToAgency(job: Job<DeliveryJob>, token?: string): Promise<void> {
    const { id, target } = job.data
    const pending = await awaitingDelivery(deps.store, deps.log, job)
    if (pending === undefined) return
    await waitForOriginal(deps.store, pending.record, job, token, deps.waitMs)
    try {
      const url = deps.webhookFor(target)
      if (url === undefined) throw new UnrecoverableError(`${target} has no webhook`)
      const jws = deps.sealer.unsealBytes(pending.sealed, id)
      // The agency's way to recognise a push it already has
      // (docs/integrators.md, "Receiving"): after a crash between its 2xx and our record of it, the
      // same message is pushed again, with the same key.
      const res = await deps.client.post(url, jws, 'application/jose', { 'idempotency-key': id })
      if (res.status < 200 || res.status >= 300) {
        const code = problemCode(res.body)
        if (isPermanent(res.status)) throw new DeliveryRefusedError(res.status, code)
        throw new Error(`agency answered ${res.status} ${code}`)
      }
      await deps.store.markDelivered('inbound', id, null, auditEntry({ event: 'delivered', direction: 'inbound', messageId: id }))
    } catch (err) {
      await giveBackIfAbandoned(err, job, token)
      if ((await recordFailure({ store: deps.store, log: deps.log, job, err, record: pending.record })) === 'withdrawn') return
      throw err
    }
  }
}
