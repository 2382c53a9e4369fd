// Step 8: deliver to the partner gateway's POST /v1/exchange over mTLS, and
// keep its signed receipt as proof of delivery.
import { sha256 } from '../lib/digest.ts'
import type { Sealer } from '../lib/seal.ts'
import { verifyReceipt } from '../pipeline/receipt.ts'
import { gatewayOwner, type TrustStore } from '../trust/trust-store.ts'
import { attemptDelivery, deliveryAnswerCode, deliveryProcessor, DeliveryRefusedError, type DeliveryDeps, isPermanent } from './delivery-outcome.ts'
import { retryableFailure } from './retry-after.ts'
import type { Poster } from './tls-client.ts'

/** The outbox target of every outbound message. */
export const PARTNER_TARGET = 'partner'

export interface PartnerDeliveryDeps extends DeliveryDeps {
  /** The partner's POST /v1/exchange, asked at each delivery: a trust reload may move the partner. */
  readonly exchangeUrl: () => string
  readonly sealer: Sealer
  /** The trust store in force when each delivery runs (it may be reloaded). */
  readonly trust: () => TrustStore
  readonly client: Poster
}

export function partnerDelivery(deps: PartnerDeliveryDeps) {
  return deliveryProcessor(deps, async function deliverToPartner(pending, job, token): Promise<void> {
    const { id } = job.data
    await attemptDelivery(deps, { pending, job, token }, async () => {
      const jws = deps.sealer.unsealBytes(pending.sealed, id)
      const res = await deps.client.post(deps.exchangeUrl(), jws, 'application/jose')
      if (res.status !== 200) {
        const code = deliveryAnswerCode(res.body)
        if (isPermanent(res.status)) throw new DeliveryRefusedError(res.status, code)
        throw retryableFailure(`partner answered ${res.status} ${code}`, res.status, res.retryAfter)
      }
      if (res.unread !== undefined) throw new Error(`the partner's receipt could not be read: ${res.unread}`)
      const { partner } = deps.trust()
      await verifyReceipt(res.body, { keys: partner.keys, owner: gatewayOwner(partner.country), expected: { messageId: id, digest: sha256(jws) } })
      return res.body
    })
  })
}
