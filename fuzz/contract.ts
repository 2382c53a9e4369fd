// The contract as an integrator reads it (docs/integrators.md, the
// schemas' descriptions), written down a second time and independently of the
// gateway's code. The generators use it to check that what they call valid is
// valid and what they call invalid is invalid; the gateway is never asked.

/** A message id in its one canonical spelling: RFC 9562 UUID, lower-case, 36 characters. */
export const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * The contract's one RFC 3339 profile for instants: upper-case T and Z,
 * seconds 00–59, an optional 1–9 digit fraction, Z or ±HH:MM.
 */
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/

export function isContractInstant(text: string): boolean {
  const m = INSTANT.exec(text)
  if (m === null) return false
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (month < 1 || month > 12 || day < 1) return false
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!
  return day <= days
}

/**
 * docs/integrators.md: ±5 minutes of clock skew, refused when older than 15 minutes. The
 * fuzzer's own "fresh" stays well inside that (10 minutes back, 2 ahead), so
 * a slow request on a busy machine never makes a valid input look stale.
 */
export const FRESH_WINDOW = { pastSeconds: 600, futureSeconds: 120 } as const
/** Beyond these the integrator's guide's window is certainly left, however the skew is counted. */
export const STALE_SECONDS = 15 * 60 + 5 * 60 + 60
export const FUTURE_SECONDS = 5 * 60 + 60

/** A query integer in the one text form the strict query rules admit: plain decimal, no sign, no leading zero. */
export const CANONICAL_POSITIVE_INTEGER = /^[1-9][0-9]{0,14}$/

/** The cursors the gateway hands out (`nextCursor`): base64url of `seq:<n>`. */
export function isIssuedCursor(cursor: string): boolean {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return false
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const m = /^seq:(0|[1-9][0-9]{0,14})$/.exec(text)
  return m !== null && Buffer.from(text).toString('base64url') === cursor
}

export function issuedCursor(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url')
}

/** The JWS media type the contract names for envelopes (docs/integrators.md, "Sign"). */
export const ENVELOPE_TYP = 'btb-envelope+jws'
