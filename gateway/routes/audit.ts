// The privacy officer's view of the ledger (docs/architecture.md, "The
// contract" and "Privacy principles in code"): search, one entry, a
// traveller's disclosure report, streamed exports, verification, and legal
// holds, which carry complaint references (P9; docs/privacy-officers.md,
// "Complaint references"). Privacy-officer certificates with a bound token
// only; agency systems and the partner are refused.
import { availableParallelism } from 'node:os'
import { Readable } from 'node:stream'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { DATE_TIME_PATTERN, MESSAGE_ID_PATTERN } from '../../schemas/index.ts'
import { ledgerOrigin } from '../audit/checkpoint.ts'
import { CHECKPOINT_CONFLICT_QUERY, isCheckpointConflict } from '../audit/checkpoint-conflict.ts'
import { inclusionProof, inclusionProofs } from '../audit/ledger-proofs.ts'
import { disclosurePage, supersedingKey, type MessageKey } from '../audit/disclosure-page.ts'
import { travellerFields } from '../audit/traveller-fields.ts'
import { verifyLedger } from '../audit/verify-ledger.ts'
import { auditStatistics, type Bucket } from '../audit/audit-statistics.ts'
import { WITNESSED_CHECKPOINT_PATH, fetchWitnessedCheckpoint } from '../audit/witness-client.ts'
import { NotFoundError, RequestInvalidError } from '../errors.ts'
import { REASON_SCHEMA } from '../lib/text-schemas.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { requireBoundToken } from '../pipeline/authorize-token.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import { MESSAGE_STATUS_SCHEMA, messageStatus } from '../intake/message-status.ts'
import { documentSubject, holdsIdentifier, identitySubject, membershipSubject, namesIssuingState, namesNoOne } from '../pipeline/traveller-subjects.ts'
import type { Checkpoint, Direction, LegalHold, StoredAuditEntry } from '../store/records.ts'
import { SECURITY, cursorPage, jsonResponse, problemResponses, type ErrorCode } from '../plugins/openapi.ts'
import {
  allMatching,
  auditPage,
  csvHeader,
  csvRow,
  readReportCursor,
  type AuditFilterQuery,
  AUDIT_ENTRY_SCHEMA,
  AUDIT_FILTER_SCHEMA,
  toAuditQuery
} from '../audit/audit-query.ts'

/** One traveller, by one identifier: a document, a membership, or (for a message that names them by neither) surname and date of birth. */
interface TravellerIdentifier {
  documentNumber?: string
  issuingCountry?: string
  membershipId?: string
  surname?: string
  dateOfBirth?: string
}

interface DisclosureBody extends TravellerIdentifier {
  cursor?: string
  limit?: number
}

const TRAVELLER_IDENTIFIER = {
  documentNumber: {
    type: 'string',
    minLength: 1,
    maxLength: 20,
    pattern: '^[^\\p{Cc}]+$',
    description: "The travel document's number, as the traveller shows it."
  },
  // Any case, full-width letters, spaces and fillers, as a document number is
  // (docs/privacy-officers.md, "The audit API"); what it reads as is checked
  // in subjectOf, where it is read.
  issuingCountry: {
    type: 'string',
    minLength: 1,
    maxLength: 12,
    pattern: '^[^\\p{Cc}]+$',
    description: 'Its issuing state (ICAO code), e.g. `CAN`, in any case.'
  },
  membershipId: { type: 'string', minLength: 1, maxLength: 20, pattern: '^[^\\p{Cc}]+$', description: 'A trusted-traveller membership (NEXUS PASSID).' },
  surname: {
    type: 'string',
    minLength: 1,
    maxLength: 100,
    pattern: '^[^\\p{Cc}]+$',
    description:
      'With `dateOfBirth`: a traveller a message names by neither a document nor a membership (a protected person matched by prints). ' +
      'Case, accents and spaces do not matter.'
  },
  // A real calendar date, as a message's is (common.schema.json's `date`): no message can name 30 February,
  // so a report or a hold on it could only come back empty, or hold nothing, without a word.
  dateOfBirth: { type: 'string', format: 'date', description: 'YYYY-MM-DD, a calendar date, with `surname`.' }
} as const

/** One identifier, whole: a document, a membership, or a surname with a date of birth. */
const ONE_IDENTIFIER = [{ required: ['documentNumber', 'issuingCountry'] }, { required: ['membershipId'] }, { required: ['surname', 'dateOfBirth'] }] as const
/** With ONE_IDENTIFIER's oneOf: half of a second identifier beside a whole one is refused, not dropped in silence. */
const WHOLE_IDENTIFIERS = {
  documentNumber: ['issuingCountry'],
  issuingCountry: ['documentNumber'],
  surname: ['dateOfBirth'],
  dateOfBirth: ['surname']
} as const

/** Entries a page of a disclosure report holds unless the officer asks for fewer; it also stops at PAGE_MAX_BYTES (audit/disclosure-page.ts). */
const REPORT_PAGE = 500

const DISCLOSURE_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...TRAVELLER_IDENTIFIER,
    cursor: { type: 'string', maxLength: 64, description: "The previous page's `nextCursor`, for the page after it." },
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: REPORT_PAGE,
      description: `At most this many entries (${REPORT_PAGE}, the default, at most); a page also stops at 4 MiB of entries.`
    }
  },
  oneOf: ONE_IDENTIFIER,
  dependencies: WHOLE_IDENTIFIERS
} as const

/** Refusals every route here can give: the role, the token, and the 5xx of a failing ledger. */
const OFFICER_REFUSALS: readonly ErrorCode[] = ['UNAUTHENTICATED', 'TOKEN_CERT_MISMATCH', 'FORBIDDEN']
const BODY_REFUSALS: readonly ErrorCode[] = ['REQUEST_INVALID', 'BODY_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']
const OFFICER_ONLY = 'For privacy officers (their certificate and a token from `POST /v1/token`).'

const AUDIT_ENTRY = { $ref: `${AUDIT_ENTRY_SCHEMA.$id}#` } as const

/**
 * Ledger entries are served exactly as stored, not re-serialised from the
 * schema: whoever reads one can recompute its hash from the text received.
 */
const asStored = () => (data: unknown) => JSON.stringify(data)

const REFERENCE_PATTERN = '^[A-Za-z0-9._:-]{3,64}$'

const LEGAL_HOLD_SCHEMA = {
  $id: 'legal-hold',
  title: 'Legal hold',
  description:
    'Retention (P5) does not purge a message it covers, by id or by a traveller digest, until it is released (P9). ' +
    'A complaint reference is attached to a message or a traveller by a hold that carries it.',
  type: 'object',
  additionalProperties: false,
  required: ['ref', 'complaintRef', 'reason', 'messageId', 'subject', 'placedAt', 'releasedAt'],
  properties: {
    ref: { type: 'string', description: "The hold's own reference: unique, and what releases it." },
    complaintRef: {
      type: ['string', 'null'],
      description:
        'The complaint it keeps records for (P9): several holds may carry the same one. Null for a hold placed for another reason (litigation, an inquiry).'
    },
    reason: { type: 'string' },
    messageId: { type: ['string', 'null'] },
    subject: { type: ['string', 'null'], description: 'Keyed digest of the traveller identifier it covers.' },
    placedAt: { type: 'string', format: 'date-time' },
    releasedAt: { type: ['string', 'null'], format: 'date-time' }
  }
} as const

const NULLABLE_STRING = { type: ['string', 'null'] } as const

/** An entry named in the path by its sequence number. */
const SEQ_PARAMS = {
  type: 'object',
  required: ['seq'],
  properties: { seq: { type: 'string', pattern: '^[1-9][0-9]{0,14}$', description: 'Its sequence number, a positive integer.' } }
} as const

const DISCLOSURE_REPORT = {
  type: 'object',
  additionalProperties: false,
  required: ['subject', 'disclosures', 'holds', 'checkpoint', 'nextCursor', 'totals'],
  properties: {
    subject: { type: 'string', description: 'The keyed digest the ledger knows the traveller by.' },
    checkpoint: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['note', 'size', 'root', 'cosignedAt'],
      description:
        "The checkpoint the entries' inclusion proofs lead to: signed by this gateway and cosigned by the partner, its witness (docs/privacy-officers.md, " +
        '"Checking a disclosure report offline"). A report made while the partner cannot be reached may have none, or one that does not cover the latest entries.',
      properties: {
        note: { type: 'string', description: "The checkpoint as a C2SP signed note, with the gateway's signature and the partner's cosignature lines." },
        size: { type: 'integer' },
        root: { type: 'string' },
        cosignedAt: { type: 'string', format: 'date-time' }
      }
    },
    holds: {
      type: 'array',
      description:
        'The legal holds, active and released, on the traveller or on a message of theirs, in the order placed: with them the complaint references (P9) ' +
        'attached to the traveller or their messages.',
      items: { $ref: `${LEGAL_HOLD_SCHEMA.$id}#` }
    },
    nextCursor: {
      type: ['string', 'null'],
      description:
        'Send it back as `cursor` for the next page of entries, in ledger order; null on the last page. Each page carries its own checkpoint and proofs.'
    },
    totals: {
      type: 'object',
      additionalProperties: false,
      required: ['entries', 'sent', 'received', 'lastMonth'],
      description:
        "Over every page: the traveller's entries, and the messages naming them that left the country (`sent`) or came in (`received`); an original listed only through its correction, naming them by no identifier, is not counted among these.",
      properties: {
        entries: { type: 'integer', minimum: 0 },
        sent: { type: 'integer', minimum: 0 },
        received: { type: 'integer', minimum: 0 },
        lastMonth: {
          type: 'object',
          additionalProperties: false,
          required: ['sent', 'received', 'to'],
          description: 'The same in the 30 days before the report, with the agencies they went to.',
          properties: { sent: { type: 'integer', minimum: 0 }, received: { type: 'integer', minimum: 0 }, to: { type: 'array', items: { type: 'string' } } }
        }
      }
    },
    disclosures: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['seq', 'at', 'event', 'messageId', 'kind', 'purpose', 'legalAuthority', 'from', 'to', 'policy', 'shared', 'withheld'],
        properties: {
          seq: { type: 'integer' },
          at: { type: 'string', format: 'date-time' },
          event: { type: 'string' },
          direction: { type: 'string', enum: ['outbound', 'inbound'], description: 'Absent on an entry about no message (a legal hold, a disclosure report).' },
          messageId: NULLABLE_STRING,
          kind: NULLABLE_STRING,
          purpose: NULLABLE_STRING,
          legalAuthority: NULLABLE_STRING,
          from: NULLABLE_STRING,
          to: NULLABLE_STRING,
          policy: {
            type: ['object', 'null'],
            additionalProperties: false,
            required: ['id', 'version'],
            properties: { id: { type: 'string' }, version: { type: 'string' } }
          },
          reference: { type: 'string', description: 'On the placing or release of a hold on the traveller: its reference.' },
          complaintRef: { type: 'string', description: 'And the complaint reference it carries, if any.' },
          shared: {
            type: 'array',
            description: 'The fields that left, and how (never their values).',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['path', 'action', 'rule', 'principle'],
              properties: { path: { type: 'string' }, action: { type: 'string' }, rule: { type: 'string' }, principle: { type: 'string' } }
            }
          },
          withheld: { type: 'integer', minimum: 0, description: 'How many fields were withheld.' },
          supersedes: {
            type: 'object',
            additionalProperties: false,
            required: ['messageId', 'action'],
            description: 'This entry is of a correction or a retraction: the message it supersedes (P4).',
            properties: {
              messageId: { type: 'string' },
              action: { type: 'string', enum: ['correct', 'retract'] },
              reason: { type: 'string', description: "The sender's reason, a code." }
            }
          },
          supersededBy: {
            type: 'object',
            additionalProperties: false,
            required: ['messageId', 'action', 'seq', 'withdrawn', 'mayHaveArrived'],
            description:
              "This entry's message was corrected or retracted: by which message, and the seq of that message's entry in this report. " +
              '`withdrawn`: this gateway stopped the message before it was delivered onward. `mayHaveArrived`: it was withdrawn after a failed attempt ' +
              '(a timeout, a 5xx answer) that may have reached the other side all the same.',
            properties: {
              messageId: { type: 'string' },
              action: { type: 'string', enum: ['correct', 'retract'] },
              reason: { type: 'string' },
              seq: { type: 'integer' },
              withdrawn: { type: 'boolean' },
              mayHaveArrived: { type: 'boolean' }
            }
          },
          ledgerEntry: {
            type: 'string',
            description: "The entry's exact text in the ledger (keyed digests, never a personal value): the leaf its inclusion proof starts from."
          },
          inclusionProof: {
            type: ['object', 'null'],
            additionalProperties: false,
            required: ['treeSize', 'hashes'],
            description: 'RFC 9162 §2.1.3: from the entry (leaf `seq - 1`) to the root of `checkpoint`. Null for an entry after it, not yet witnessed.',
            properties: { treeSize: { type: 'integer' }, hashes: { type: 'array', items: { type: 'string' } } }
          }
        }
      }
    }
  }
} as const

const CHECKPOINT_SUMMARY = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['size', 'root', 'at', 'cosigned', 'cosignedAt'],
  properties: {
    size: { type: 'integer', description: 'How many entries the tree it signs has.' },
    root: { type: 'string', description: 'The Merkle tree root, base64.' },
    at: { type: 'string', format: 'date-time' },
    cosigned: { type: 'boolean', description: 'Whether the partner, its witness, has cosigned it.' },
    cosignedAt: { type: ['string', 'null'], format: 'date-time' }
  }
} as const

const CONFLICTS = {
  type: 'array',
  description:
    "Checkpoint conflicts (`CHECKPOINT_CONFLICT`): a checkpoint of the partner's ledger this gateway refused to cosign, or one of " +
    'this ledger the partner refused: either ledger was cut short or rewritten. Each is an alert; the ledger entry says why.',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['seq', 'at', 'reason'],
    properties: {
      seq: { type: 'integer', description: 'The ledger entry that records it.' },
      at: { type: 'string', format: 'date-time' },
      reason: { type: 'string' }
    }
  }
} as const

const VERIFICATION = {
  type: 'object',
  additionalProperties: false,
  required: ['ok', 'entries', 'checkpoints', 'countersignatures', 'checkpointedTo', 'cosigned', 'warnings', 'latestCheckpoint', 'conflicts'],
  properties: {
    ok: { type: 'boolean' },
    entries: { type: 'integer', description: 'Entries whose chain and Merkle tree nodes verified.' },
    checkpoints: { type: 'integer', description: 'Checkpoints whose signature and tree root verified.' },
    countersignatures: { type: 'integer', description: 'Of those, how many carried a partner cosignature that verified too.' },
    checkpointedTo: {
      type: 'integer',
      description: 'The size of the last verified checkpoint (0: none). Entries after it are held by the chain alone until a checkpoint signs them.'
    },
    cosigned: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['size', 'cosignedAt', 'fromPartner'],
      description:
        "The largest checkpoint cosigned by the partner that the ledger was checked against: `fromPartner` when it is the partner's " +
        "own copy, fetched from it (then no rewrite of the ledger up to `size` passes, even with this ledger's checkpoints deleted or re-signed).",
      properties: { size: { type: 'integer' }, cosignedAt: { type: 'string', format: 'date-time' }, fromPartner: { type: 'boolean' } }
    },
    warnings: {
      type: 'array',
      items: { type: 'string' },
      description: 'What weakens the result without disproving it: no cosignature, one older than COSIGNATURE_MAX_AGE_MS, the partner out of reach.'
    },
    firstBad: {
      type: 'object',
      additionalProperties: false,
      required: ['seq', 'reason'],
      description: 'The first entry that does not verify: nothing from it on can be relied on.',
      properties: { seq: { type: 'integer' }, reason: { type: 'string' } }
    },
    latestCheckpoint: CHECKPOINT_SUMMARY,
    conflicts: CONFLICTS
  }
} as const

const WITNESS_SUMMARY = {
  type: 'object',
  additionalProperties: false,
  required: ['latestCheckpoint', 'latestCosigned', 'partnerLedger', 'lastVerification', 'conflicts'],
  properties: {
    lastVerification: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['at', 'by', 'ok', 'entries', 'witnessedTo', 'firstBad'],
      description: 'The last whole-ledger verification a privacy officer ran (`GET /v1/audit/verification`, audited as `ledger-verified`).',
      properties: {
        at: { type: 'string', format: 'date-time' },
        by: NULLABLE_STRING,
        ok: { type: 'boolean' },
        entries: { type: 'integer', description: 'Entries it checked.' },
        witnessedTo: { type: 'integer', description: "How far it found the ledger witnessed by the partner's own copy (0: not at all)." },
        firstBad: { type: ['string', 'null'], description: 'What did not verify, when something did not.' }
      }
    },
    latestCheckpoint: CHECKPOINT_SUMMARY,
    latestCosigned: { ...CHECKPOINT_SUMMARY, description: 'The largest checkpoint of this ledger the partner has cosigned.' },
    partnerLedger: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['size', 'root', 'cosignedAt'],
      description: "The latest checkpoint of the partner's ledger this gateway cosigned as its witness.",
      properties: { size: { type: 'integer' }, root: { type: 'string' }, cosignedAt: { type: 'string', format: 'date-time' } }
    },
    conflicts: CONFLICTS
  }
} as const

const ENTRY_PROOF = {
  type: 'object',
  additionalProperties: false,
  required: ['seq', 'ledgerEntry', 'inclusionProof', 'checkpoint'],
  properties: {
    seq: { type: 'integer' },
    ledgerEntry: { type: 'string', description: "The entry's exact text in the ledger: the leaf its proof starts from." },
    inclusionProof: DISCLOSURE_REPORT.properties.disclosures.items.properties.inclusionProof,
    checkpoint: DISCLOSURE_REPORT.properties.checkpoint
  }
} as const

const COUNT = { type: 'integer', minimum: 0 } as const
const STATISTICS = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to', 'bucket', 'messages', 'overTime', 'byKind', 'byPurpose', 'byPartner', 'matchRates'],
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    bucket: { type: 'string', enum: ['hour', 'day'] },
    messages: { ...COUNT, description: 'Messages in the range: `accepted` (outbound) and `received` (inbound) entries, one per message.' },
    overTime: {
      type: 'array',
      description: 'Messages per bucket that has any, each direction.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['at', 'outbound', 'inbound'],
        properties: { at: { type: 'string', format: 'date-time', description: "The bucket's start." }, outbound: COUNT, inbound: COUNT }
      }
    },
    byKind: {
      type: 'array',
      description: 'Messages of each kind, and how many of their field decisions shared, generalised, pseudonymised or withheld a field.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['kind', 'messages', 'share', 'generalise', 'pseudonymise', 'withhold'],
        properties: { kind: { type: 'string' }, messages: COUNT, share: COUNT, generalise: COUNT, pseudonymise: COUNT, withhold: COUNT }
      }
    },
    byPurpose: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['purpose', 'messages'], properties: { purpose: { type: 'string' }, messages: COUNT } }
    },
    byPartner: {
      type: 'array',
      description: 'Messages sent to (outbound) or received from (inbound) each agency of the partner, `country/agency`.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['partner', 'direction', 'messages'],
        properties: { partner: { type: 'string' }, direction: { type: 'string', enum: ['outbound', 'inbound'] }, messages: COUNT }
      }
    },
    matchRates: {
      type: 'array',
      description:
        'Biometric match responses by the country that answered (`US`: Canadian prints checked in the U.S.), and how many matched: ' +
        'a response names a subject on a match only, so its entry has decisions on `subject.` fields.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['answeredBy', 'answered', 'matched'],
        properties: { answeredBy: { type: 'string', enum: ['CA', 'US'] }, answered: COUNT, matched: COUNT }
      }
    }
  }
} as const

interface StatisticsQuery {
  from?: string
  to?: string
  bucket?: Bucket
}

/** The range charted when none is given: the last 30 days. */
const DEFAULT_RANGE_MS = 30 * 86_400_000

// The export streams every match: it has no pages, so neither cursor nor limit.
const { cursor: _cursor, limit: _limit, ...FILTERS } = AUDIT_FILTER_SCHEMA.properties
const EXPORT_QUERY = {
  ...AUDIT_FILTER_SCHEMA,
  properties: { ...FILTERS, format: { type: 'string', enum: ['ndjson', 'csv'], description: 'Default `ndjson`.' } }
} as const

/** How many checkpoint conflicts the verification and witness answers list: the latest. */
const CONFLICTS_LISTED = 100

const LEGAL_HOLD_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['ref', 'reason'],
  description:
    'A hold on one message (`messageId`), or on a traveller (`documentNumber` and `issuingCountry`, `membershipId`, or `surname` and `dateOfBirth`): one of them. ' +
    'With `complaintRef`, it attaches that complaint reference to what it covers. ' +
    'A `ref`, `complaintRef` or `reason` that holds the identifier the hold names (the document number, membership id, surname or date of birth) is refused: the ledger keeps the references.',
  properties: {
    ref: { type: 'string', pattern: REFERENCE_PATTERN, description: "The hold's own reference; unique." },
    complaintRef: {
      type: 'string',
      pattern: REFERENCE_PATTERN,
      description: "The complaint reference (P9) to attach, e.g. the oversight body's file number; several holds may carry the same one."
    },
    reason: REASON_SCHEMA,
    messageId: { type: 'string', pattern: MESSAGE_ID_PATTERN, description: "The message's id, lower-case as submitted." },
    ...TRAVELLER_IDENTIFIER
  }
} as const

const SCHEMAS = {
  entries: {
    summary: 'Search the audit ledger',
    description: `${OFFICER_ONLY} Every filter given must match; pages in ledger order, with a stable cursor.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    querystring: AUDIT_FILTER_SCHEMA,
    response: {
      200: jsonResponse('A page of entries, as stored.', cursorPage('entries', AUDIT_ENTRY)),
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID')
    }
  },
  entry: {
    summary: 'Read one audit entry',
    description: `${OFFICER_ONLY} The entry as stored, with its hash and the hash before it.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    params: SEQ_PARAMS,
    response: {
      200: jsonResponse('The entry.', AUDIT_ENTRY),
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID', 'NOT_FOUND')
    }
  },
  entryProof: {
    summary: "One audit entry's inclusion proof",
    description:
      `${OFFICER_ONLY} The entry's exact text in the ledger and its RFC 9162 inclusion proof against the latest checkpoint the partner cosigned, ` +
      'so that a reader can check, with SHA-256 alone, that the entry is in the ledger the partner witnessed (the console does, in the page). ' +
      'If none covers the entry yet, one is made and witnessed first, as for a disclosure report; `inclusionProof` and `checkpoint` are null ' +
      'only when the partner cannot be reached for that.',
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    params: SEQ_PARAMS,
    response: {
      200: jsonResponse('The entry, its proof and the checkpoint.', ENTRY_PROOF),
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID', 'NOT_FOUND')
    }
  },
  statistics: {
    summary: 'What the ledger records, counted',
    description:
      `${OFFICER_ONLY} Messages and field decisions in a time range (default: the last 30 days), over time, by kind, purpose and partner, ` +
      'and the biometric match rates each way: what the console charts. Counted from the message entries as they stream past, in constant memory.',
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        from: { type: 'string', pattern: DATE_TIME_PATTERN, format: 'date-time', description: 'Entries at or after this instant.' },
        to: { type: 'string', pattern: DATE_TIME_PATTERN, format: 'date-time', description: 'Entries strictly before this instant (default: now).' },
        bucket: { type: 'string', enum: ['hour', 'day'], description: 'The width of `overTime`’s buckets (default `day`).' }
      }
    },
    response: {
      200: jsonResponse('The counts.', STATISTICS),
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID')
    }
  },
  message: {
    summary: "One message's records, for privacy officers",
    description:
      `${OFFICER_ONLY} What this gateway keeps of the message besides its audit entries, each direction it passed in: its status, ` +
      "the signed receipt (outbound: the partner's; inbound: the one this gateway issued) and the correction or retraction linked to it. " +
      'Never its content. A direction it did not pass in is null; neither is `NOT_FOUND`.',
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    params: {
      type: 'object',
      required: ['id'],
      properties: { id: { type: 'string', pattern: MESSAGE_ID_PATTERN, description: "The message's id." } }
    },
    response: {
      200: jsonResponse('The records.', {
        type: 'object',
        additionalProperties: false,
        required: ['outbound', 'inbound'],
        properties: {
          outbound: { anyOf: [{ type: 'null' }, { $ref: `${MESSAGE_STATUS_SCHEMA.$id}#` }] },
          inbound: { anyOf: [{ type: 'null' }, { $ref: `${MESSAGE_STATUS_SCHEMA.$id}#` }] }
        }
      }),
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID', 'NOT_FOUND')
    }
  },
  disclosures: {
    summary: "A traveller's disclosure report",
    description:
      `${OFFICER_ONLY} Every entry that names the traveller: who received which fields of their record, when, for what purpose, ` +
      'under which authority and policy (P8, individual access). A message corrected or retracted says by which message (`supersededBy`), ' +
      'and the correction or retraction is in the report too (`supersedes`), with what it disclosed. ' +
      'A POST, so that a document number never appears in a URL or an access log; ' +
      'the identifier is matched by its keyed digest, and the request itself is audited. ' +
      'The entries come in pages, oldest first (`nextCursor`), each with its own checkpoint and proofs; `totals` counts them all.',
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    body: DISCLOSURE_BODY,
    response: {
      200: jsonResponse('The disclosures.', DISCLOSURE_REPORT),
      ...problemResponses(...OFFICER_REFUSALS, ...BODY_REFUSALS)
    }
  },
  export: {
    summary: 'Export the audit ledger',
    description: `${OFFICER_ONLY} Every entry matching the filters, streamed: NDJSON (one entry per line, as stored) or CSV.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    querystring: EXPORT_QUERY,
    response: {
      200: {
        description: 'The entries, as an attachment.',
        headers: { 'content-disposition': { type: 'string', description: '`attachment; filename="audit-<country>-<time>.<format>"`' } },
        content: {
          'application/x-ndjson': { schema: { type: 'string', description: 'One audit entry (schema `audit-entry`) per line.' } },
          'text/csv': { schema: { type: 'string', description: 'A header row, then one row per entry; cells that could start a formula are quoted.' } }
        }
      },
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID')
    }
  },
  verification: {
    summary: 'Verify the audit ledger',
    description:
      `${OFFICER_ONLY} Re-verifies the whole chain from the genesis hash, the Merkle tree stored with it, every signed checkpoint ` +
      'and every partner cosignature, the search index against the entries, and the ledger against the latest checkpoint the partner ' +
      'cosigned, fetched from the partner (P12, effective oversight). It stops at the first entry that does not verify.',
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    response: {
      200: jsonResponse('The verification.', VERIFICATION),
      ...problemResponses(...OFFICER_REFUSALS)
    }
  },
  witness: {
    summary: 'Checkpoints and their witnessing, at a glance',
    description:
      `${OFFICER_ONLY} The latest checkpoint of this ledger and the latest the partner cosigned, the latest of the partner's ledger ` +
      'this gateway cosigned, and every checkpoint conflict recorded. Cheap: nothing is re-verified.',
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    response: {
      200: jsonResponse('The summary.', WITNESS_SUMMARY),
      ...problemResponses(...OFFICER_REFUSALS)
    }
  },
  holds: {
    summary: 'List legal holds',
    description: `${OFFICER_ONLY} Active and released.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    response: {
      200: jsonResponse('The holds.', {
        type: 'object',
        additionalProperties: false,
        required: ['holds'],
        properties: { holds: { type: 'array', items: { $ref: `${LEGAL_HOLD_SCHEMA.$id}#` } } }
      }),
      ...problemResponses(...OFFICER_REFUSALS)
    }
  },
  placeHold: {
    summary: 'Place a legal hold, or attach a complaint reference',
    description:
      `${OFFICER_ONLY} Keeps a message, or every message naming a traveller, from the retention purge until released; with \`complaintRef\`, ` +
      "attaches that complaint reference to it, and the traveller's disclosure report lists it. Audited. A message no audit entry names is `NOT_FOUND`.",
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    body: LEGAL_HOLD_BODY,
    response: {
      201: jsonResponse('The hold placed.', { $ref: `${LEGAL_HOLD_SCHEMA.$id}#` }),
      ...problemResponses(...OFFICER_REFUSALS, ...BODY_REFUSALS, 'NOT_FOUND')
    }
  },
  releaseHold: {
    summary: 'Release a legal hold',
    description: `${OFFICER_ONLY} Audited.`,
    tags: ['audit'],
    security: SECURITY.certificateAndToken,
    params: {
      type: 'object',
      required: ['ref'],
      properties: { ref: { type: 'string', pattern: REFERENCE_PATTERN, description: "The hold's reference." } }
    },
    response: {
      204: { type: 'null', description: 'Released.' },
      ...problemResponses(...OFFICER_REFUSALS, 'NOT_FOUND')
    }
  }
}

function subjectOf(body: TravellerIdentifier): string {
  if (namesNoOne(body))
    throw new RequestInvalidError('the identifier is empty once case, spaces, fillers (<), hyphens and accents are set aside: no message names it')
  if (body.issuingCountry !== undefined && !namesIssuingState(body.issuingCountry))
    throw new RequestInvalidError('issuingCountry is an issuing state as its ICAO code, one to three letters (`CAN`, `USA`, `D`), not a name written out')
  if (body.membershipId !== undefined) return membershipSubject(body.membershipId)
  if (body.documentNumber !== undefined && body.issuingCountry !== undefined) return documentSubject(body.issuingCountry, body.documentNumber)
  if (body.surname !== undefined && body.dateOfBirth !== undefined) return identitySubject(body.surname, body.dateOfBirth)
  throw new RequestInvalidError('give documentNumber and issuingCountry, membershipId, or surname and dateOfBirth')
}

type HoldBody = TravellerIdentifier & { ref: string; complaintRef?: string; reason: string; messageId?: string }

/**
 * What a hold covers: one message, or one traveller by one identifier. A body
 * naming more than one is refused rather than half read, so that a complaint
 * reference is never attached to other records than the officer meant.
 */
function holdTarget(body: HoldBody): { readonly messageId: string } | { readonly subject: string } {
  const document = body.documentNumber !== undefined || body.issuingCountry !== undefined
  const membership = body.membershipId !== undefined
  const identity = body.surname !== undefined || body.dateOfBirth !== undefined
  const named = [document, membership, identity].filter(Boolean).length
  if (body.messageId !== undefined) {
    if (named > 0) throw new RequestInvalidError('a hold covers one message (messageId) or one traveller, not both')
    return { messageId: body.messageId }
  }
  if (named > 1)
    throw new RequestInvalidError('name the traveller by documentNumber and issuingCountry, by membershipId, or by surname and dateOfBirth: one of them')
  if (named === 0) throw new RequestInvalidError('give messageId, documentNumber and issuingCountry, membershipId, or surname and dateOfBirth')
  const subject = subjectOf(body)
  // The references go into the ledger, which is never purged, and the reason
  // is kept with the hold: the traveller must be in neither but as the digest.
  for (const [member, text] of [
    ['ref', body.ref],
    ['complaintRef', body.complaintRef],
    ['reason', body.reason]
  ] as const) {
    if (text !== undefined && holdsIdentifier(text, body))
      throw new RequestInvalidError(
        `${member} holds the identifier the hold names: write it without the traveller's document, membership, name or date of birth`
      )
  }
  return { subject }
}

export interface AuditRoutesOptions {
  /** COSIGNATURE_MAX_AGE_MS: a latest partner cosignature older than this is warned of. */
  readonly cosignatureMaxAgeMs: number
}

function summary(cp: Checkpoint | undefined) {
  return cp === undefined ? null : { size: cp.size, root: cp.root, at: cp.at, cosigned: cp.cosignature !== null, cosignedAt: cp.cosignedAt }
}

export async function auditRoutes(app: FastifyInstance, opts: AuditRoutesOptions): Promise<void> {
  app.addSchema(AUDIT_ENTRY_SCHEMA)
  app.addSchema(LEGAL_HOLD_SCHEMA)
  app.addSchema(MESSAGE_STATUS_SCHEMA)
  app.addHook('onRequest', requireRole('privacy-officer'))
  app.addHook('onRequest', requireBoundToken)
  // What the ledger says about travellers is kept by no cache, the browser's included (the console reads these).
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store')
    return payload
  })

  /**
   * The holds on the traveller or a message of theirs, and those on each
   * original the report shows through its correction: the store finds those
   * by the records' links, which the purge removes once both messages are
   * gone, and the ledger keeps (docs/privacy-officers.md, "Complaint references").
   */
  async function holdsCovering(subject: string, originals: readonly MessageKey[]): Promise<LegalHold[]> {
    const covering = await app.store.legalHoldsCovering(subject)
    const ids = new Set(originals.map((o) => o.id))
    if (ids.size === 0) return covering
    const listed = new Set(covering.map((h) => h.ref))
    const more = (await app.store.legalHolds()).filter((h) => h.messageId !== null && ids.has(h.messageId) && !listed.has(h.ref))
    if (more.length === 0) return covering
    // In the order placed, as the store lists them.
    return [...covering, ...more].sort((a, b) => (a.placedAt === b.placedAt ? (a.ref < b.ref ? -1 : 1) : a.placedAt < b.placedAt ? -1 : 1))
  }

  app.get<{ Querystring: AuditFilterQuery }>('/v1/audit/entries', { schema: SCHEMAS.entries, serializerCompiler: asStored }, async (request) => {
    return auditPage(app.store, toAuditQuery(request.query), request.query)
  })

  app.get<{ Params: { seq: string } }>('/v1/audit/entries/:seq', { schema: SCHEMAS.entry, serializerCompiler: asStored }, async (request) => {
    const seq = Number(request.params.seq)
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RequestInvalidError('seq must be a positive integer')
    const entry = await app.store.auditEntry(seq)
    if (entry === undefined) throw new NotFoundError(`audit entry ${seq}`)
    return entry
  })

  app.get<{ Params: { seq: string } }>('/v1/audit/entries/:seq/proof', { schema: SCHEMAS.entryProof }, async (request) => {
    const seq = Number(request.params.seq)
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RequestInvalidError('seq must be a positive integer')
    const text = (await app.store.auditTexts([seq])).get(seq)
    if (text === undefined) throw new NotFoundError(`audit entry ${seq}`)
    // As for a disclosure report: a checkpoint is made and witnessed now if none covers the entry yet.
    const cp = await witnessedCheckpointCovering(seq, request.log)
    if (cp === undefined || cp.size < seq) {
      return { seq, ledgerEntry: text, inclusionProof: null, checkpoint: null }
    }
    return {
      seq,
      ledgerEntry: text,
      inclusionProof: { treeSize: cp.size, hashes: await inclusionProof(app.store, seq, cp.size) },
      checkpoint: { note: cp.note + cp.cosignature, size: cp.size, root: cp.root, cosignedAt: cp.cosignedAt }
    }
  })

  app.get<{ Querystring: StatisticsQuery }>('/v1/audit/statistics', { schema: SCHEMAS.statistics }, async (request) => {
    const to = request.query.to ?? new Date().toISOString()
    const from = request.query.from ?? new Date(Date.parse(to) - DEFAULT_RANGE_MS).toISOString()
    // Only the message entries are read, through the search index, not every entry of the range.
    async function* messageEntries(): AsyncGenerator<StoredAuditEntry> {
      yield* allMatching(app.store, { from, to, event: 'accepted' })
      yield* allMatching(app.store, { from, to, event: 'received' })
    }
    return auditStatistics(messageEntries(), { from, to, bucket: request.query.bucket ?? 'day' })
  })

  app.get<{ Params: { id: string } }>('/v1/audit/messages/:id', { schema: SCHEMAS.message }, async (request) => {
    const [outbound, inbound] = await Promise.all([app.store.findMessage('outbound', request.params.id), app.store.findMessage('inbound', request.params.id)])
    if (outbound === undefined && inbound === undefined) throw new NotFoundError(`message ${request.params.id}`)
    return {
      outbound: outbound === undefined ? null : messageStatus(outbound),
      inbound: inbound === undefined ? null : messageStatus(inbound)
    }
  })

  // POST, so that a document number never appears in a URL or an access log.
  app.post<{ Body: DisclosureBody }>('/v1/audit/disclosures', { schema: SCHEMAS.disclosures }, async (request) => {
    const subject = app.policyBook.digest(subjectOf(request.body))
    const { after, upTo } = readReportCursor(request.body.cursor)
    const page = await disclosurePage(app.store, {
      subject,
      after,
      upTo: upTo ?? (await app.store.auditHead())?.seq ?? 0,
      limit: request.body.limit ?? REPORT_PAGE
    })
    const found = page.entries
    const checkpoint = await witnessedCheckpointCovering(found[found.length - 1]?.seq ?? 0, request.log)
    const texts = await app.store.auditTexts(found.map((e) => e.seq))
    const provable = checkpoint === undefined ? [] : found.filter((e) => e.seq <= checkpoint.size).map((e) => e.seq)
    const proofs = checkpoint === undefined ? new Map<number, string[]>() : await inclusionProofs(app.store, provable, checkpoint.size)
    const withdrawn = new Map<string, Promise<{ withdrawn: boolean; mayHaveArrived: boolean }>>()
    const wasWithdrawn = (direction: Direction, id: string): Promise<{ withdrawn: boolean; mayHaveArrived: boolean }> => {
      let answer = withdrawn.get(supersedingKey(direction, id))
      if (answer === undefined) {
        answer = app.store
          .searchAudit({ messageId: id, direction, event: 'withdrawn' }, 0, 1)
          .then(([entry]) => ({ withdrawn: entry !== undefined, mayHaveArrived: (entry?.entry.counts?.uncertainAttempts ?? 0) > 0 }))
        withdrawn.set(supersedingKey(direction, id), answer)
      }
      return answer
    }
    const disclosures = []
    for (const e of found) {
      const { supersedes } = e.entry
      const hashes = proofs.get(e.seq)
      const fields = travellerFields(e.entry, subject)
      const d = {
        ...(e.entry.reference === undefined ? {} : { reference: e.entry.reference }),
        ...(e.entry.complaintRef === undefined ? {} : { complaintRef: e.entry.complaintRef }),
        seq: e.seq,
        at: e.entry.at,
        event: e.entry.event,
        direction: e.entry.direction,
        messageId: e.entry.messageId,
        kind: e.entry.kind,
        purpose: e.entry.purpose,
        legalAuthority: e.entry.legalAuthority,
        from: e.entry.from,
        to: e.entry.to,
        policy: e.entry.policy,
        shared: fields.filter((f) => f.action !== 'withhold').map((f) => ({ path: f.path, action: f.action, rule: f.rule, principle: f.principle })),
        withheld: fields.filter((f) => f.action === 'withhold').length,
        ...(supersedes === undefined
          ? {}
          : { supersedes: { messageId: supersedes.id, action: supersedes.action, ...(supersedes.reason === undefined ? {} : { reason: supersedes.reason }) } }),
        ledgerEntry: texts.get(e.seq)!,
        inclusionProof: hashes === undefined ? null : { treeSize: checkpoint!.size, hashes }
      }
      const by = d.messageId === null || d.direction === undefined ? undefined : page.supersededBy.get(supersedingKey(d.direction, d.messageId))
      disclosures.push(by === undefined ? d : { ...d, supersededBy: { ...by, ...(await wasWithdrawn(d.direction!, d.messageId!)) } })
    }
    // The holds, and with them the complaint references, that cover the traveller or a message of theirs (P9).
    const holds = await holdsCovering(subject, page.originals)
    await app.store.appendAudit(auditEntry({ event: 'disclosure-report', caller: request.caller!.id, subjects: [subject] }))
    return {
      subject,
      disclosures,
      nextCursor: page.nextCursor,
      totals: page.totals,
      holds,
      checkpoint:
        checkpoint === undefined
          ? null
          : { note: checkpoint.note + checkpoint.cosignature, size: checkpoint.size, root: checkpoint.root, cosignedAt: checkpoint.cosignedAt }
    }
  })

  app.get<{ Querystring: AuditFilterQuery & { format?: 'ndjson' | 'csv' } }>('/v1/audit/export', { schema: SCHEMAS.export }, async (request, reply) => {
    const query = toAuditQuery(request.query)
    const csv = request.query.format === 'csv'
    const entries = allMatching(app.store, query)
    async function* lines(): AsyncGenerator<string> {
      if (csv) yield csvHeader()
      for await (const e of entries) yield csv ? csvRow(e) : `${JSON.stringify(e)}\n`
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    return reply
      .type(csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .header('content-disposition', `attachment; filename="audit-${app.trust.country}-${stamp}.${csv ? 'csv' : 'ndjson'}"`)
      .send(Readable.from(lines()))
  })

  /**
   * The latest checkpoint the partner cosigned, made and witnessed now if
   * none covers entry `seq` yet, so that every entry of a report has its
   * proof. Without the partner, the one there is (or none).
   */
  async function witnessedCheckpointCovering(
    seq: number,
    log: FastifyBaseLogger
  ): Promise<(Checkpoint & { cosignature: string; cosignedAt: string }) | undefined> {
    const covered = (cp: Checkpoint | undefined): cp is Checkpoint & { cosignature: string; cosignedAt: string } =>
      cp !== undefined && cp.cosignature !== null && cp.cosignedAt !== null
    let cp = await app.store.latestCosignedCheckpoint()
    if (seq > 0 && (!covered(cp) || cp.size < seq)) {
      try {
        await app.checkpointer.checkpointNow()
      } catch (err) {
        log.warn({ err }, 'no checkpoint could be made for the report')
      }
      cp = await app.store.latestCosignedCheckpoint()
    }
    return covered(cp) ? cp : undefined
  }

  /**
   * Conflict alerts on either side: the ledger's checkpoint conflicts
   * (audit/checkpoint-conflict.ts), the latest hundred in ledger order. A
   * search gives the oldest first, and the newest alarm is the one that
   * matters; they are rare, so reading them all costs little. A delivery's
   * entry carrying the code is none.
   */
  async function conflicts(): Promise<Array<{ seq: number; at: string; reason: string }>> {
    let latest: StoredAuditEntry[] = []
    for (let after = 0; ; ) {
      const page = await app.store.searchAudit(CHECKPOINT_CONFLICT_QUERY, after, CONFLICTS_LISTED)
      if (page.length === 0) break
      latest = [...latest, ...page.filter((e) => isCheckpointConflict(e.entry))].slice(-CONFLICTS_LISTED)
      after = page.at(-1)!.seq
    }
    return latest.map((e) => ({ seq: e.seq, at: e.entry.at, reason: e.entry.reason ?? '' }))
  }

  /** The whole ledger verified, against the partner's copy of its latest cosigned checkpoint where it can be fetched. */
  async function verifyWholeLedger(): Promise<{ result: Awaited<ReturnType<typeof verifyLedger>>; warnings: string[] }> {
    const started = performance.now()
    const warnings: string[] = []
    let witnessed: string | undefined
    try {
      witnessed = await fetchWitnessedCheckpoint(app.partner.client, app.partner.endpoint(WITNESSED_CHECKPOINT_PATH))
    } catch (err) {
      app.log.warn({ err }, "the partner's copy of the latest cosigned checkpoint could not be fetched")
      warnings.push("the partner's copy of the latest cosigned checkpoint could not be fetched: the ledger is checked against its own record of it")
    }
    const result = await verifyLedger(app.store, app.trust.ownLedgerKeys, app.trust.partner.ledgerKeys, {
      // A core is left to the traffic this gateway serves meanwhile (audit:verify, offline, takes them all).
      threads: Math.max(0, availableParallelism() - 1),
      ...(witnessed === undefined ? {} : { witnessed }),
      maxCosignatureAgeMs: opts.cosignatureMaxAgeMs
    })
    app.metrics.ledgerVerified((performance.now() - started) / 1000)
    return { result, warnings }
  }
  // One at a time: each reads the whole ledger through the ledger's thread
  // and starts checking threads of its own, and several at once ran that
  // thread out of memory, stopping every agency's intake. One asked for while
  // another runs shares it; each request is answered and audited.
  let running: ReturnType<typeof verifyWholeLedger> | undefined
  const verifyShared = (): ReturnType<typeof verifyWholeLedger> => {
    running ??= verifyWholeLedger().finally(() => {
      running = undefined
    })
    return running
  }

  // No HEAD: it would run the whole verification, and audit it, for no answer.
  app.get('/v1/audit/verification', { schema: SCHEMAS.verification, exposeHeadRoute: false }, async (request) => {
    const { result, warnings } = await verifyShared()
    // Audited, as every officer's reading is; and so the last verification is known to whoever asks next (GET /v1/audit/witness).
    await app.store.appendAudit(
      auditEntry({
        event: 'ledger-verified',
        caller: request.caller!.id,
        counts: { ok: result.ok ? 1 : 0, entries: result.entries, checkpoints: result.checkpoints, witnessedTo: result.cosigned?.size ?? 0 },
        ...(result.firstBad === undefined ? {} : { reason: `entry ${result.firstBad.seq}: ${result.firstBad.reason}`.slice(0, 500) })
      })
    )
    return {
      ...result,
      warnings: [...warnings, ...result.warnings],
      latestCheckpoint: summary(await app.store.latestCheckpoint()),
      conflicts: await conflicts()
    }
  })

  /** The last verification a privacy officer ran, from its ledger entry. */
  async function lastVerification() {
    let last: StoredAuditEntry | undefined
    for await (const e of allMatching(app.store, { event: 'ledger-verified' })) last = e
    if (last === undefined) return null
    const counts = last.entry.counts ?? {}
    return {
      at: last.entry.at,
      by: last.entry.caller,
      ok: counts.ok === 1,
      entries: counts.entries ?? 0,
      witnessedTo: counts.witnessedTo ?? 0,
      firstBad: last.entry.reason ?? null
    }
  }

  app.get('/v1/audit/witness', { schema: SCHEMAS.witness }, async () => {
    const partnerLedger = await app.store.latestWitnessedCheckpoint(ledgerOrigin(app.trust.partner.country))
    return {
      latestCheckpoint: summary(await app.store.latestCheckpoint()),
      latestCosigned: summary(await app.store.latestCosignedCheckpoint()),
      partnerLedger: partnerLedger === undefined ? null : { size: partnerLedger.size, root: partnerLedger.root, cosignedAt: partnerLedger.cosignedAt },
      lastVerification: await lastVerification(),
      conflicts: await conflicts()
    }
  })

  app.get('/v1/audit/legal-holds', { schema: SCHEMAS.holds }, async () => ({ holds: await app.store.legalHolds() }))

  app.post<{ Body: HoldBody }>('/v1/audit/legal-holds', { schema: SCHEMAS.placeHold }, async (request, reply) => {
    const { ref, complaintRef, reason } = request.body
    const target = holdTarget(request.body)
    const messageId = 'messageId' in target ? target.messageId : null
    // A hold on a message the ledger does not know would keep nothing, and a complaint attached to it would show in no report.
    if (messageId !== null && (await app.store.searchAudit({ messageId }, 0, 1)).length === 0)
      throw new NotFoundError(`no audit entry names message ${messageId}`)
    const subject = 'subject' in target ? app.policyBook.digest(target.subject) : null
    const hold: LegalHold = { ref, complaintRef: complaintRef ?? null, reason, messageId, subject, placedAt: new Date().toISOString(), releasedAt: null }
    // The hold and its entry in one write: a hold is never in force unaudited, and a failure leaves neither.
    const placed = await app.store.addLegalHold(
      hold,
      auditEntry({
        event: 'legal-hold-placed',
        caller: request.caller!.id,
        messageId,
        reference: ref,
        ...(complaintRef === undefined ? {} : { complaintRef }),
        subjects: subject === null ? [] : [subject]
      })
    )
    if (!placed) throw new RequestInvalidError(`legal hold ${ref} already exists`)
    return reply.code(201).send(hold)
  })

  app.delete<{ Params: { ref: string } }>('/v1/audit/legal-holds/:ref', { schema: SCHEMAS.releaseHold }, async (request, reply) => {
    // What the entry names of the hold never changes once placed: read first, released and audited in one write.
    const active = (await app.store.legalHolds()).find((h) => h.ref === request.params.ref && h.releasedAt === null)
    const released =
      active &&
      (await app.store.releaseLegalHold(
        active.ref,
        new Date().toISOString(),
        auditEntry({
          event: 'legal-hold-released',
          caller: request.caller!.id,
          messageId: active.messageId,
          reference: active.ref,
          ...(active.complaintRef === null ? {} : { complaintRef: active.complaintRef }),
          subjects: active.subject === null ? [] : [active.subject]
        })
      ))
    if (released === undefined) throw new NotFoundError(`active legal hold ${request.params.ref}`)
    return reply.code(204).send()
  })
}
