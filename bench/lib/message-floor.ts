// The floor of a message: the least CPU that the work the contract asks of
// one message can take with this stack, each part's cost measured on this
// machine in the same run, and the rate the machine's cores would allow at
// that cost. Issue 11's end-to-end target is 2,000 msg/s "or, if this
// machine's baselines make that impossible, at least 0.35× the BullMQ no-op
// baseline": the floor says from the baselines whether either is within
// reach here (docs/architecture.md, "Where the missed targets stand").
//
// A part is counted only where the contract requires it of any gateway
// (docs/architecture.md, "The pipeline, one message"), at the cost of the
// least form of it: an mTLS request at the bare route's cost, a ledger commit
// at a one-row SQLite transaction's, a queue hop at a BullMQ no-op job's.
// What is left out only lowers the floor, so the rate it allows is an upper
// bound on any gateway doing this work here.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { whole } from './common.ts'
import { measureCryptoOps, type CryptoWork } from './crypto-floor.ts'
import { EntryMaker, rawRows } from './ledger-entries.ts'
import { commitOneAtATime, fillRawAudit, openRawAudit, type RawCommits } from './raw-sqlite.ts'

export interface FloorPart {
  readonly what: string
  readonly count: number
  /** µs of CPU each. */
  readonly cpuUs: number
  /** A hop through the queue: a design with no queue would not pay it. */
  readonly queueHop?: boolean
}

export interface Floor {
  readonly parts: readonly FloorPart[]
  /** µs of CPU a message, all parts. */
  readonly cpuUs: number
  readonly cores: number
  /** Messages/s the cores allow at that cost. */
  readonly perSecond: number
  /** The same without the queue hops. */
  readonly withoutQueue: { readonly cpuUs: number; readonly perSecond: number }
}

/** Adds the parts up; `cores` seconds of CPU a second is all the machine has. */
export function floorOf(parts: readonly FloorPart[], cores: number): Floor {
  if (!(cores > 0)) throw new Error(`a floor needs at least one core, not ${cores}`)
  for (const p of parts) {
    if (!(p.cpuUs > 0) || !(p.count > 0)) throw new Error(`floor part "${p.what}": ${p.count} × ${p.cpuUs} µs is not a cost`)
  }
  const sum = (list: readonly FloorPart[]): number => list.reduce((total, p) => total + p.count * p.cpuUs, 0)
  const cpuUs = sum(parts)
  const noQueue = sum(parts.filter((p) => p.queueHop !== true))
  return { parts, cpuUs, cores, perSecond: (cores * 1e6) / cpuUs, withoutQueue: { cpuUs: noQueue, perSecond: (cores * 1e6) / noQueue } }
}

/** "1,130 µs of CPU a message on 2 cores: 3 × 94 µs an mTLS request (…), …" */
export function describeFloor(floor: Floor, unit = 'a message'): string {
  const us = (n: number): string => (n >= 10 ? whole(n) : n.toFixed(1))
  return `${us(floor.cpuUs)} µs of CPU ${unit} on ${floor.cores} cores: ${floor.parts.map((p) => `${p.count} × ${us(p.cpuUs)} µs ${p.what}`).join(', ')}`
}

/** What the parts cost here, measured in this run. */
export interface PartCosts {
  /** An mTLS request, client and server (bench/lib/bare-route.ts). */
  readonly requestUs: number
  /** A ledger commit (bench/lib/raw-sqlite.ts). */
  readonly commitUs: number
  readonly signUs: number
  readonly verifyUs: number
  readonly hmacUs: number
  /** Keyed digests in the sender's audit entry of one message (bench/lib/crypto-floor.ts, read off a real one). */
  readonly senderDigests: number
}

/** Each kind of part, as the floors name it. */
const PART = {
  request: 'an mTLS request (the bare route, client and server)',
  queueHop: 'a queue hop (a BullMQ no-op job, Redis included)',
  commit: 'a ledger commit (a one-row SQLite transaction)',
  signature: 'an ES256 signature',
  verification: 'an ES256 verification'
} as const

/** What a message end to end costs beyond a submission's parts, measured in the same run. */
export interface MessagePath {
  /** A BullMQ no-op job, Redis included (bench/delivery.bench.ts's baseline). */
  readonly queueJobUs: number
  /** Keyed digests in the receiving gateway's `received` entry (bench/lib/crypto-floor.ts, read off a real one). */
  readonly partnerDigests: number
}

/**
 * One message end to end, CA agency to US agency, as the delivery bench
 * times it: three mTLS requests (the submission, the partner hop, the push),
 * two queue hops (to the partner, to the agency), four ledger commits
 * (accepted, received, and delivered on each side), three signatures (the
 * forwarded message, the receipt, the push), five verifications (the
 * submission; the forwarded message at the partner; the receipt; the push
 * and the forwarded message in it, which the agency verifies before the
 * push counts as delivered) and both entries' keyed digests. Left out: the
 * agency's signing (done before the timed part), the access token, sealing
 * and unsealing, parsing, schemas and policy, the rows of a commit past its
 * first, the hash chain and checkpoints.
 */
export function messageParts(costs: PartCosts, path: MessagePath): FloorPart[] {
  return [
    { what: PART.request, count: 3, cpuUs: costs.requestUs },
    { what: PART.queueHop, count: 2, cpuUs: path.queueJobUs, queueHop: true },
    { what: PART.commit, count: 4, cpuUs: costs.commitUs },
    { what: PART.signature, count: 3, cpuUs: costs.signUs },
    { what: PART.verification, count: 5, cpuUs: costs.verifyUs },
    { what: "a keyed digest (both gateways' entries)", count: costs.senderDigests + path.partnerDigests, cpuUs: costs.hmacUs }
  ]
}

/**
 * One submission, agency to `202`: its mTLS request, its ledger commit, the
 * verification of the submission, the signature of the forwarded message and
 * the sender's keyed digests. Left out besides what messageParts leaves out:
 * the job's add to the queue.
 */
export function submissionParts(costs: PartCosts): FloorPart[] {
  return [
    { what: PART.request, count: 1, cpuUs: costs.requestUs },
    { what: PART.commit, count: 1, cpuUs: costs.commitUs },
    { what: PART.signature, count: 1, cpuUs: costs.signUs },
    { what: PART.verification, count: 1, cpuUs: costs.verifyUs },
    { what: "a keyed digest (the sender's entry's)", count: costs.senderDigests, cpuUs: costs.hmacUs }
  ]
}

/** µs of CPU a ledger commit costs at its least: `count` one-row transactions into a fresh WAL file. */
export function measureCommitCost(count: number): RawCommits {
  const dir = mkdtempSync(join(tmpdir(), 'btb-bench-commit-'))
  const db = openRawAudit(join(dir, 'raw.sqlite'))
  try {
    const maker = new EntryMaker()
    // A table of some size first, as a ledger in service is; then the timed commits.
    fillRawAudit(db, rawRows(maker.batch(count)))
    return commitOneAtATime(db, rawRows(maker.batch(count)), count)
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The parts' costs but the request's (bench/lib/bare-route.ts measures it)
 * and the queue hop's, with nothing else running in this process.
 */
export function measurePartCosts(work: CryptoWork, timing: { readonly durationMs: number; readonly commits: number }): Omit<PartCosts, 'requestUs'> {
  return { commitUs: measureCommitCost(timing.commits).cpuUs, ...measureCryptoOps(work, timing.durationMs), senderDigests: work.hmacs }
}

/**
 * Each part at the least it cost in any of `runs`: what a request costs, for
 * one, grows when the machine is busier or less warm, and a floor is to be
 * under every gateway's cost, not typical of it.
 */
export function leastCosts(runs: readonly PartCosts[]): PartCosts {
  if (runs.length === 0) throw new Error('no measured costs to take the least of')
  const least = (cost: (c: PartCosts) => number): number => Math.min(...runs.map(cost))
  return {
    requestUs: least((c) => c.requestUs),
    commitUs: least((c) => c.commitUs),
    signUs: least((c) => c.signUs),
    verifyUs: least((c) => c.verifyUs),
    hmacUs: least((c) => c.hmacUs),
    senderDigests: least((c) => c.senderDigests)
  }
}

/** "an mTLS request 94 µs of CPU, a ledger commit 40.1 µs, …" */
export function describePartCosts(costs: PartCosts): string {
  return (
    `an mTLS request ${costs.requestUs.toFixed(0)} µs of CPU, a ledger commit ${costs.commitUs.toFixed(1)} µs, an ES256 signature ${costs.signUs.toFixed(1)} µs, ` +
    `a verification ${costs.verifyUs.toFixed(1)} µs, a keyed digest ${costs.hmacUs.toFixed(2)} µs (${costs.senderDigests} a message)`
  )
}
