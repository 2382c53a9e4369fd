// What an operator watches, in Prometheus form. Labels name kinds of things
// (a kind, a purpose, an error code, a queue, a certificate's role), never a
// traveller or a message: no ids, no digests. Every label value comes from a
// closed list, so that nothing a caller sends can grow the number of series.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { KINDS } from '../../schemas/index.ts'
import { policies } from '../../policies/index.ts'
import { ERROR_CODES } from '../errors.ts'
import { isCheckpointConflict } from '../audit/checkpoint-conflict.ts'
import { DIRECTIONS } from '../queue/queue-names.ts'
import type { AuditEvent, CommittedEntry, Direction, MessageRecord } from '../store/records.ts'
import type { TrustReloads } from '../plugins/trust.ts'
import { INTAKE_STAGES, type IntakeStage } from '../intake/intake.ts'
import { PURGE_OUTCOMES, type PurgeOutcome } from '../queue/retention.ts'

/** The audit events that are a message's outcomes; the others (purges, reports, holds…) are counted only as entries. */
const MESSAGE_OUTCOMES: ReadonlySet<AuditEvent> = new Set<AuditEvent>([
  'accepted',
  'refused',
  'received',
  'delivered',
  'delivery-failed',
  'dead-lettered',
  'withdrawn'
])
const KNOWN_KINDS: ReadonlySet<string> = new Set(KINDS)
const KNOWN_PURPOSES: ReadonlySet<string> = new Set(Object.values(policies).flatMap((p) => Object.keys(p.purposes)))
const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES)

/** A label value from a closed list: `unknown` when absent, `other` when not on the list. */
function closed(value: string | null, known: ReadonlySet<string>): string {
  if (value === null) return 'unknown'
  return known.has(value) ? value : 'other'
}

/** Acceptance to receipt: milliseconds on one network, minutes or hours when the partner is down and retries back off. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400]
/** A submission's waits are milliseconds: its commit, its queue add. */
const INTAKE_WAIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/**
 * The BullMQ states a delivery job is seen in. Not `failed`: a job that
 * fails for good is removed (queue/delivery-queues.ts, removeOnFail) and is
 * a dead letter in the ledger, which btb_dead_letters counts.
 */
export const QUEUE_STATES = ['waiting', 'active', 'delayed'] as const
export type QueueState = (typeof QUEUE_STATES)[number]

/** A certificate to watch, by its role; `system` names the agency system for agency client certificates. */
export interface WatchedCertificate {
  readonly certificate: string
  readonly system: string
  readonly validTo: Date
}

/** A byte budget's limit, what is in hand, and how many wait for room (lib/byte-budget.ts). */
export interface ByteBudgetState {
  readonly limit: number
  readonly inHand: number
  readonly waiting: number
}

/** What is read at scrape time, never cached: queues, the ledger, the trust store in force. */
export interface MetricsSources {
  /** Jobs per state, per queue name. */
  queueDepths(): Promise<ReadonlyArray<{ readonly queue: string; readonly counts: Readonly<Record<string, number>> }>>
  /** Dead-lettered messages now, per queue name. */
  deadLetters(): Promise<Readonly<Record<string, number>>>
  certificates(): readonly WatchedCertificate[]
  /** The delivery workers' byte budget (lib/byte-budget.ts): its limit, what is in hand, and how many deliveries wait for room. */
  deliveryBudget(): ByteBudgetState
  /** The request bodies' byte budget (plugins/intake-budget.ts): the same three. */
  intakeBudget(): ByteBudgetState
  /** The partner gateway's deliveries' room of their own in it: the same three. */
  partnerIntakeBudget(): ByteBudgetState
  /** The trust file's reloads so far (plugins/trust.ts). */
  trustReloads(): TrustReloads
  /** A source that failed: the scrape still answers, without that metric. */
  onError(what: string, err: unknown): void
}

const DAY_MS = 86_400_000

/** A byte budget's two gauges, read at each scrape: `<prefix>_bytes` in hand against its limit, and `<prefix>_waiting`. */
function byteBudgetGauges(
  registers: Registry[],
  prefix: string,
  read: () => ByteBudgetState,
  help: { readonly bytes: string; readonly waiting: string }
): void {
  new Gauge({
    name: `${prefix}_bytes`,
    help: help.bytes,
    labelNames: ['state'],
    registers,
    collect() {
      const budget = read()
      this.set({ state: 'in_hand' }, budget.inHand)
      this.set({ state: 'limit' }, budget.limit)
    }
  })
  new Gauge({
    name: `${prefix}_waiting`,
    help: help.waiting,
    registers,
    collect() {
      this.set(read().waiting)
    }
  })
}

/**
 * The process's own metrics (CPU, memory, event-loop delay, garbage
 * collection), in one registry for the process however many gateways it
 * builds. prom-client's default collectors keep a timer (Node's event-loop
 * delay histogram, every 10 ms) and a GC observer for the life of the
 * process, and clearing their registry stops neither: a set for each gateway
 * left one running for every app a test process had built and closed.
 */
let processRegistry: Registry | undefined

function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export class GatewayMetrics {
  /** The gateway's own metrics, one registry per gateway instance: tests run many gateways in one process. */
  readonly registry = new Registry()
  readonly #messages: Counter<'direction' | 'outcome' | 'kind' | 'purpose' | 'code'>
  readonly #entries: Counter<'event'>
  readonly #conflicts: Counter
  readonly #conflictsRepeated: Counter
  readonly #verifications: Histogram
  readonly #purges: Counter<'outcome'>
  readonly #latency: Histogram<'direction'>
  readonly #intakeWait: Histogram<'direction' | 'stage'>
  /** Client certificates as last presented, by role and system. */
  readonly #presented = new Map<string, WatchedCertificate>()

  constructor(sources: MetricsSources) {
    const registers = [this.registry]
    // The process's collectors start with its first gateway, so that its event-loop delay is measured from then.
    processMetrics()
    this.#messages = new Counter({
      name: 'btb_messages_total',
      help: 'Messages by outcome (accepted, refused, received, delivered, delivery-failed, dead-lettered), as the audit ledger records them.',
      labelNames: ['direction', 'outcome', 'kind', 'purpose', 'code'],
      registers
    })
    this.#entries = new Counter({
      name: 'btb_audit_entries_total',
      help: 'Audit ledger entries appended, by event.',
      labelNames: ['event'],
      registers
    })
    this.#conflicts = new Counter({
      name: 'btb_checkpoint_conflicts_total',
      help:
        "Checkpoint conflicts the ledger recorded: a checkpoint of the partner's ledger this gateway refused to cosign, or one of this " +
        'ledger the partner refused. Either ledger was cut short or rewritten (docs/operators.md, "Metrics and health"). Alert when above 0.',
      registers
    })
    this.#conflictsRepeated = new Counter({
      name: 'btb_checkpoint_conflicts_repeated_total',
      help:
        "Checkpoints of the partner's ledger this gateway refused to cosign as conflicts with one it cosigned, whose conflict the ledger " +
        'recorded already, so not again: the partner is still sending a ledger cut short or rewritten (docs/operators.md, "Metrics and health").',
      registers
    })
    this.#verifications = new Histogram({
      name: 'btb_ledger_verification_seconds',
      help: 'Whole-ledger verifications run for privacy officers, and how long each took; those asked for while one runs share it (docs/privacy-officers.md, "Verifying the ledger against the partner").',
      buckets: [1, 5, 15, 60, 300, 1800],
      registers
    })
    this.#purges = new Counter({
      name: 'btb_retention_purges_total',
      help:
        'Retention purge runs by outcome (completed, failed). A failed run keeps personal data past MESSAGE_RETENTION_DAYS until one completes ' +
        '(docs/operators.md, "Metrics and health"). Alert on any failed.',
      labelNames: ['outcome'],
      registers
    })
    // Both series exist from the start, so that increase() sees the first failure.
    for (const outcome of PURGE_OUTCOMES) this.#purges.inc({ outcome }, 0)
    this.#latency = new Histogram({
      name: 'btb_delivery_latency_seconds',
      help: "From acceptance (outbound) or receipt (inbound) to the delivery confirmed: the partner's signed receipt, or the agency's 2xx.",
      labelNames: ['direction'],
      buckets: LATENCY_BUCKETS,
      registers
    })
    // Both series exist from the start, so that rate() sees the first delivery.
    for (const direction of DIRECTIONS) this.#latency.zero({ direction })
    this.#intakeWait = new Histogram({
      name: 'btb_intake_wait_seconds',
      help:
        'What an accepted message waited for before its answer: its ledger commit (stage ledger), then its queue add (stage queue). ' +
        'The rest of its time is the event loop\'s (docs/operators.md, "Metrics and health").',
      labelNames: ['direction', 'stage'],
      buckets: INTAKE_WAIT_BUCKETS,
      registers
    })
    for (const direction of DIRECTIONS) for (const stage of INTAKE_STAGES) this.#intakeWait.zero({ direction, stage })
    const presented = this.#presented
    new Gauge({
      name: 'btb_queue_jobs',
      help: 'Delivery jobs in Redis, per queue and state.',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset()
        try {
          for (const { queue, counts } of await sources.queueDepths()) {
            for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0)
          }
        } catch (err) {
          sources.onError('queue depths', err)
        }
      }
    })
    new Gauge({
      name: 'btb_dead_letters',
      help: 'Messages dead-lettered now (retries exhausted), per queue, waiting for an operator to resend or discard them. Alert when above 0.',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset()
        try {
          for (const [queue, count] of Object.entries(await sources.deadLetters())) this.set({ queue }, count)
        } catch (err) {
          sources.onError('dead letters', err)
        }
      }
    })
    byteBudgetGauges(registers, 'btb_delivery_budget', () => sources.deliveryBudget(), {
      bytes:
        "Bytes of messages the delivery workers hold, each its sealed copy and what it opens to (state in_hand), against the budget (state limit): a bulk load's batches wait for room " +
        '(docs/operators.md, "Sizing").',
      waiting: 'Deliveries a worker has taken that wait for room in the byte budget before they read their message.'
    })
    byteBudgetGauges(registers, 'btb_intake_budget', () => sources.intakeBudget(), {
      bytes:
        'Bytes of request bodies being read and checked (state in_hand), against the budget (state limit): past it, a request waits before its body is read ' +
        '(docs/operators.md, "Sizing").',
      waiting: 'Requests waiting for room in the intake byte budget before their bodies are read.'
    })
    byteBudgetGauges(registers, 'btb_partner_intake_budget', () => sources.partnerIntakeBudget(), {
      bytes:
        "Bytes of the partner gateway's deliveries being read and checked (state in_hand), against their own room, as large as the intake budget (state limit): no agency's body holds them up " +
        '(docs/operators.md, "Sizing").',
      waiting: "The partner gateway's deliveries waiting for room before their bodies are read."
    })
    new Counter({
      name: 'btb_trust_reloads_total',
      help: 'Reloads of the trust file (SIGHUP, a change seen, the keys CLI), applied or refused; a refused one leaves the trust in force as it was.',
      labelNames: ['outcome'],
      registers,
      collect() {
        const { applied, refused } = sources.trustReloads()
        this.reset()
        this.inc({ outcome: 'applied' }, applied)
        this.inc({ outcome: 'refused' }, refused)
      }
    })
    new Gauge({
      name: 'btb_trust_file_in_force',
      help: 'Whether the trust file on disk is the trust in force: 0 once a reload of it was refused, until one is applied (docs/operators.md, "Metrics and health").',
      registers,
      collect() {
        this.set(sources.trustReloads().lastRefused ? 0 : 1)
      }
    })
    new Gauge({
      name: 'btb_certificate_expiry_days',
      help: "Days until a certificate expires (negative once expired): the trust store's, and client certificates as last presented.",
      labelNames: ['certificate', 'system'],
      registers,
      collect() {
        this.reset()
        const now = Date.now()
        for (const c of [...sources.certificates(), ...presented.values()]) {
          this.set({ certificate: c.certificate, system: c.system }, (c.validTo.getTime() - now) / DAY_MS)
        }
      }
    })
  }

  /**
   * One committed audit entry. Delivery entries name only the message: the
   * caller passes its record, for the kind, the purpose and the acceptance time.
   */
  observe(entry: CommittedEntry, record?: Pick<MessageRecord, 'kind' | 'purpose' | 'acceptedAt'>): void {
    this.#entries.inc({ event: entry.event })
    if (isCheckpointConflict(entry)) this.#conflicts.inc()
    // A refusal about no message (a checkpoint conflict) is not a message outcome.
    if (!MESSAGE_OUTCOMES.has(entry.event) || entry.direction === undefined) return
    this.#messages.inc({
      direction: entry.direction,
      outcome: entry.event,
      kind: closed(entry.kind ?? record?.kind ?? null, KNOWN_KINDS),
      purpose: closed(entry.purpose ?? record?.purpose ?? null, KNOWN_PURPOSES),
      code: entry.code === null ? '' : closed(entry.code, KNOWN_CODES)
    })
    if (entry.event === 'delivered' && record !== undefined) {
      const seconds = (Date.parse(entry.at) - Date.parse(record.acceptedAt)) / 1000
      if (seconds >= 0) this.#latency.observe({ direction: entry.direction }, seconds)
    }
  }

  /** An accepted message waited `seconds` for its ledger commit or its queue add (intake/intake.ts). */
  ledgerVerified(seconds: number): void {
    this.#verifications.observe(seconds)
  }

  /** A conflicting checkpoint refused, its conflict recorded already (routes/witness.ts). */
  checkpointConflictRepeated(): void {
    this.#conflictsRepeated.inc()
  }

  /** A retention purge run ended (queue/retention.ts). */
  retentionPurged(outcome: PurgeOutcome): void {
    this.#purges.inc({ outcome })
  }

  intakeWaited(direction: Direction, stage: IntakeStage, seconds: number): void {
    this.#intakeWait.observe({ direction, stage }, seconds)
  }

  /** A client certificate presented on a new connection, for its expiry. */
  presented(certificate: 'agency-system' | 'partner-gateway', system: string, validTo: Date): void {
    this.#presented.set(`${certificate} ${system}`, { certificate, system, validTo })
  }

  /** Whether an entry names only its message, so that its labels are on the message's record. */
  static needsRecord(entry: CommittedEntry): entry is CommittedEntry & { messageId: string; direction: Direction } {
    return (
      entry.messageId !== null &&
      entry.direction !== undefined &&
      entry.kind === null &&
      (entry.event === 'delivered' || entry.event === 'delivery-failed' || entry.event === 'dead-lettered')
    )
  }

  /** The process's metrics and this gateway's, in one exposition. */
  scrape(): Promise<string> {
    return Registry.merge([processMetrics(), this.registry]).metrics()
  }

  /** Forgets this gateway's series; the process's stay, for the other gateways it may run. */
  close(): void {
    this.registry.clear()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}
