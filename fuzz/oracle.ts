// The invariants, checked against every answer and, after the run, against
// what the gateways wrote. The verdict on an input comes from its description
// (case.ts), never from the gateway; the codes come from gateway/errors.ts,
// the public list docs/integrators.md documents.
import type { StoredAuditEntry } from '../gateway/store/records.ts'
import { ERROR_CODES } from '../gateway/errors.ts'
import { authFails, verdictOf, type FuzzCase } from './case.ts'
import type { WireRequest } from './materialize.ts'
import { NoAnswer, type WireResponse } from './transport.ts'

export type Invariant =
  /** No 5xx, ever: a refusal is the client's fault and says so. */
  | 'no-5xx'
  /** Every non-2xx is an RFC 9457 application/problem+json document whose `code` is in ERROR_CODES. */
  | 'problem-document'
  /** An input invalid by construction got a 2xx. */
  | 'wrongly-accepted'
  /** A known-valid input was refused. */
  | 'valid-refused'
  /** A wrong caller or token was answered with something other than 401/403 and an authentication code. */
  | 'auth-first'
  /** The request got no answer at all (reset, timeout). */
  | 'no-answer'
  /** The process saw an uncaught exception or rejection, or the gateway stopped answering. */
  | 'crash'
  /** A gateway logged at error level (50) or above. */
  | 'error-log'
  /** The ledger gained an entry other than a refusal that no known-valid input explains. */
  | 'ledger-write'
  /** A known-valid message was not delivered with the partner's receipt after the run. */
  | 'valid-not-delivered'
  /** The ledger no longer verifies from the genesis hash (GET /v1/audit/verification). */
  | 'ledger-verification'

export const INVARIANTS: readonly Invariant[] = [
  'no-5xx',
  'problem-document',
  'wrongly-accepted',
  'valid-refused',
  'auth-first',
  'no-answer',
  'crash',
  'error-log',
  'ledger-write',
  'valid-not-delivered',
  'ledger-verification'
]

export interface Violation {
  readonly invariant: Invariant
  readonly detail: string
  /** For a ledger entry: the message it names. */
  readonly messageId?: string
}

const KNOWN_CODES = new Set<string>(ERROR_CODES)
const AUTH_CODES = new Set(['UNAUTHENTICATED', 'TOKEN_CERT_MISMATCH', 'FORBIDDEN'])

/** The problem document's code, if the body is one. */
export function problemCode(res: WireResponse): string | undefined {
  try {
    const doc = JSON.parse(res.body.toString('utf8')) as { code?: unknown }
    return typeof doc.code === 'string' ? doc.code : undefined
  } catch {
    return undefined
  }
}

function problemDefects(res: WireResponse): string[] {
  const defects: string[] = []
  const type = res.headers['content-type'] ?? ''
  if (!/^application\/problem\+json\b/i.test(type)) defects.push(`content-type ${JSON.stringify(type)}`)
  let doc: Record<string, unknown> | undefined
  try {
    const parsed = JSON.parse(res.body.toString('utf8')) as unknown
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) doc = parsed as Record<string, unknown>
  } catch {
    // reported below
  }
  if (doc === undefined) {
    defects.push(`body is not a JSON object (${res.body.length} bytes: ${JSON.stringify(res.body.toString('utf8').slice(0, 60))})`)
    return defects
  }
  if (typeof doc.code !== 'string' || !KNOWN_CODES.has(doc.code)) defects.push(`code ${JSON.stringify(doc.code)} is not in ERROR_CODES`)
  if (doc.status !== res.status) defects.push(`status member ${JSON.stringify(doc.status)} is not the HTTP status ${res.status}`)
  if (typeof doc.type !== 'string' || typeof doc.title !== 'string') defects.push('no type or title')
  return defects
}

/** What one answer violates. A NoAnswer the client raised before sending is not the gateway's. */
export function checkAnswer(c: FuzzCase, req: WireRequest, answer: WireResponse | NoAnswer): Violation[] {
  if (answer instanceof NoAnswer) return answer.clientSide ? [] : [{ invariant: 'no-answer', detail: answer.message }]
  const violations: Violation[] = []
  const { status } = answer
  const ok = status >= 200 && status < 300
  const code = ok ? undefined : problemCode(answer)
  if (status >= 500) violations.push({ invariant: 'no-5xx', detail: `${status} ${code ?? ''}`.trim() })
  if (!ok) {
    const defects = problemDefects(answer)
    if (defects.length > 0) violations.push({ invariant: 'problem-document', detail: `${status}: ${defects.join('; ')}` })
  }
  const verdict = verdictOf(c)
  if (verdict === 'invalid' && ok) violations.push({ invariant: 'wrongly-accepted', detail: `${status}` })
  if (verdict === 'valid') {
    const expected = c.kind === 'submit' ? (c.repeat?.sameBytes === true ? 200 : 202) : 200
    if (!ok || (req.method === 'POST' && c.kind === 'submit' && status !== expected))
      violations.push({ invariant: 'valid-refused', detail: `${status} ${code ?? ''} (expected ${expected})`.trim() })
  }
  if (authFails(c) && !((status === 401 || status === 403) && code !== undefined && AUTH_CODES.has(code))) {
    violations.push({ invariant: 'auth-first', detail: `${status} ${code ?? ''}`.trim() })
  }
  return violations
}

const MESSAGE_EVENTS = new Set(['accepted', 'received', 'delivered', 'delivery-failed', 'dead-lettered'])

export interface LedgerReport {
  readonly gateway: 'CA' | 'US'
  readonly added: number
  readonly byEvent: Readonly<Record<string, number>>
  readonly violations: Violation[]
}

/**
 * Every entry after `afterSeq` must be a refusal, or an event about a message
 * of the known-valid stream (accepted, received, delivered…), or the partner
 * gateway's checkpoint being countersigned (oversight that volume alone
 * triggers). On the partner's ledger a refusal is itself suspect: only what
 * the fuzzed gateway forwarded reaches it, and that was accepted there.
 */
export type LedgerReader = (after: number, limit: number) => Promise<StoredAuditEntry[]>

export async function checkLedger(
  gateway: 'CA' | 'US',
  read: LedgerReader,
  afterSeq: number,
  allowed: ReadonlySet<string>,
  refusalsAllowed: boolean
): Promise<LedgerReport> {
  const byEvent: Record<string, number> = {}
  const violations: Violation[] = []
  let after = afterSeq
  let added = 0
  for (;;) {
    const page = await read(after, 5000)
    for (const { seq, entry } of page) {
      added++
      byEvent[entry.event] = (byEvent[entry.event] ?? 0) + 1
      const explained =
        (entry.event === 'refused' && refusalsAllowed) ||
        (MESSAGE_EVENTS.has(entry.event) && entry.messageId !== null && allowed.has(entry.messageId)) ||
        entry.event === 'checkpoint-countersigned'
      if (!explained) {
        violations.push({
          invariant: 'ledger-write',
          ...(entry.messageId === null ? {} : { messageId: entry.messageId }),
          detail: `${gateway} ledger #${seq}: ${entry.event} ${entry.messageId ?? '-'} by ${entry.caller ?? '-'}${entry.code === null ? '' : ` code ${entry.code}`}${entry.kind === null ? '' : ` kind ${entry.kind}`}`
        })
      }
    }
    if (page.length < 5000) break
    after = page[page.length - 1]!.seq
  }
  return { gateway, added, byEvent, violations }
}

/** The highest seq in a ledger now: where a run's own entries start. */
export async function ledgerHead(read: LedgerReader): Promise<number> {
  let after = 0
  for (;;) {
    const page = await read(after, 5000)
    if (page.length === 0) return after
    after = page[page.length - 1]!.seq
    if (page.length < 5000) return after
  }
}
