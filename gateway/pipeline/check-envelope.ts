// The checks that tie a valid envelope to the caller who sent it: the sender
// is the authenticated system, the recipient is the partner country, the
// token allows this kind and purpose (P1), and the message is fresh.
import {
  KindNotAllowedError, MessageExpiredError, MessageFutureDatedError, PurposeNotAllowedError,
  RecipientInvalidError, SenderMismatchError
} from '../errors.ts'
import type { AgencySystem, Country } from '../trust/trust-store.ts'
import type { AccessTokenClaims } from './authorize-token.ts'
import type { Envelope } from './envelope.ts'

export interface FreshnessWindow {
  readonly clockSkewSeconds: number
  readonly maxAgeSeconds: number
}

export function checkSender(envelope: Envelope, system: AgencySystem): void {
  const { from } = envelope
  if (from.country !== system.country || from.agency !== system.agency || from.system !== system.system) {
    throw new SenderMismatchError(`${from.country}/${from.agency}/${from.system}`)
  }
}

export function checkRecipient(envelope: Envelope, partner: Country): void {
  if (envelope.to.country !== partner) throw new RecipientInvalidError(`country ${envelope.to.country}`)
}

export function checkAllowed(envelope: Envelope, claims: AccessTokenClaims): void {
  if (!claims.kinds.includes(envelope.kind)) throw new KindNotAllowedError(envelope.kind)
  if (!claims.purposes.includes(envelope.purpose)) throw new PurposeNotAllowedError(envelope.purpose)
}

export function checkFreshness(envelope: Envelope, window: FreshnessWindow, now = Date.now()): void {
  const created = Date.parse(envelope.createdAt)
  if (created > now + window.clockSkewSeconds * 1000) throw new MessageFutureDatedError(envelope.createdAt)
  if (created < now - (window.maxAgeSeconds + window.clockSkewSeconds) * 1000) throw new MessageExpiredError(envelope.createdAt)
}
