// Corrections and retractions (P4 data quality; docs/integrators.md,
// "Corrections and retractions"): which earlier message a correction or a
// retraction may supersede, and the ledger entry of an original withdrawn
// before it was delivered. Both directions use it: the sending gateway
// against its own record of what the agency sent, the receiving gateway
// against its record of what the partner delivered.
import { SupersedesConflictError, SupersedesMismatchError, SupersedesNotYoursError, SupersedesUnknownError } from '../errors.ts'
import { auditEntry, entrySender } from '../pipeline/audit-entry.ts'
import { mayHaveArrived } from '../queue/dead-letters.ts'
import { EARLIER_LINKS_MAX, type Supersedes } from '../pipeline/envelope.ts'
import type { AuditEntry, Direction, MessageRecord, SupersessionLink } from '../store/records.ts'

/** What the checks need of the superseding message. */
export interface Superseding {
  /** The sending system, `CA/CBSA/pik-primary`: only it may supersede its own messages. */
  readonly sender: string
  readonly kind: string
  readonly purpose: string
  /**
   * Outbound, `country/agency` as the original's record has it. Inbound,
   * none: what the partner sends goes to the system that received the
   * original (its record's recipient), whatever the routing says now.
   */
  readonly recipient?: string
}

/** The envelope's `supersedes`, as the records and the ledger keep it. */
export function supersessionLink(supersedes: Supersedes): SupersessionLink {
  return { id: supersedes.id, action: supersedes.action, ...(supersedes.reason === undefined ? {} : { reason: supersedes.reason }) }
}

/**
 * Refuses a supersession the contract does not allow, with a stable code,
 * before anything is written: the original must be known here, be the same
 * system's, of the same kind, purpose and recipient (a correction is the same
 * disclosure, made right), and not superseded already, so that the
 * corrections of a message form one chain and each of its links is the
 * latest word on the one before; a retraction ends the chain.
 */
export function checkSupersedes(supersedes: Supersedes, original: MessageRecord | undefined, message: Superseding): asserts original is MessageRecord {
  const { id } = supersedes
  if (original === undefined) throw new SupersedesUnknownError(id)
  if (original.sender !== message.sender) throw new SupersedesNotYoursError(id)
  const differs: string[] = []
  if (original.kind !== message.kind) differs.push(`kind (${original.kind})`)
  if (original.purpose !== message.purpose) differs.push(`purpose (${original.purpose})`)
  if (message.recipient !== undefined && original.recipient !== message.recipient) differs.push(`recipient (${original.recipient})`)
  if (differs.length > 0) throw new SupersedesMismatchError(`${id} differs in ${differs.join(', ')}`)
  if (original.supersededBy !== undefined) {
    throw new SupersedesConflictError(`${id} was superseded by ${original.supersededBy.id} already: supersede that one instead`)
  }
  // A retraction is final: a record sent again after it is a new message.
  if (original.supersedes?.action === 'retract') throw new SupersedesConflictError(`${id} is a retraction: send the record again as a new message`)
}

/**
 * Refuses a supersession that would close a loop: a message that names
 * itself, or an original that supersedes this message, directly or through
 * the originals before it. Each message of a loop waits for, or is withdrawn
 * by, another, and none reaches the agency. The sending gateway cannot make
 * one (an original is stored before anything supersedes it); the receiving
 * gateway takes a correction whose original it never got, so a partner could,
 * and is refused before anything is written. `original` is the record
 * `supersedes` names, if stored; `stored` reads the ones before it.
 */
export async function checkNoLoop(
  id: string,
  supersedes: Supersedes,
  original: MessageRecord | undefined,
  stored: (id: string) => Promise<MessageRecord | undefined>
): Promise<void> {
  const loop = () => new SupersedesConflictError(`superseding ${supersedes.id} would make a loop of corrections back to this message`)
  if (supersedes.id === id) throw loop()
  const seen = new Set([supersedes.id])
  for (let link = original?.supersedes; link !== undefined; link = (await stored(link.id))?.supersedes) {
    if (link.id === id) throw loop()
    // A loop stored already, not through this message (none can be, since this check): not followed round again.
    if (seen.has(link.id)) return
    seen.add(link.id)
  }
}

/**
 * The sending side: what a correction or retraction of `original` forwards
 * with it, so that the partner can link it to a message it holds
 * (Handling's earlierLinks). An original delivered is held there: nothing.
 * One that is not (still queued, or withdrawn) may never reach the partner,
 * so the links before it go too, nearest first, back to the nearest one
 * delivered. Withdrawn links before it may have arrived all the same
 * (`mayHaveArrived`): the partner, not this gateway, knows which it holds.
 * The chain is kept by id in the ledger, and never changes once written.
 */
export async function earlierLinksOf(original: MessageRecord, stored: (id: string) => Promise<MessageRecord | undefined>): Promise<string[]> {
  const links: string[] = []
  for (let link: MessageRecord | undefined = original; link !== undefined && link.status !== 'delivered' && link.supersedes !== undefined; ) {
    // Beyond the longest chain a forwarded envelope carries, the links nearest the original are the ones that matter.
    if (links.length === EARLIER_LINKS_MAX || links.includes(link.supersedes.id)) break
    links.push(link.supersedes.id)
    link = await stored(link.supersedes.id)
  }
  return links
}

/**
 * The receiving side: the message a correction or retraction supersedes
 * here, the nearest of the one it names and the earlier links its sender
 * forwarded (earlierLinksOf) that this gateway holds; none if it holds none.
 * A partner gateway that does not forward them is taken as before: its
 * message supersedes the one it names, if held.
 */
export async function nearestHeld(
  named: string,
  earlierLinks: readonly string[] | undefined,
  stored: (id: string) => Promise<MessageRecord | undefined>
): Promise<MessageRecord | undefined> {
  for (const id of [named, ...(earlierLinks ?? [])]) {
    const held = await stored(id)
    if (held !== undefined) return held
  }
  return undefined
}

/**
 * The entry of an original withdrawn before delivery. Like an operator's
 * action on a dead letter it names the parties, kind and purpose, so the
 * usual filters find it; it names no traveller. Withdrawn means it is not
 * sent again; a failed attempt before (a timeout, a 5xx) may have reached the
 * far side all the same, and then the entry counts those attempts
 * (`uncertainAttempts`), so that neither the ledger nor a disclosure report
 * says it never left (docs/privacy-officers.md, "Corrections and retractions
 * in the report").
 */
export function withdrawalEntry(direction: Direction, id: string, original: MessageRecord | undefined): AuditEntry {
  const uncertain = original?.attempts.filter((a) => mayHaveArrived(a.error)).length ?? 0
  const entry = auditEntry({
    event: 'withdrawn',
    direction,
    messageId: id,
    ...(uncertain === 0 ? {} : { counts: { uncertainAttempts: uncertain }, reason: 'withdrawn after a failed attempt that may have reached the far side' })
  })
  if (original === undefined) return entry
  return { ...entry, kind: original.kind, purpose: original.purpose, from: entrySender(original.sender, direction), to: original.recipient }
}
