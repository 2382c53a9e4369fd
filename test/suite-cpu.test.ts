// tools/suite-cpu: the CPU of a test file's process and of the processes it
// starts, written as each exits and summed per test file, as
// docs/architecture.md ("The test suite") runs it over the whole suite.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OUTSIDE, summarise } from '../tools/suite-cpu/summarise.ts'

const root = join(import.meta.dirname, '..')
const record = join(root, 'tools', 'suite-cpu', 'record.ts')
const summariser = join(root, 'tools', 'suite-cpu', 'summarise.ts')

/**
 * Busy until the process has spent `ms` more of CPU: counted in CPU, not wall
 * time, so that a busy machine only makes it longer. The clock is read every
 * hundred thousand turns: each reading is a system call, and reading it every
 * turn spent five times the CPU asked for, most of it in the kernel.
 */
const spin = (ms: number): string =>
  `{ const from = process.cpuUsage(); let spent = 0, x = 0; while (spent < ${ms * 1000}) { for (let i = 0; i < 1e5; i++) x += i; const u = process.cpuUsage(from); spent = u.user + u.system } globalThis.spun = x }`

t.test('a test file is charged its own CPU and that of every process it starts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-suite-cpu-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const accounts = join(dir, 'accounts')
  mkdirSync(accounts)
  // A stand-in for a test file: it spins, then starts a process that spins
  // too and passes its environment on, as the tests' gateways do.
  const testDir = join(dir, 'test')
  mkdirSync(testDir)
  const file = join(testDir, 'stand-in.test.ts')
  writeFileSync(
    file,
    `import { spawnSync } from 'node:child_process'\n${spin(300)}\n` +
      `const r = spawnSync(process.execPath, ['-e', ${JSON.stringify(spin(400))}], { stdio: 'inherit' })\n` +
      'process.exitCode = r.status ?? 1\n'
  )
  const env = { ...process.env, SUITE_CPU_DIR: accounts, NODE_OPTIONS: `--import=${record}` }
  const inFile = spawnSync(process.execPath, [file], { env: { ...env, TAP_CHILD_ID: '7' }, encoding: 'utf8' })
  t.equal(inFile.status, 0, inFile.stderr)
  // A process of no test file: the runner's own, say.
  const outside = spawnSync(process.execPath, ['-e', spin(100)], { env: { ...env, TAP_CHILD_ID: undefined }, encoding: 'utf8' })
  t.equal(outside.status, 0, outside.stderr)
  t.equal(readdirSync(accounts).length, 3, 'one account a process')
  // What a process killed as it wrote would leave.
  writeFileSync(join(accounts, '99999.json'), '{"pid": 99')

  const { files: rows, unreadable } = summarise(accounts)
  t.equal(unreadable, 1, 'a torn account is left out and counted')
  t.same(
    rows.map((r) => r.file),
    ['test/stand-in.test.ts', OUTSIDE],
    'the test file first, by its path from the checkout'
  )
  const [standIn, rest] = rows
  t.ok(standIn!.own >= 0.3, `its own process: ${standIn!.own.toFixed(2)} s`)
  t.equal(standIn!.processes, 1, 'one process started')
  t.ok(standIn!.started >= 0.4, `charged to it: ${standIn!.started.toFixed(2)} s`)
  t.ok(rest!.started >= 0.1 && rest!.own === 0, 'the other process, outside any file')

  const printed = spawnSync(process.execPath, [summariser, accounts], { encoding: 'utf8' })
  t.equal(printed.status, 0, printed.stderr)
  t.match(printed.stdout, /^\s+\d+\.\d s of CPU in 2 rows/, 'the total first')
  t.match(printed.stdout, /\n\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+1 {2}test\/stand-in\.test\.ts\n/, 'a row: total, own, started, processes, file')
  t.match(printed.stdout, /\n1 accounts were not JSON and are left out\n$/, 'and says what it left out')
})

t.test('nothing to read, or nothing there, is an error in one line and exit 2', async (t) => {
  const usage = spawnSync(process.execPath, [summariser], { encoding: 'utf8' })
  t.equal(usage.status, 2)
  t.match(usage.stderr, /usage: node tools\/suite-cpu\/summarise\.ts \[--most N\] DIR/)
  const badMost = spawnSync(process.execPath, [summariser, '--most', 'all', tmpdir()], { encoding: 'utf8' })
  t.equal(badMost.status, 2)
  const missing = join(tmpdir(), `btb-suite-cpu-missing-${process.pid}`)
  const noDir = spawnSync(process.execPath, [summariser, missing], { encoding: 'utf8' })
  t.equal(noDir.status, 2, 'a directory that is not there: exit 2')
  t.match(noDir.stderr, /^cannot read .*btb-suite-cpu-missing-\d+: ENOENT/, 'in one line, not a stack trace')
})

t.test('without SUITE_CPU_DIR, a process writes nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-suite-cpu-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = spawnSync(process.execPath, ['-e', '0'], {
    cwd: dir,
    env: { ...process.env, SUITE_CPU_DIR: undefined, NODE_OPTIONS: `--import=${record}` },
    encoding: 'utf8'
  })
  t.equal(run.status, 0, run.stderr)
  t.same(readdirSync(dir), [])
})

t.test('a reader that stops after the first line ends the summary cleanly, not with EPIPE', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-suite-cpu-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Enough rows that the summary is many lines, as over the whole suite.
  for (let i = 0; i < 60; i++) {
    const account = { pid: 1000 + i, ppid: 1, tapChild: String(i), script: `/checkout/test/f${i}.test.ts`, userSeconds: 1 + i / 10, systemSeconds: 0.1 }
    writeFileSync(join(dir, `${1000 + i}.json`), JSON.stringify(account))
  }
  for (let run = 0; run < 5; run++) {
    const piped = spawnSync('sh', ['-c', `"${process.execPath}" "${summariser}" --most 100 "${dir}" | head -n 1`], { encoding: 'utf8' })
    t.equal(piped.status, 0)
    t.match(piped.stdout, /^\s+\d+\.\d s of CPU in 60 rows/, 'the first line')
    t.equal(piped.stderr, '', `run ${run + 1}: nothing on standard error`)
  }
})
