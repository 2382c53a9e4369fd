// Which test files the suite's CPU goes to, from what record.ts wrote: each
// test file's own process and the processes it started (gateways, sandboxes,
// CLIs), largest first (docs/architecture.md, "The test suite"):
//
//   node tools/suite-cpu/summarise.ts [--most N] DIR
//
// A process that ended on a signal it does not handle (a kill -9, a SIGTERM
// with no handler) wrote nothing: the totals are a floor.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { ProcessCpu } from './record.ts'

export interface FileCpu {
  /** The test file, relative to the checkout; or OUTSIDE. */
  readonly file: string
  /** CPU of the test file's own process, in seconds. */
  readonly own: number
  /** CPU of the processes it started, and how many wrote their account. */
  readonly started: number
  readonly processes: number
}

/** Where a process outside any test file is counted: the runner's own children, or a process started with an environment of its own. */
export const OUTSIDE = '(outside any test file)'
const TEST_FILE = /\.test\.[cm]?[jt]s$/

/** The test file a script is, from its checkout's `test/` folder on (the last one in its path); undefined if it is not one. */
function testFile(script: string): string | undefined {
  if (!TEST_FILE.test(script)) return undefined
  const at = script.lastIndexOf('/test/')
  return at === -1 ? (script.startsWith('test/') ? script : undefined) : script.slice(at + 1)
}

function cpu(p: ProcessCpu): number {
  return p.userSeconds + p.systemSeconds
}

export interface SuiteCpu {
  readonly files: FileCpu[]
  /** Accounts that could not be read as JSON (a process killed as it wrote), left out. */
  readonly unreadable: number
}

/** The account in a file, or undefined if it is not one. */
function readAccount(path: string): ProcessCpu | undefined {
  try {
    const account = JSON.parse(readFileSync(path, 'utf8')) as ProcessCpu
    return typeof account.userSeconds === 'number' && typeof account.systemSeconds === 'number' ? account : undefined
  } catch {
    return undefined
  }
}

/** The accounts in `dir`, grouped by test file, largest total first. */
export function summarise(dir: string): SuiteCpu {
  const read = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => readAccount(join(dir, f)))
  // Each account with the test file its script is, if it is one.
  const accounts = read.filter((a) => a !== undefined).map((p) => ({ ...p, testFile: testFile(p.script) }))
  // A test process names its file; the processes it starts share its tap id.
  const fileOf = new Map<string, string>()
  for (const p of accounts) if (p.testFile !== undefined && p.tapChild !== null) fileOf.set(p.tapChild, p.testFile)
  const files = new Map<string, { own: number; started: number; processes: number }>()
  for (const p of accounts) {
    const file = (p.tapChild === null ? undefined : fileOf.get(p.tapChild)) ?? OUTSIDE
    const row = files.get(file) ?? { own: 0, started: 0, processes: 0 }
    if (p.testFile !== undefined && file !== OUTSIDE) row.own += cpu(p)
    else {
      row.started += cpu(p)
      row.processes++
    }
    files.set(file, row)
  }
  return {
    files: [...files].map(([file, row]) => ({ file, ...row })).sort((a, b) => b.own + b.started - (a.own + a.started) || a.file.localeCompare(b.file)),
    unreadable: read.length - accounts.length
  }
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { most: { type: 'string' } }, allowPositionals: true })
  const most = values.most === undefined ? 30 : Number(values.most)
  if (positionals.length !== 1 || !Number.isInteger(most) || most < 1) {
    process.stderr.write('usage: node tools/suite-cpu/summarise.ts [--most N] DIR\n')
    process.exit(2)
  }
  let suite: SuiteCpu
  try {
    suite = summarise(positionals[0]!)
  } catch (err) {
    process.stderr.write(`cannot read ${positionals[0]}: ${(err as Error).message}\n`)
    process.exit(2)
  }
  const rows = suite.files
  const total = rows.reduce((sum, r) => sum + r.own + r.started, 0)
  const seconds = (s: number): string => s.toFixed(1).padStart(7)
  // Written at once: a reader that stops early (`| head`) would end later writes with EPIPE.
  const lines = [`${seconds(total)} s of CPU in ${rows.length} rows (test files, and what ran outside them)`, '  total     own started processes  file']
  for (const r of rows.slice(0, most)) {
    lines.push(`${seconds(r.own + r.started)} ${seconds(r.own)} ${seconds(r.started)} ${String(r.processes).padStart(9)}  ${r.file}`)
  }
  if (rows.length > most) lines.push(`(+${rows.length - most} more rows)`)
  if (suite.unreadable > 0) lines.push(`${suite.unreadable} accounts were not JSON and are left out`)
  process.stdout.write(`${lines.join('\n')}\n`)
}

if (import.meta.main) main()
