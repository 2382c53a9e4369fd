// The floor of a message (bench/lib/message-floor.ts): what the contract's
// work costs at its least, added up, and the rate the cores allow at that
// cost. The benches' smoke run shows it measured and reported
// (test/bench-smoke.test.ts); this holds its arithmetic, the parts it
// counts, and the least ledger commit it measures on a real SQLite file.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EntryMaker, rawRows } from '../bench/lib/ledger-entries.ts'
import { describeFloor, floorOf, leastCosts, measureCommitCost, messageParts, submissionParts, type PartCosts } from '../bench/lib/message-floor.ts'
import { commitOneAtATime, fillRawAudit, openRawAudit } from '../bench/lib/raw-sqlite.ts'

const COSTS: PartCosts = { requestUs: 100, commitUs: 40, signUs: 30, verifyUs: 60, hmacUs: 2, senderDigests: 25 }
const PATH = { queueJobUs: 200, partnerDigests: 17 }

t.test('a message end to end counts what the contract asks of the two gateways', async (t) => {
  const parts = messageParts(COSTS, PATH)
  const count = (what: RegExp): number => parts.find((p) => what.test(p.what))?.count ?? 0
  t.equal(count(/mTLS request/), 3, 'the submission, the partner hop, the push')
  t.equal(count(/queue hop/), 2, 'to the partner, to the agency')
  t.equal(count(/ledger commit/), 4, 'accepted, received, and delivered on each side')
  t.equal(count(/signature/), 3, 'the forwarded message, the receipt, the push')
  t.equal(count(/verification/), 5, 'the submission, the forwarded message, the receipt, and the push and the message in it at the agency')
  t.equal(count(/keyed digest/), 25 + 17, "both gateways' entries'")
  t.same(
    parts.filter((p) => p.queueHop === true).map((p) => p.cpuUs),
    [200],
    'only the queue hop is marked as one'
  )
})

t.test('the floor is the sum of its parts, and the cores allow a rate at that cost', async (t) => {
  const floor = floorOf(messageParts(COSTS, PATH), 2)
  // 3×100 + 2×200 + 4×40 + 3×30 + 5×60 + 42×2
  t.equal(floor.cpuUs, 1_334)
  t.equal(floor.perSecond, 2e6 / 1_334, 'two cores: two seconds of CPU a second')
  t.equal(floor.withoutQueue.cpuUs, 934, 'without the two queue hops')
  t.equal(floor.withoutQueue.perSecond, 2e6 / 934)
  t.equal(floorOf(messageParts(COSTS, PATH), 4).perSecond, 2 * floor.perSecond, 'twice the cores, twice the rate')
  t.equal(
    describeFloor(floor),
    '1,334 µs of CPU a message on 2 cores: 3 × 100 µs an mTLS request (the bare route, client and server), 2 × 200 µs a queue hop (a BullMQ no-op job, Redis included), ' +
      "4 × 40 µs a ledger commit (a one-row SQLite transaction), 3 × 30 µs an ES256 signature, 5 × 60 µs an ES256 verification, 42 × 2.0 µs a keyed digest (both gateways' entries)"
  )

  const submission = floorOf(submissionParts(COSTS), 2)
  t.equal(submission.cpuUs, 100 + 40 + 30 + 60 + 25 * 2, 'a submission: one request, one commit, one signature, one verification, its digests')
  t.equal(submission.withoutQueue.cpuUs, submission.cpuUs, 'no queue hop in a submission')
})

t.test('each part at the least it cost in any run', async (t) => {
  const busier = { ...COSTS, requestUs: 180, verifyUs: 50 }
  t.same(leastCosts([COSTS, busier]), { ...COSTS, verifyUs: 50 }, 'the request from the first run, the verification from the second')
  t.throws(() => leastCosts([]), /no measured costs/)
})

t.test('a floor of nothing, or of no cores, is refused', async (t) => {
  t.throws(() => floorOf(messageParts(COSTS, PATH), 0), /at least one core/)
  t.throws(() => floorOf(messageParts({ ...COSTS, commitUs: 0 }, PATH), 2), /ledger commit.*is not a cost/)
  t.throws(() => floorOf(messageParts(COSTS, { ...PATH, queueJobUs: Number.NaN }), 2), /queue hop.*is not a cost/)
})

t.test('the least ledger commit: one row, its own transaction, on a real SQLite file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-message-floor-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const db = openRawAudit(join(dir, 'raw.sqlite'))
  t.teardown(() => db.close())
  const maker = new EntryMaker()
  fillRawAudit(db, rawRows(maker.batch(20)))
  const commits = commitOneAtATime(db, rawRows(maker.batch(30)), 20)
  t.ok(commits.cpuUs > 0 && commits.perSecond > 0, `${commits.cpuUs.toFixed(1)} µs of CPU a commit, ${commits.perSecond.toFixed(0)}/s`)
  const rows = db.prepare('SELECT count(*) AS n, max(seq) AS last FROM raw_audit').get() as { n: number; last: number }
  t.same(rows, { n: 50, last: 50 }, 'every row committed, numbered on from the fill')
  t.equal((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal', "the ledger's journal mode")

  const measured = measureCommitCost(40)
  t.ok(measured.cpuUs > 0 && Number.isFinite(measured.cpuUs), `measureCommitCost: ${measured.cpuUs.toFixed(1)} µs of CPU a commit`)
})
