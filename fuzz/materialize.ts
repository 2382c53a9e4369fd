// From an input's description to the bytes sent: a fresh id and the time now,
// the mutations applied to the envelope and to its JSON text, the header
// written and signed with the key the description names, the compact
// serialisation broken the way it says. Made anew at every send, so that a
// replayed or shrunk input is as fresh and as correctly signed as the first.
import { randomUUID } from 'node:crypto'
import { envelopeSchema, kindSchemas, type Kind } from '../schemas/index.ts'
import type {
  AuditCase,
  EncodingEdit,
  EnvelopeEdit,
  ExchangeCase,
  FramingCase,
  FuzzCase,
  HeaderEdit,
  Http,
  Path,
  SignedBody,
  StatusCase,
  SubmitCase,
  Value
} from './case.ts'
import { ENVELOPE_TYP } from './contract.ts'
import type { Identities, IdentityName, Signer } from './identities.ts'
import { COMPACT, RawJson, addExtraMember, writeJson, type Marked, type TextStyle } from './json-text.ts'
import { b64u, signEncoded, signature } from './jws.ts'
import { formatId, formatInstant, respell } from './spellings.ts'
import { EXCHANGE_TEMPLATES, SUBMISSION_TEMPLATES, type Sender } from './templates.ts'

export interface PooledMessage {
  readonly sender: IdentityName
  readonly id: string
  readonly jws: string
  readonly envelope: Record<string, unknown>
}

/** Messages of the known-valid stream the gateway accepted: what repeats and status reads refer to. */
export interface Pools {
  readonly submissions: PooledMessage[]
  readonly exchanges: PooledMessage[]
}

export interface MaterializeContext {
  readonly identities: Identities
  readonly pools: Pools
  /** The current token of an identity that gets one. */
  token(name: IdentityName): string | undefined
  now(): number
  /** host:port of the CA gateway, for raw requests. */
  readonly host: string
}

export interface WireRequest {
  readonly identity: IdentityName
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: Buffer | string
  /** A raw HTTP/1.1 request, written as is on its own TLS connection. */
  readonly raw?: string
  /** The envelope id, when the body carries one. */
  readonly messageId?: string
  /** Where a 2xx puts this message: called for the known-valid stream only (a copy of the envelope costs). */
  readonly remember?: () => { readonly into: keyof Pools; readonly message: PooledMessage }
}

// ---------------------------------------------------------------- the envelope as a tree

type Node = Record<string | symbol, unknown>
const isObject = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RawJson)

function get(root: unknown, path: Path): unknown {
  let node: unknown = root
  for (const k of path) {
    if (node === null || typeof node !== 'object' || node instanceof RawJson) return undefined
    node = (node as Record<string | number, unknown>)[k]
  }
  return node
}

/** Sets `path`, making containers on the way where they are missing or are not containers. */
function put(root: Node, path: Path, value: unknown): void {
  let node: Record<string | number, unknown> = root as Record<string, unknown>
  for (const k of path.slice(0, -1)) {
    const next = node[k]
    if (next === null || typeof next !== 'object' || next instanceof RawJson) node[k] = {}
    node = node[k] as Record<string | number, unknown>
  }
  node[path.at(-1)!] = value
}

function remove(root: Node, path: Path): void {
  const parent = get(root, path.slice(0, -1))
  if (parent !== null && typeof parent === 'object' && !(parent instanceof RawJson)) {
    if (Array.isArray(parent)) parent.splice(Number(path.at(-1)), 1)
    else delete (parent as Record<string | number, unknown>)[path.at(-1)!]
  }
}

/** Every node below the root, depth first in member order, with its JSON type. */
function nodes(root: unknown, path: Array<string | number> = [], out: Array<{ path: Path; type: string }> = []): Array<{ path: Path; type: string }> {
  if (root instanceof RawJson || root === null || typeof root !== 'object') return out
  const entries: Array<[string | number, unknown]> = Array.isArray(root) ? root.map((v, i) => [i, v]) : Object.entries(root)
  for (const [k, v] of entries) {
    const p = [...path, k]
    out.push({ path: p, type: typeOf(v) })
    nodes(v, p, out)
  }
  return out
}

function typeOf(v: unknown): string {
  if (v instanceof RawJson) return 'raw'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

const RETYPE_ORDER = ['string', 'number', 'boolean', 'null', 'object', 'array'] as const
const RETYPED: Record<(typeof RETYPE_ORDER)[number], () => unknown> = {
  string: () => 'x',
  number: () => 7,
  boolean: () => true,
  null: () => null,
  object: () => ({}),
  array: () => []
}

const ENVELOPE_REQUIRED = (envelopeSchema as { required: string[] }).required
const HANDLING_REQUIRED = ['policy', 'policyVersion', 'retentionDays', 'onwardTransfer', 'humanReviewRequired', 'forwardedBy', 'forwardedAt', 'originDigest']

interface EnvelopeContext {
  readonly kind: Kind
  readonly sender: Sender | 'US_GATEWAY'
  readonly now: number
  readonly identities: Identities
  /** Byte strings to write in place of markers, once the text is encoded. */
  readonly bytes: Map<string, readonly number[]>
}

function resolve(value: Value, ctx: EnvelopeContext): unknown {
  if ('json' in value) return structuredClone(value.json)
  if ('raw' in value) return new RawJson(value.raw)
  if ('id' in value) return formatId(value.id, ctx.now)
  if ('instant' in value) return formatInstant(value.instant, ctx.now + value.offsetSeconds * 1000)
  return { ...ctx.identities.systems[ctx.sender === 'CBSA' ? 'IRCC' : 'CBSA'] }
}

/** `$KEY:n` / `$KEY-ESCAPED:n` names an existing member of `obj`; anything else is already JSON text. */
function memberName(obj: Node, spec: string): { text: string; key?: string } {
  const m = /^\$KEY(-ESCAPED)?:(\d+)$/.exec(spec)
  if (m === null) return { text: spec }
  const keys = Object.keys(obj)
  if (keys.length === 0) return { text: '"x-no-member-to-duplicate"' }
  const key = keys[Number(m[2]) % keys.length]!
  if (m[1] === undefined) return { text: JSON.stringify(key), key }
  return { text: `"\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(key).slice(2)}`, key }
}

function applyEnvelopeEdit(env: Node, edit: EnvelopeEdit, ctx: EnvelopeContext, door: 'messages' | 'exchange'): void {
  const strings = () =>
    nodes(env)
      .filter((n) => n.type === 'string')
      .map((n) => n.path)
  switch (edit.op) {
    case 'set':
      put(env, edit.path, resolve(edit.value, ctx))
      return
    case 'delete':
      remove(env, edit.path)
      return
    case 'payload':
      env.payload = structuredClone(edit.payload)
      return
    case 'retype': {
      const all = nodes(env)
      const target = all[edit.pick % all.length]!
      let i = RETYPE_ORDER.indexOf(edit.to)
      const clash = (t: string) => t === target.type || (t === 'null' && target.path.length === 1 && target.path[0] === 'correlationId')
      while (clash(RETYPE_ORDER[i]!)) i = (i + 1) % RETYPE_ORDER.length
      put(env, target.path, RETYPED[RETYPE_ORDER[i]!]())
      return
    }
    case 'huge': {
      const s = strings()
      put(env, s.length === 0 ? ['id'] : s[edit.pick % s.length]!, edit.char.repeat(edit.length))
      return
    }
    case 'member': {
      const at = get(env, edit.at)
      const obj = isObject(at) ? at : env
      const name = memberName(obj, edit.name)
      const value = edit.value === '$SAME' ? (name.key === undefined ? 'null' : writeJson(obj[name.key])) : edit.value
      addExtraMember(obj, { name: name.text, value, first: edit.first })
      return
    }
    case 'delete-required': {
      const candidates: Path[] = ENVELOPE_REQUIRED.filter((k) => k in env).map((k) => [k])
      const payload = env.payload
      // A forwarded payload is held to what the sender's policy lets through, not to the kind's
      // required list (a withheld field is absent): only an agency's payload has members it must carry.
      if (door === 'messages' && isObject(payload)) {
        const required = ((kindSchemas[ctx.kind] as { required?: string[] }).required ?? []).filter((k) => k in payload)
        candidates.push(...required.map((k) => ['payload', k]))
      }
      const handling = env.handling
      if (door === 'exchange' && isObject(handling)) candidates.push(...HANDLING_REQUIRED.filter((k) => k in handling).map((k) => ['handling', k]))
      if (candidates.length > 0) remove(env, candidates[edit.pick % candidates.length]!)
      else env.id = 1
      return
    }
    case 'surrogate': {
      const s = strings()
      const path = s.length === 0 ? ['id'] : s[edit.pick % s.length]!
      const original = JSON.stringify(String(get(env, path) ?? ''))
      const unit = `\\u${edit.unit.toString(16)}`
      const text =
        edit.where === 'start'
          ? `"${unit}${original.slice(1)}`
          : edit.where === 'end'
            ? `${original.slice(0, -1)}${unit}"`
            : `${original.slice(0, -1)}\\udc00\\ud800"`
      put(env, path, new RawJson(text))
      return
    }
    case 'number': {
      const all = nodes(env)
      const numbers = all.filter((n) => n.type === 'number').map((n) => n.path)
      const pool = numbers.length > 0 ? numbers : strings()
      put(env, pool.length === 0 ? ['id'] : pool[edit.pick % pool.length]!, new RawJson(edit.literal))
      return
    }
    case 'bytes': {
      const s = strings()
      const marker = `@@FUZZBYTES${ctx.bytes.size}@@`
      ctx.bytes.set(marker, edit.bytes)
      put(env, s.length === 0 ? ['id'] : s[edit.pick % s.length]!, new RawJson(`"${marker}"`))
      return
    }
  }
}

/** The payload bytes: the envelope written in the style asked, then text- and byte-level defects. */
function payloadBytes(env: Node, body: SignedBody, bytes: Map<string, readonly number[]>): Buffer {
  let style: TextStyle = COMPACT
  for (const e of body.text) if (e.op === 'style') style = { indent: e.indent, reverse: e.reverse }
  let text = writeJson(env, style)
  let bom = false
  for (const e of body.text) {
    if (e.op === 'bom') bom = true
    else if (e.op === 'append') text += e.text
    else if (e.op === 'truncate') text = text.slice(0, Math.floor(text.length * e.keep))
    else if (e.op === 'replace') text = e.text
  }
  let out = Buffer.from(text, 'utf8')
  for (const [marker, replacement] of bytes) {
    const at = out.indexOf(marker)
    if (at >= 0) out = Buffer.concat([out.subarray(0, at), Buffer.from(replacement), out.subarray(at + marker.length)])
  }
  return bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), out]) : out
}

// ---------------------------------------------------------------- the JWS

const OTHER_SIGNERS = ['CBSA', 'IRCC', 'US_GATEWAY', 'CA_GATEWAY', 'CBP'] as const

/** An ASN.1 DER ECDSA-Sig-Value from raw r‖s (what openssl writes, and what JWS does not take). */
function derFromRaw(raw: Buffer): Buffer {
  const integer = (b: Buffer): Buffer => {
    let x = b
    while (x.length > 1 && x[0] === 0 && x[1]! < 0x80) x = x.subarray(1)
    if (x[0]! >= 0x80) x = Buffer.concat([Buffer.from([0]), x])
    return Buffer.concat([Buffer.from([0x02, x.length]), x])
  }
  const content = Buffer.concat([integer(raw.subarray(0, raw.length / 2)), integer(raw.subarray(raw.length / 2))])
  return Buffer.concat([Buffer.from([0x30, content.length]), content])
}

function substitute(value: unknown, own: Signer, headerAlg: string): unknown {
  if (typeof value === 'string') {
    if (value === '$OTHER_ALLOWED') return headerAlg === 'ES256' ? 'EdDSA' : 'ES256'
    return value.replaceAll('$OWN_KID_UPPER', own.kid.toUpperCase()).replaceAll('$OWN_KID', own.kid)
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, own, headerAlg))
  return value
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The same bytes, spelled with non-zero trailing bits (RFC 4648 §3.5: not the canonical encoding). */
function nonCanonical(part: string): string {
  if (part.length % 4 === 0 || part.length === 0) return `${part}=`
  const last = B64.indexOf(part.at(-1)!)
  return part.slice(0, -1) + B64[last ^ 1]
}

function editPart(part: string, e: EncodingEdit): string {
  switch (e.op) {
    case 'pad':
      return part + e.pad
    case 'std-alphabet': {
      const std = part.replaceAll('-', '+').replaceAll('_', '/')
      return std === part ? `${part}+` : std
    }
    case 'insert': {
      // Inside the serialisation, never before its first character or after its last: whitespace there is only
      // whitespace around the JWS, which the gateway trims (ambiguousEncodingEdit, in arbitraries/jws.ts).
      const first = e.part === 0 ? 1 : 0
      const last = e.part === 2 ? part.length - 1 : part.length
      const at = last < first ? first : first + (e.at % (last - first + 1))
      return part.slice(0, at) + e.text + part.slice(at)
    }
    case 'non-canonical':
      return nonCanonical(part)
    default:
      return part
  }
}

const PART_EDITS = new Set(['pad', 'std-alphabet', 'insert', 'non-canonical'])

function compactJws(body: SignedBody, payload: Buffer, own: Signer, identities: Identities): string {
  let signer = own
  let kid = own.kid
  let alg = own.alg
  if (body.signing.key === 'other') {
    const names = OTHER_SIGNERS.filter((n) => identities.signers[n].kid !== own.kid)
    const name = names.includes(body.signing.other as never) ? body.signing.other : names[0]!
    signer = identities.signers[name]
    if (body.signing.kidOf === 'signer') {
      kid = signer.kid
      alg = signer.alg
    }
  }

  const header: Marked = { alg, kid, typ: ENVELOPE_TYP }
  let style: TextStyle = COMPACT
  let text: string | undefined
  let bom = false
  for (const e of body.header as HeaderEdit[]) {
    if (e.op === 'set') header[e.name] = substitute(e.value, own, alg)
    else if (e.op === 'delete') delete header[e.name]
    else if (e.op === 'style') style = { indent: e.indent, reverse: e.reverse }
    else if (e.op === 'text') text = e.text
    else if (e.op === 'bom') bom = true
    else if (e.op === 'member') {
      const existing = /^"(alg|kid|typ)"$/.exec(e.name) ?? /^"\\u00([0-9a-f]{2})(lg|id|yp)"$/.exec(e.name)
      const key = existing === null ? undefined : existing.length === 2 ? existing[1] : String.fromCharCode(parseInt(existing[1]!, 16)) + existing[2]
      const value = e.value === '$SAME' ? writeJson(key === undefined ? null : (header[key] ?? null)) : e.value
      addExtraMember(header, { name: e.name, value, first: e.first })
    }
  }
  const headerText = text ?? writeJson(header, style)
  let headerBytes: Buffer = Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(headerText, 'utf8')])

  // A part whose byte length is a multiple of 3 has no spare bits to spell differently: a space after
  // the JSON (legal whitespace) gives it some, so that the non-canonical spelling is always possible.
  const roomForSpareBits = (bytes: Buffer, part: number): Buffer =>
    body.encoding.some((e) => e.op === 'non-canonical' && e.part === part) && bytes.length % 3 === 0 ? Buffer.concat([bytes, Buffer.from(' ')]) : bytes
  headerBytes = roomForSpareBits(headerBytes, 0)
  let h = b64u(headerBytes)
  let p = b64u(roomForSpareBits(payload, 1))
  for (const e of body.encoding) {
    if (!PART_EDITS.has(e.op) || !('part' in e)) continue
    if (e.part === 0) h = editPart(h, e)
    if (e.part === 1) p = editPart(p, e)
  }
  const input = `${h}.${p}`
  let sig: Buffer =
    body.signing.key === 'der' ? (signer.alg === 'ES256' ? signature(signer, input, true) : derFromRaw(signature(signer, input))) : signature(signer, input)
  for (const e of body.encoding) {
    if (e.op === 'flip') {
      sig = Buffer.from(sig)
      const bit = e.bit % (sig.length * 8)
      sig[bit >> 3] = sig[bit >> 3]! ^ (1 << (bit & 7))
    } else if (e.op === 'truncate-signature') sig = sig.subarray(0, e.bytes % sig.length)
    else if (e.op === 'extend-signature') sig = Buffer.concat([sig, Buffer.alloc(e.bytes)])
  }
  let s = b64u(sig)
  for (const e of body.encoding) if (PART_EDITS.has(e.op) && 'part' in e && e.part === 2) s = editPart(s, e)

  let parts = [h, p, s]
  let jws: string | undefined
  for (const e of body.encoding) {
    if (e.op === 'parts')
      parts = e.parts <= 3 ? [h, p, s].slice(0, e.parts) : [h, p, s, ...Array.from({ length: e.parts - 3 }, (_, i) => (i === 0 ? s : 'AAAA'))]
    else if (e.op === 'empty') parts = parts.map((x, i) => (i === e.part ? '' : x))
    else if (e.op === 'json-serialization') jws = JSON.stringify({ protected: h, payload: p, signature: s })
    else if (e.op === 'replace') jws = e.body
  }
  jws ??= parts.join('.')
  for (const e of body.encoding) if (e.op === 'surround') jws = e.before + jws + e.after
  return jws
}

// ---------------------------------------------------------------- HTTP

const TOKEN_HOLDERS: readonly IdentityName[] = ['CBSA', 'IRCC', 'OFFICER', 'OPERATOR']

function authorization(http: Http, ctx: MaterializeContext): string | undefined {
  const own = ctx.token(http.identity)
  switch (http.auth) {
    case 'own':
      return own === undefined ? undefined : `Bearer ${own}`
    case 'none':
    case 'not-needed':
      return undefined
    case 'garbage':
      return 'Bearer not-a-token'
    case 'basic':
      return `Basic ${Buffer.from('pik-primary:secret').toString('base64')}`
    case 'other-identity': {
      const other = TOKEN_HOLDERS.find((n) => n !== http.identity)!
      return `Bearer ${ctx.token(other)}`
    }
    case 'tampered': {
      const [h, p, s] = (own ?? 'a.b.c').split('.')
      const mid = Math.floor(s!.length / 2)
      return `Bearer ${h}.${p}.${s!.slice(0, mid)}${s![mid] === 'A' ? 'B' : 'A'}${s!.slice(mid + 1)}`
    }
    case 'alg-none': {
      const [, p] = (own ?? 'a.b.c').split('.')
      return `Bearer ${b64u('{"alg":"none","typ":"JWT"}')}.${p}.`
    }
    case 'agency-signed': {
      // The same claims, signed by an agency key: a token no gateway key made.
      const [, p] = (own ?? 'a.b.c').split('.')
      const signer = ctx.identities.signers.CBSA
      return `Bearer ${signEncoded(signer, b64u(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })), p!)}`
    }
  }
}

function headersOf(http: Http, ctx: MaterializeContext): Record<string, string> {
  const headers: Record<string, string> = {}
  if (http.contentType !== null) headers['content-type'] = http.contentType
  const auth = authorization(http, ctx)
  if (auth !== undefined) headers.authorization = auth
  for (const [name, value] of http.extraHeaders ?? []) headers[name] = value
  return headers
}

// ---------------------------------------------------------------- per endpoint

const templateText = new WeakMap<object, string>()

/** A mutable copy of a template (parsing its JSON text once written is cheaper than structuredClone). */
function freshCopy(template: Readonly<Record<string, unknown>>): Node {
  let text = templateText.get(template)
  if (text === undefined) templateText.set(template, (text = JSON.stringify(template)))
  return JSON.parse(text) as Node
}

function signedRequest(c: SubmitCase | ExchangeCase, ctx: MaterializeContext): WireRequest {
  const path = `${c.endpoint === 'messages' ? '/v1/messages' : '/v1/exchange'}${c.http.query}`
  const now = ctx.now()
  const pool = c.endpoint === 'messages' ? ctx.pools.submissions : ctx.pools.exchanges
  if (c.repeat !== undefined) {
    if (pool.length === 0) throw new Error('no accepted message to repeat yet')
    const item = pool[c.repeat.pick % pool.length]!
    const identity = c.endpoint === 'messages' ? item.sender : 'US_GATEWAY'
    const signer = c.endpoint === 'messages' ? ctx.identities.signers[item.sender as Sender] : ctx.identities.signers.US_GATEWAY
    // Another spelling of the same envelope: another payload under the id. The same payload signed again is
    // a repeat of a submission (an ES256 signature differs each time), so the spelling itself must differ
    // from the one accepted (which may have been indented already).
    const respelled = (indent: number) =>
      signEncoded(
        signer,
        b64u(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ: ENVELOPE_TYP })),
        b64u(writeJson(item.envelope, { indent, reverse: false }))
      )
    const jws = c.repeat.sameBytes ? item.jws : [1, 3, 5].map(respelled).find((j) => j.split('.')[1] !== item.jws.split('.')[1])!
    return { identity, method: c.http.method ?? 'POST', path, headers: headersOf({ ...c.http, identity }, ctx), body: jws, messageId: item.id }
  }
  const identities = ctx.identities
  const template =
    c.endpoint === 'messages'
      ? SUBMISSION_TEMPLATES[c.body.template % SUBMISSION_TEMPLATES.length]!
      : EXCHANGE_TEMPLATES[c.body.template % EXCHANGE_TEMPLATES.length]!
  const sender: Sender | 'US_GATEWAY' = c.endpoint === 'messages' ? (template as (typeof SUBMISSION_TEMPLATES)[number]).sender : 'US_GATEWAY'
  const env: Node = { id: formatId('v4', now), ...freshCopy(template.envelope), createdAt: formatInstant('Z', now) }
  if (c.endpoint === 'exchange') env.handling = { ...(env.handling as Node), forwardedAt: formatInstant('Z', now) }
  const ectx: EnvelopeContext = { kind: template.kind, sender, now, identities, bytes: new Map() }
  for (const edit of c.body.envelope) applyEnvelopeEdit(env, edit, ectx, c.endpoint)
  const payload = payloadBytes(env, c.body, ectx.bytes)
  const own = identities.signers[sender]
  const jws = compactJws(c.body, payload, own, identities)
  const messageId = typeof env.id === 'string' ? env.id : undefined
  const snapshot = (): Record<string, unknown> => JSON.parse(JSON.stringify(env, (_k, v) => (v instanceof RawJson ? undefined : v))) as Record<string, unknown>
  return {
    identity: c.http.identity,
    method: c.http.method ?? 'POST',
    path,
    headers: headersOf(c.http, ctx),
    body: jws,
    ...(messageId === undefined ? {} : { messageId }),
    ...(messageId === undefined
      ? {}
      : {
          remember: () => ({
            into: c.endpoint === 'messages' ? ('submissions' as const) : ('exchanges' as const),
            message: { sender, id: messageId, jws, envelope: snapshot() }
          })
        })
  }
}

function statusRequest(c: StatusCase, ctx: MaterializeContext): WireRequest {
  const now = ctx.now()
  let segment: string
  const id = c.id
  if (id.source === 'raw') segment = id.text
  else if (id.source === 'fresh') segment = encodeURIComponent(formatId(id.form, now))
  else {
    const candidates = ctx.pools.submissions.filter((m) => (m.sender === c.as) === (id.source === 'own'))
    if (candidates.length === 0) throw new Error(`no accepted message of ${id.source === 'own' ? c.as : 'another system'} yet`)
    const exact = candidates[id.pick % candidates.length]!.id
    segment = encodeURIComponent(id.form === 'exact' ? exact : respell(exact, id.form))
  }
  return { identity: c.http.identity, method: c.http.method ?? 'GET', path: `/v1/messages/${segment}${c.http.query}`, headers: headersOf(c.http, ctx) }
}

const AUDIT_PATHS: Record<AuditCase['route'], { method: string; path: (param: string) => string }> = {
  entries: { method: 'GET', path: () => '/v1/audit/entries' },
  entry: { method: 'GET', path: (p) => `/v1/audit/entries/${p}` },
  export: { method: 'GET', path: () => '/v1/audit/export' },
  verification: { method: 'GET', path: () => '/v1/audit/verification' },
  holds: { method: 'GET', path: () => '/v1/audit/legal-holds' },
  disclosures: { method: 'POST', path: () => '/v1/audit/disclosures' },
  'place-hold': { method: 'POST', path: () => '/v1/audit/legal-holds' },
  'release-hold': { method: 'DELETE', path: (p) => `/v1/audit/legal-holds/${p}` }
}

function auditRequest(c: AuditCase, ctx: MaterializeContext): WireRequest {
  const route = AUDIT_PATHS[c.route]
  return {
    identity: c.http.identity,
    method: c.http.method ?? route.method,
    path: route.path(c.param?.text ?? '') + c.http.query,
    headers: headersOf(c.http, ctx),
    ...(c.body === undefined ? {} : { body: c.body.text.replaceAll('{{REF}}', `fuzz-${randomUUID().slice(0, 13)}`) })
  }
}

const FRAMING_IDENTITY: Record<FramingCase['endpoint'], IdentityName> = { messages: 'CBSA', status: 'CBSA', exchange: 'US_GATEWAY', audit: 'OFFICER' }

function framingRequest(c: FramingCase, ctx: MaterializeContext): WireRequest {
  const identity = FRAMING_IDENTITY[c.endpoint]
  const raw = c.request.replaceAll('{{HOST}}', ctx.host).replaceAll('{{TOKEN}}', ctx.token(identity) ?? '')
  return { identity, method: 'RAW', path: raw.slice(0, raw.indexOf(' HTTP/') >= 0 ? raw.indexOf(' HTTP/') : 40).slice(0, 120), headers: {}, raw }
}

export function materialize(c: FuzzCase, ctx: MaterializeContext): WireRequest {
  switch (c.kind) {
    case 'submit':
    case 'exchange':
      return signedRequest(c, ctx)
    case 'status':
      return statusRequest(c, ctx)
    case 'audit':
      return auditRequest(c, ctx)
    case 'framing':
      return framingRequest(c, ctx)
  }
}
