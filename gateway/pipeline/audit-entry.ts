// Step 6: the ledger entry for a decision. Accepted and refused messages alike
// are recorded (unlike X-Road, which does not log denied requests).
import type { FieldDecision } from '../../policies/lib/engine.ts'
import { ARRANGEMENTS, LEGAL_AUTHORITIES } from '../../policies/authorities.ts'
import { policies } from '../../policies/index.ts'
import { commonSchema, isKind, isMessageId } from '../../schemas/index.ts'
import type { AuditEntry, AuditEvent, Direction, SubjectFields, SupersessionLink } from '../store/records.ts'
import { SUPERSEDE_ACTIONS, SUPERSEDE_REASONS, type Envelope } from './envelope.ts'
import type { SelectedPolicy } from './apply-policy.ts'

export interface AuditFacts {
  readonly event: AuditEvent
  /** The message's direction; none on an entry about no message (a purge, a legal hold, a disclosure report). */
  readonly direction?: Direction
  readonly caller?: string | null
  readonly messageId?: string | null
  readonly envelope?: Partial<Envelope> | null
  readonly policy?: Pick<SelectedPolicy, 'id' | 'version'> | null
  readonly code?: string | null
  readonly digest?: string | null
  readonly fields?: readonly FieldDecision[]
  readonly reference?: string
  /** The complaint reference a placed or released legal hold carries (P9). */
  readonly complaintRef?: string
  readonly counts?: Readonly<Record<string, number>>
  /** A short note of why, never personal data (a dead letter's resend, a checkpoint conflict). */
  readonly reason?: string
  /** Keyed digests of the traveller identifiers the message carries. */
  readonly subjects?: readonly string[]
  /** Which fields each traveller's own record was counted in (AuditEntry.subjectFields). */
  readonly subjectFields?: readonly SubjectFields[]
  readonly at?: string
}

/**
 * What an envelope supersedes, as the ledger names it (P4): an id and codes
 * of the contract, never free text. A refused envelope's may be anything the
 * sender wrote: it is named only in the contract's own forms, and not at all
 * otherwise (the refusal's code says why).
 */
function supersession(value: unknown): SupersessionLink | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const { id, action, reason } = value as Record<string, unknown>
  if (!isMessageId(id) || typeof action !== 'string' || !SUPERSEDE_ACTIONS.has(action)) return undefined
  return { id, action: action as SupersessionLink['action'], ...(typeof reason === 'string' && SUPERSEDE_REASONS.has(reason) ? { reason } : {}) }
}

function party(p: { country?: string; agency?: string; system?: string } | undefined): string | null {
  if (p === undefined) return null
  return [p.country, p.agency, p.system].filter((x) => x !== undefined).join('/')
}

const PURPOSES: ReadonlySet<string> = new Set(Object.values(policies).flatMap((p) => Object.keys(p.purposes)))
const AUTHORITIES: ReadonlySet<string> = new Set(LEGAL_AUTHORITIES.map((a) => a.id))
const AGREEMENTS: ReadonlySet<string> = new Set(ARRANGEMENTS.map((a) => a.id))
/** The contract's code lists of parties (schemas/common.schema.json): a country, an agency. */
const codeList = (name: string): ReadonlySet<unknown> => new Set((commonSchema.$defs as Record<string, { enum: readonly string[] }>)[name]!.enum)
const COUNTRIES = codeList('partyCountry')
const AGENCIES = codeList('agency')

/**
 * What a refused envelope's entry may name of it. Its facts are read before
 * the schema is (the refusal may be of the schema), so they may be anything
 * the sender wrote, a traveller's name in `id` or `legalAuthority` included;
 * and the ledger keeps no value it cannot be rid of. Each fact is kept only
 * if it is one of the contract's closed lists (an id in its form; a kind,
 * purpose, authority or arrangement of the registries; a country and agency
 * of the code lists), and the sending system only if it is the caller's own
 * (a form alone lets `tremblay-1984-03-07` through). Otherwise it is null:
 * the code says why.
 */
function refusedFacts(e: Partial<Envelope>, caller: string | null): Partial<Envelope> {
  const party = (p: Partial<Envelope['from']> | undefined): Partial<Envelope['from']> | undefined => {
    if (p === undefined || !COUNTRIES.has(p.country) || !AGENCIES.has(p.agency)) return undefined
    const named = `${p.country}/${p.agency}/${p.system}`
    return p.system !== undefined && named === caller ? p : { country: p.country, agency: p.agency }
  }
  const from = party(e.from)
  const to = party(e.to)
  return {
    ...(isMessageId(e.id) ? { id: e.id } : {}),
    ...(isKind(e.kind) ? { kind: e.kind } : {}),
    ...(typeof e.purpose === 'string' && PURPOSES.has(e.purpose) ? { purpose: e.purpose } : {}),
    ...(typeof e.legalAuthority === 'string' && AUTHORITIES.has(e.legalAuthority) ? { legalAuthority: e.legalAuthority } : {}),
    ...(typeof e.agreementRef === 'string' && AGREEMENTS.has(e.agreementRef) ? { agreementRef: e.agreementRef } : {}),
    ...(from === undefined ? {} : { from: from as Envelope['from'] }),
    ...(to === undefined ? {} : { to: to as Envelope['to'] }),
    ...(e.supersedes === undefined ? {} : { supersedes: e.supersedes })
  }
}

/**
 * The sender as an entry names it (`country/agency/system`). The partner's
 * systems are named by the partner, and this gateway has no list of them:
 * one at fault could name a system `tremblay-1984-03-07`, past the schema's
 * form, and the ledger keeps no value it cannot be rid of. So an inbound
 * entry names the partner's sender by its country and agency, of the code
 * lists; the message's record keeps the system, for the checks that need it
 * (a correction is its own sender's), and is purged with the message.
 */
export function entrySender(sender: string, direction: Direction | undefined): string {
  return direction === 'inbound' ? sender.split('/').slice(0, 2).join('/') : sender
}

export function auditEntry(facts: AuditFacts): AuditEntry {
  const e = facts.event === 'refused' ? refusedFacts(facts.envelope ?? {}, facts.caller ?? null) : (facts.envelope ?? {})
  const supersedes = supersession(e.supersedes)
  const from = party(e.from)
  return {
    at: facts.at ?? new Date().toISOString(),
    event: facts.event,
    ...(facts.direction === undefined ? {} : { direction: facts.direction }),
    messageId: facts.messageId ?? (typeof e.id === 'string' ? e.id : null),
    caller: facts.caller ?? null,
    kind: typeof e.kind === 'string' ? e.kind : null,
    purpose: typeof e.purpose === 'string' ? e.purpose : null,
    legalAuthority: typeof e.legalAuthority === 'string' ? e.legalAuthority : null,
    agreementRef: typeof e.agreementRef === 'string' ? e.agreementRef : null,
    from: from === null ? null : entrySender(from, facts.direction),
    to: party(e.to),
    policy: facts.policy ? { id: facts.policy.id, version: facts.policy.version } : null,
    code: facts.code ?? null,
    digest: facts.digest ?? null,
    fields: facts.fields ?? [],
    ...(facts.reference === undefined ? {} : { reference: facts.reference }),
    ...(facts.complaintRef === undefined ? {} : { complaintRef: facts.complaintRef }),
    ...(facts.counts === undefined ? {} : { counts: facts.counts }),
    ...(facts.reason === undefined ? {} : { reason: facts.reason }),
    ...(supersedes === undefined ? {} : { supersedes }),
    subjects: facts.subjects ?? [],
    ...(facts.subjectFields === undefined ? {} : { subjectFields: facts.subjectFields })
  }
}
