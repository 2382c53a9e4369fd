// One fault, end to end: a fresh exchange, the load, the fault part-way
// through it, then hands off — the harness only watches until every
// accepted message is delivered (or the bound runs out), and counts. The
// CLI (run.ts) and the CI test (test/faults.test.ts) both run faults this way.
import type { LedgerVerification } from '../gateway/audit/verify-ledger.ts'
import type { SystemName } from '../sandbox/example-systems.ts'
import { LedgerProbe, countOutcome, evidence, verifyLedgerFile, type Counts } from './count.ts'
import type { Fault, FaultTimings } from './faults.ts'
import { Load } from './load.ts'
import { until, type Country, type GatewaySettings } from './processes.ts'
import { Topology } from './topology.ts'

export interface ScenarioSettings {
  readonly messages: number
  readonly concurrency: number
  readonly timings: FaultTimings
  readonly gateway: GatewaySettings
  /** How long after the fault is undone (and the load sent) every message must be delivered: "recovered without a hand". */
  readonly recoveryBoundMs: number
  /** Once all is delivered: how long the ledgers and the agency must stay still before counting. */
  readonly quietMs: number
  /** The fault starts once this share of the messages was accepted. */
  readonly injectAt: number
  /** When to keep the run's directory (logs, ledgers, AOF) instead of removing it. */
  readonly keep: 'never' | 'failed' | 'always'
  readonly say: (line: string) => void
  /**
   * Wraps the start of the exchange. Starting two gateways is the most
   * CPU-hungry moment of a run (about 3 s of CPU each): runs done side by
   * side (the CI test) pass one that lets one start at a time, so that
   * starts do not pile up on two cores while the others mostly wait.
   */
  readonly startSlot?: <T>(start: () => Promise<T>) => Promise<T>
}

export interface FaultRow {
  readonly name: string
  readonly title: string
  readonly counts: Counts
  readonly recovered: boolean
  /** From the fault being undone to the last accepted message's push at the agency (null: not all within the bound). */
  readonly recoveryMs: number | null
  /** From the later of the fault being undone and the last submission to that last push: the lag the fault left. */
  readonly drainMs: number | null
  /** From the start of the load to the end of counting. */
  readonly totalMs: number
  readonly verification: Readonly<Record<Country, LedgerVerification>>
  readonly pass: boolean
  /** Evidence for each non-zero counter: a few ids and what the ledgers say of them. */
  readonly findings: readonly string[]
  /** Where the run's logs and ledgers are, when kept. */
  readonly keptDir: string | null
  /** TCP connections the CA gateway opened through the proxy to the US gateway, and how many reached it. */
  readonly proxy: { readonly connections: number; readonly connected: number }
  /** Gateway processes that exited while starting and were started again (the supervisor's restart policy). */
  readonly failedStarts: readonly string[]
}

/** Pass: nothing lost, nothing duplicated in a ledger or acted on twice at the agency, recovered, both ledgers verify. */
export function passes(row: Pick<FaultRow, 'counts' | 'recovered' | 'verification'>): boolean {
  const c = row.counts
  return (
    c.lost.length === 0 &&
    c.dupLedger.length === 0 &&
    c.actedTwice.length === 0 &&
    row.recovered &&
    c.pushesComplete &&
    row.verification.CA.ok &&
    row.verification.US.ok
  )
}

const FIRST_PUSHED: SystemName = 'CBP'

export async function runFault(fault: Fault, s: ScenarioSettings): Promise<FaultRow> {
  const say = (line: string): void => s.say(`[${fault.name}] ${line}`)
  const start = (): Promise<Topology> => Topology.start({ aof: fault.aof, settings: s.gateway, label: fault.name, keepOnFailure: s.keep !== 'never' })
  const topo = await (s.startSlot ? s.startSlot(start) : start())
  let keep = false
  try {
    say(`exchange up (Redis ${fault.aof === 'off' ? 'AOF off' : `AOF ${fault.aof}`}), run directory ${topo.dir}`)
    // Which accepted messages the agency has seen, as they arrive: the recovery condition.
    const pushed = new Map<string, number>()
    topo.agencies.listeners.push((name, p) => {
      if (name === FIRST_PUSHED && !pushed.has(p.id)) pushed.set(p.id, p.at)
    })

    const load = new Load({
      client: topo.agencies.get('CBSA').client,
      count: s.messages,
      concurrency: s.concurrency,
      // Longer than any restart here: a submission cut off by a kill is sent again until answered.
      retryForMs: 180_000
    })
    const started = Date.now()
    const loading = load.run()
    // Part-way through: the load keeps running while the fault happens.
    await Promise.race([load.acceptedAtLeast(Math.ceil(s.messages * s.injectAt)), loading])
    say(`${load.accepted} of ${s.messages} accepted: injecting the fault`)
    await fault.inject({ topo, load, timings: s.timings, say })
    const restoredAt = Date.now()
    say(`fault undone after ${((restoredAt - started) / 1000).toFixed(1)} s; hands off from here`)
    await loading
    say(`load done: ${load.accepted} accepted, ${load.refused} refused, ${load.failed} failed (no answer)`)

    // Recovered: every accepted message pushed to the agency, nothing left
    // awaiting delivery in either ledger. A dead letter waits for an operator,
    // so it can never be "without a hand": stop watching once only those remain.
    const probes = { CA: new LedgerProbe(topo.gateways.CA.ledgerPath, 'outbound'), US: new LedgerProbe(topo.gateways.US.ledgerPath, 'inbound') }
    let recoveryMs: number | null = null
    let drainMs: number | null = null
    try {
      const accepted = load.acceptedIds()
      const deadline = Math.max(restoredAt, load.finishedAt) + s.recoveryBoundMs
      const outcome = await until(
        () => {
          const ca = probes.CA.read().statuses
          const us = probes.US.read().statuses
          const waiting = (ca.accepted ?? 0) + (us.accepted ?? 0)
          if (waiting === 0 && accepted.every((id) => pushed.has(id))) return 'delivered'
          if (waiting === 0 && (ca['dead-lettered'] ?? 0) + (us['dead-lettered'] ?? 0) > 0) return 'dead letters'
          return undefined
        },
        Math.max(0, deadline - Date.now()),
        'recovery',
        250
      ).catch(() => 'timed out')
      if (outcome === 'delivered') {
        const last = Math.max(...accepted.map((id) => pushed.get(id)!))
        recoveryMs = Math.max(0, last - restoredAt)
        drainMs = Math.max(0, last - Math.max(restoredAt, load.finishedAt))
      }
      say(
        recoveryMs === null
          ? `NOT recovered (${outcome}) within ${s.recoveryBoundMs / 1000} s`
          : `all delivered: the last ${(recoveryMs / 1000).toFixed(1)} s after the fault was undone, ${(drainMs! / 1000).toFixed(1)} s after the last submission`
      )
      // Quiet: the ledger heads and the agency's pushes stop moving (a late repeat would show here).
      let last = ''
      let stillSince = Date.now()
      await until(
        () => {
          const state = `${probes.CA.read().head}/${probes.US.read().head}/${topo.agencies.get(FIRST_PUSHED).pushes().all.length}`
          if (state !== last) {
            last = state
            stillSince = Date.now()
          }
          return Date.now() - stillSince >= s.quietMs ? true : undefined
        },
        Math.max(60_000, s.quietMs * 20),
        'the exchange to go quiet',
        100
      )
    } finally {
      probes.CA.close()
      probes.US.close()
    }

    // Stopped in order first, so nothing moves while the ledgers are read.
    await Promise.all([topo.gateways.CA.stop(), topo.gateways.US.stop()])
    const ledgers = { CA: topo.gateways.CA.ledgerPath, US: topo.gateways.US.ledgerPath }
    const counts = await countOutcome({ acceptedIds: load.acceptedIds(), ledgers, usLog: topo.gateways.US.logPath, agencies: topo.agencies })
    const verification = { CA: await verifyLedgerFile(ledgers.CA, 'CA'), US: await verifyLedgerFile(ledgers.US, 'US') }
    const partial = {
      name: fault.name,
      title: fault.title(s.timings),
      counts,
      recovered: recoveryMs !== null,
      recoveryMs,
      drainMs,
      totalMs: Date.now() - started,
      verification
    }
    const pass = passes(partial)

    const findings: string[] = []
    const explain = async (what: string, list: readonly string[]): Promise<void> => {
      if (list.length === 0) return
      findings.push(
        `${what}: ${list.length} message(s), e.g.\n${(await Promise.all(list.slice(0, 3).map((id) => evidence(id, ledgers, topo.agencies)))).join('\n')}`
      )
    }
    await explain('lost (accepted, not delivered)', counts.lost)
    await explain('duplicated in a ledger', counts.dupLedger)
    await explain('acted on twice at the agency', counts.actedTwice)
    await explain('pushed more than once (transport repeat, recognised by Idempotency-Key)', counts.rawRepeats)
    if (!counts.pushesComplete) findings.push('the mock agency trimmed its list of pushes: agency counts are not whole (use fewer messages)')
    for (const c of ['CA', 'US'] as const) {
      const v = verification[c]
      if (!v.ok) findings.push(`${c} ledger does not verify: entry ${v.firstBad?.seq}: ${v.firstBad?.reason}`)
    }
    keep = s.keep === 'always' || (s.keep === 'failed' && !pass)
    const failedStarts = [...topo.gateways.CA.failedStarts, ...topo.gateways.US.failedStarts]
    return {
      ...partial,
      pass,
      findings,
      keptDir: keep ? topo.dir : null,
      failedStarts,
      proxy: { connections: topo.proxies.US.connections, connected: topo.proxies.US.connected }
    }
  } finally {
    await topo.close({ keepDir: keep })
  }
}
