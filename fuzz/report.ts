// The run's summary as a reader wants it: what was sent where, what came
// back, each invariant with its count, then each kind of violation with one
// minimal counterexample (the exact request and answer).
import { ENDPOINTS } from './case.ts'
import type { CampaignResult } from './campaign.ts'
import { INVARIANTS } from './oracle.ts'

const pad = (s: string | number, n: number) => String(s).padEnd(n)
const lpad = (s: string | number, n: number) => String(s).padStart(n)

function sorted(counts: Readonly<Record<string, number>>): Array<[string, number]> {
  return Object.entries(counts).sort((a, b) => b[1] - a[1])
}

export function summary(r: CampaignResult): string {
  const s = r.stats
  const seconds = r.elapsedMs / 1000
  const lines: string[] = []
  lines.push(
    `fuzz: seed ${r.options.seed}${(r.options.from ?? 0) > 0 ? ` from input ${r.options.from}` : ''}, ${s.inputs} inputs (${r.options.runs} generated${s.skipped > 0 ? `, ${s.skipped} not sendable` : ''}), ${r.options.concurrency} in flight`
  )
  lines.push('')
  lines.push(`  ${pad('endpoint', 26)}${lpad('inputs', 9)}`)
  const doors: Record<string, string> = { messages: 'POST /v1/messages', exchange: 'POST /v1/exchange', status: 'GET /v1/messages/{id}', audit: '/v1/audit…' }
  for (const e of ENDPOINTS) lines.push(`  ${pad(doors[e]!, 26)}${lpad(s.byEndpoint[e], 9)}`)
  lines.push(`  ${pad('verdicts', 26)}${lpad('', 9)}  valid ${s.byVerdict.valid}, invalid ${s.byVerdict.invalid}, unspecified ${s.byVerdict.any}`)
  lines.push('')
  lines.push(
    `  status codes   ${sorted(s.statuses)
      .map(([k, v]) => `${k}:${v}`)
      .join('  ')}`
  )
  lines.push(
    `  problem codes  ${sorted(s.codes)
      .map(([k, v]) => `${k}:${v}`)
      .join('  ')}`
  )
  lines.push('')
  const row = (label: string, value: string | number, bad = false) => lines.push(`  ${pad(label, 34)}${lpad(value, 10)}${bad ? '   <-- violation' : ''}`)
  row('5xx answers', s.violations['no-5xx'], s.violations['no-5xx'] > 0)
  row('non-2xx not a problem document', s.violations['problem-document'], s.violations['problem-document'] > 0)
  row('requests without an answer', s.violations['no-answer'], s.violations['no-answer'] > 0)
  row('crashes', s.violations.crash, s.violations.crash > 0)
  row('error-level log lines', s.violations['error-log'], s.violations['error-log'] > 0)
  row('wrongly accepted (invalid -> 2xx)', s.violations['wrongly-accepted'], s.violations['wrongly-accepted'] > 0)
  row('known-valid refused', s.violations['valid-refused'], s.violations['valid-refused'] > 0)
  row('wrong caller not refused first', s.violations['auth-first'], s.violations['auth-first'] > 0)
  row('non-refusal ledger writes', s.violations['ledger-write'], s.violations['ledger-write'] > 0)
  row('known-valid not delivered', s.violations['valid-not-delivered'], s.violations['valid-not-delivered'] > 0)
  row('ledger verification failed', s.violations['ledger-verification'], s.violations['ledger-verification'] > 0)
  lines.push('')
  for (const l of r.ledgers)
    lines.push(
      `  ledger ${l.gateway}: ${l.added} entries added (${sorted(l.byEvent)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`
    )
  lines.push(
    `  known-valid messages: ${r.counts.validSent} accepted, ${r.counts.validDelivered} delivered; ${r.counts.pushes} pushes to agency webhooks; ${r.counts.warnLogs} warn-level log lines`
  )
  lines.push(
    `  rate ${(s.inputs / seconds).toFixed(0)} inputs/s, elapsed ${seconds.toFixed(1)} s (${(r.totalMs / 1000).toFixed(1)} s with start-up, delivery of the known-valid messages, ledger checks and shrinking)`
  )
  if (s.skipped > 0)
    lines.push(
      `  not sendable: ${sorted(s.skippedReasons)
        .slice(0, 5)
        .map(([k, v]) => `${v}× ${k}`)
        .join('; ')}`
    )
  return lines.join('\n')
}

export function violations(r: CampaignResult): string {
  if (r.groups.length === 0) return 'no violations'
  const lines: string[] = [`${r.groups.length} kinds of violation:`]
  const order = (inv: string) => INVARIANTS.indexOf(inv as never)
  const groups = [...r.groups].sort((a, b) => order(a.invariant) - order(b.invariant) || b.count - a.count)
  for (const g of groups) {
    lines.push('')
    lines.push(`[${g.invariant}] ${g.endpoint} · ${g.tag} · ${g.count}× · ${g.detail.split('\n')[0]}`)
    if (g.index >= 0) lines.push(`    first: input #${g.index} (replay it alone: npm run fuzz -- --seed ${r.options.seed} --from ${g.index} --runs 1)`)
    if (g.shrunk === undefined && g.input !== undefined) lines.push(`    input: ${describeMutations(g.input)}`)
    if (g.shrunk !== undefined) {
      lines.push(
        `    minimal${g.shrunk.reproduced ? '' : ' (did not recur on replay; the input as replayed)'}: ${g.shrunk.input.family}, mutations: ${describeMutations(g.shrunk.input)}`
      )
      lines.push(`      ${g.shrunk.request}`)
      lines.push(`    answer: ${g.shrunk.answer}`)
    }
  }
  return lines.join('\n')
}

function describeMutations(c: CampaignResult['groups'][number]['input']): string {
  if (c === undefined) return ''
  return JSON.stringify(c, (k, v) => (k === 'request' && typeof v === 'string' ? `${v.slice(0, 60)}…` : v)).slice(0, 600)
}

export function hasViolations(r: CampaignResult): boolean {
  return Object.values(r.stats.violations).some((n) => n > 0)
}
