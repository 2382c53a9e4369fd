// Ledger on PostgreSQL: appends per second with two writers on one chain,
// each in a process of its own with its own pool (bench/lib/postgres-writer.ts),
// as two gateway instances of a country share one ledger. docs/architecture.md,
// "Targets": at least 10,000 appends/s on PostgreSQL with two writers.
// Baseline, in the same run and rounds: two writers INSERTing the same rows'
// four own columns (seq, entry, prev_hash, hash) into a table with nothing
// but its primary key, as many rows a transaction as the store's largest
// group commit: what PostgreSQL itself takes to store the rows, without the
// chain, the Merkle tree or the search index.
//
// Afterwards the whole ledger must verify (audit:verify's checks) and hold
// every entry appended: one unbroken chain, nothing lost, nothing twice.
//
//   node bench/ledger-postgres.bench.ts [--quick | --smoke]
// PostgreSQL is PG_URL's, as for the tests (default: the machine's `test`
// database); the bench makes a schema of its own and drops it.
import { fork, type ChildProcess } from 'node:child_process'
import pg from 'pg'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { PostgresStore } from '../gateway/store/ledger-postgres.ts'
import { benchOptions, median, round, type BenchOptions, type BenchResult } from './lib/common.ts'
import { EntryMaker } from './lib/ledger-entries.ts'
import { RAW_TABLE, type WriterJob, type WriterReply } from './lib/postgres-writer.ts'
import { cpuByThread, cpuPerMessage, describeCpu, type CpuPerMessage } from './lib/thread-cpu.ts'

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test'
/** Issue 11's: appends on PostgreSQL with two writers. */
const TARGET_RATE = 10_000
const WRITERS = 2
/** Appends in flight in each writer: the store's largest group commit (ledger-postgres.ts, MAX_BATCH), as in the SQLite bench. */
const IN_FLIGHT = 256
/** Seq ranges of the baseline's writers, far apart. */
const RAW_SEQ_STRIDE = 1_000_000_000

interface Sizes {
  /** Entries in the ledger before the first round. */
  readonly start: number
  /** Appends by each writer in each phase. */
  readonly appends: number
  readonly rounds: number
}

function sizes({ quick, smoke }: BenchOptions): Sizes {
  if (smoke) return { start: 500, appends: 300, rounds: 1 }
  return quick ? { start: 10_000, appends: 2_500, rounds: 2 } : { start: 10_000, appends: 10_000, rounds: 3 }
}

interface Phase {
  readonly rate: number
  readonly cpu: CpuPerMessage
}

function ask(child: ChildProcess): Promise<WriterReply> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`a writer exited (${code}) before it answered`))
    child.once('exit', onExit)
    child.once('message', (message: WriterReply) => {
      child.off('exit', onExit)
      if ('error' in message) reject(new Error(`a writer failed: ${message.error}`))
      else resolve(message)
    })
  })
}

/** `writers` processes write `appends` each at once; the rate is all their appends over the time from 'go' to the last done. */
async function phase(url: string, schema: string, mode: WriterJob['mode'], writers: number, appends: number, seqBase: number): Promise<Phase> {
  const children = Array.from({ length: writers }, () =>
    fork(new URL('./lib/postgres-writer.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  )
  try {
    const ready = children.map(ask)
    children.forEach((child, i) =>
      child.send({ url, schema, mode, count: appends, inFlight: IN_FLIGHT, seqBase: seqBase + i * RAW_SEQ_STRIDE } satisfies WriterJob)
    )
    await Promise.all(ready)
    const pids = Object.fromEntries(children.map((c, i) => [`writer ${i + 1}`, c.pid!]))
    const done = children.map(ask)
    const before = cpuByThread(pids, ['postgres'])
    const started = performance.now()
    for (const c of children) c.send('go')
    await Promise.all(done)
    const seconds = (performance.now() - started) / 1000
    const cpu = cpuPerMessage(before, cpuByThread(pids, ['postgres']), writers * appends)
    return { rate: (writers * appends) / seconds, cpu }
  } finally {
    for (const c of children) {
      if (c.connected) c.send('close')
    }
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((resolve) => c.once('exit', resolve)) : undefined)))
  }
}

/** CPU by process, the threads of each writer added together: "writer 1 180, postgres 140, …". */
function byProcess(cpu: CpuPerMessage): string {
  const totals = new Map<string, number>()
  for (const t of cpu.byThread) {
    const name = t.thread.includes(':') ? t.thread.slice(0, t.thread.indexOf(':')) : t.thread
    totals.set(name, (totals.get(name) ?? 0) + t.us)
  }
  const byThread = [...totals].map(([thread, us]) => ({ thread, us })).sort((a, b) => b.us - a.us)
  return describeCpu({ totalUs: cpu.totalUs, byThread }, 'an append')
}

export async function ledgerPostgresBench(opts: BenchOptions = benchOptions()): Promise<BenchResult> {
  const s = sizes(opts)
  const url = process.env.PG_URL ?? DEFAULT_URL
  const schema = `bench_ledger_${process.pid}`
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  try {
    try {
      await pool.query('SELECT 1')
    } catch (error) {
      throw new Error(`PostgreSQL does not answer at PG_URL (${url}): ${(error as Error).message}`)
    }
    const store = new PostgresStore(pool, { schema })
    await store.create()
    const maker = new EntryMaker()
    for (let i = 0; i < s.start; i += IN_FLIGHT) {
      await Promise.all(maker.batch(Math.min(IN_FLIGHT, s.start - i)).map((e) => store.appendAudit(e)))
    }
    const compression = (
      await pool.query<{ method: string }>(
        `SELECT CASE attcompression WHEN 'l' THEN 'lz4' WHEN 'p' THEN 'pglz' ELSE current_setting('default_toast_compression') END AS method
         FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'entry'`,
        [`${schema}.audit`]
      )
    ).rows[0]?.method
    // The baseline's rows compressed as the ledger's are.
    await pool.query(
      `CREATE TABLE ${schema}.${RAW_TABLE} (seq BIGINT PRIMARY KEY, entry TEXT COMPRESSION ${compression} NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)`
    )
    opts.log(`PostgreSQL ledger ${schema}: ${s.start} entries to start; entries compressed with ${compression}`)

    // Interleaved rounds, so that drift in the machine's speed hits all three alike.
    const rounds: Array<{ two: Phase; one: Phase; raw: Phase }> = []
    let rawSeq = 1
    for (let r = 0; r < s.rounds; r++) {
      const raw = await phase(url, schema, 'raw', WRITERS, s.appends, rawSeq)
      rawSeq += s.appends
      const two = await phase(url, schema, 'store', WRITERS, s.appends, 0)
      const one = await phase(url, schema, 'store', 1, s.appends, 0)
      rounds.push({ two, one, raw })
      opts.log(
        `round ${r + 1}: appendAudit, ${WRITERS} writers ${two.rate.toFixed(0)}/s, one writer ${one.rate.toFixed(0)}/s; ` +
          `raw INSERT, ${WRITERS} writers ${raw.rate.toFixed(0)} rows/s; ${byProcess(two.cpu)}`
      )
    }

    // One chain, every entry once: what audit:verify checks, over the whole ledger.
    const expected = s.start + s.rounds * (WRITERS + 1) * s.appends
    const verifyStarted = performance.now()
    const verification = await verifyLedger(new PostgresStore(pool, { schema }), new Map())
    const verifySeconds = (performance.now() - verifyStarted) / 1000
    if (!verification.ok) throw new Error(`the PostgreSQL ledger does not verify after the writers: ${verification.firstBad?.reason}`)
    if (verification.entries !== expected) throw new Error(`the PostgreSQL ledger holds ${verification.entries} entries, not the ${expected} appended`)
    opts.log(`verifyLedger: ${verification.entries} entries, one chain, in ${verifySeconds.toFixed(1)} s`)

    const two = median(rounds.map((x) => x.two.rate))
    const one = median(rounds.map((x) => x.one.rate))
    const raw = median(rounds.map((x) => x.raw.rate))
    const middle = rounds.find((x) => x.two.rate === two) ?? rounds[0]!
    return {
      bench: 'ledger-postgres',
      figures: [
        {
          name: `appendAudit on PostgreSQL, ${WRITERS} writers (processes) on one chain, ${IN_FLIGHT} in flight each`,
          value: round(two, 0),
          unit: 'appends/s',
          baseline: { name: `raw INSERT of the rows, ${IN_FLIGHT} a transaction, ${WRITERS} writers, no chain`, value: round(raw, 0), unit: 'rows/s' },
          ratio: round(two / raw, 3),
          target: `≥ ${TARGET_RATE.toLocaleString('en')} appends/s`,
          met: two >= TARGET_RATE,
          extra:
            `one writer ${one.toFixed(0)}/s; ${byProcess(middle.two.cpu)}; the raw INSERT ${byProcess(middle.raw.cpu)}; ` +
            `afterwards ${verification.entries} entries verified as one chain`
        }
      ],
      notes: [
        `appends as the gateway's (PostgresStore.appendAudit, group commit under the chain's advisory lock): an entry-exit "accepted" (22 field decisions, 2 subjects, ~4 kB) and "delivered" entry alternately, from ${s.start} entries; median of ${s.rounds} interleaved rounds of ${s.appends} appends a writer`
      ],
      details: {
        sizes: s,
        compression,
        verified: { entries: verification.entries, seconds: round(verifySeconds, 2) },
        rounds: rounds.map((x) => ({
          twoWriters: round(x.two.rate, 0),
          oneWriter: round(x.one.rate, 0),
          raw: round(x.raw.rate, 0),
          cpuPerAppendUs: { twoWriters: round(x.two.cpu.totalUs, 0), oneWriter: round(x.one.cpu.totalUs, 0), raw: round(x.raw.cpu.totalUs, 0) }
        }))
      }
    }
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined)
    await pool.end()
  }
}

if (import.meta.main) {
  const result = await ledgerPostgresBench()
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}
