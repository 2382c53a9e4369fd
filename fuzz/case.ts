// What one generated input is, as plain data. fast-check generates and shrinks
// these descriptions, not HTTP requests: the request (fresh id, the time now,
// the signature over the mutated bytes) is made from the description each time
// it is sent, so a shrunk counterexample is still signed with the right key
// and still fresh when it is replayed.
//
// Every mutation says what it does to validity, by construction:
//   'bad' — the input is invalid whatever else happens (it must not get a 2xx);
//   'ok'  — a variation the contract allows (whitespace, member order, an offset);
//   'any' — the contract does not say (a trailing newline after the JWS, a
//           `charset` parameter): only the format invariants apply.
import type { IdentityName } from './identities.ts'

export type Endpoint = 'messages' | 'exchange' | 'status' | 'audit'
export const ENDPOINTS: readonly Endpoint[] = ['messages', 'exchange', 'status', 'audit']

export type Effect = 'bad' | 'ok' | 'any'
export type Verdict = 'valid' | 'invalid' | 'any'

export type Json = null | boolean | number | string | Json[] | { [name: string]: Json }
export type Path = ReadonlyArray<string | number>

/** How a fresh message id is written. */
export type IdForm =
  | 'v4'
  | 'v7'
  | 'upper'
  | 'mixed-case'
  | 'urn'
  | 'braces'
  | 'no-hyphens'
  | 'fullwidth-digit'
  | 'zero-width-space'
  | 'cyrillic-a'
  | 'trailing-newline'
  | 'leading-space'
  | 'short'
  | 'long'
  | 'non-hex'

/** How an instant (now + offset) is written. */
export type InstantForm =
  | 'Z'
  | 'fraction'
  | 'offset'
  | 'lower-t'
  | 'lower-z'
  | 'space'
  | 'no-offset'
  | 'hour-offset'
  | 'compact-offset'
  | 'offset-24'
  | 'fraction-10'
  | 'empty-fraction'
  | 'second-60'
  | 'hour-24'
  | 'feb-30'
  | 'month-13'
  | 'comma-fraction'
  | 'date-only'
  | 'z-and-offset'
  | 'fullwidth-digit'
  | 'expanded-year'

/** A value set into the envelope: literal JSON, raw JSON text, or made at send time. */
export type Value =
  | { readonly json: Json }
  | { readonly raw: string }
  | { readonly id: IdForm }
  | { readonly instant: InstantForm; readonly offsetSeconds: number }
  /** The `from` of the other Canadian agency system than the one that signs. */
  | { readonly otherSystem: true }

export type EnvelopeEdit = { readonly tag: string; readonly effect: Effect } & (
  | { readonly op: 'set'; readonly path: Path; readonly value: Value }
  | { readonly op: 'delete'; readonly path: Path }
  /** Retype the `pick`-th leaf or object of the envelope (mod their number) to another JSON type. */
  | { readonly op: 'retype'; readonly pick: number; readonly to: 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array' }
  /** Replace the `pick`-th string leaf with a string no field's maxLength admits. */
  | { readonly op: 'huge'; readonly pick: number; readonly length: number; readonly char: string }
  /**
   * A member written as raw text into the object at `at` (duplicates, escaped names, __proto__).
   * `name` is JSON text, or `$KEY:n` / `$KEY-ESCAPED:n` for the n-th existing member's name (mod their number);
   * `value` is JSON text, or `$SAME` for that member's own value.
   */
  | { readonly op: 'member'; readonly at: Path; readonly name: string; readonly value: string; readonly first: boolean }
  | { readonly op: 'payload'; readonly payload: Json }
  /** Delete the `pick`-th required member (the envelope's, the payload's, the handling's). */
  | { readonly op: 'delete-required'; readonly pick: number }
  /** An escaped UTF-16 surrogate that is not half of a pair, in the `pick`-th string leaf. */
  | { readonly op: 'surrogate'; readonly pick: number; readonly unit: number; readonly where: 'start' | 'end' | 'reversed-pair' }
  /** A number literal (1e400, 15.000000000000000001) in place of the `pick`-th number leaf (or string leaf, if none). */
  | { readonly op: 'number'; readonly pick: number; readonly literal: string }
  /** Bytes that are not UTF-8 in place of the `pick`-th string leaf's content. */
  | { readonly op: 'bytes'; readonly pick: number; readonly bytes: readonly number[] }
)

export type TextEdit = { readonly tag: string; readonly effect: Effect } & (
  | { readonly op: 'style'; readonly indent: number; readonly reverse: boolean }
  | { readonly op: 'bom' }
  | { readonly op: 'append'; readonly text: string }
  | { readonly op: 'truncate'; readonly keep: number }
  | { readonly op: 'replace'; readonly text: string }
)

export type HeaderEdit = { readonly tag: string; readonly effect: Effect } & (
  | { readonly op: 'set'; readonly name: string; readonly value: Json }
  | { readonly op: 'delete'; readonly name: string }
  | { readonly op: 'member'; readonly name: string; readonly value: string; readonly first: boolean }
  | { readonly op: 'style'; readonly indent: number; readonly reverse: boolean }
  | { readonly op: 'text'; readonly text: string }
  | { readonly op: 'bom' }
)

/** Whose key signs, and how. */
export type Signing = { readonly tag: string; readonly effect: Effect } & (
  | { readonly key: 'own' }
  | { readonly key: 'other'; readonly other: 'CBSA' | 'IRCC' | 'US_GATEWAY' | 'CA_GATEWAY' | 'CBP'; readonly kidOf: 'signer' | 'claimed' }
  | { readonly key: 'der' }
)

export type EncodingEdit = { readonly tag: string; readonly effect: Effect } & (
  | { readonly op: 'pad'; readonly part: number; readonly pad: string }
  | { readonly op: 'std-alphabet'; readonly part: number }
  | { readonly op: 'insert'; readonly part: number; readonly at: number; readonly text: string }
  | { readonly op: 'non-canonical'; readonly part: number }
  | { readonly op: 'parts'; readonly parts: number }
  | { readonly op: 'empty'; readonly part: number }
  | { readonly op: 'flip'; readonly bit: number }
  | { readonly op: 'truncate-signature'; readonly bytes: number }
  | { readonly op: 'extend-signature'; readonly bytes: number }
  | { readonly op: 'surround'; readonly before: string; readonly after: string }
  | { readonly op: 'json-serialization' }
  | { readonly op: 'replace'; readonly body: string }
)

/** Who calls, with which token, and how the request is framed at the HTTP level (what undici can send). */
export interface Http {
  readonly identity: IdentityName
  /** Which token goes in Authorization. */
  readonly auth: 'own' | 'none' | 'garbage' | 'other-identity' | 'tampered' | 'basic' | 'alg-none' | 'agency-signed' | 'not-needed'
  readonly contentType: string | null
  /** Raw query string appended to the path ('' for none). */
  readonly query: string
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'
  readonly extraHeaders?: ReadonlyArray<readonly [string, string]>
  readonly tags: readonly string[]
  readonly effect: Effect
  /** The caller or token is wrong: whatever else is wrong, the answer must be an authentication refusal. */
  readonly authFails: boolean
}

export interface SignedBody {
  /** Index into the templates (mod their number). */
  readonly template: number
  readonly envelope: readonly EnvelopeEdit[]
  readonly text: readonly TextEdit[]
  readonly header: readonly HeaderEdit[]
  readonly signing: Signing
  readonly encoding: readonly EncodingEdit[]
}

export interface SubmitCase {
  readonly kind: 'submit'
  readonly endpoint: 'messages'
  readonly family: string
  readonly body: SignedBody
  /** Resend one accepted message: exactly its bytes ('ok'), or its envelope signed again ('bad': same id, other bytes). */
  readonly repeat?: { readonly pick: number; readonly sameBytes: boolean }
  readonly http: Http
}

export interface ExchangeCase {
  readonly kind: 'exchange'
  readonly endpoint: 'exchange'
  readonly family: string
  readonly body: SignedBody
  readonly repeat?: { readonly pick: number; readonly sameBytes: boolean }
  readonly http: Http
}

/** The id in GET /v1/messages/{id}. */
export type PathId = { readonly tag: string; readonly effect: Effect } & (
  | { readonly source: 'own' | 'other'; readonly pick: number; readonly form: 'exact' | IdForm }
  | { readonly source: 'fresh'; readonly form: IdForm }
  | { readonly source: 'raw'; readonly text: string }
)

export interface StatusCase {
  readonly kind: 'status'
  readonly endpoint: 'status'
  readonly family: string
  readonly as: 'CBSA' | 'IRCC'
  readonly id: PathId
  readonly http: Http
}

export type AuditRoute = 'entries' | 'entry' | 'export' | 'verification' | 'holds' | 'disclosures' | 'place-hold' | 'release-hold'

export interface AuditCase {
  readonly kind: 'audit'
  readonly endpoint: 'audit'
  readonly family: string
  readonly route: AuditRoute
  /** Path parameter (seq or ref), already percent-encoded as sent. */
  readonly param?: { readonly text: string; readonly tag: string; readonly effect: Effect }
  readonly body?: { readonly text: string; readonly tag: string; readonly effect: Effect }
  readonly http: Http
}

/** A request undici would not send: broken HTTP/1.1 framing, written on a raw TLS socket. */
export interface FramingCase {
  readonly kind: 'framing'
  readonly endpoint: Endpoint
  readonly family: string
  readonly defect: string
  readonly effect: Effect
  /** Bytes of the request, with {{TOKEN}} and {{BODY}} filled in at send time. */
  readonly request: string
}

export type FuzzCase = SubmitCase | ExchangeCase | StatusCase | AuditCase | FramingCase

function worst(effects: Iterable<Effect>): Effect {
  let verdict: Effect = 'ok'
  for (const e of effects) {
    if (e === 'bad') return 'bad'
    if (e === 'any') verdict = 'any'
  }
  return verdict
}

function bodyEdits(body: SignedBody): Array<{ tag: string; effect: Effect }> {
  return [...body.envelope, ...body.text, ...body.header, body.signing, ...body.encoding]
}

/** Every mutation of an input with what it does to validity. */
function mutationsOf(c: FuzzCase): Array<{ tag: string; effect: Effect }> {
  switch (c.kind) {
    case 'framing':
      return [{ tag: `framing:${c.defect}`, effect: c.effect }]
    case 'submit':
    case 'exchange': {
      const repeat =
        c.repeat === undefined
          ? []
          : [{ tag: c.repeat.sameBytes ? 'repeat:same-bytes' : 'repeat:same-id-other-bytes', effect: c.repeat.sameBytes ? ('ok' as const) : ('bad' as const) }]
      return [...bodyEdits(c.body), ...repeat, ...c.http.tags.map((tag) => ({ tag, effect: c.http.effect }))]
    }
    case 'status':
      return [c.id, ...c.http.tags.map((tag) => ({ tag, effect: c.http.effect }))]
    case 'audit':
      return [
        { tag: `route:${c.route}`, effect: 'ok' },
        ...(c.param === undefined ? [] : [c.param]),
        ...(c.body === undefined ? [] : [c.body]),
        ...c.http.tags.map((tag) => ({ tag, effect: c.http.effect }))
      ]
  }
}

/** The oracle's verdict on an input, from its description alone: the gateway is never consulted. */
export function verdictOf(c: FuzzCase): Verdict {
  const effect = worst(mutationsOf(c).map((m) => m.effect))
  return effect === 'bad' ? 'invalid' : effect === 'ok' ? 'valid' : 'any'
}

/** Whether the caller or its token is wrong: the answer must then be 401/403, whatever else the input gets wrong. */
export function authFails(c: FuzzCase): boolean {
  return c.kind !== 'framing' && c.http.authFails
}

/** The tags of the mutations that are not plain valid variations: what the input is "about". */
export function tagsOf(c: FuzzCase): string[] {
  const tags = mutationsOf(c)
    .filter((m) => m.effect !== 'ok' || m.tag.startsWith('route:'))
    .map((m) => m.tag)
  return [...new Set(tags)]
}
