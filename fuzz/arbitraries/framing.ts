// Requests below HTTP semantics: broken HTTP/1.1 framing (RFC 9112) that no
// well-behaved client library will send, so they are written byte by byte on
// a raw TLS socket. The request behind each one is itself invalid (a broken
// JWS, an unknown id, a bad sequence number), so a 2xx is never right; what
// is checked is that the refusal is still a problem document with a code,
// never Node's bare "400 Bad Request" and never a hang.
import fc from 'fast-check'
import type { Endpoint, FramingCase } from '../case.ts'

const CRLF = '\r\n'

interface Base {
  readonly endpoint: Endpoint
  readonly line: string
  readonly headers: string[]
  readonly body: string
}

/** One request per endpoint, with placeholders the sender fills in: {{TOKEN}} (the identity's token), {{HOST}}. */
const BASES: readonly Base[] = [
  {
    endpoint: 'messages',
    line: 'POST /v1/messages HTTP/1.1',
    headers: ['Host: {{HOST}}', 'Authorization: Bearer {{TOKEN}}', 'Content-Type: application/jose'],
    body: 'x.y.z'
  },
  { endpoint: 'exchange', line: 'POST /v1/exchange HTTP/1.1', headers: ['Host: {{HOST}}', 'Content-Type: application/jose'], body: 'x.y.z' },
  {
    endpoint: 'status',
    line: 'GET /v1/messages/0d5c8a4e-4f2b-4c1e-9a3d-6b7e8f9a0b1c HTTP/1.1',
    headers: ['Host: {{HOST}}', 'Authorization: Bearer {{TOKEN}}'],
    body: ''
  },
  { endpoint: 'audit', line: 'GET /v1/audit/entries/0 HTTP/1.1', headers: ['Host: {{HOST}}', 'Authorization: Bearer {{TOKEN}}'], body: '' }
]

type Defect = (b: Base, n: number) => string

const withBody = (b: Base, headers: string[], eol = CRLF): string =>
  [b.line, ...headers, 'Connection: close', ...(b.body === '' ? [] : [`Content-Length: ${Buffer.byteLength(b.body)}`])].join(eol) + eol + eol + b.body

const DEFECTS: Readonly<Record<string, Defect>> = {
  'header-too-large': (b, n) => withBody(b, [...b.headers, `X-Big: ${'a'.repeat(17_000 + (n % 64_000))}`]),
  'uri-too-long': (b, n) => withBody({ ...b, line: b.line.replace(' HTTP/1.1', `?x=${'a'.repeat(17_000 + (n % 64_000))} HTTP/1.1`) }, b.headers),
  'bad-header-name': (b) => withBody(b, [...b.headers, 'Bad Header: x']),
  'space-before-colon': (b) => withBody(b, [...b.headers, 'X-A : b']),
  'header-without-colon': (b) => withBody(b, [...b.headers, 'NoColonHere']),
  'empty-header-name': (b) => withBody(b, [...b.headers, ': x']),
  'nul-in-header-value': (b) => withBody(b, [...b.headers, 'X-A: a\u0000b']),
  'cr-in-header-value': (b) => withBody(b, [...b.headers, 'X-A: a\rb']),
  'obs-fold': (b) => withBody(b, [...b.headers, `X-A: a${CRLF} folded`]),
  'bare-lf': (b) => withBody(b, b.headers, '\n'),
  'content-length-and-chunked': (b) =>
    `${[b.line, ...b.headers, 'Connection: close', 'Content-Length: 5', 'Transfer-Encoding: chunked'].join(CRLF) + CRLF + CRLF}5${CRLF}x.y.z${CRLF}0${CRLF}${CRLF}`,
  'two-content-lengths': (b) => `${[b.line, ...b.headers, 'Connection: close', 'Content-Length: 5', 'Content-Length: 6'].join(CRLF) + CRLF + CRLF}x.y.z`,
  'content-length-not-a-number': (b) => `${[b.line, ...b.headers, 'Connection: close', 'Content-Length: abc'].join(CRLF) + CRLF + CRLF}x.y.z`,
  'content-length-negative': (b) => [b.line, ...b.headers, 'Connection: close', 'Content-Length: -1'].join(CRLF) + CRLF + CRLF,
  'content-length-plus-sign': (b) => `${[b.line, ...b.headers, 'Connection: close', 'Content-Length: +5'].join(CRLF) + CRLF + CRLF}x.y.z`,
  'unknown-transfer-encoding': (b) => `${[b.line, ...b.headers, 'Connection: close', 'Transfer-Encoding: gzip'].join(CRLF) + CRLF + CRLF}x.y.z`,
  'chunked-not-last': (b) =>
    `${[b.line, ...b.headers, 'Connection: close', 'Transfer-Encoding: chunked, gzip'].join(CRLF) + CRLF + CRLF}5${CRLF}x.y.z${CRLF}0${CRLF}${CRLF}`,
  'bad-chunk-size': (b) =>
    `${[b.line, ...b.headers, 'Connection: close', 'Transfer-Encoding: chunked'].join(CRLF) + CRLF + CRLF}zz${CRLF}x.y.z${CRLF}0${CRLF}${CRLF}`,
  'chunk-size-overflow': (b) =>
    `${[b.line, ...b.headers, 'Connection: close', 'Transfer-Encoding: chunked'].join(CRLF) + CRLF + CRLF}fffffffffffffffff${CRLF}x${CRLF}0${CRLF}${CRLF}`,
  'expect-unknown': (b) => withBody(b, [...b.headers, 'Expect: teapot']),
  'expect-100-continue': (b) => withBody(b, [...b.headers, 'Expect: 100-continue']),
  'bad-method': (b) => withBody({ ...b, line: b.line.replace(/^\S+/, 'G@T') }, b.headers),
  'lowercase-method': (b) => withBody({ ...b, line: b.line.replace(/^\S+/, (m) => m.toLowerCase()) }, b.headers),
  'http-1.2': (b) => withBody({ ...b, line: b.line.replace('HTTP/1.1', 'HTTP/1.2') }, b.headers),
  'http-2.0': (b) => withBody({ ...b, line: b.line.replace('HTTP/1.1', 'HTTP/2.0') }, b.headers),
  'http-0.9': (b) => `${b.line.replace(' HTTP/1.1', '')}${CRLF}`,
  'extra-token-in-request-line': (b) => withBody({ ...b, line: `${b.line} extra` }, b.headers),
  'absolute-form': (b) => withBody({ ...b, line: b.line.replace(' /v1/', ' https://attacker.example/v1/') }, b.headers),
  'no-host': (b) =>
    withBody(
      b,
      b.headers.filter((h) => !h.startsWith('Host:'))
    ),
  'two-hosts': (b) => withBody(b, [...b.headers, 'Host: attacker.example']),
  'control-char-in-target': (b) => withBody({ ...b, line: b.line.replace('/v1/', '/v1/\u0001') }, b.headers),
  'space-in-target': (b) => withBody({ ...b, line: b.line.replace('/v1/', '/v1/ x/') }, b.headers),
  'fragment-in-target': (b) => withBody({ ...b, line: b.line.replace(' HTTP/1.1', '#frag HTTP/1.1') }, b.headers),
  'latin1-header-value': (b) => withBody(b, [...b.headers, 'X-A: caf\u00e9'])
}

export const FRAMING_DEFECTS: readonly string[] = Object.keys(DEFECTS)

export function framingCase(): fc.Arbitrary<FramingCase> {
  return fc.tuple(fc.constantFrom(...BASES), fc.constantFrom(...FRAMING_DEFECTS), fc.nat(1_000_000)).map(
    ([base, defect, n]): FramingCase => ({
      kind: 'framing',
      endpoint: base.endpoint,
      family: 'framing',
      defect,
      effect: 'bad',
      request: DEFECTS[defect]!(base, n)
    })
  )
}
