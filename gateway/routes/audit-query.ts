// Query strings of the privacy officer's search and export, and the pages and
// CSV rows they answer with. Cursors are opaque but stable: they name the
// last sequence number seen, and the ledger is append-only.
import { RequestInvalidError } from '../errors.ts'
import type { AuditQuery, GatewayStore, StoredAuditEntry } from '../store/records.ts'

/** The query string: the ledger's filters plus paging. */
export type AuditFilterQuery = AuditQuery & { cursor?: string; limit?: number }

export const AUDIT_FILTER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    kind: { type: 'string', maxLength: 64 },
    purpose: { type: 'string', maxLength: 64 },
    partner: { type: 'string', enum: ['CA', 'US'] },
    agency: { type: 'string', maxLength: 32 },
    event: { type: 'string', maxLength: 32 },
    code: { type: 'string', maxLength: 64 },
    direction: { type: 'string', enum: ['outbound', 'inbound'] },
    fieldPath: { type: 'string', maxLength: 200 },
    policyVersion: { type: 'string', maxLength: 80 },
    messageId: { type: 'string', maxLength: 64 },
    cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,40}$' },
    limit: { type: 'integer', minimum: 1, maximum: 1000 }
  }
} as const

export function toAuditQuery(q: AuditFilterQuery): AuditQuery {
  const { cursor: _cursor, limit: _limit, ...filters } = q
  return filters
}

function readCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0
  const after = Number(Buffer.from(cursor, 'base64url').toString('utf8').replace(/^seq:/, ''))
  if (!Number.isSafeInteger(after) || after < 0) throw new RequestInvalidError('cursor is not one this gateway gave')
  return after
}

export function cursorAfter(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url')
}

export async function auditPage(store: GatewayStore, query: AuditQuery, q: AuditFilterQuery): Promise<{ entries: StoredAuditEntry[]; nextCursor: string | null }> {
  const limit = q.limit ?? 100
  // One more than asked tells whether another page exists.
  const rows = await store.searchAudit(query, readCursor(q.cursor), limit + 1)
  const entries = rows.slice(0, limit)
  return { entries, nextCursor: rows.length > limit ? cursorAfter(entries[entries.length - 1]!.seq) : null }
}

const CSV_COLUMNS = ['seq', 'at', 'event', 'direction', 'messageId', 'caller', 'kind', 'purpose', 'legalAuthority', 'agreementRef',
  'from', 'to', 'policyId', 'policyVersion', 'code', 'digest', 'subjects', 'fields', 'hash', 'prevHash'] as const

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value)
  // Quote everything that could split a cell, and neutralise spreadsheet formulas.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text
  return /[",\n\r]/.test(safe) || safe !== text ? `"${safe.replaceAll('"', '""')}"` : safe
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`
}

export function csvRow(e: StoredAuditEntry): string {
  const x = e.entry
  const cells = [e.seq, x.at, x.event, x.direction, x.messageId, x.caller, x.kind, x.purpose, x.legalAuthority, x.agreementRef,
    x.from, x.to, x.policy?.id, x.policy?.version, x.code, x.digest, x.subjects.join(' '),
    x.fields.map((f) => `${f.path}=${f.action}:${f.rule}:${f.principle}`).join(' '), e.hash, e.prevHash]
  return `${cells.map(csvCell).join(',')}\r\n`
}
