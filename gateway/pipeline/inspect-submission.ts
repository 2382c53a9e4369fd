// Steps 3 to 6 of the outbound pipeline, shared by POST /v1/messages and the
// policy dry run: verify the agency's signature, read the payload safely,
// validate, tie it to the caller, choose and apply the policy. Nothing here
// writes anything.
import type { MinimisedPayload } from '../../policies/lib/engine.ts'
import { parseSignedJson } from '../lib/safe-json.ts'
import { verifyCompactJws } from '../jws/verify-compact.ts'
import { ENVELOPE_TYP } from './envelope.ts'
import type { VerificationKey } from '../jws/signing-key.ts'
import type { AgencySystem, Country } from '../trust/trust-store.ts'
import type { PolicyBook, SelectedPolicy } from './apply-policy.ts'
import type { AccessTokenClaims } from './authorize-token.ts'
import { checkAllowed, checkFreshness, checkRecipient, checkSender, type FreshnessWindow } from './check-envelope.ts'
import type { Envelope } from './envelope.ts'
import type { MessageValidator } from './validate-message.ts'
import { namesUnaccountable, travellerSubjects } from './traveller-subjects.ts'
import { SchemaInvalidError } from '../errors.ts'

/** What a refusal's audit entry may name: short strings from a verified payload, nothing else. */
export function envelopeFacts(value: unknown): Partial<Envelope> | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null
  const v = value as Record<string, unknown>
  const str = (x: unknown): string | undefined => (typeof x === 'string' && x.length <= 200 ? x : undefined)
  const party = (x: unknown): Record<string, string | undefined> | undefined => {
    if (x === null || typeof x !== 'object') return undefined
    const p = x as Record<string, unknown>
    return { country: str(p.country), agency: str(p.agency), system: str(p.system) }
  }
  // Checked again where it is used (pipeline/audit-entry.ts): only its strings are kept.
  const link = (x: unknown): Envelope['supersedes'] => {
    if (x === null || typeof x !== 'object') return undefined
    const s = x as Record<string, unknown>
    return { id: str(s.id), action: str(s.action), reason: str(s.reason) } as Envelope['supersedes']
  }
  return {
    id: str(v.id),
    kind: str(v.kind),
    purpose: str(v.purpose),
    legalAuthority: str(v.legalAuthority),
    agreementRef: str(v.agreementRef),
    from: party(v.from) as Envelope['from'],
    to: party(v.to) as Envelope['to'],
    supersedes: link(v.supersedes)
  }
}

/** Step 3: the signature, by a key registered to the calling system, over safe JSON. */
export async function readSubmission(
  jws: string,
  keys: ReadonlyMap<string, VerificationKey>,
  system: AgencySystem
): Promise<{ value: unknown; facts: Partial<Envelope> | null }> {
  const verified = await verifyCompactJws(jws, { keys, owner: system.id, typ: ENVELOPE_TYP })
  const value = parseSignedJson(verified.payload)
  return { value, facts: envelopeFacts(value) }
}

export interface InspectionContext {
  /** The country this gateway delivers to. */
  readonly partnerCountry: Country
  readonly validator: MessageValidator
  readonly policyBook: PolicyBook
  readonly system: AgencySystem
  readonly claims: Pick<AccessTokenClaims, 'kinds' | 'purposes'>
  readonly window: FreshnessWindow
}

export interface InspectedSubmission {
  readonly envelope: Envelope
  readonly policy: SelectedPolicy
  readonly minimised: MinimisedPayload
  /** The travellers the payload names (travellerSubjects), read once for the check and the ledger entry. */
  readonly subjects: readonly string[]
}

/** Steps 4 to 6: schema, sender, recipient, token scope, freshness, policy. */
export function inspectSubmission(value: unknown, ctx: InspectionContext): InspectedSubmission {
  const envelope = ctx.validator.envelope(value)
  // What no schema can say: a traveller named by a surname that is nothing
  // once read could be shared but never found by a disclosure report, as a
  // designation with neither a document nor a membership (its schema refuses that).
  const subjects = travellerSubjects(envelope.payload)
  if (namesUnaccountable(subjects)) {
    throw new SchemaInvalidError(
      '/payload a traveller named by surname and date of birth has a surname that is nothing once case, spaces, fillers (<) and hyphens are set aside: no disclosure report could find them'
    )
  }
  checkSender(envelope, ctx.system)
  checkRecipient(envelope, ctx.partnerCountry)
  checkAllowed(envelope, ctx.claims, ctx.system)
  checkFreshness(envelope, ctx.window)
  const policy = ctx.policyBook.select(envelope, 'outbound')
  return { envelope, policy, minimised: ctx.policyBook.apply(policy, envelope.payload), subjects }
}
