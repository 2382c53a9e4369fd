// Groups what big-allocations.c logged by the native call site that asked
// for the memory, largest total first (docs/measurements.md, "Speed and
// memory", says how it was used):
//
//   node tools/malloc-census/summarise.ts [--per N] LOG...
//
// --per N divides the counts and bytes by N: by the batches a run sent, say,
// to read the figures per batch. Frames are demangled with c++filt when it
// is on the PATH. Frames that only pass the allocation on (V8's and Node's
// ArrayBuffer allocators) are left out of the site, so that every Buffer and
// ArrayBuffer made from JavaScript counts under one name.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'

interface Allocation {
  readonly bytes: number
  readonly frames: string[]
}

const PASS_THROUGH = /Allocat|BackingStore/
const SYMBOL = /\((_Z[^+)]*|[A-Za-z_][^+)]*)\+/

function readLog(path: string): Allocation[] {
  const allocations: Allocation[] = []
  let current: Allocation | undefined
  for (const line of readFileSync(path, 'latin1').split('\n')) {
    if (line.startsWith('@@ ')) {
      current = { bytes: Number(line.split(' ')[2]), frames: [] }
      allocations.push(current)
    } else if (current !== undefined) {
      const symbol = SYMBOL.exec(line)?.[1]
      if (symbol !== undefined) current.frames.push(symbol)
    }
  }
  return allocations
}

function demangler(symbols: Set<string>): (symbol: string) => string {
  const names = [...symbols]
  try {
    const plain = execFileSync('c++filt', { input: names.join('\n'), encoding: 'utf8' }).split('\n')
    const table = new Map(names.map((n, i) => [n, (plain[i] ?? n).replace(/\(.*$/, '')]))
    return (symbol) => table.get(symbol) ?? symbol
  } catch {
    return (symbol) => symbol
  }
}

const { values, positionals } = parseArgs({ options: { per: { type: 'string' } }, allowPositionals: true })
const per = Number(values.per ?? 1)
if (positionals.length === 0 || !(per > 0)) {
  console.error('usage: node tools/malloc-census/summarise.ts [--per N] LOG...')
  process.exit(2)
}

for (const path of positionals) {
  const allocations = readLog(path)
  const name = demangler(new Set(allocations.flatMap((a) => a.frames)))
  const sites = new Map<string, { count: number; bytes: number }>()
  for (const a of allocations) {
    const frames = a.frames.filter((f) => !PASS_THROUGH.test(f)).slice(0, 4)
    const site = frames.map(name).join(' < ') || '(JavaScript: a Buffer, ArrayBuffer or external string)'
    const entry = sites.get(site) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += a.bytes
    sites.set(site, entry)
  }
  const total = allocations.reduce((sum, a) => sum + a.bytes, 0)
  console.log(
    `${basename(path)}: ${(allocations.length / per).toFixed(1)} allocations, ${(total / per / 2 ** 20).toFixed(1)} MiB${per === 1 ? '' : `, divided by ${per}`}`
  )
  for (const [site, { count, bytes }] of [...sites].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 15)) {
    console.log(
      `  ${(count / per).toFixed(1).padStart(7)} × ${(bytes / count / 2 ** 20).toFixed(2)} MiB = ${(bytes / per / 2 ** 20).toFixed(1).padStart(6)} MiB  ${site}`
    )
  }
}
