// `npm run sandbox:load -- border-day | nexus-roster [options]`: the daily
// volumes of the targets (docs/architecture.md, "Targets") against the running
// sandbox, as an agency system sends them: a day's entry/exit records at
// the land border (entry-exit.batch, many
// records under one signature) or a NEXUS roster (traveller.designation-batch,
// many designations under one signature; with --batch-size 1, one
// traveller.designation per member). The travellers are synthetic and
// deterministic (synthetic-travellers.ts).
//
// Progress goes to stderr (a bar on a terminal, plain lines otherwise); the
// summary goes to stdout, as text or, with --json, as one JSON object.
// Exit status: 0 when every message was accepted (and delivered, unless
// --no-wait), 1 when some were refused, failed or not delivered in time,
// 2 for a usage error, 130 after Ctrl-C.
import { createPrivateKey, randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Progress, formatDuration, formatRate } from './progress.ts'
import { AgencyClient, type AgencyCredentials } from './agency-client.ts'
import { submitWithRetry } from './submit-retry.ts'
import { borderDayRecord, nexusDesignation, seedHash } from './synthetic-travellers.ts'
import { citableBy } from '../policies/authorities.ts'

type Country = 'CA' | 'US'
type Job = 'border-day' | 'nexus-roster'

const BORDER_AGENCY: Readonly<Record<Country, 'CBSA' | 'CBP'>> = { CA: 'CBSA', US: 'CBP' }

const USAGE = `usage: npm run sandbox:load -- <job> [options]

jobs:
  border-day      a day's land-border entry records, in entry-exit.batch messages
  nexus-roster    a NEXUS trusted-traveller roster, in traveller.designation-batch messages
                  (--batch-size 1: one traveller.designation each)

options:
  --count N           records (border-day, default 200000) or members (nexus-roster, default 917000)
  --from CA|US        the sending side (default CA: CBSA to CBP; US: CBP to CBSA)
  --to AGENCY         the receiving agency (default the partner's border agency)
  --purpose P         default entry-exit-verification / trusted-traveller-vetting
  --batch-size N      records or designations per batch message, 1..5000 (default 1000)
  --concurrency N     requests in flight (default 8 for batches, 32 for single designations)
  --seed S            the synthetic population (default btb-sandbox): same seed, same travellers
  --date YYYY-MM-DD   the day of the crossings / the roster's as-of date (default yesterday / today, UTC)
  --manifest PATH     the sandbox manifest to read gateways and credentials from (default sandbox.json)
  --no-wait           do not wait for the partner's receipts after sending
  --wait-timeout S    how long to wait for receipts, in seconds (default 600)
  --retry-for S       how long to keep retrying a message the gateway cannot take now (refused
                      connections, 503, 429), with backoff, in seconds (default 120: longer than
                      a gateway restart)
  --json              print the summary as JSON on stdout
`

class UsageError extends Error {
  readonly code = 'USAGE'
}

interface LoadOptions {
  readonly job: Job
  readonly count: number
  readonly from: Country
  readonly to: { readonly country: Country; readonly agency: string }
  readonly purpose: string
  readonly batchSize: number
  readonly concurrency: number
  readonly seed: string
  readonly date: string
  readonly manifest: string
  readonly wait: boolean
  readonly waitTimeoutMs: number
  readonly retryForMs: number
  readonly json: boolean
}

function positiveInt(name: string, value: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}, not ${value}`)
  return n
}

function utcDate(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10)
}

function parseOptions(argv: string[]): LoadOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      count: { type: 'string' },
      from: { type: 'string', default: 'CA' },
      to: { type: 'string' },
      purpose: { type: 'string' },
      'batch-size': { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string', default: 'btb-sandbox' },
      date: { type: 'string' },
      manifest: { type: 'string', default: 'sandbox.json' },
      'no-wait': { type: 'boolean', default: false },
      'wait-timeout': { type: 'string' },
      'retry-for': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const job = positionals[0]
  if (job !== 'border-day' && job !== 'nexus-roster') throw new UsageError(job === undefined ? 'which job? border-day or nexus-roster' : `unknown job ${job}`)
  if (positionals.length > 1) throw new UsageError(`unexpected ${positionals.slice(1).join(' ')}`)
  const from = values.from.toUpperCase()
  if (from !== 'CA' && from !== 'US') throw new UsageError(`--from must be CA or US, not ${values.from}`)
  const partner: Country = from === 'CA' ? 'US' : 'CA'
  const border = job === 'border-day'
  const date = values.date ?? utcDate(border ? -1 : 0)
  // The schema allows 5000 records a batch, but a batch that size keeps the
  // receiving gateway busy for seconds per request (under load, past the
  // sender's delivery timeout, so it is sent again); 1000 measured faster end to end.
  const batchSize = positiveInt('batch-size', values['batch-size'], 1000, 5000)
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) throw new UsageError(`--date must be YYYY-MM-DD, not ${date}`)
  return {
    job,
    count: positiveInt('count', values.count, border ? 200_000 : 917_000, 9_999_999),
    from,
    to: { country: partner, agency: values.to ?? BORDER_AGENCY[partner] },
    purpose: values.purpose ?? (border ? 'entry-exit-verification' : 'trusted-traveller-vetting'),
    batchSize,
    concurrency: positiveInt('concurrency', values.concurrency, batchSize === 1 && !border ? 32 : 8, 1024),
    seed: values.seed,
    date,
    manifest: resolve(values.manifest),
    wait: !values['no-wait'],
    waitTimeoutMs: positiveInt('wait-timeout', values['wait-timeout'], 600) * 1000,
    retryForMs: positiveInt('retry-for', values['retry-for'], 120, 86_400) * 1000,
    json: values.json
  }
}

interface ManifestSystem {
  readonly agency: string
  readonly system: string
  readonly kinds: readonly string[]
  readonly kid: string
  readonly alg: 'ES256' | 'EdDSA'
  readonly clientCert: string
  readonly clientKey: string
  readonly signingKey: string
}

interface Manifest {
  readonly gateways: Record<Country, { readonly url: string; readonly caCert: string; readonly agencySystems: readonly ManifestSystem[] }>
}

/** The sending system's credentials and its gateway, from sandbox.json (whose paths are relative to it). */
function sender(opts: LoadOptions, kind: string): { creds: AgencyCredentials; url: string } {
  if (!existsSync(opts.manifest)) {
    throw new UsageError(`${relative(process.cwd(), opts.manifest) || opts.manifest} not found: start the sandbox first (npm run sandbox), or pass --manifest`)
  }
  const manifest = JSON.parse(readFileSync(opts.manifest, 'utf8')) as Manifest
  const gateway = manifest.gateways[opts.from]
  const agency = BORDER_AGENCY[opts.from]
  const system = gateway.agencySystems.find((s) => s.agency === agency && s.kinds.includes(kind))
  if (system === undefined) throw new UsageError(`the manifest has no ${opts.from}/${agency} system that may send ${kind}`)
  const file = (path: string): string => readFileSync(resolve(dirname(opts.manifest), path), 'utf8')
  return {
    url: gateway.url,
    creds: {
      country: opts.from,
      agency: system.agency,
      system: system.system,
      cert: file(system.clientCert),
      key: file(system.clientKey),
      ca: file(gateway.caCert),
      signingKey: createPrivateKey({ key: JSON.parse(file(system.signingKey)), format: 'jwk' }),
      kid: system.kid,
      alg: system.alg
    }
  }
}

/** What one job sends: its kind, its message count and the fields of message m. */
interface Plan {
  readonly kind: string
  readonly noun: string
  readonly messages: number
  recordsIn(m: number): number
  fields(m: number): Record<string, unknown>
}

/**
 * What the load cites: the first authority the registry lets the sending
 * country cite for the job's kind and purpose (policies/authorities.ts). A
 * purpose no policy has gets none to cite, and is refused as it would be anyway.
 */
function legalAuthority(opts: LoadOptions): string {
  const kind = opts.job === 'border-day' ? 'entry-exit.batch' : 'traveller.designation-batch'
  return citableBy(opts.from, kind, opts.purpose)[0] ?? 'none'
}

function plan(opts: LoadOptions): Plan {
  const seed = seedHash(opts.seed)
  const common = {
    purpose: opts.purpose,
    legalAuthority: legalAuthority(opts),
    to: opts.to,
    correlationId: null
  }
  const size = opts.batchSize
  const messages = Math.ceil(opts.count / size)
  const recordsIn = (m: number): number => Math.min(size, opts.count - m * size)
  const batchRef = (prefix: string, m: number): string => `${prefix}-${opts.from}-${opts.date.replaceAll('-', '')}-${String(m + 1).padStart(5, '0')}`
  if (opts.job === 'nexus-roster') {
    const roster = { seed, assessedBy: BORDER_AGENCY[opts.from], date: opts.date }
    const agreementRef = 'CA-US-NEXUS-Arrangement-2002'
    if (size === 1) {
      return {
        kind: 'traveller.designation',
        noun: 'designations',
        messages: opts.count,
        recordsIn: () => 1,
        fields: (m) => ({ ...common, kind: 'traveller.designation', agreementRef, payload: nexusDesignation(roster, m) })
      }
    }
    return {
      kind: 'traveller.designation-batch',
      noun: 'designations',
      messages,
      recordsIn,
      fields: (m) => {
        const designations = Array.from({ length: recordsIn(m) }, (_, i) => nexusDesignation(roster, m * size + i))
        return { ...common, kind: 'traveller.designation-batch', agreementRef, payload: { batchRef: batchRef('SYN-NX', m), designations } }
      }
    }
  }
  const day = { seed, recordedBy: opts.from, date: opts.date, count: opts.count }
  return {
    kind: 'entry-exit.batch',
    noun: 'records',
    messages,
    recordsIn,
    fields: (m) => {
      const records = Array.from({ length: recordsIn(m) }, (_, i) => borderDayRecord(day, m * size + i))
      return {
        ...common,
        kind: 'entry-exit.batch',
        agreementRef: 'CA-US-Entry-Exit-Joint-Statement-2012',
        payload: { batchRef: batchRef('SYN-EE', m), records }
      }
    }
  }
}

/**
 * Message ids for one run: a random UUIDv8 prefix (74 random bits, new each
 * run) and the message's number in the last 48 bits, so the loader finds any
 * message's id again without keeping a million strings.
 */
function idsForRun(): (m: number) => string {
  const r = randomBytes(10).toString('hex')
  const prefix = `${r.slice(0, 8)}-${r.slice(8, 12)}-8${r.slice(12, 15)}-${(8 | (parseInt(r[15]!, 16) & 3)).toString(16)}${r.slice(16, 19)}`
  return (m) => `${prefix}-${m.toString(16).padStart(12, '0')}`
}

// What became of each message (one byte each; 0: not sent).
const ACCEPTED = 1
const REFUSED = 2
const FAILED = 3
const DELIVERED = 4
const DEAD_LETTERED = 5

interface Counts {
  messages: number
  records: number
}

class Tally {
  readonly sent: Counts = { messages: 0, records: 0 }
  readonly accepted: Counts = { messages: 0, records: 0 }
  readonly refused = new Map<string, Counts>()
  readonly failed = new Map<string, Counts>()

  add(into: Counts | Map<string, Counts>, records: number, code?: string): void {
    const counts = into instanceof Map ? (into.get(code!) ?? into.set(code!, { messages: 0, records: 0 }).get(code!)!) : into
    counts.messages++
    counts.records += records
  }

  static total(byCode: Map<string, Counts>): Counts {
    let messages = 0
    let records = 0
    for (const c of byCode.values()) {
      messages += c.messages
      records += c.records
    }
    return { messages, records }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A run in progress: what became of each message, and whether to stop. */
interface Run {
  readonly opts: LoadOptions
  readonly work: Plan
  readonly client: AgencyClient
  readonly idOf: (m: number) => string
  /** One byte per message: 0 not sent, then ACCEPTED, REFUSED, FAILED, DELIVERED, DEAD_LETTERED. */
  readonly state: Uint8Array
  readonly tally: Tally
  interrupted: boolean
  aborted: string | undefined
}

/** Sends every message, `concurrency` at a time, until done, interrupted or aborted. */
async function sendAll(run: Run): Promise<number> {
  const { opts, work, client, tally } = run
  const started = performance.now()
  const progress = new Progress({ label: opts.job, total: opts.count })
  let next = 0
  let consecutiveFailures = 0
  const worker = async (): Promise<void> => {
    while (!run.interrupted && run.aborted === undefined && next < work.messages) {
      const m = next++
      const records = work.recordsIn(m)
      // Built and signed just before it is sent: createdAt must be fresh when the gateway reads it.
      const jws = await client.sign(client.envelope({ ...work.fields(m), id: run.idOf(m) }))
      tally.add(tally.sent, records)
      const outcome = await submitWithRetry(client, jws, { retryForMs: run.opts.retryForMs })
      if (outcome.status === 'accepted') {
        run.state[m] = ACCEPTED
        tally.add(tally.accepted, records)
        consecutiveFailures = 0
        progress.tick(records)
      } else if (outcome.status === 'refused') {
        run.state[m] = REFUSED
        tally.add(tally.refused, records, outcome.code)
        consecutiveFailures = 0
        progress.tick(records, 'refused')
      } else {
        run.state[m] = FAILED
        tally.add(tally.failed, records, outcome.code)
        progress.tick(records, 'failed')
        // A gateway that stopped answering would otherwise be retried for every remaining message.
        if (++consecutiveFailures >= Math.max(10, opts.concurrency * 2)) run.aborted = `the gateway stopped answering (${outcome.code})`
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, work.messages) }, worker))
  progress.finish(run.interrupted ? 'interrupted' : run.aborted !== undefined ? 'aborted' : undefined)
  return performance.now() - started
}

interface Receipts {
  readonly delivered: Counts
  readonly deadLettered: Counts
  readonly pending: Counts
  /** Wall-clock ms from the start of the load to the last receipt (the status's updatedAt). */
  readonly lastReceiptMs: number
  readonly waitedMs: number
}

/**
 * Follows each accepted message's status until the partner's signed receipt
 * is there. Oldest first, and a round stops once `concurrency` messages are
 * found still on their way: the ones after them are most likely too, and
 * asking about them would only take the gateway's time from delivering them.
 */
async function awaitReceipts(run: Run, startedAtWall: number): Promise<Receipts> {
  const { opts, work, client, tally } = run
  const waitStarted = performance.now()
  const progress = new Progress({ label: `${opts.job} receipts`, total: tally.accepted.records })
  const delivered: Counts = { messages: 0, records: 0 }
  const deadLettered: Counts = { messages: 0, records: 0 }
  const pendingCounts: Counts = { messages: 0, records: 0 }
  let pending: number[] = []
  for (let m = 0; m < work.messages; m++) if (run.state[m] === ACCEPTED) pending.push(m)
  let lastUpdate = 0
  while (pending.length > 0 && !run.interrupted && performance.now() - waitStarted < opts.waitTimeoutMs) {
    const stillAccepted: number[] = []
    let cursor = 0
    const poll = async (): Promise<void> => {
      while (cursor < pending.length && stillAccepted.length < opts.concurrency && !run.interrupted) {
        const m = pending[cursor++]!
        let body: { status?: string; updatedAt?: string } = {}
        try {
          const res = await client.status(run.idOf(m))
          if (res.status === 401) client.forgetToken()
          if (res.status === 200) body = res.json()
        } catch {
          /* asked again next round */
        }
        if (body.status === 'delivered') {
          run.state[m] = DELIVERED
          tally.add(delivered, work.recordsIn(m))
          lastUpdate = Math.max(lastUpdate, Date.parse(body.updatedAt ?? '') || 0)
          progress.tick(work.recordsIn(m))
        } else if (body.status === 'dead-lettered') {
          run.state[m] = DEAD_LETTERED
          tally.add(deadLettered, work.recordsIn(m))
          progress.tick(work.recordsIn(m), 'failed')
        } else {
          stillAccepted.push(m)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, pending.length) }, poll))
    pending = [...stillAccepted.sort((a, b) => a - b), ...pending.slice(cursor)]
    if (stillAccepted.length > 0) await sleep(500)
  }
  for (const m of pending) tally.add(pendingCounts, work.recordsIn(m))
  progress.finish(run.interrupted ? 'interrupted' : pending.length > 0 ? 'timed out' : undefined)
  return {
    delivered,
    deadLettered,
    pending: pendingCounts,
    lastReceiptMs: lastUpdate > 0 ? lastUpdate - startedAtWall : 0,
    waitedMs: performance.now() - waitStarted
  }
}

function printSummary(run: Run, route: { from: string; to: string }, sendMs: number, receipts: Receipts | undefined): void {
  const { opts, work, tally } = run
  const refused = Tally.total(tally.refused)
  const failed = Tally.total(tally.failed)
  const rate = (tally.accepted.records * 1000) / sendMs
  const endToEnd = receipts !== undefined && receipts.lastReceiptMs > 0 ? (receipts.delivered.records * 1000) / receipts.lastReceiptMs : 0
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({
        job: opts.job,
        kind: work.kind,
        from: route.from,
        to: route.to,
        purpose: opts.purpose,
        seed: opts.seed,
        date: opts.date,
        count: opts.count,
        batchSize: work.kind.endsWith('batch') ? opts.batchSize : 1,
        concurrency: opts.concurrency,
        sent: tally.sent,
        accepted: tally.accepted,
        refused: { ...refused, byCode: Object.fromEntries(tally.refused) },
        failed: { ...failed, byCode: Object.fromEntries(tally.failed) },
        elapsedMs: Math.round(sendMs),
        recordsPerSecond: Math.round(rate),
        delivered:
          receipts === undefined
            ? null
            : {
                ...receipts.delivered,
                deadLettered: receipts.deadLettered,
                pending: receipts.pending,
                lastReceiptMs: receipts.lastReceiptMs,
                recordsPerSecond: Math.round(endToEnd)
              },
        interrupted: run.interrupted,
        aborted: run.aborted ?? null
      })}\n`
    )
    return
  }
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`)
  }
  const counts = (c: Counts): string => (work.kind.endsWith('batch') ? `${c.records} ${work.noun} in ${c.messages} messages` : `${c.records} ${work.noun}`)
  const byCode = (m: Map<string, Counts>): string =>
    [...m]
      .sort((a, b) => b[1].records - a[1].records)
      .map(([code, c]) => `${code} ${c.records} ${work.noun} (${c.messages} message${c.messages === 1 ? '' : 's'})`)
      .join(', ')
  const unsent = work.messages - tally.sent.messages
  out(`  sent       ${counts(tally.sent)}${unsent > 0 ? ` (stopped before the other ${unsent} messages)` : ''}`)
  out(`  accepted   ${counts(tally.accepted)}`)
  out(`  refused    ${refused.messages === 0 ? '0' : `${counts(refused)}: ${byCode(tally.refused)}`}`)
  out(`  failed     ${failed.messages === 0 ? '0' : `${counts(failed)}: ${byCode(tally.failed)}`}`)
  out(`  elapsed    ${formatDuration(sendMs)}, ${formatRate(rate)} ${work.noun}/s accepted`)
  if (receipts !== undefined) {
    const last =
      receipts.lastReceiptMs > 0
        ? `, the last receipt ${formatDuration(receipts.lastReceiptMs)} after the start: ${formatRate(endToEnd)} ${work.noun}/s end to end`
        : ''
    out(`  delivered  ${counts(receipts.delivered)} with the partner's signed receipt${last}`)
    if (receipts.deadLettered.messages > 0) out(`  dead-lettered ${counts(receipts.deadLettered)}`)
    if (receipts.pending.messages > 0) out(`  no receipt yet for ${counts(receipts.pending)} after waiting ${formatDuration(receipts.waitedMs)}`)
  }
  if (run.aborted !== undefined) out(`  aborted: ${run.aborted}`)
  if (run.interrupted) out('  interrupted (Ctrl-C)')
}

async function main(): Promise<number> {
  let opts: LoadOptions
  let work: Plan
  let target: { creds: AgencyCredentials; url: string }
  try {
    opts = parseOptions(process.argv.slice(2))
    work = plan(opts)
    target = sender(opts, work.kind)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`\n${USAGE}`)
      return 2
    }
    return 1
  }
  const { creds, url } = target
  const client = new AgencyClient(creds, url, { connections: opts.concurrency })
  try {
    await client.token()
  } catch (err) {
    process.stderr.write(
      `cannot get a token from the ${opts.from} gateway at ${url}: ${(err as Error).message}\n` +
        `Is the sandbox running (npm run sandbox)? The manifest read was ${opts.manifest}.\n`
    )
    await client.close()
    return 1
  }

  const run: Run = { opts, work, client, idOf: idsForRun(), state: new Uint8Array(work.messages), tally: new Tally(), interrupted: false, aborted: undefined }
  process.on('SIGINT', () => {
    // The first Ctrl-C lets the requests in flight finish and prints the summary; a second one leaves at once.
    if (run.interrupted) process.exit(130)
    run.interrupted = true
    process.stderr.write('\nstopping: waiting for the requests in flight (Ctrl-C again to quit at once)\n')
  })
  process.on('SIGTERM', () => {
    run.interrupted = true
  })

  const route = { from: `${creds.country}/${creds.agency}/${creds.system}`, to: `${opts.to.country}/${opts.to.agency}` }
  if (!opts.json) {
    process.stdout.write(
      `${opts.job}: ${opts.count} ${work.noun}, ${route.from} -> ${route.to}, in ${work.messages} ${work.kind} message${work.messages === 1 ? '' : 's'}` +
        ` (seed ${opts.seed}, ${opts.date}, concurrency ${opts.concurrency})\n`
    )
  }
  const startedAtWall = Date.now()
  const sendMs = await sendAll(run)
  const receipts =
    opts.wait && !run.interrupted && run.aborted === undefined && run.tally.accepted.messages > 0 ? await awaitReceipts(run, startedAtWall) : undefined
  await client.close()
  printSummary(run, route, sendMs, receipts)

  if (run.interrupted) return 130
  const allAccepted = run.tally.accepted.messages === work.messages
  const allDelivered = receipts === undefined || receipts.delivered.messages === run.tally.accepted.messages
  return allAccepted && allDelivered ? 0 : 1
}

process.exitCode = await main()
