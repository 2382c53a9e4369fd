// The last hop, inbound: push the message, signed by this gateway, to the
// receiving agency system's webhook over mTLS.
import { UnrecoverableError } from 'bullmq'
import type { Sealer } from '../lib/seal.ts'
import {
  attemptDelivery,
  deliveryAnswerCode,
  deliveryProcessor,
  DeliveryRefusedError,
  type DeliveryDeps,
  giveUpUnlessHeld,
  isPermanent
} from './delivery-outcome.ts'
import { retryableFailure } from './retry-after.ts'
import type { Poster } from './tls-client.ts'

export interface AgencyPushDeps extends DeliveryDeps {
  /** The webhook of a local system, from the configuration in force now. */
  readonly webhookFor: (systemId: string) => string | undefined
  readonly sealer: Sealer
  readonly client: Poster
  /** BullMQ's lockDuration (QUEUE_LOCK_MS): how long the lock taken again before a push lasts. */
  readonly lockMs: number
}

export function agencyPush(deps: AgencyPushDeps) {
  return deliveryProcessor(deps, async function pushToAgency(pending, job, token): Promise<void> {
    const { id, target } = job.data
    await attemptDelivery(deps, { pending, job, token }, async (): Promise<null> => {
      const url = deps.webhookFor(target)
      if (url === undefined) throw new UnrecoverableError(`${target} has no webhook`)
      const jws = deps.sealer.unsealBytes(pending.sealed, id)
      // The agency's way to recognise a push it already has
      // (docs/integrators.md, "Receiving"): after a crash between its 2xx and our record of it, the
      // same message is pushed again, with the same key.
      // Nothing between this check and the POST waits on anything but the
      // connection: a push goes only from the worker that holds its job.
      // The partner's hop needs no such check: the partner knows a delivery
      // again by its id, and answers it with the same receipt.
      await giveUpUnlessHeld(deps.log, job, token, deps.lockMs)
      const res = await deps.client.post(url, jws, 'application/jose', { 'idempotency-key': id })
      if (res.status < 200 || res.status >= 300) {
        const code = deliveryAnswerCode(res.body)
        if (isPermanent(res.status)) throw new DeliveryRefusedError(res.status, code)
        throw retryableFailure(`agency answered ${res.status} ${code}`, res.status, res.retryAfter)
      }
      // A 2xx is the agency's answer, whatever its body: one too long to
      // read (res.unread) is not a push to make again.
      return null
    })
  })
}
