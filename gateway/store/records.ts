// What the gateway keeps about a message: its status, never its content. The
// content lives only sealed, in the outbox, until the receipt comes.
import type { FieldDecision } from '../../policies/lib/engine.ts'
import type { TreeNode } from './merkle-tree.ts'

export type Direction = 'outbound' | 'inbound'
/**
 * `discarded`: an operator gave up on a dead letter; its sealed copy is gone and nothing re-drives it.
 * `withdrawn`: a correction or retraction from its sender superseded it before it was delivered; its
 * sealed copy is gone and nothing sends it (docs/integrators.md, "Corrections and retractions").
 */
export type MessageStatus = 'accepted' | 'delivered' | 'dead-lettered' | 'discarded' | 'withdrawn'

/**
 * What became of the sealed copy of a message nothing will send (discarded,
 * withdrawn): deleted, or kept while an active legal hold covers the message (P9).
 */
export type SealedCopyFate = 'deleted' | 'kept-under-hold'

/** One side of a supersession (P4): the other message, by id, and what the superseding one does. */
export interface SupersessionLink {
  readonly id: string
  readonly action: 'correct' | 'retract'
  /** The sender's reason, a code of the contract's closed list. */
  readonly reason?: string
}

/** A message superseded by a later one of the same direction: `original` by `by`. Ids only. */
export interface Supersession {
  readonly direction: Direction
  readonly original: string
  readonly by: string
  readonly action: SupersessionLink['action']
  readonly reason: string | null
  readonly at: string
}

/** A correction or a retraction to accept: the message, its outbox item and audit entry, the link, and the original's withdrawal entry. */
export interface SupersedingAcceptance {
  readonly record: MessageRecord
  readonly outbox: OutboxItem
  readonly audit: AuditEntry
  readonly supersession: Supersession
  /** Appended if the original is withdrawn now (it was dead-lettered). */
  readonly withdrawal: AuditEntry
}

/** What accepting a correction or retraction came to: `exists` when its id was taken, `conflict` when its original was superseded already. */
export type SupersedingOutcome = 'accepted' | 'exists' | 'conflict'

export interface DeliveryAttempt {
  readonly at: string
  readonly error: string
}

export interface MessageRecord {
  readonly direction: Direction
  readonly id: string
  /** base64url SHA-256 of the exact JWS received: what makes a repeat a repeat. */
  readonly digest: string
  /**
   * Outbound: base64url HMAC-SHA-256, under the audit key, of the agency's
   * JWS payload as sent (pipeline/prepare-outbound.ts). The same
   * envelope signed again is other bytes (an ES256 signature is new each
   * time) but the same payload: a repeat too (docs/integrators.md, "Step by step").
   * Absent on messages stored before it was kept, and on inbound messages.
   */
  readonly payloadDigest?: string
  readonly kind: string
  readonly purpose: string
  readonly sender: string
  readonly recipient: string
  readonly status: MessageStatus
  readonly acceptedAt: string
  readonly updatedAt: string
  readonly attempts: readonly DeliveryAttempt[]
  /** Outbound: the partner's signed receipt. Inbound: the receipt this gateway issued. */
  readonly receipt: string | null
  readonly correlationId: string | null
  readonly policyVersion: string | null
  /**
   * On a correction or a retraction: the message it supersedes. Read with
   * one record (findMessage), absent otherwise and in lists.
   */
  readonly supersedes?: SupersessionLink
  /** The correction or retraction that superseded this message, if any (findMessage). */
  readonly supersededBy?: SupersessionLink
}

export interface OutboxItem {
  readonly direction: Direction
  readonly id: string
  /**
   * Who it goes to: `partner` (outbound), or the receiving system's id,
   * `US/CBP/ades` (inbound). Resolved to a URL when delivered, so an endpoint
   * that moved applies to messages already waiting.
   */
  readonly target: string
  /** AES-GCM sealed JWS (see lib/seal.ts). */
  readonly sealed: string
  readonly createdAt: string
}

/** What the outbox relay needs of an item to put it (back) on the queue: not its sealed copy. */
export interface PendingDelivery extends Omit<OutboxItem, 'sealed'> {
  /**
   * Not to be sent before this instant: what the far side asked with its
   * last failed attempt's Retry-After (recordAttempt's `notBefore`). Absent
   * when it asked nothing.
   */
  readonly notBefore?: string
}

export type AuditEvent =
  | 'accepted'
  | 'refused'
  | 'received'
  | 'delivered'
  | 'delivery-failed'
  | 'dead-lettered'
  /** Retention (P5) removed message records; the entry names how many. */
  | 'purged'
  /** This gateway countersigned a checkpoint of the partner's ledger. */
  | 'checkpoint-countersigned'
  /** A privacy officer asked what was disclosed about a traveller (P8). */
  | 'disclosure-report'
  /** A privacy officer had the whole ledger verified (P12): its counts say what was checked, `reason` what failed. */
  | 'ledger-verified'
  /** A legal hold (a complaint reference, P9) was placed on, or released from, a message or a traveller. */
  | 'legal-hold-placed'
  | 'legal-hold-released'
  /** An operator put a dead letter back on its queue, or gave up on it (with a reason). */
  | 'dead-letter-resent'
  | 'dead-letter-discarded'
  /** A message superseded by its sender before it was delivered: its delivery was stopped (P4). */
  | 'withdrawn'

/** One ledger entry. Values never appear: only keyed digests (docs/architecture.md, "Privacy principles in code"). */
export interface AuditEntry {
  readonly at: string
  readonly event: AuditEvent
  /**
   * The message's direction, on entries about a message. Entries about no
   * message (a purge, a legal hold, a disclosure report) have none; older
   * ledgers hold `outbound` on them, and verify as written.
   */
  readonly direction?: Direction
  readonly messageId: string | null
  readonly caller: string | null
  readonly kind: string | null
  readonly purpose: string | null
  readonly legalAuthority: string | null
  readonly agreementRef: string | null
  readonly from: string | null
  readonly to: string | null
  readonly policy: { readonly id: string; readonly version: string } | null
  readonly code: string | null
  /** Keyed digest of the JWS as received, so an entry can be matched to a message without holding it. */
  readonly digest: string | null
  readonly fields: readonly FieldDecision[]
  /** A complaint or legal-hold reference (P9), on the entries that place or release a hold. */
  readonly reference?: string
  /** The complaint reference (P9) the hold carries, on the entries that place or release one that does. */
  readonly complaintRef?: string
  /** What a purge removed (P5); on a dead letter's resend, the attempts it had used. */
  readonly counts?: Readonly<Record<string, number>>
  /**
   * A short note, never personal data: an operator's stated reason for
   * resending or discarding a dead letter, or why a checkpoint was refused as a conflict.
   */
  readonly reason?: string
  /**
   * On the entries of a correction or a retraction: the message it
   * supersedes, by id, what it does to it and the sender's coded reason (P4).
   */
  readonly supersedes?: SupersessionLink
  /**
   * Keyed digests (HMAC) of the traveller identifiers the message carries, so
   * that "was this person's record shared?" is answered without the identifier.
   */
  readonly subjects: readonly string[]
  /**
   * In a message of several records (a batch) not all decided alike, and in
   * a correction that names travellers of its original it does not carry: which
   * of `fields` each traveller's own record was counted in, one element per
   * distinct set, naming its travellers by their places in `subjects`. A
   * traveller in no element (one a correction supersedes and does not
   * carry) is reported with none of them; every traveller of an entry
   * without it, with every field (gateway/audit/traveller-fields.ts).
   */
  readonly subjectFields?: readonly SubjectFields[]
}

/** A set of an entry's field decisions (places in `fields`) and the travellers (places in `subjects`) whose records had exactly those. */
export interface SubjectFields {
  readonly fields: readonly number[]
  readonly subjects: readonly number[]
}

/** One link of the hash chain as stored: `hash` = chainHash(`prevHash`, `text`) (audit-chain.ts). */
export interface AuditChainLink {
  readonly seq: number
  readonly prevHash: string
  readonly hash: string
  /** The entry's JSON, exactly as stored. */
  readonly text: string
  /** The Merkle tree nodes the entry completes, as stored (sql/ledger.ts, encodeTreeNodes); null in a row not yet given them. */
  readonly treeNodes: string | null
}

export interface StoredAuditEntry {
  readonly seq: number
  readonly hash: string
  readonly prevHash: string
  readonly entry: AuditEntry
}

/**
 * A privacy officer's search. Every filter given must match (AND); each one is
 * answered from an index, so a page costs the same in a large ledger as in a small one.
 */
export interface AuditQuery {
  /** ISO date-time; entries at or after it (on `entry.at`). */
  from?: string
  /** ISO date-time; entries strictly before it: `[from, to)`. */
  to?: string
  kind?: string
  purpose?: string
  /** Entries whose sending or receiving party is in that country. */
  partner?: 'CA' | 'US'
  /** Entries whose sending or receiving party is that agency, e.g. `CBSA`. */
  agency?: string
  event?: AuditEvent
  code?: string
  direction?: Direction
  /**
   * A field's path with array indices left out (`traveller.surname`,
   * `records[].document.number`): matches every concrete path of that shape.
   */
  fieldPath?: string
  policyVersion?: string
  /** A keyed digest of a traveller identifier (see `AuditEntry.subjects`). */
  subject?: string
  messageId?: string
}

/**
 * A signed checkpoint of this gateway's ledger: its Merkle tree's size and
 * root, in C2SP checkpoint form (docs/architecture.md, "The verifiable ledger").
 */
export interface Checkpoint {
  readonly size: number
  /** The root hash, base64. */
  readonly root: string
  readonly at: string
  /** The signed note: the checkpoint's text and this gateway's signature line. */
  readonly note: string
  /** The partner's cosignature line, once it has witnessed the checkpoint. */
  readonly cosignature: string | null
  readonly cosignedAt: string | null
}

/** A checkpoint of the partner's ledger that this gateway, its witness, cosigned. */
export interface WitnessedCheckpoint {
  /** The partner ledger's origin line. */
  readonly origin: string
  readonly size: number
  readonly root: string
  /** The checkpoint as the partner signed it, with this gateway's cosignature line added. */
  readonly note: string
  readonly cosignedAt: string
}

/**
 * A hold on records a complaint or an inquiry needs (P9): retention does not
 * purge a message it covers, by id or by a traveller digest the message's
 * audit entries name, until it is released. A complaint reference is
 * attached to a message or a traveller by a hold that carries it.
 */
export interface LegalHold {
  /** The hold's own reference: unique, what releases it. */
  readonly ref: string
  /** The complaint it keeps records for (P9); several holds may carry the same one, a hold for another reason none. */
  readonly complaintRef: string | null
  readonly messageId: string | null
  readonly subject: string | null
  readonly reason: string
  readonly placedAt: string
  readonly releasedAt: string | null
}

/** Where a page of dead letters ends: they are listed by (updatedAt, direction, id). */
export interface DeadLetterCursor {
  readonly updatedAt: string
  readonly direction: Direction
  readonly id: string
}

export interface PurgeCounts {
  readonly messages: number
  readonly outbox: number
}

/**
 * How many messages a purge removes in one transaction, at most. A backlog
 * (MESSAGE_RETENTION_DAYS lowered, a roster sent as single messages, a purge
 * that did not run for a while) deleted in one statement outlasted
 * LEDGER_POSTGRES_TIMEOUT_MS on every run, so that nothing was ever purged
 * again (docs/operators.md, "Configuration", MESSAGE_RETENTION_DAYS). A thousand messages and their
 * sealed copies take well under a second on either store.
 */
export const PURGE_CHUNK_MESSAGES = 1000

export interface PurgeOptions {
  /** At most this many messages a transaction (PURGE_CHUNK_MESSAGES unless set): a positive integer. */
  readonly chunkMessages?: number
}

/** The entry a purge appends: `audit`, with what was removed added to its counts. */
export function purgeEntry(audit: AuditEntry, counts: PurgeCounts): AuditEntry {
  return { ...audit, counts: { ...audit.counts, ...counts } }
}

export interface AuditFieldSetRows {
  readonly id: string
  readonly patterns: string
  /** Its rows in audit_field_set_patterns, in no particular order. */
  readonly rows: readonly string[]
}

export interface AuditPage {
  readonly links: AuditChainLink[]
  readonly index: AuditIndexRows
}

export interface AuditIndexRows {
  /** Per entry that has any: its seq, and its subject rows' digests, in no particular order. */
  readonly subjects: ReadonlyMap<number, readonly string[]>
  /** Per entry that has any: its seq, and the path patterns of its field set, in no particular order. */
  readonly fields: ReadonlyMap<number, readonly string[]>
  /**
   * The searchable columns' values of the page's entries, in the page's order,
   * AUDIT_COLUMNS.length an entry in AUDIT_COLUMNS order (store/audit-index.ts).
   * One flat list: a structured clone to a verification thread copies it for
   * about a third of what an object and a list an entry cost.
   */
  readonly columns: ReadonlyArray<string | null>
}

/**
 * Told of the audit entries of each commit, after it, in ledger order: what
 * is announced is what the ledger holds (a write that failed or found nothing
 * to do announces nothing). Metrics count from here (observability/audit-feed.ts).
 */
export type CommitListener = (entries: readonly CommittedEntry[]) => void

/**
 * What a commit announces of each entry: what is counted, not the entry's
 * field decisions, travellers or parties. The ledger's thread sends only
 * this back (store-thread-worker.ts): the whole entry, copied to the event
 * loop for each commit, was a structured clone of some 2 kB for every
 * accepted message, for seven of its fields.
 */
export type CommittedEntry = Pick<AuditEntry, 'at' | 'event' | 'direction' | 'messageId' | 'kind' | 'purpose' | 'code'>

/** Only what a commit announces of an entry, whatever else the object holds (the whole entry, as the stores have it). */
export function committedEntry(entry: CommittedEntry): CommittedEntry {
  const { at, event, direction, messageId, kind, purpose, code } = entry
  return direction === undefined ? { at, event, messageId, kind, purpose, code } : { at, event, direction, messageId, kind, purpose, code }
}

/** A message awaiting delivery, with its sealed copy from the outbox. */
export interface MessageToDeliver {
  readonly record: MessageRecord
  readonly sealed: string
}

/**
 * Messages, their outbox items and what became of their delivery. Every
 * method that changes a message also appends its audit entry in the same
 * transaction: "audited" and "queued" never disagree.
 */
export interface MessageRepository {
  findMessage(direction: Direction, id: string): Promise<MessageRecord | undefined>
  /** Inserts the message, its outbox item and its audit entry atomically; false if the id exists. */
  accept(record: MessageRecord, outbox: OutboxItem, audit: AuditEntry): Promise<boolean>
  /**
   * Adds a failed attempt to an `accepted` message, with its audit entry when
   * there is one (the ledger gets a decaying sample of failures: see
   * delivery/delivery-outcome.ts). False, and nothing written, when the
   * message is not awaiting delivery any more (delivered, dead-lettered).
   * `notBefore`: when the far side, answering 429 or 503 with Retry-After,
   * asked to be called again (delivery/retry-after.ts); kept with the
   * message in place of the last attempt's, so that the outbox relay, which
   * queues again what Redis lost, waits until then too (pendingOutbox).
   */
  recordAttempt(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry | null, notBefore?: string): Promise<boolean>
  /**
   * Marks delivered, keeps the receipt, drops the outbox item. False, and
   * nothing written, when it already was delivered: one "delivered" per
   * message and hop, however often a delivery is repeated.
   */
  markDelivered(direction: Direction, id: string, receipt: string | null, audit: AuditEntry): Promise<boolean>
  /** Dead-letters an `accepted` message; false, and nothing written, otherwise. */
  markDeadLettered(direction: Direction, id: string, attempt: DeliveryAttempt, audit: AuditEntry): Promise<boolean>
  /**
   * `accept` for a correction or a retraction: also records that it
   * supersedes `supersession.original`, and withdraws the original if it is
   * dead-lettered (nothing delivers it: its sealed copy goes unless an
   * active legal hold covers it, `withdrawal` is appended). `conflict`, and nothing written, when the original is
   * superseded already; `exists` when the id is taken.
   */
  acceptSuperseding(acceptance: SupersedingAcceptance): Promise<SupersedingOutcome>
  /**
   * Withdraws a superseded message not yet delivered: status `withdrawn`,
   * its sealed outbox item deleted unless an active legal hold covers the
   * message (as `discardDeadLetter`), `audit` appended, in one transaction.
   * False, and nothing written, unless it is superseded and `accepted` or
   * `dead-lettered`. Whoever calls it knows that no delivery of it is under way.
   */
  withdraw(direction: Direction, id: string, audit: AuditEntry): Promise<boolean>
  outboxItem(direction: Direction, id: string): Promise<OutboxItem | undefined>
  /**
   * A message still `accepted`, with its sealed outbox copy: what a delivery
   * attempt needs, in one read. Undefined once it is delivered, dead-lettered,
   * withdrawn, discarded or purged.
   */
  messageToDeliver(direction: Direction, id: string): Promise<MessageToDeliver | undefined>
  /**
   * Outbox items with no receipt that are older than `before`, oldest first
   * (by creation, then direction and id), and after `after` if given: the
   * relay re-drives them, a page at a time.
   */
  pendingOutbox(before: string, limit: number, after?: PendingDelivery): Promise<PendingDelivery[]>
}

/** The hash-chained audit ledger, and the search over it. */
export interface LedgerRepository {
  appendAudit(entry: AuditEntry): Promise<void>
  /** Entries in ascending seq after `afterSeq`: the whole ledger, page by page. */
  auditEntries(afterSeq: number, limit: number): Promise<StoredAuditEntry[]>
  /**
   * The same, as the chain links them: each entry's exact stored text, not
   * parsed. Verification hashes that text as it is, and parses it only to
   * check the search index.
   */
  auditChain(afterSeq: number, limit: number): Promise<AuditChainLink[]>
  /**
   * A page of the chain (as auditChain) with what the search reads about its
   * entries, as stored: their traveller rows, their field sets' patterns and
   * their searchable columns in AUDIT_COLUMNS order. Verification holds all
   * of it to the hashed entries, so that no search can hide or misattribute
   * an entry. The entries' rows are read once for both.
   */
  auditPage(afterSeq: number, limit: number): Promise<AuditPage>
  /**
   * Every field set of the search index (store/audit-index.ts, FieldSet):
   * its id, its patterns, and the pattern rows a search by field finds it
   * by. Verification holds the rows to the patterns.
   */
  auditFieldSets(): Promise<AuditFieldSetRows[]>
  auditEntry(seq: number): Promise<StoredAuditEntry | undefined>
  /**
   * Entries matching every filter of `query`, ascending seq after `afterSeq`.
   * The last seq of a page is a stable cursor: the ledger only grows at its end.
   */
  searchAudit(query: AuditQuery, afterSeq: number, limit: number): Promise<StoredAuditEntry[]>
  auditHead(): Promise<{ seq: number; hash: string } | undefined>
  /**
   * The hashes (base64) of perfect subtrees of the ledger's Merkle tree, in
   * the order asked: what a root or a proof is computed from
   * (audit/ledger-proofs.ts). Each must be complete in the ledger as it is.
   */
  treeNodes(nodes: readonly TreeNode[]): Promise<string[]>
  /** The exact stored text of each entry asked for, by seq: what a leaf of the tree hashes (a disclosure report's proofs). */
  auditTexts(seqs: readonly number[]): Promise<Map<number, string>>
}

/** This gateway's signed checkpoints of its ledger, and, as the partner's witness, the partner's it cosigned. */
export interface CheckpointRepository {
  /** Keeps a signed checkpoint; false if one exists at that size (another instance made it first). */
  addCheckpoint(cp: Omit<Checkpoint, 'cosignature' | 'cosignedAt'>): Promise<boolean>
  setCosignature(size: number, cosignature: string, cosignedAt: string): Promise<void>
  checkpoints(afterSize: number, limit: number): Promise<Checkpoint[]>
  latestCheckpoint(): Promise<Checkpoint | undefined>
  /** The largest checkpoint the partner has cosigned. */
  latestCosignedCheckpoint(): Promise<Checkpoint | undefined>
  /** The size and root of the latest checkpoint of `origin` this gateway cosigned, if any. */
  witnessState(origin: string): Promise<{ size: number; root: string } | undefined>
  /**
   * Records `cp`, just cosigned, as the latest of its origin, if the latest
   * is still of size `prevSize` (0: none), and appends `audit`, the ledger's
   * entry of the cosignature, in the same transaction: false, and nothing
   * written, if another request moved it first.
   */
  witnessCheckpoint(prevSize: number, cp: WitnessedCheckpoint, audit?: AuditEntry): Promise<boolean>
  witnessedCheckpoints(origin: string, afterSize: number, limit: number): Promise<WitnessedCheckpoint[]>
  /**
   * Appends `audit`, the ledger's entry of a conflict with the checkpoint of
   * `origin` this gateway cosigned at `size` (0: none), unless a conflict
   * with it was recorded already: false, and nothing written, then.
   */
  recordWitnessConflict(origin: string, size: number, audit: AuditEntry): Promise<boolean>
  latestWitnessedCheckpoint(origin: string): Promise<WitnessedCheckpoint | undefined>
}

/** Messages whose delivery was given up, for an operator to resend or discard. */
export interface DeadLetterRepository {
  /** Dead-lettered messages in (updatedAt, direction, id) order after `after`, of one direction or both. */
  deadLetters(direction: Direction | undefined, after: DeadLetterCursor | undefined, limit: number): Promise<MessageRecord[]>
  /** How many messages are dead-lettered now, per direction: cheap enough for a metrics scrape. */
  countDeadLetters(): Promise<Record<Direction, number>>
  /**
   * Puts a dead letter back in play: status `accepted`, attempts cleared, so
   * that the relay re-drives it if the queue loses it; appends `audit` in the
   * same transaction. False (and nothing written) unless it was dead-lettered
   * and its sealed copy is still in the outbox.
   */
  requeueDeadLetter(direction: Direction, id: string, audit: AuditEntry): Promise<boolean>
  /**
   * Gives up on a dead letter: status `discarded`, its sealed outbox item
   * deleted unless an active legal hold covers the message (then the first
   * purge after the hold's release deletes it), `audit` appended, in one
   * transaction; what became of the sealed copy. Undefined (and nothing
   * written) unless it was dead-lettered.
   */
  discardDeadLetter(direction: Direction, id: string, audit: AuditEntry): Promise<SealedCopyFate | undefined>
}

/** Legal holds (P9), and the retention purge (P5) they hold back. */
export interface HoldsAndRetention {
  /**
   * False if a hold with that ref exists. With `audit`, the hold and its
   * ledger entry are one write: neither without the other.
   */
  addLegalHold(hold: LegalHold, audit?: AuditEntry): Promise<boolean>
  /** The hold released, or undefined if no active hold has that ref; with `audit`, its entry in the same write. */
  releaseLegalHold(ref: string, at: string, audit?: AuditEntry): Promise<LegalHold | undefined>
  legalHolds(): Promise<LegalHold[]>
  /**
   * The holds, active or released, that cover a traveller: those placed on
   * the traveller digest, and those placed on a message an audit entry
   * naming the digest is about; in the order placed.
   */
  legalHoldsCovering(subject: string): Promise<LegalHold[]>
  /**
   * Retention: deletes delivered, dead-lettered and discarded messages last updated before
   * `before`, with their outbox items, except those an active legal hold
   * covers. It runs in chunks of at most `chunkMessages` messages, each its
   * own transaction, committed alone (no other write shares it, so that one
   * that fails fails no other), until a chunk finds fewer: each chunk appends
   * `audit` with its own counts in it (purgeEntry) in its transaction, so
   * that the ledger never lacks an entry for what was deleted, nor holds one
   * for what was not. A chunk that removed nothing appends nothing. Returns
   * the run's totals; a chunk that fails ends the run, and the chunks before
   * it stay committed. The entry is data, not a function of the counts, so
   * that a store on another thread (store-thread.ts) can be asked for it.
   */
  purge(before: string, audit: AuditEntry, options?: PurgeOptions): Promise<PurgeCounts>
}

/** The ledger's store: every repository over one database, and its close. */
export interface GatewayStore extends MessageRepository, LedgerRepository, CheckpointRepository, DeadLetterRepository, HoldsAndRetention {
  close(): Promise<void>
}
