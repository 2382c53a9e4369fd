// What a compact JWS looks like in text that should hold none (a ledger, a
// log, an operator's listing): three base64url parts joined by dots, the
// first a JSON object's encoding ("eyJ" is `{"`), standing on its own.
//
// Not just "eyJ" and some base64url: the ledger's keyed digests are 43
// base64url characters of HMAC output, and about one in 6,500 of them
// contains "eyJ" followed by ten more such characters. A ledger of a few
// hundred digests then "held a JWS" in about one run in twenty: the test's
// flake on a busy machine (issue 9), not a leak.
export const JWS_IN_TEXT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{16,}(?![A-Za-z0-9_-])/

export function looksLikeJws(text: string): boolean {
  return JWS_IN_TEXT.test(text)
}
