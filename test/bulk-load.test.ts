// `npm run sandbox:load`, run as a user runs it (a child process, output to a
// pipe) against two real gateways and their mock agencies, pointed at them by
// a manifest in the format the sandbox writes.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer as createNetServer } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildManifest } from '../sandbox/manifest.ts'
import type { MockAgency } from '../sandbox/mock-agency.ts'
import { borderDayRecord, nexusDesignation, seedHash } from '../sandbox/synthetic-travellers.ts'
import { buildApp } from '../gateway/app.ts'
import { eventually, KEYS_DIR, REDIS_URL, startExchange, type Exchange } from './helper.ts'

// Each subtest runs the loader as a process against a pair of gateways and
// waits for every record at the agency: 10–35 s each when the machine is busy,
// past tap's 120 s for the file (.taprc) when another file runs beside it.
t.setTimeout(300_000)

const root = join(import.meta.dirname, '..')
const SEED = 'bulk-load-test'
const DATE = '2026-11-20'
// Anything a terminal would interpret: carriage return, escape, other C0 controls (not newline).
const CONTROL = /[\r\x1b\x00-\x08\x0b-\x1f]/

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function manifestFor(t: { teardown(fn: () => unknown): void }, ex: Exchange): string {
  const dir = mkdtempSync(join(tmpdir(), 'btb-load-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sandbox.json')
  writeFileSync(path, JSON.stringify(buildManifest({ root: dir, keysDir: KEYS_DIR, urls: { CA: ex.ca.url, US: ex.us.url }, redisUrl: REDIS_URL })))
  return path
}

function start(args: string[]): { child: ChildProcess; result: Promise<Run> } {
  // Pipes, not a terminal: the loader must write plain lines.
  const child = spawn(process.execPath, ['sandbox/bulk-load.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString()
  })
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  return { child, result: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }))) }
}

function load(args: string[]): Promise<Run> {
  return start(args).result
}

function receivedRecords(mock: MockAgency): Array<Record<string, any>> {
  return mock.received.filter((m) => m.kind === 'entry-exit.batch').flatMap((m) => m.payload.records as Array<Record<string, any>>)
}

t.test('border-day sends a day of entry records in batches, and the partner agency receives every one', async (t) => {
  const ex = await startExchange(t)
  const manifest = manifestFor(t, ex)
  const run = await load(['border-day', '--count', '120', '--batch-size', '30', '--concurrency', '3', '--seed', SEED, '--date', DATE, '--manifest', manifest])
  t.equal(run.code, 0, `exit 0\n${run.stdout}\n${run.stderr}`)

  t.notMatch(run.stderr, CONTROL, 'no bar control characters on a pipe')
  const lines = run.stderr.trim().split('\n')
  t.ok(
    lines.some((l) => /^border-day: \d+\/120 \(\d+%\) [\d.]+\/s, 0 refused$/.test(l)),
    `plain progress lines:\n${run.stderr}`
  )
  t.match(run.stderr, /^border-day: 120\/120 in [\d.]+m?s \([\d.]+\/s\), 0 refused$/m, 'the sending summary line')
  t.match(run.stderr, /^border-day receipts: 120\/120 in [\d.]+m?s \([\d.]+\/s\), 0 refused$/m, 'the receipts summary line')

  t.match(run.stdout, /^border-day: 120 records, CA\/CBSA\/pik-primary -> US\/CBP, in 4 entry-exit\.batch messages/m)
  t.match(run.stdout, /^ {2}sent {7}120 records in 4 messages$/m)
  t.match(run.stdout, /^ {2}accepted {3}120 records in 4 messages$/m)
  t.match(run.stdout, /^ {2}refused {4}0$/m)
  t.match(run.stdout, /^ {2}elapsed {4}[\d.]+m?s, [\d.]+ records\/s accepted$/m)
  t.match(
    run.stdout,
    /^ {2}delivered {2}120 records in 4 messages with the partner's signed receipt, the last receipt .* after the start: [\d.]+ records\/s end to end$/m
  )

  const records = await eventually(
    () => {
      const r = receivedRecords(ex.mocks.CBP)
      return r.length >= 120 ? r : undefined
    },
    15_000,
    '120 records at CBP'
  )
  t.equal(records.length, 120, 'CBP received exactly the 120 records')
  const expected = Array.from({ length: 120 }, (_, i) => borderDayRecord({ seed: seedHash(SEED), recordedBy: 'CA', date: DATE, count: 120 }, i))
  t.same(
    records.map((r) => r.document.number).sort(),
    expected.map((r) => (r.document as { number: string }).number).sort(),
    'the same travellers the seed makes, every one delivered'
  )
  t.ok(
    records.every((r) => /^ZZ\d{7}$/.test(r.document.number)),
    'synthetic document numbers carry the reserved ZZ prefix'
  )
  t.ok(
    records.every((r) => r.recordType === 'entry' && r.crossing.travelMode === 'land' && r.crossing.dateTime.startsWith(DATE)),
    'land entries on that day'
  )
  t.ok(
    records.every((r) => r.vehicle === undefined && r.photoRef === undefined && r.source === undefined),
    'the policy withheld vehicle, photo and source'
  )
})

t.test('nexus-roster sends the roster in designation batches, and the partner agency receives every designation', async (t) => {
  const ex = await startExchange(t)
  const manifest = manifestFor(t, ex)
  const run = await load(['nexus-roster', '--count', '250', '--batch-size', '100', '--seed', SEED, '--date', DATE, '--manifest', manifest])
  t.equal(run.code, 0, `exit 0\n${run.stdout}\n${run.stderr}`)
  t.match(run.stdout, /^nexus-roster: 250 designations, CA\/CBSA\/pik-primary -> US\/CBP, in 3 traveller\.designation-batch messages/m)
  t.match(run.stdout, /^ {2}accepted {3}250 designations in 3 messages$/m)
  t.match(run.stdout, /^ {2}delivered {2}250 designations in 3 messages with the partner's signed receipt/m)

  const batches = await eventually(
    () => {
      const r = ex.mocks.CBP.received.filter((m) => m.kind === 'traveller.designation-batch')
      return r.length >= 3 ? r : undefined
    },
    15_000,
    '3 batches at CBP'
  )
  const designations = batches.flatMap((m) => m.payload.designations as Array<Record<string, any>>)
  t.same(
    batches.map((m) => (m.payload.designations as unknown[]).length).sort((a, b) => a - b),
    [50, 100, 100],
    'batches of 100, 100 and 50'
  )
  t.same(
    designations.map((d) => d.membershipId as string).sort(),
    Array.from({ length: 250 }, (_, j) => `99${String(j + 1).padStart(7, '0')}`),
    'PASSIDs 990000001…990000250, each once'
  )
  const made = nexusDesignation({ seed: seedHash(SEED), assessedBy: 'CBSA', date: DATE }, 0)
  const first = designations.find((d) => d.membershipId === '990000001')!
  t.equal(first.traveller.surname, (made.traveller as { surname: string }).surname, "the seed's member 1")
  t.ok(
    designations.every((d) => d.riskAssessment.reasons === undefined && /^\d{4}-\d{2}$/.test(d.riskAssessment.assessedOn)),
    "each designation had the designation policy applied: no reasons, the assessment's month only"
  )
})

t.test('nexus-roster --batch-size 1 sends one designation per member, and the partner agency receives every one', async (t) => {
  const ex = await startExchange(t)
  const manifest = manifestFor(t, ex)
  const run = await load(['nexus-roster', '--count', '80', '--batch-size', '1', '--concurrency', '16', '--seed', SEED, '--date', DATE, '--manifest', manifest])
  t.equal(run.code, 0, `exit 0\n${run.stdout}\n${run.stderr}`)
  t.notMatch(run.stderr, CONTROL, 'no bar control characters on a pipe')
  t.ok(
    run.stderr.split('\n').some((l) => /^nexus-roster: \d+\/80 \(\d+%\) [\d.]+\/s, 0 refused$/.test(l)),
    `plain progress lines:\n${run.stderr}`
  )
  t.match(run.stderr, /^nexus-roster: 80\/80 in [\d.]+m?s \([\d.]+\/s\), 0 refused$/m)
  t.match(run.stdout, /^ {2}accepted {3}80 designations$/m)
  t.match(run.stdout, /^ {2}delivered {2}80 designations with the partner's signed receipt/m)

  const received = await eventually(
    () => {
      const r = ex.mocks.CBP.received.filter((m) => m.kind === 'traveller.designation')
      return r.length >= 80 ? r : undefined
    },
    15_000,
    '80 designations at CBP'
  )
  t.equal(received.length, 80)
  const passIds = received.map((m) => m.payload.membershipId as string).sort()
  t.same(
    passIds,
    Array.from({ length: 80 }, (_, j) => `99${String(j + 1).padStart(7, '0')}`),
    'PASSIDs 990000001…990000080, each once'
  )
  const first = received.find((m) => m.payload.membershipId === '990000001')!
  const made = nexusDesignation({ seed: seedHash(SEED), assessedBy: 'CBSA', date: DATE }, 0)
  t.equal((first.payload.traveller as { surname: string }).surname, (made.traveller as { surname: string }).surname, "the seed's member 1")
  t.equal(first.purpose, 'trusted-traveller-vetting')
  t.ok(
    received.every((m) => (m.payload.riskAssessment as { reasons?: unknown }).reasons === undefined),
    'no reasons travel'
  )
})

t.test('--from US sends from CBP to CBSA', async (t) => {
  const ex = await startExchange(t)
  const manifest = manifestFor(t, ex)
  const run = await load(['border-day', '--from', 'US', '--count', '120', '--batch-size', '40', '--date', DATE, '--manifest', manifest])
  t.equal(run.code, 0, `exit 0\n${run.stdout}\n${run.stderr}`)
  t.match(run.stdout, /US\/CBP\/ades -> CA\/CBSA, in 3 entry-exit\.batch messages/)
  const records = await eventually(
    () => {
      const r = receivedRecords(ex.mocks.CBSA)
      return r.length >= 120 ? r : undefined
    },
    15_000,
    '120 records at CBSA'
  )
  t.equal(records.length, 120)
  t.ok(
    records.every((r) => ['0901', '3801', '3004', '3802', '0712', '0708', '3009', '0115', '3401', '3310'].includes(r.crossing.portCode)),
    'entries at U.S. ports'
  )
  t.equal(receivedRecords(ex.mocks.CBP).length, 0, 'nothing went the other way')
})

/**
 * A roster of `count` single designations, four in flight, retrying for
 * `retryForSeconds`; once the partner agency has received ten, the CA gateway
 * is closed under the loader.
 */
async function loadThenCloseGateway(
  t: { teardown(fn: () => unknown): void },
  count: number,
  retryForSeconds: number
): Promise<{ ex: Exchange; result: Promise<Run> }> {
  const ex = await startExchange(t)
  const manifest = manifestFor(t, ex)
  const args = ['--count', String(count), '--batch-size', '1', '--concurrency', '4', '--seed', SEED, '--retry-for', String(retryForSeconds)]
  const { result } = start(['nexus-roster', ...args, '--manifest', manifest])
  await eventually(() => (ex.mocks.CBP.received.length >= 10 ? true : undefined), 30_000, 'the first deliveries')
  await ex.ca.app.close()
  return { ex, result }
}

t.test('a gateway restart in the middle of a load: the loader retries until it is back', async (t) => {
  const { ex, result } = await loadThenCloseGateway(t, 150, 60)
  // The outage, met by the loader: while the gateway is down, its port hangs up
  // on every connection, and the gateway is rebuilt only once the loader has
  // come back to it again and again (retries, not a single lost request).
  let hungUp = 0
  const down = createNetServer((socket) => {
    hungUp++
    socket.destroy()
  })
  await new Promise<void>((resolve) => down.listen(ex.ca.config.port, '127.0.0.1', resolve))
  await eventually(() => hungUp >= 12 || undefined, 30_000, 'the loader retrying against the gateway that is down')
  await new Promise<void>((resolve) => down.close(() => resolve()))
  const restarted = await buildApp(ex.ca.config)
  t.teardown(() => restarted.close())
  await restarted.listen({ host: '127.0.0.1', port: ex.ca.config.port })
  const run = await result
  t.equal(run.code, 0, 'exit 0: every designation accepted and delivered')
  if (run.code !== 0) t.comment(`${run.stdout}\n${run.stderr}`)
  t.match(run.stdout, /^ {2}accepted {3}150 designations/m)
  t.match(run.stdout, /^ {2}failed {5}0$/m)
  t.ok(hungUp >= 12, `the loader came back ${hungUp} times while the gateway was down`)
})

t.test('--retry-for bounds how long a gateway that does not come back is waited for', async (t) => {
  const { result } = await loadThenCloseGateway(t, 2000, 2)
  const stopped = Date.now()
  const run = await result
  t.equal(run.code, 1, 'exit 1: not everything was accepted')
  t.ok(Date.now() - stopped < 20_000, `gave up ${Date.now() - stopped} ms after the gateway went away`)
  t.match(run.stdout, /^ {2}failed {5}\d+ designations/m)
})

t.test('refusals are counted by their problem code and do not stop the load', async (t) => {
  const ex = await startExchange(t)
  const manifest = manifestFor(t, ex)
  // Residency determination is not a purpose CBP may receive crossing records for.
  const run = await load([
    'border-day',
    '--purpose',
    'residency-determination',
    '--count',
    '100',
    '--batch-size',
    '25',
    '--date',
    DATE,
    '--manifest',
    manifest,
    '--json'
  ])
  t.equal(run.code, 1, 'exit 1: not everything was accepted')
  t.notMatch(run.stderr, CONTROL)
  t.match(run.stderr, /^border-day: 100\/100 in [\d.]+m?s \([\d.]+\/s\), 100 refused$/m)
  const summary = JSON.parse(run.stdout)
  t.same(summary.sent, { messages: 4, records: 100 }, 'every batch was sent')
  t.same(summary.accepted, { messages: 0, records: 0 })
  t.same(summary.refused, { messages: 4, records: 100, byCode: { POLICY_DENIED: { messages: 4, records: 100 } } })
  t.equal(summary.delivered, null, 'nothing to wait for')
  t.equal(ex.mocks.CBP.received.length, 0, 'nothing was delivered')
})

t.test('Ctrl-C stops the load cleanly, with a summary of what was sent', async (t) => {
  const ex = await startExchange(t)
  const manifest = manifestFor(t, ex)
  const { child, result } = start(['nexus-roster', '--count', '100000', '--batch-size', '1', '--concurrency', '8', '--manifest', manifest])
  // Interrupt once the partner has received something: the load is well under way.
  await eventually(() => (ex.mocks.CBP.received.length >= 20 ? true : undefined), 30_000, 'the first deliveries')
  child.kill('SIGINT')
  const run = await result
  t.equal(run.code, 130, `exit 130\n${run.stdout}\n${run.stderr}`)
  t.match(run.stderr, /^nexus-roster: interrupted at \d+\/100000 in [\d.]+m?s \([\d.]+\/s\), 0 refused$/m)
  t.match(run.stdout, /^ {2}sent {7}\d+ designations \(stopped before the other \d+ messages\)$/m)
  t.match(run.stdout, /^ {2}interrupted \(Ctrl-C\)$/m)
  const sent = Number(/^ {2}sent {7}(\d+)/m.exec(run.stdout)![1])
  const accepted = Number(/^ {2}accepted {3}(\d+)/m.exec(run.stdout)![1])
  t.equal(accepted, sent, 'every request in flight was answered before it stopped')
  t.ok(sent < 100000)
})

t.test('usage errors name the problem and exit 2', async (t) => {
  const unknown = await load(['border-night'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown job border-night/)
  t.match(unknown.stderr, /usage: npm run sandbox:load/)
  const badCount = await load(['border-day', '--count', 'lots'])
  t.equal(badCount.code, 2)
  t.match(badCount.stderr, /--count must be a whole number/)
  const noManifest = await load(['nexus-roster', '--manifest', join(tmpdir(), 'no-such-dir', 'sandbox.json')])
  t.equal(noManifest.code, 2)
  t.match(noManifest.stderr, /sandbox\.json not found: start the sandbox first \(npm run sandbox\)/)
})

t.test('a submission answered 408 (it waited for room at a busy gateway) is sent again, as a 503 is', async (t) => {
  const { createServer: createHttpsServer } = await import('node:https')
  const { readFileSync } = await import('node:fs')
  const { submitWithRetry } = await import('../sandbox/submit-retry.ts')
  const { client } = await import('./helper.ts')
  const answers = [408, 503, 202]
  const seen: number[] = []
  const server = createHttpsServer(
    {
      cert: readFileSync(join(KEYS_DIR, 'US', 'gateway.crt.pem')),
      key: readFileSync(join(KEYS_DIR, 'US', 'gateway.key.pem')),
      ca: readFileSync(join(KEYS_DIR, 'US', 'ca.crt.pem')),
      requestCert: true,
      rejectUnauthorized: true
    },
    (req, res) => {
      req.resume()
      req.on('end', () => {
        if (req.url === '/v1/token') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'x', token_type: 'Bearer', expires_in: 300 }))
          return
        }
        const status = answers[Math.min(seen.length, answers.length - 1)]!
        seen.push(status)
        res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ code: status === 202 ? undefined : `S${status}` }))
      })
    }
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const cbp = client(t, 'CBP', `https://127.0.0.1:${(server.address() as { port: number }).port}`)
  t.same(await submitWithRetry(cbp, 'a.b.c', { retryForMs: 30_000 }), { status: 'accepted' })
  t.same(seen, [408, 503, 202], 'sent again after the 408 and after the 503')
})
