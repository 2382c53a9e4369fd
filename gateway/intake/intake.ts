// Taking in a message the pipeline has prepared, the same for both directions
// (docs/architecture.md, "The pipeline, one message"): the message, its sealed outbox item and
// its audit entry are committed in one ledger transaction before the answer,
// then the message is queued. Agency submissions (routes/messages.ts) and the
// partner gateway's deliveries (routes/exchange.ts) both come through here.
import type { FastifyBaseLogger } from 'fastify'
import { isMessageId } from '../../schemas/index.ts'
import { ServiceUnavailableError, SupersedesConflictError } from '../errors.ts'
import type { DeliveryQueues } from '../queue/delivery-queues.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import { sha256 } from '../lib/digest.ts'
import type { PreparedOutbound } from '../pipeline/prepare-outbound.ts'
import { supersedingSubjects } from '../pipeline/subject-fields.ts'
import type { AuditEvent, Direction, GatewayStore, MessageRecord, OutboxItem, SupersedingOutcome } from '../store/records.ts'
import type { LedgerWrites } from './ledger-writes.ts'
import { supersessionLink, withdrawalEntry } from './supersession.ts'
import { MATCH_RESPONSE } from './correlation.ts'

const ID_MEMBER = Buffer.from('"id":')
/** The most ids a payload's text is looked up by (the envelope's own, a superseded one's): each is a store call. */
const IDS_NAMED_MAX = 4

/**
 * The message ids a compact JWS's payload names as `"id":"…"`, found in its
 * bytes without reading it as JSON. This runs on the event loop, before the
 * signature is verified, for bodies of megabytes: a read of one as I-JSON
 * took up to half a second (names written with escapes are rebuilt by hand,
 * lib/i-json.ts), for any agency to make the gateway spend. A member that is
 * not the envelope's id, or one written otherwise (`"\u0069d"`), costs a
 * lookup or the shortcut, never a wrong answer: only a message stored with
 * exactly these bytes' digest is answered (sameBytesAgain).
 */
function idsNamed(jws: string): string[] {
  const start = jws.indexOf('.') + 1
  const end = jws.indexOf('.', start)
  if (start === 0 || end < 0) return []
  const payload = Buffer.from(jws.slice(start, end), 'base64url')
  const ids: string[] = []
  for (let at = payload.indexOf(ID_MEMBER); at !== -1 && ids.length < IDS_NAMED_MAX; at = payload.indexOf(ID_MEMBER, at + 1)) {
    let k = at + ID_MEMBER.length
    // JSON's white space, as a pretty-printer writes `"id": "…"`.
    while (payload[k] === 0x20 || payload[k] === 0x09 || payload[k] === 0x0a || payload[k] === 0x0d) k++
    if (payload[k] !== 0x22 || payload[k + 37] !== 0x22) continue
    const id = payload.toString('latin1', k + 1, k + 37)
    if (isMessageId(id)) ids.push(id)
  }
  return ids
}

/** What an admitted message waits for before its answer: its ledger commit, then its queue add. */
export type IntakeStage = 'ledger' | 'queue'
export const INTAKE_STAGES: readonly IntakeStage[] = ['ledger', 'queue']

export interface IntakeOptions {
  readonly store: Pick<GatewayStore, 'findMessage' | 'accept' | 'acceptSuperseding' | 'withdraw' | 'searchAudit'>
  readonly queues: Pick<DeliveryQueues, 'enqueue' | 'cancel'>
  /**
   * Told how long an admitted message waited for its ledger commit, and for
   * its queue add: the metrics' btb_intake_wait_seconds (plugins/intake.ts).
   */
  readonly onWaited?: (direction: Direction, stage: IntakeStage, seconds: number) => void
  /** Told whether each ledger write succeeded: /readyz's view of whether the ledger takes writes. */
  readonly writes?: LedgerWrites
}

/**
 * One message the pipeline prepared (both directions prepare the same facts),
 * and what only its route knows. From these the intake makes the message
 * record, its outbox item and its audit entry, the same way for both.
 */
export interface Admission {
  readonly direction: Direction
  /** `accepted` for a submission, `received` for a partner's delivery. */
  readonly event: AuditEvent
  /** Who sent it: the agency system, or the partner gateway. */
  readonly caller: string
  /** The message record's sender and recipient. */
  readonly sender: string
  readonly recipient: string
  /** Where the outbox item goes: the partner, or the receiving system. */
  readonly target: string
  /** The receipt this gateway signed (inbound), or none yet (outbound). */
  readonly receipt: string | null
  /** Digest of the bytes received (repeats are recognised by it), and its keyed form for the ledger. */
  readonly digest: string
  readonly auditDigest: string
  /** An agency submission's payload digest: the same envelope signed again is a repeat too (store/records.ts). */
  readonly payloadDigest?: string
  readonly prepared: Pick<PreparedOutbound, 'envelope' | 'policy' | 'decisions' | 'subjects' | 'subjectFields' | 'messageFields' | 'sealed' | 'at'>
  /**
   * On a correction or a retraction, the message it supersedes, as this
   * gateway holds it (intake/supersession.ts checked it); none when a
   * partner's original never reached this gateway.
   */
  readonly original?: MessageRecord
  /** The request's logger: what goes wrong is logged against the request. */
  readonly log: FastifyBaseLogger
}

/** What repeatOf needs of a preparation, either direction. */
export interface RepeatCheck {
  readonly refusal?: unknown
  readonly result?: { readonly envelope: { readonly kind: string; readonly supersedes?: unknown } }
}

/** Accepted, or not because the id was already taken: `existing` is the message stored under it. */
export type AdmissionOutcome = { readonly accepted: true; readonly record: MessageRecord } | { readonly accepted: false; readonly existing: MessageRecord }

// The detail of the 503 each direction has always answered (docs/integrators.md, "Error codes").
const LEDGER_UNAVAILABLE: Readonly<Record<Direction, string>> = {
  outbound: 'the ledger could not record the message; nothing was accepted, retry later',
  inbound: 'the ledger could not record the message; retry later'
}

export class Intake {
  readonly #store: IntakeOptions['store']
  readonly #queues: IntakeOptions['queues']
  readonly #onWaited: IntakeOptions['onWaited']
  readonly #writes: LedgerWrites | undefined

  constructor(opts: IntakeOptions) {
    this.#store = opts.store
    this.#queues = opts.queues
    this.#onWaited = opts.onWaited
    this.#writes = opts.writes
  }

  /**
   * The message already stored under this id, if any. A repeat of an
   * agency's submission, or a partner's replay, is answered from it, whatever
   * the clock says now: a retrying sender must never be told it failed.
   */
  stored(direction: Direction, id: string): Promise<MessageRecord | undefined> {
    return this.#store.findMessage(direction, id)
  }

  /**
   * The message stored under the id a JWS's payload names, if it was exactly
   * these bytes (the SHA-256 its receipt names), looked up before the
   * pipeline works on them. A sender sends a large batch again when its
   * wait for the answer ran out while the gateway worked on it; working on
   * it again for each retry would make each retry time out too, and the
   * partner gateway dead-letter a message this gateway has. The bytes were
   * verified and checked when they came first. The routes ask only for
   * large bodies (PIPELINE_WORKER_MIN_BYTES): a small one's preparation
   * costs less than the lookup, which its admission makes anyway.
   */
  async sameBytesAgain(direction: Direction, jws: string): Promise<MessageRecord | undefined> {
    let digest: string | undefined
    for (const id of idsNamed(jws)) {
      const stored = await this.#store.findMessage(direction, id)
      if (stored !== undefined && stored.digest === (digest ??= sha256(jws))) return stored
    }
    return undefined
  }

  /**
   * The message stored under the id a submission or delivery claims, looked
   * up before admission only where admission would not find it: one that
   * will be refused, or whose checks before admission read other records
   * (one that supersedes another, a match response and the request it
   * answers), which may have changed since it first came: a repeat is
   * answered as one whatever they say now. Any other finds its repeat when
   * the ledger refuses its id (admit's `existing`), which saves a store call
   * on every new message.
   */
  async repeatOf(direction: Direction, id: string | undefined, prepared: RepeatCheck): Promise<MessageRecord | undefined> {
    const envelope = prepared.result?.envelope
    const checksOthers = envelope !== undefined && (envelope.supersedes !== undefined || envelope.kind === MATCH_RESPONSE)
    if (id === undefined || (prepared.refusal === undefined && !checksOthers)) return undefined
    // An id a refused payload claims is as it was sent: one not of the
    // contract's form was never stored, and is not looked up (PostgreSQL
    // would fail the lookup of one holding a NUL).
    if (!isMessageId(id)) return undefined
    return this.#store.findMessage(direction, id)
  }

  async admit(admission: Admission): Promise<AdmissionOutcome> {
    const { direction, prepared, log, original } = admission
    const { envelope, policy, at } = prepared
    const supersedes = envelope.supersedes
    const record: MessageRecord = {
      direction,
      id: envelope.id,
      digest: admission.digest,
      ...(admission.payloadDigest === undefined ? {} : { payloadDigest: admission.payloadDigest }),
      kind: envelope.kind,
      purpose: envelope.purpose,
      sender: admission.sender,
      recipient: admission.recipient,
      status: 'accepted',
      acceptedAt: at,
      updatedAt: at,
      attempts: [],
      receipt: admission.receipt,
      correlationId: envelope.correlationId ?? null,
      policyVersion: policy.version,
      ...(supersedes === undefined ? {} : { supersedes: supersessionLink(supersedes) })
    }
    const item: OutboxItem = { direction, id: envelope.id, target: admission.target, sealed: prepared.sealed, createdAt: at }
    const audit = auditEntry({
      event: admission.event,
      direction,
      caller: admission.caller,
      envelope,
      policy,
      digest: admission.auditDigest,
      fields: prepared.decisions,
      at,
      // A correction also names the travellers of what it corrects, so that a
      // disclosure report on either finds both (docs/privacy-officers.md), each
      // with only the decisions their own record was counted in.
      ...(original === undefined
        ? { subjects: prepared.subjects, ...(prepared.subjectFields === undefined ? {} : { subjectFields: prepared.subjectFields }) }
        : supersedingSubjects(prepared, prepared.decisions.length, await this.#subjectsOf(original)))
    })
    let outcome: SupersedingOutcome
    const committing = performance.now()
    try {
      if (supersedes === undefined) outcome = (await this.#store.accept(record, item, audit)) ? 'accepted' : 'exists'
      else {
        const supersession = { direction, original: supersedes.id, by: record.id, action: supersedes.action, reason: supersedes.reason ?? null, at }
        outcome = await this.#store.acceptSuperseding({
          record,
          outbox: item,
          audit,
          supersession,
          withdrawal: withdrawalEntry(direction, supersedes.id, original)
        })
      }
    } catch (err) {
      log.error({ err }, 'ledger write failed')
      this.#writes?.failed(err)
      throw new ServiceUnavailableError(LEDGER_UNAVAILABLE[record.direction])
    }
    this.#writes?.succeeded()
    this.#waited(direction, 'ledger', committing)
    // Another correction or retraction of the same original won a race with this one: nothing of this one was written.
    if (outcome === 'conflict') throw new SupersedesConflictError(`${supersedes!.id} was superseded by another message meanwhile`)
    // Lost a race with a concurrent message of the same id: the caller answers
    // it as a repeat of the one that won.
    if (outcome === 'exists') return { accepted: false, existing: (await this.#store.findMessage(record.direction, record.id))! }
    const queueing = performance.now()
    try {
      await this.#queues.enqueue(item)
      this.#waited(direction, 'queue', queueing)
    } catch (err) {
      // Committed to the outbox: the relay will enqueue it
      // (docs/architecture.md, "The pipeline, one message"). The answer stands.
      log.warn({ err, messageId: record.id }, 'enqueue failed; left to the outbox relay')
    }
    if (original?.status === 'accepted') await this.#stop(direction, original, log)
    return { accepted: true, record }
  }

  #waited(direction: Direction, stage: IntakeStage, since: number): void {
    this.#onWaited?.(direction, stage, (performance.now() - since) / 1000)
  }

  /** The travellers the original's own entry names (its `accepted` or `received` entry, found by its id). */
  async #subjectsOf(original: MessageRecord): Promise<readonly string[]> {
    const event = original.direction === 'outbound' ? 'accepted' : 'received'
    const [entry] = await this.#store.searchAudit({ messageId: original.id, direction: original.direction, event }, 0, 1)
    return entry?.entry.subjects ?? []
  }

  /**
   * A retraction or correction of a message still waiting to go stops it
   * (docs/integrators.md, "Corrections and retractions"). Only a job that no
   * worker holds can be taken off the queue: a held one may be reaching the
   * partner (or the agency) right now, and then its worker withdraws the
   * original once that attempt ends, and the superseding message waits for
   * it (delivery/delivery-outcome.ts). Either way the original never goes
   * after what supersedes it.
   */
  async #stop(direction: Direction, original: MessageRecord, log: FastifyBaseLogger): Promise<void> {
    try {
      if (!(await this.#queues.cancel(direction, original.id))) return
      // Read again: an attempt that failed since it was read is one the withdrawal's entry must count.
      const now = (await this.#store.findMessage(direction, original.id)) ?? original
      await this.#store.withdraw(direction, original.id, withdrawalEntry(direction, original.id, now))
    } catch (err) {
      // Committed: its worker, or the relay's, withdraws the original before sending it.
      log.warn({ err, messageId: original.id }, 'could not stop the superseded message now; its delivery will')
    }
  }
}
