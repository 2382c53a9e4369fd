// Query strings of the privacy officer's search and export, and the pages and
// CSV rows they answer with. Cursors are opaque but stable: they name the
// last sequence number seen, and the ledger is append-only.
import { PRINCIPLE_IDS } from '../../policies/principles.ts'
import { commonSchema, DATE_TIME_PATTERN, MESSAGE_ID_PATTERN } from '../../schemas/index.ts'
import { RequestInvalidError } from '../errors.ts'
import { printable } from '../lib/text-schemas.ts'
import { FIELD_DECISION_PROPERTIES } from './field-decision-schema.ts'
import type { AuditEvent, AuditQuery, GatewayStore, StoredAuditEntry } from '../store/records.ts'

/** The query string: the ledger's filters plus paging. */
export type AuditFilterQuery = AuditQuery & { cursor?: string; limit?: number }

// Listed through a Record so that the compiler fails when the ledger gains an event.
const AUDIT_EVENTS = Object.keys({
  accepted: 1,
  refused: 1,
  received: 1,
  delivered: 1,
  'delivery-failed': 1,
  'dead-lettered': 1,
  purged: 1,
  'checkpoint-countersigned': 1,
  'disclosure-report': 1,
  'ledger-verified': 1,
  'legal-hold-placed': 1,
  'legal-hold-released': 1,
  'dead-letter-resent': 1,
  'dead-letter-discarded': 1,
  withdrawn: 1
} satisfies Record<AuditEvent, 1>)

// The agencies of the code list (schemas/common.schema.json): a filter by any
// other name, `cbsa` say, would match nothing without a word.
const AGENCIES = (commonSchema.$defs as Record<string, { enum: string[] }>).agency!.enum

export const AUDIT_FILTER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: { type: 'string', pattern: DATE_TIME_PATTERN, format: 'date-time', description: 'Entries at or after this instant.' },
    to: { type: 'string', pattern: DATE_TIME_PATTERN, format: 'date-time', description: 'Entries strictly before this instant.' },
    kind: printable(64),
    purpose: printable(64),
    partner: { type: 'string', enum: ['CA', 'US'], description: 'Entries whose sending or receiving party is in that country.' },
    agency: { type: 'string', enum: AGENCIES, description: 'Entries whose sending or receiving party is that agency, e.g. `CBSA`.' },
    event: { type: 'string', enum: AUDIT_EVENTS, description: 'e.g. `accepted`, `refused`, `received`, `delivered`, `dead-lettered`.' },
    code: printable(64, 'The refusal code of `refused` entries.'),
    direction: { type: 'string', enum: ['outbound', 'inbound'] },
    fieldPath: printable(200, "A field's path without array indices (`traveller.surname`, `records[].document.number`): entries that decided that field."),
    policyVersion: printable(80),
    messageId: { type: 'string', pattern: MESSAGE_ID_PATTERN },
    cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,40}$', description: 'The `nextCursor` of the previous page.' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, description: 'Entries per page (default 100).' }
  }
} as const

const NULLABLE_STRING = { type: ['string', 'null'] } as const

const ENTRY_PROPERTIES = {
  at: { type: 'string', format: 'date-time' },
  event: { type: 'string', enum: AUDIT_EVENTS },
  direction: {
    type: 'string',
    enum: ['outbound', 'inbound'],
    description:
      "The message's direction. Absent on entries about no message (purges, legal holds, disclosure reports), but for those written before it was dropped, which say `outbound`."
  },
  messageId: NULLABLE_STRING,
  caller: { ...NULLABLE_STRING, description: "The certificate's holder: a system (`CA/CBSA/pik-primary`), `gateway:US`, an officer." },
  kind: NULLABLE_STRING,
  purpose: NULLABLE_STRING,
  legalAuthority: NULLABLE_STRING,
  agreementRef: NULLABLE_STRING,
  from: {
    ...NULLABLE_STRING,
    description: '`country/agency/system` of the sender; `country/agency` for a message from the partner, and for a refusal whose sender is not the caller.'
  },
  to: { ...NULLABLE_STRING, description: '`country/agency` of the recipient.' },
  policy: {
    type: ['object', 'null'],
    additionalProperties: false,
    required: ['id', 'version'],
    properties: { id: { type: 'string' }, version: { type: 'string' } }
  },
  code: { ...NULLABLE_STRING, description: 'On a refusal, its code.' },
  digest: { ...NULLABLE_STRING, description: 'Keyed digest (HMAC) of the JWS as received.' },
  fields: {
    type: 'array',
    description:
      'The decision for every field: never its value, only a keyed digest of it. A field inside an array is one decision per rule ' +
      'outcome: its pattern (`records[].traveller.surname`), how many items, and one digest of their values.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['path', 'action', 'rule', 'principle', 'digest'],
      properties: {
        ...FIELD_DECISION_PROPERTIES,
        principle: { type: 'string', enum: [...PRINCIPLE_IDS] },
        digest: {
          type: 'string',
          description:
            'HMAC-SHA256 under the audit key, base64url: of the value; for an array pattern, of its values in array order, each as a JSON string and a line feed.'
        }
      }
    }
  },
  reference: { type: 'string', description: 'The legal-hold reference, on the entries that place or release one.' },
  complaintRef: { type: 'string', description: 'The complaint reference (P9) the hold carries, on the entries that place or release one that carries one.' },
  counts: {
    type: 'object',
    additionalProperties: { type: 'integer' },
    description: 'What a purge removed; on a resent dead letter, the attempts it had used.'
  },
  reason: { type: 'string', description: "An operator's stated reason for resending or discarding a dead letter." },
  supersedes: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'action'],
    description: "On a correction's or a retraction's entries: the message it supersedes, by id, and the sender's coded reason (P4).",
    properties: { id: { type: 'string' }, action: { type: 'string', enum: ['correct', 'retract'] }, reason: { type: 'string' } }
  },
  subjects: { type: 'array', items: { type: 'string' }, description: 'Keyed digests (HMAC) of the traveller identifiers the message carries.' },
  subjectFields: {
    type: 'array',
    description:
      "On a batch whose records were not all decided alike, on a correction of a batch, and on a correction of a single record that names another traveller than its original: which of `fields` each traveller's own record was counted in, " +
      'one item per distinct set, naming the fields and the travellers by their places (from 0) in `fields` and `subjects`. A traveller of the original ' +
      "a correction of a batch names who is not among its records is counted in the batch's own fields only; one of a single record's, in none. A traveller in no item has none of the fields; " +
      'on an entry without `subjectFields`, every traveller has every field.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['fields', 'subjects'],
      properties: {
        fields: { type: 'array', items: { type: 'integer', minimum: 0 } },
        subjects: { type: 'array', items: { type: 'integer', minimum: 0 } }
      }
    }
  }
} as const

/** Entries about no message carry no direction; only some events carry a reference, counts or a reason. */
const ENTRY_OPTIONAL: ReadonlySet<string> = new Set(['direction', 'reference', 'complaintRef', 'counts', 'reason', 'supersedes', 'subjectFields'])

/**
 * One ledger entry as stored (store/records.ts). Values never appear: only
 * keyed digests. Served as stored, so that `hash` can be recomputed from it:
 * SHA-256 of `prevHash`, a newline and the JSON text of `entry`.
 */
export const AUDIT_ENTRY_SCHEMA = {
  $id: 'audit-entry',
  title: 'Audit ledger entry',
  type: 'object',
  additionalProperties: false,
  required: ['seq', 'hash', 'prevHash', 'entry'],
  properties: {
    seq: { type: 'integer', minimum: 1 },
    hash: { type: 'string', description: 'base64url SHA-256 of `prevHash`, a newline, and `entry` as JSON text, exactly as served.' },
    prevHash: { type: 'string', description: 'The hash of the entry before (`genesis` for the first).' },
    entry: {
      type: 'object',
      additionalProperties: false,
      required: Object.keys(ENTRY_PROPERTIES).filter((name) => !ENTRY_OPTIONAL.has(name)),
      properties: ENTRY_PROPERTIES
    }
  }
} as const

export function toAuditQuery(q: AuditFilterQuery): AuditQuery {
  const { cursor: _cursor, limit: _limit, ...filters } = q
  return {
    ...filters,
    ...(filters.from === undefined ? {} : { from: upToMillisecond(filters.from) }),
    ...(filters.to === undefined ? {} : { to: upToMillisecond(filters.to) })
  }
}

/**
 * A bound finer than the ledger's milliseconds, moved up to the next one:
 * an entry at `.999` is at or after `.9985` and before `.9995`, and the ledger
 * compares milliseconds, to which a bound would otherwise be cut down (both
 * `from`, inclusive, and `to`, exclusive, go up).
 */
function upToMillisecond(bound: string): string {
  const finer = /\.\d{3}(\d+)/.exec(bound)?.[1]
  if (finer === undefined || /^0+$/.test(finer)) return bound
  const at = Date.parse(bound)
  return Number.isNaN(at) ? bound : new Date(at + 1).toISOString()
}

/** A cursor is exactly what cursorAfter wrote: any other spelling, even of the same number, is refused. */
export function readCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0
  const match = /^seq:(0|[1-9][0-9]{0,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  const after = match === null ? Number.NaN : Number(match[1])
  if (!Number.isSafeInteger(after) || cursorAfter(after) !== cursor) throw new RequestInvalidError('cursor is not one this gateway gave')
  return after
}

export function cursorAfter(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url')
}

/**
 * A disclosure report's cursor also carries the seq its first page read up
 * to (disclosure-page.ts, `upTo`), so that its pages and totals are of one
 * ledger. `upTo` is undefined on the first page, and for a cursor of the
 * plain form; read exactly as readCursor reads.
 */
export function readReportCursor(cursor: string | undefined): { after: number; upTo: number | undefined } {
  if (cursor === undefined) return { after: 0, upTo: undefined }
  const match = /^seq:(0|[1-9][0-9]{0,15})(?:;upto:(0|[1-9][0-9]{0,15}))?$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  const after = match === null ? Number.NaN : Number(match[1])
  const upTo = match?.[2] === undefined ? undefined : Number(match[2])
  const again = upTo === undefined ? cursorAfter(after) : reportCursor(after, upTo)
  if (!Number.isSafeInteger(after) || (upTo !== undefined && (!Number.isSafeInteger(upTo) || upTo < after)) || again !== cursor) {
    throw new RequestInvalidError('cursor is not one this gateway gave')
  }
  return { after, upTo }
}

export function reportCursor(after: number, upTo: number): string {
  return Buffer.from(`seq:${after};upto:${upTo}`).toString('base64url')
}

/**
 * The most a page of entries holds, in bytes of JSON: `limit` counts entries,
 * and an entry that names the travellers of a 5,000-record batch is ~230 kB,
 * so a page of 1,000 such entries would be 230 MB, held in memory and sent at
 * once. A page stops at `limit` entries or this many bytes, whichever comes
 * first (always at least one entry); `nextCursor` goes on from there.
 */
export const PAGE_MAX_BYTES = 4 * 1024 * 1024
/** Entries read from the store at a time by allMatching. */
const ALL_MATCHING_PAGE = 500

/** Every entry matching the query, page by page: constant memory however large the export. */
export async function* allMatching(store: GatewayStore, query: AuditQuery): AsyncGenerator<StoredAuditEntry> {
  for (let after = 0; ; ) {
    const page = await store.searchAudit(query, after, ALL_MATCHING_PAGE)
    yield* page
    if (page.length < ALL_MATCHING_PAGE) return
    after = page[page.length - 1]!.seq
  }
}

/** Rows read from the store at a time while a page fills. */
const READ_AHEAD = 100

export async function auditPage(
  store: GatewayStore,
  query: AuditQuery,
  q: AuditFilterQuery
): Promise<{ entries: StoredAuditEntry[]; nextCursor: string | null }> {
  const limit = q.limit ?? 100
  const entries: StoredAuditEntry[] = []
  const next = (): string => cursorAfter(entries[entries.length - 1]!.seq)
  let bytes = 0
  let after = readCursor(q.cursor)
  for (;;) {
    const want = Math.min(READ_AHEAD, limit - entries.length)
    // One more than wanted tells whether anything follows.
    const rows = await store.searchAudit(query, after, want + 1)
    for (const row of rows.slice(0, want)) {
      const size = JSON.stringify(row.entry).length
      if (entries.length > 0 && bytes + size > PAGE_MAX_BYTES) return { entries, nextCursor: next() }
      bytes += size
      entries.push(row)
    }
    if (rows.length <= want) return { entries, nextCursor: null }
    if (entries.length === limit) return { entries, nextCursor: next() }
    after = entries[entries.length - 1]!.seq
  }
}

const CSV_COLUMNS = [
  'seq',
  'at',
  'event',
  'direction',
  'messageId',
  'caller',
  'kind',
  'purpose',
  'legalAuthority',
  'agreementRef',
  'from',
  'to',
  'policyId',
  'policyVersion',
  'code',
  'digest',
  'supersedes',
  'subjects',
  'reference',
  'complaintRef',
  'counts',
  'fields',
  'reason',
  'hash',
  'prevHash'
] as const

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
  const cells = [
    e.seq,
    x.at,
    x.event,
    x.direction,
    x.messageId,
    x.caller,
    x.kind,
    x.purpose,
    x.legalAuthority,
    x.agreementRef,
    x.from,
    x.to,
    x.policy?.id,
    x.policy?.version,
    x.code,
    x.digest,
    x.supersedes === undefined ? undefined : [x.supersedes.action, x.supersedes.id, x.supersedes.reason].filter((v) => v !== undefined).join(' '),
    x.subjects.join(' '),
    x.reference,
    x.complaintRef,
    x.counts === undefined
      ? undefined
      : Object.entries(x.counts)
          .map(([name, n]) => `${name}=${n}`)
          .join(' '),
    x.fields.map((f) => `${f.path}=${f.action}:${f.rule}:${f.principle}`).join(' '),
    x.reason,
    e.hash,
    e.prevHash
  ]
  return `${cells.map(csvCell).join(',')}\r\n`
}
