// The short form of `npm run faults` (faults/): every fault, on a fresh
// exchange of real processes (both gateways as `node gateway/server.ts`, a
// private redis-server, a latency proxy between the gateways, mock
// agencies), under a load of 60 messages, with 5 s outages instead of 60 s.
// Each must lose nothing, duplicate nothing (in either ledger, or in what the
// agency acts on), recover with no action but the restart itself, and leave
// both ledgers verifying. Waiting for delivery polls the ledgers and the
// agency (faults/scenario.ts); the only timed pauses are the outages.
import t from 'tap'
import { FAULTS, type FaultTimings } from '../faults/faults.ts'
import { runFault, type ScenarioSettings } from '../faults/scenario.ts'

const TIMINGS: FaultTimings = { outageMs: 5_000, slowMs: 5_000, slowDelayMs: 500, redisDownMs: 500 }

const SETTINGS: Omit<ScenarioSettings, 'say'> = {
  // Enough that the fault lands with messages in every stage (submitted,
  // queued, in delivery, pushed); each message more is only more of the same.
  messages: 60,
  concurrency: 16,
  timings: TIMINGS,
  // Shorter than the defaults (1 s backoff, 5 s relay; a 15 s queue lock
  // checked every 10 s) so that a 5 s outage is retried within seconds and
  // the jobs a kill -9 left locked are taken again within about 7 s; the
  // mechanisms are the same.
  // No pipeline thread: a designation is far below the size that would use
  // one, and starting it compiles every schema again, in each of the twenty
  // gateway processes this file starts (the faults are about delivery).
  gateway: { deliveryBackoffMs: 100, relayIntervalMs: 1_000, pipelineThreads: 0, queueLockMs: 5_000, queueStalledCheckMs: 2_000 },
  // A kill -9 leaves the jobs in hand locked in Redis until BullMQ's stalled
  // check frees them: 5 to 7 s with the lock above (15 to 25 s with the
  // gateway's defaults), longer while eight faults share two cores.
  recoveryBoundMs: 100_000,
  quietMs: 1_000,
  injectAt: 0.33,
  keep: 'never'
}

// The faults mostly wait (outages, the stalled-job check), so they all run
// at once, the two kill -9 faults, the longest, first; but their exchanges
// start two at a time (one per core), since starting gateways is what takes
// the CPU.
t.jobs = FAULTS.length
const STARTING_AT_ONCE = 2
let starting = 0
const startQueue: Array<() => void> = []
async function startSlot<T>(start: () => Promise<T>): Promise<T> {
  // A slot that frees is handed to the next in line, not left for whoever asks first.
  if (starting < STARTING_AT_ONCE) starting++
  else await new Promise<void>((resolve) => startQueue.push(resolve))
  try {
    return await start()
  } finally {
    const next = startQueue.shift()
    if (next === undefined) starting--
    else next()
  }
}
// The whole file takes about 30 s alone on the 2-core machine, and up to about
// 70 s beside the rest of the suite; the kill -9 faults are the longest.
t.setTimeout(170_000)

for (const fault of FAULTS) {
  t.test(fault.title(TIMINGS), async (t) => {
    const lines: string[] = []
    const row = await runFault(fault, { ...SETTINGS, startSlot, say: (line) => lines.push(line) })
    const c = row.counts
    if (!row.pass) t.comment([...lines, ...row.findings].join('\n'))
    t.equal(c.accepted, SETTINGS.messages, 'every message accepted (submissions cut off by a kill are sent again)')
    t.equal(c.lost.length, 0, 'nothing lost: every accepted message delivered (CA ledger and the agency)', { ids: c.lost.slice(0, 5) })
    t.equal(c.ledgerDuplicates.caAccepted.length + c.ledgerDuplicates.caDelivered.length, 0, 'CA ledger: one accepted and one delivered entry per message')
    t.equal(c.ledgerDuplicates.usReceived.length + c.ledgerDuplicates.usDelivered.length, 0, 'US ledger: one received and one delivered entry per message')
    t.equal(c.actedTwice.length, 0, 'the agency acts on each message once (Idempotency-Key)', { ids: c.actedTwice.slice(0, 5) })
    t.ok(c.pushesComplete, "the agency's record of pushes is whole")
    t.ok(
      row.recovered,
      `recovered without a hand (${row.recoveryMs === null ? 'not within the bound' : `${(row.recoveryMs / 1000).toFixed(1)} s after the fault was undone`})`
    )
    t.ok(row.verification.CA.ok, 'the CA ledger verifies', { firstBad: row.verification.CA.firstBad })
    t.ok(row.verification.US.ok, 'the US ledger verifies', { firstBad: row.verification.US.firstBad })
    t.comment(
      `${fault.name}: ${(row.totalMs / 1000).toFixed(1)} s; exchange calls/msg ${(c.exchangeCalls / Math.max(1, c.accepted)).toFixed(3)}; ` +
        `raw repeat pushes ${c.rawRepeats.length}; recovered in ${row.recoveryMs === null ? '-' : `${(row.recoveryMs / 1000).toFixed(1)} s`}`
    )
  })
}
