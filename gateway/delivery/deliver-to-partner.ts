// Step 8: deliver to the partner gateway's POST /v1/exchange over mTLS, and
// keep its signed receipt as proof of delivery.
import type { Job } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import { sha256 } from '../lib/digest.ts'
import type { Sealer } from '../lib/seal.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import { verifyReceipt } from '../pipeline/receipt.ts'
import type { DeliveryJob } from '../queue/delivery-queues.ts'
import type { GatewayStore } from '../store/records.ts'
import { gatewayOwner, type TrustStore } from '../trust/trust-store.ts'
import { awaitingDelivery, DeliveryRefusedError, giveBackIfAbandoned, isPermanent, problemCode, recordFailure, waitForOriginal } from './delivery-outcome.ts'
import type { Poster } from './tls-client.ts'

/** The outbox target of every outbound message. */
export const PARTNER_TARGET = 'partner'

export interface PartnerDeliveryDeps {
  /** The partner's POST /v1/exchange, asked at each delivery: a trust reload may move the partner. */
  readonly exchangeUrl: () => string
  readonly store: GatewayStore
  readonly sealer: Sealer
  /** The trust store in force when each delivery runs (it may be reloaded). */
  readonly trust: () => TrustStore
  readonly client: Poster
  readonly log: FastifyBaseLogger
  /** How long a correction or retraction waits, each time, for its original's attempt under way (delivery-outcome.ts). */
  readonly waitMs: number
}

export function partnerDelivery(deps: PartnerDeliveryDeps) {
  return async function deliverToPartner(job: Job<DeliveryJob>, token?: string): Promise<void> {
    const { id } = job.data
    const pending = await awaitingDelivery(deps.store, deps.log, job)
    if (pending === undefined) return
    await waitForOriginal(deps.store, pending.record, job, token, deps.waitMs)
    try {
      const jws = deps.sealer.unsealBytes(pending.sealed, id)
      const res = await deps.client.post(deps.exchangeUrl(), jws, 'application/jose')
      if (res.status !== 200) {
        const code = problemCode(res.body)
        if (isPermanent(res.status)) throw new DeliveryRefusedError(res.status, code)
        throw new Error(`partner answered ${res.status} ${code}`)
      }
      const { partner } = deps.trust()
      await verifyReceipt(res.body, { keys: partner.keys, owner: gatewayOwner(partner.country), expected: { messageId: id, digest: sha256(jws) } })
      await deps.store.markDelivered('outbound', id, res.body, auditEntry({ event: 'delivered', direction: 'outbound', messageId: id }))
    } catch (err) {
      await giveBackIfAbandoned(err, job, token)
      if ((await recordFailure({ store: deps.store, log: deps.log, job, err, record: pending.record })) === 'withdrawn') return
      throw err
    }
  }
}
