// One fuzzing run: start the gateway pair, seed the known-valid pools, send
// `runs` generated inputs with several in flight, check every answer, then
// check what the gateways wrote and logged, and shrink one counterexample per
// kind of violation. run.ts (npm run fuzz) and test/fuzz.test.ts both call
// runCampaign; they differ only in the number of runs and what they print.
//
// Input i is generated from its own seed (derived from the run's seed and i),
// so an input is reproducible on its own and fast-check can replay it and
// shrink it (shrink.ts) without regenerating the inputs before it.
import { verdictOf, type Endpoint, type ExchangeCase, type FuzzCase, type SubmitCase, type Verdict } from './case.ts'
import { DEFAULT_MIX, fuzzCase, type Mix } from './arbitraries/index.ts'
import { validHttp } from './arbitraries/http.ts'
import { OWN_SIGNING } from './arbitraries/jws.ts'
import { endpointLabel, groupKey, type ViolationGroup } from './groups.ts'
import { Harness } from './harness.ts'
import { checkLedger, ledgerHead, problemCode, type Invariant, type LedgerReport } from './oracle.ts'
import { sampleCase } from './seeds.ts'
import { shrinkGroup } from './shrink.ts'
import type { Targets } from './targets.ts'
import { answeredRequestCases, sendAskedRequests } from './answered-requests.ts'
import { EXCHANGE_TEMPLATES, SUBMISSION_TEMPLATES } from './templates.ts'
import { NoAnswer, type WireResponse } from './transport.ts'

export interface CampaignOptions {
  readonly runs: number
  readonly seed: number
  /** Index of the first input (default 0): `from: i, runs: 1` replays input i of a run with the same seed. */
  readonly from?: number
  /** Requests in flight at once. */
  readonly concurrency: number
  readonly mix?: Mix
  /** Time given to shrinking each kind of violation, and how many kinds are shrunk. */
  readonly shrinkMs: number
  readonly maxShrunk: number
  /** How long to wait after the run for known-valid messages to be delivered. */
  readonly settleMs: number
  readonly onProgress?: (done: number, stats: Stats) => void
}

export interface Stats {
  inputs: number
  readonly byEndpoint: Record<Endpoint, number>
  readonly byVerdict: Record<Verdict, number>
  readonly statuses: Record<string, number>
  readonly codes: Record<string, number>
  /** Inputs the client would not send (undici refuses some header or path bytes) or that needed a pool still empty. */
  skipped: number
  readonly skippedReasons: Record<string, number>
  readonly violations: Record<Invariant, number>
  readonly started: number
}

export interface CampaignResult {
  readonly options: CampaignOptions
  readonly stats: Stats
  /** The inputs' own time (rate = inputs / elapsed); `totalMs` adds start-up, settling, the ledger checks and shrinking. */
  readonly elapsedMs: number
  readonly totalMs: number
  readonly groups: ViolationGroup[]
  readonly ledgers: LedgerReport[]
  readonly errorLogs: Targets['errorLogs']
  readonly counts: Awaited<ReturnType<Targets['counts']>> & { validSent: number; validDelivered: number }
  readonly crashes: string[]
}

function newStats(): Stats {
  return {
    inputs: 0,
    byEndpoint: { messages: 0, exchange: 0, status: 0, audit: 0 },
    byVerdict: { valid: 0, invalid: 0, any: 0 },
    statuses: {},
    codes: {},
    skipped: 0,
    skippedReasons: {},
    violations: {
      'no-5xx': 0,
      'problem-document': 0,
      'wrongly-accepted': 0,
      'valid-refused': 0,
      'auth-first': 0,
      'no-answer': 0,
      crash: 0,
      'error-log': 0,
      'ledger-write': 0,
      'valid-not-delivered': 0,
      'ledger-verification': 0
    },
    started: Date.now()
  }
}

/** One unmutated message of every template: the pools repeats and status reads draw from, and the first entries of the ledger. */
function bootstrapCases(): FuzzCase[] {
  const body = (template: number) => ({ template, envelope: [], text: [], header: [], signing: OWN_SIGNING, encoding: [] })
  return [
    ...answeredRequestCases(),
    ...SUBMISSION_TEMPLATES.map(
      (t, i): SubmitCase => ({ kind: 'submit', endpoint: 'messages', family: 'bootstrap', body: body(i), http: validHttp('messages', t.sender) })
    ),
    ...EXCHANGE_TEMPLATES.map(
      (_t, i): ExchangeCase => ({ kind: 'exchange', endpoint: 'exchange', family: 'bootstrap', body: body(i), http: validHttp('exchange', 'US_GATEWAY') })
    )
  ]
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const begun = Date.now()
  const harness = await Harness.start(options.concurrency)
  const stats = newStats()
  const groups = new Map<string, ViolationGroup>()
  const arbitrary = fuzzCase(options.mix ?? DEFAULT_MIX)
  /** `keyDetail`: the detail with what differs between occurrences (a seq, an id) left out, for grouping. */
  const record = (invariant: Invariant, detail: string, c?: FuzzCase, index = -1, endpoint?: string, keyDetail = detail) => {
    stats.violations[invariant]++
    const { key, tag } = groupKey(invariant, c, keyDetail)
    const group = groups.get(key)
    if (group !== undefined) group.count++
    else
      groups.set(key, {
        key,
        invariant,
        endpoint: endpoint ?? (c === undefined ? 'run' : endpointLabel(c)),
        tag,
        detail,
        count: 1,
        index,
        ...(c === undefined ? {} : { input: c })
      })
  }
  const account = (c: FuzzCase, answer: WireResponse | NoAnswer) => {
    stats.inputs++
    stats.byEndpoint[c.endpoint]++
    stats.byVerdict[verdictOf(c)]++
    const status = answer instanceof NoAnswer ? 'none' : String(answer.status)
    stats.statuses[status] = (stats.statuses[status] ?? 0) + 1
    if (!(answer instanceof NoAnswer) && (answer.status < 200 || answer.status >= 300)) {
      const code = problemCode(answer) ?? '(none)'
      stats.codes[code] = (stats.codes[code] ?? 0) + 1
    }
  }

  let validSent = 0
  let validDelivered = 0
  let result: CampaignResult | undefined
  try {
    const reader = (country: 'CA' | 'US') => (after: number, limit: number) => harness.targets.auditEntries(country, after, limit)
    // Before the heads: what the checks below attribute to the fuzzer's inputs starts after them.
    await sendAskedRequests(harness.targets)
    const heads = { CA: await ledgerHead(reader('CA')), US: await ledgerHead(reader('US')) }
    for (const c of bootstrapCases()) {
      const { answer, violations } = await harness.run(c)
      account(c, answer)
      for (const v of violations) record(v.invariant, v.detail, c, -1)
    }

    let next = 0
    const worker = async (): Promise<void> => {
      for (;;) {
        if (next >= options.runs) return
        const index = (options.from ?? 0) + next++
        if (index % 1000 === 0) await harness.transport.refreshTokens()
        const c = sampleCase(arbitrary, options.seed, index)
        let outcome
        try {
          outcome = await harness.run(c, index)
        } catch (err) {
          stats.skipped++
          const reason = (err as Error).message.slice(0, 80)
          stats.skippedReasons[reason] = (stats.skippedReasons[reason] ?? 0) + 1
          continue
        }
        if (outcome.answer instanceof NoAnswer && outcome.answer.clientSide) {
          stats.skipped++
          const reason = outcome.answer.message.slice(0, 80)
          stats.skippedReasons[reason] = (stats.skippedReasons[reason] ?? 0) + 1
          continue
        }
        account(c, outcome.answer)
        for (const v of outcome.violations) record(v.invariant, v.detail, c, index)
        if (stats.inputs % 2000 === 0) options.onProgress?.(stats.inputs, stats)
      }
    }
    await Promise.all(Array.from({ length: options.concurrency }, worker))
    const elapsedMs = Date.now() - stats.started

    // Known-valid messages end delivered with the partner's receipt (outbound) or pushed to the agency (inbound).
    const outstanding = [
      ...harness.pools.submissions.map((m) => ['outbound', m.id] as const),
      ...harness.pools.exchanges.map((m) => ['inbound', m.id] as const)
    ]
    validSent = outstanding.length
    const deadline = Date.now() + options.settleMs
    let pending = outstanding
    for (;;) {
      const still = []
      for (const [direction, id] of pending) {
        if ((await harness.targets.messageStatus('CA', direction, id)) !== 'delivered') still.push([direction, id] as const)
      }
      pending = still
      if (pending.length === 0 || Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 250))
    }
    validDelivered = validSent - pending.length
    for (const [direction, id] of pending.slice(0, 20)) {
      const status = (await harness.targets.messageStatus('CA', direction, id)) ?? 'missing'
      record(
        'valid-not-delivered',
        `${direction} ${id}: ${status}`,
        undefined,
        -1,
        direction === 'outbound' ? 'messages' : 'exchange',
        `${direction}: ${status}`
      )
    }
    if (pending.length > 20) stats.violations['valid-not-delivered'] += pending.length - 20

    // What the gateways wrote.
    const ledgers = [
      await checkLedger('CA', reader('CA'), heads.CA, harness.allowed, true),
      await checkLedger('US', reader('US'), heads.US, harness.allowed, false)
    ]
    for (const l of ledgers) {
      for (const v of l.violations) {
        // Traced to the input that sent the message, and grouped with that input's cause.
        const trace = v.messageId === undefined ? undefined : harness.sent.get(v.messageId)
        const detail = trace === undefined ? v.detail : `${v.detail}, sent by input #${trace.index} (answered ${trace.status})`
        // One group per cause and ledger: the accepted, received and delivered entries of one wrongly accepted message are one finding.
        const keyDetail =
          trace === undefined
            ? v.detail
                .replace(/#\d+/, '#…')
                .replace(/[0-9a-f-]{36}/, '…')
                .replace(/ by .*$/, '')
            : `${v.detail.slice(0, 2)} ledger`
        record(v.invariant, detail, trace?.input, trace?.index ?? -1, trace === undefined ? 'run' : undefined, keyDetail)
      }
    }

    // The ledger still verifies from the genesis hash, and the gateway still answers.
    const verification = await harness.run({ kind: 'audit', endpoint: 'audit', family: 'valid', route: 'verification', http: validHttp('audit', 'OFFICER') })
    if (verification.answer instanceof NoAnswer || verification.answer.status !== 200)
      record('ledger-verification', 'GET /v1/audit/verification did not answer 200', undefined, -1, 'run')
    else {
      const v = JSON.parse(verification.answer.body.toString('utf8')) as { ok: boolean; firstBad?: { seq: number; reason: string } }
      if (!v.ok) record('ledger-verification', `the ledger does not verify: ${JSON.stringify(v.firstBad)}`, undefined, -1, 'run')
    }
    const health = await fetchHealth(harness)
    if (health !== undefined) record('crash', health, undefined, -1, 'run')
    for (const crash of harness.targets.crashes) record('crash', crash.split('\n')[0]!, undefined, -1, 'run')
    for (const log of harness.targets.errorLogs)
      record('error-log', `${log.gateway}: ${log.msg}${log.detail === '' ? '' : ` (${log.detail})`}`, undefined, -1, 'run')
    const counts = await harness.targets.counts()
    if (counts.errorLogs > harness.targets.errorLogs.length) stats.violations['error-log'] += counts.errorLogs - harness.targets.errorLogs.length

    // One minimal counterexample per kind of violation, most frequent first.
    // A ledger entry is not an answer to replay: those groups name their input instead.
    const toShrink = [...groups.values()]
      .filter((g) => g.input !== undefined && g.index >= 0 && g.invariant !== 'ledger-write')
      .sort((a, b) => b.count - a.count)
      .slice(0, options.maxShrunk)
    for (const group of toShrink) {
      group.shrunk = await shrinkGroup(harness, arbitrary, options.seed, group, options.shrinkMs)
    }

    result = {
      options,
      stats,
      elapsedMs,
      totalMs: Date.now() - begun,
      groups: [...groups.values()],
      ledgers,
      errorLogs: harness.targets.errorLogs,
      counts: { ...counts, validSent, validDelivered },
      crashes: harness.targets.crashes
    }
  } finally {
    await harness.close()
  }
  return result
}

/** undefined when GET /healthz answers 200, else why not. */
async function fetchHealth(harness: Harness): Promise<string | undefined> {
  try {
    const res = await harness.transport.send({ identity: 'ANONYMOUS', method: 'GET', path: '/healthz', headers: {} })
    return res.status === 200 ? undefined : `GET /healthz answered ${res.status} after the run`
  } catch (err) {
    return `GET /healthz got no answer after the run: ${(err as Error).message}`
  }
}
