// The checks that tie a valid envelope to the caller who sent it: the sender
// is the authenticated system, the recipient is the partner country, the
// token and the system's registration allow this kind and purpose (P1), and
// the message is fresh.
import {
  KindNotAllowedError,
  MessageExpiredError,
  MessageFutureDatedError,
  PurposeNotAllowedError,
  RecipientInvalidError,
  SchemaInvalidError,
  SenderMismatchError
} from '../errors.ts'
import { echo } from '../lib/echo.ts'
import type { AgencySystem, Country } from '../trust/trust-store.ts'
import type { AccessTokenClaims } from './authorize-token.ts'
import type { Envelope, ForwardedEnvelope } from './envelope.ts'

export interface FreshnessWindow {
  readonly clockSkewSeconds: number
  readonly maxAgeSeconds: number
}

export function checkSender(envelope: Envelope, system: AgencySystem): void {
  const { from } = envelope
  if (from.country !== system.country || from.agency !== system.agency || from.system !== system.system) {
    throw new SenderMismatchError(`${echo(`${from.country}/${from.agency}/${from.system}`)}; the certificate presented is ${system.id}'s`)
  }
}

export function checkRecipient(envelope: Envelope, partner: Country): void {
  if (envelope.to.country !== partner) throw new RecipientInvalidError(`country ${echo(envelope.to.country)}`)
}

/**
 * The kind and purpose must be in the token's scope and in the system's
 * registration as the trust in force has it: a kind or purpose taken from a
 * system is refused from its next request, not once its tokens expire
 * (docs/operators.md, "Keys and trust CLI").
 */
export function checkAllowed(
  envelope: Envelope,
  claims: Pick<AccessTokenClaims, 'kinds' | 'purposes'>,
  system: Pick<AgencySystem, 'kinds' | 'purposes'>
): void {
  const { kind, purpose } = envelope
  if (!claims.kinds.includes(kind) || !system.kinds.has(kind)) throw new KindNotAllowedError(kind, allowedNow('', claims.kinds, system.kinds, kind))
  if (!claims.purposes.includes(purpose) || !system.purposes.has(purpose))
    throw new PurposeNotAllowedError(purpose, allowedNow('for ', claims.purposes, system.purposes, purpose))
}

/**
 * What the refused system may send now, its own registration as its token
 * lists it: the fix, for a sender who picked the wrong kind or purpose. One
 * its registration has and its token does not was added after the token was
 * issued: a new token carries it.
 */
function allowedNow(what: string, token: readonly string[], registered: ReadonlySet<string>, asked: string): string {
  const now = token.filter((value) => registered.has(value))
  const list = `it may send ${what}${now.length === 0 ? 'none' : now.join(', ')}`
  return registered.has(asked) ? `${list} with this access token: ask POST /v1/token for a new one` : list
}

/**
 * The window is exactly what docs/integrators.md states: `createdAt` at most
 * `clockSkewSeconds` ahead of this gateway's clock and at most
 * `maxAgeSeconds` behind it, both edges included. The skew is not added to
 * the age: a sender whose clock runs slow has that much less time, never more.
 * `createdAt` has already matched the schema's one RFC 3339 profile; a value
 * that still does not read as an instant is refused, never let through as NaN
 * (NaN compares false with everything, so it would pass both tests).
 */
export function checkFreshness(envelope: Envelope, window: FreshnessWindow, now = Date.now()): void {
  checkInstant('createdAt', envelope.createdAt, window, now)
}

/**
 * A partner gateway's forwarded envelope, by the time it forwarded it
 * (`handling.forwardedAt`): within the clock skew ahead, and no older than
 * this gateway keeps the ids of messages it received (MESSAGE_RETENTION_DAYS,
 * less the skew). The id is its replay protection (routes/exchange.ts); past
 * that time a replay could no longer be known as one. A late delivery within
 * it (retries, a dead letter resent) is taken, once.
 */
export function checkForwarded(envelope: ForwardedEnvelope, window: FreshnessWindow, now = Date.now()): void {
  checkInstant('handling.forwardedAt', envelope.handling.forwardedAt, window, now)
}

function checkInstant(name: string, value: string, window: FreshnessWindow, now: number): void {
  const at = Date.parse(value)
  if (!Number.isFinite(at)) throw new SchemaInvalidError(`/${name.replace('.', '/')} ${echo(value)} is not an instant`)
  // With the gateway's clock, so that a sender whose clock is off sees by how much (docs/integrators.md, step 2).
  const clock = new Date(now).toISOString()
  if (at > now + window.clockSkewSeconds * 1000)
    throw new MessageFutureDatedError(`${name} ${value}`, `at most ${window.clockSkewSeconds} s ahead of this gateway's clock, ${clock}`)
  if (at < now - window.maxAgeSeconds * 1000)
    throw new MessageExpiredError(`${name} ${value}`, `at most ${window.maxAgeSeconds} s behind this gateway's clock, ${clock}`)
}
