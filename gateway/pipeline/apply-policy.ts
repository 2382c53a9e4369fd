// Step 5: choose the policy for (kind, purpose, direction, receiving agency)
// and apply it. A purpose or recipient no policy names is refused, and so is
// a legal authority the registry does not give the sending country for the
// kind and purpose (P1; policies/authorities.ts); a field no rule names is
// withheld (P2). Both gateways run this: the sender's on intake, the
// receiver's again on /v1/exchange (docs/architecture.md, "The pipeline, one message").
import type { KeyObject } from 'node:crypto'
import { createHmac, createSecretKey } from 'node:crypto'
import { policies } from '../../policies/index.ts'
import { applyPolicy, exclusionFor, policyVersion, type MinimisedPayload } from '../../policies/lib/engine.ts'
import type { Country, Direction, DirectionPolicy } from '../../policies/lib/types.ts'
import { allSchemas, KINDS, kindSchemas, type Kind } from '../../schemas/index.ts'
import { requiredLists } from '../../policies/lib/received-schema.ts'
import { arrangementMismatchDetail, mismatchDetail } from '../../policies/authorities.ts'
import { AgreementMismatchError, LegalAuthorityMismatchError, PolicyDeniedError } from '../errors.ts'
import { hmac } from '../lib/digest.ts'
import { echo } from '../lib/echo.ts'
import type { Envelope } from './envelope.ts'

export interface SelectedPolicy {
  /** `kind/purpose/direction` */
  readonly id: string
  readonly version: string
  readonly rules: DirectionPolicy
}

/** The batch kinds, and the kind each of their items is: an item's pseudonyms are the single message's. */
const ITEM_KIND: Readonly<Record<string, string>> = { 'traveller.designation-batch': 'traveller.designation', 'entry-exit.batch': 'entry-exit.record' }

/**
 * What a pseudonym is the keyed digest of: the value within its kind, purpose
 * and field, so that a partner can recognise the same permit in a later
 * update under the same purpose, but cannot link a case number queried for
 * one purpose to one queried for another, or to the same text in another
 * field (P1, purpose limitation). A batch's item (`designations[].x`) is
 * pseudonymised as the single message's field (`x`) would be.
 */
function pseudonymInput(policyId: string, path: string, value: string): string {
  const [kind = '', purpose = ''] = policyId.split('/')
  const itemKind = ITEM_KIND[kind]
  const field = itemKind === undefined ? path : path.replace(/^[^.[\]]+\[\]\./, '')
  return `${itemKind ?? kind}\u0000${purpose}\u0000${field}\u0000${value}`
}

/** By kind, the lists a message of it is of (received-schema.ts, requiredLists): a batch's records, a match request's prints. */
const REQUIRED_LISTS: ReadonlyMap<string, readonly string[]> = (() => {
  const registry = new Map(allSchemas.map((s) => [String(s.$id), s as Record<string, unknown>]))
  return new Map(KINDS.map((kind) => [kind, requiredLists(kindSchemas[kind] as Record<string, unknown>, registry)]))
})()

/**
 * A message whose policy left nothing of a list it is of is refused, not
 * sent as a batch of nothing: the engine drops a list it empties, and the
 * partner's gateway refuses a message without one (received-schema.ts). A
 * retraction's payload (`{}`) has no list to empty.
 */
function checkListsKept(policy: SelectedPolicy, payload: Record<string, unknown>, minimised: MinimisedPayload): void {
  const [kind = ''] = policy.id.split('/')
  for (const key of REQUIRED_LISTS.get(kind) ?? []) {
    const sent = payload[key]
    if (Array.isArray(sent) && sent.length > 0 && !Object.hasOwn(minimised.payload, key)) {
      throw new PolicyDeniedError(`the ${policy.id} policy leaves nothing of \`${key}\` to send: a message without it is not sent`)
    }
  }
}

export class PolicyBook {
  readonly #versions: ReadonlyMap<string, string>
  readonly #auditKey: KeyObject
  readonly #pseudonymKey: KeyObject

  constructor(auditKey: Buffer, pseudonymKey: Buffer) {
    this.#versions = new Map(Object.entries(policies).map(([kind, p]) => [kind, policyVersion(p)]))
    this.#auditKey = createSecretKey(auditKey)
    this.#pseudonymKey = createSecretKey(pseudonymKey)
  }

  version(kind: string): string | undefined {
    return this.#versions.get(kind)
  }

  select(envelope: Envelope, direction: Direction): SelectedPolicy {
    const kindPolicy = policies[envelope.kind as Kind]
    const purpose = kindPolicy?.purposes[envelope.purpose]
    if (purpose === undefined) throw new PolicyDeniedError(`purpose ${envelope.purpose} is not in the ${envelope.kind} policy`)
    const country = envelope.from.country
    const citable = Object.hasOwn(purpose.legalAuthoritiesByCountry, country) ? purpose.legalAuthoritiesByCountry[country as Country] : []
    if (!citable.includes(envelope.legalAuthority)) {
      throw new LegalAuthorityMismatchError(mismatchDetail(envelope.legalAuthority, country, envelope.kind as Kind, envelope.purpose, echo))
    }
    if (!purpose.agreementRefs.includes(envelope.agreementRef)) {
      throw new AgreementMismatchError(arrangementMismatchDetail(envelope.agreementRef, envelope.kind as Kind, envelope.purpose, echo))
    }
    const rules = purpose[direction]
    if (rules === undefined) throw new PolicyDeniedError(`no ${direction} rules for ${envelope.kind} under ${envelope.purpose}`)
    if (!rules.recipients.includes(envelope.to.agency)) {
      throw new PolicyDeniedError(`${envelope.to.agency} may not receive ${envelope.kind} for ${envelope.purpose}`)
    }
    return { id: `${envelope.kind}/${envelope.purpose}/${direction}`, version: this.#versions.get(envelope.kind)!, rules }
  }

  apply(policy: SelectedPolicy, payload: Record<string, unknown>): MinimisedPayload {
    const exclusion = exclusionFor(policy.rules, payload)
    if (exclusion !== undefined) throw new PolicyDeniedError(`${exclusion.rule} (${exclusion.principle}): ${exclusion.why}`)
    const minimised = applyPolicy(policy.rules, payload, {
      digest: (value) => hmac(this.#auditKey, value),
      listDigest: () => {
        const mac = createHmac('sha256', this.#auditKey)
        return {
          add: (value) => {
            mac.update(`${JSON.stringify(value)}\n`)
          },
          digest: () => mac.digest('base64url')
        }
      },
      pseudonym: (value, path) => `ps1:${hmac(this.#pseudonymKey, pseudonymInput(policy.id, path, value))}`
    })
    checkListsKept(policy, payload, minimised)
    return minimised
  }

  /** Keyed digest for the ledger (message digests, identifiers): of a string's UTF-8, or of bytes. */
  digest(value: string | Uint8Array): string {
    return hmac(this.#auditKey, value)
  }
}
