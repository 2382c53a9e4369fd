// The load: NEXUS designations from CBSA to CBP (one traveller.designation
// per message, the bulk loader's nexus-roster job), sent the way an agency
// system sends them, with the AgencyClient. Unlike the bulk loader it keeps,
// per message, whether the gateway accepted it and when it was first
// submitted: the counting needs the accepted ids, the soak the submit times.
//
// A submission that gets no answer (the gateway was killed under it) or a
// 503/429 is sent again with the same bytes, with backoff, for up to
// `retryForMs`: the gateway answers a repeat with 200, so retrying is safe
// and an accepted message is counted once, whichever answer said so.
import { randomUUID } from 'node:crypto'
import type { AgencyClient } from '../sandbox/agency-client.ts'
import { submitWithRetry } from '../sandbox/submit-retry.ts'
import { nexusDesignation, seedHash } from '../sandbox/synthetic-travellers.ts'

export interface LoadOptions {
  readonly client: AgencyClient
  /** Stop after this many messages… */
  readonly count?: number
  /** …or after this long (the soak). */
  readonly durationMs?: number
  /** Requests in flight at most. */
  readonly concurrency: number
  /** Messages started per second; unset: as fast as `concurrency` allows. */
  readonly rate?: number
  readonly retryForMs: number
}

export interface MessageState {
  readonly id: string
  /** Date.now() when first submitted. */
  readonly submittedAt: number
  acceptedAt: number | null
  /** 202 or 200 (a repeat of an accepted message), or the last refusal/failure code. */
  outcome: 'accepted' | 'pending' | string
  /** Submissions of these bytes (1 unless the gateway could not answer). */
  tries: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export class Load {
  readonly opts: LoadOptions
  readonly messages = new Map<string, MessageState>()
  accepted = 0
  refused = 0
  failed = 0
  startedAt = 0
  finishedAt = 0
  #stop = false
  readonly #watchers: Array<{ n: number; resolve: () => void }> = []
  readonly #roster = { seed: seedHash(`faults-${randomUUID()}`), assessedBy: 'CBSA' as const, date: new Date().toISOString().slice(0, 10) }

  constructor(opts: LoadOptions) {
    if (opts.count === undefined && opts.durationMs === undefined) throw new Error('a load needs a count or a duration')
    this.opts = opts
  }

  /** Resolves once `n` messages were accepted (a fault is injected part-way through the load). */
  acceptedAtLeast(n: number): Promise<void> {
    if (this.accepted >= n) return Promise.resolve()
    return new Promise((resolve) => this.#watchers.push({ n, resolve }))
  }

  /** Ends the load after the messages already started (the soak's end, Ctrl-C). */
  stop(): void {
    this.#stop = true
  }

  acceptedIds(): string[] {
    return [...this.messages.values()].filter((m) => m.outcome === 'accepted').map((m) => m.id)
  }

  #envelope(m: number): Record<string, unknown> {
    return this.opts.client.envelope({
      kind: 'traveller.designation',
      purpose: 'trusted-traveller-vetting',
      legalAuthority: 'CustomsAct-11.1',
      agreementRef: 'CA-US-NEXUS-Arrangement-2002',
      to: { country: 'US', agency: 'CBP' },
      correlationId: null,
      payload: nexusDesignation(this.#roster, m)
    })
  }

  async #submit(state: MessageState, jws: string): Promise<void> {
    const outcome = await submitWithRetry(this.opts.client, jws, {
      retryForMs: this.opts.retryForMs,
      onTry: () => {
        state.tries++
      }
    })
    if (outcome.status !== 'accepted') {
      state.outcome = outcome.code
      if (outcome.status === 'refused') this.refused++
      else this.failed++
      return
    }
    state.outcome = 'accepted'
    state.acceptedAt = Date.now()
    this.accepted++
    for (const w of this.#watchers.filter((w) => this.accepted >= w.n)) {
      this.#watchers.splice(this.#watchers.indexOf(w), 1)
      w.resolve()
    }
  }

  /** Runs to the end (count reached, duration over, or stop()). */
  async run(): Promise<void> {
    const { count, durationMs, concurrency, rate } = this.opts
    this.startedAt = Date.now()
    let next = 0
    const more = (): boolean => !this.#stop && (count === undefined || next < count) && (durationMs === undefined || Date.now() - this.startedAt < durationMs)
    const worker = async (): Promise<void> => {
      while (more()) {
        const m = next++
        if (rate !== undefined) {
          // Message m starts at startedAt + m/rate: a steady rate, whatever the latency.
          const due = this.startedAt + (m * 1000) / rate
          if (due > Date.now()) await sleep(due - Date.now())
          if (this.#stop || (durationMs !== undefined && Date.now() - this.startedAt >= durationMs)) return
        }
        const envelope = this.#envelope(m)
        // Signed just before it is sent: createdAt must be fresh when the gateway reads it.
        const jws = await this.opts.client.sign(envelope)
        const state: MessageState = { id: String(envelope.id), submittedAt: Date.now(), acceptedAt: null, outcome: 'pending', tries: 0 }
        this.messages.set(state.id, state)
        await this.#submit(state, jws)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    this.finishedAt = Date.now()
  }
}
