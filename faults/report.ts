// The fault table, as aligned text for a terminal or as markdown for an
// issue, and the findings under it. Only presentation: the verdict of each
// row is decided in scenario.ts.
import type { FaultRow } from './scenario.ts'

export const COLUMNS = [
  'fault',
  'accepted',
  'delivered',
  'lost',
  'dup ledger',
  'dup agency (acted twice)',
  'raw repeat pushes',
  'exchange calls/msg',
  'recovered',
  'ledger verifies',
  'time'
] as const

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

function cells(row: FaultRow): string[] {
  const c = row.counts
  const verifies = (['CA', 'US'] as const).map((k) => `${k} ${row.verification[k].ok ? 'ok' : 'NOT OK'} (${row.verification[k].entries})`).join(', ')
  return [
    row.title,
    String(c.accepted),
    String(c.delivered),
    String(c.lost.length),
    String(c.dupLedger.length),
    String(c.actedTwice.length),
    c.rawRepeats.length === 0 ? '0' : `${c.rawRepeats.length} (${c.extraPushes} extra)`,
    // 0 with messages delivered: the request log was off or changed shape, so the calls were not counted.
    c.accepted === 0 || c.exchangeCalls === 0 ? 'n/a' : (c.exchangeCalls / c.accepted).toFixed(3),
    row.recovered ? `yes, ${secs(row.recoveryMs!)} / +${secs(row.drainMs!)}` : 'NO',
    verifies,
    secs(row.totalMs)
  ]
}

export function table(rows: readonly FaultRow[], markdown: boolean): string {
  const body = rows.map(cells)
  if (markdown) {
    const line = (c: readonly string[]): string => `| ${c.join(' | ')} |`
    return [line(COLUMNS), line(COLUMNS.map((_, i) => (i === 0 ? '---' : '---:'))), ...body.map(line)].join('\n')
  }
  const widths = COLUMNS.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  const line = (c: readonly string[]): string => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ')
  return [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n')
}

/** The legend: what each column counts, so the table reads on its own. */
export const LEGEND = [
  'accepted: submissions answered 202 (or 200 for a repeat of an accepted one)',
  "delivered: accepted, marked delivered in the CA ledger (partner's signed receipt) AND received by the US agency (CBP mock)",
  'lost: accepted and not delivered once the run recovered (or the bound ran out)',
  'dup ledger: messages with more than one CA "accepted" or outbound "delivered", or more than one US "received" or inbound "delivered" entry',
  'dup agency (acted twice): messages an agency keeping its Idempotency-Keys (across its restarts) would have acted on twice',
  'raw repeat pushes: messages pushed to the agency more than once (recognised by their Idempotency-Key, answered 2xx, not acted on)',
  'exchange calls/msg: POST /v1/exchange requests that reached the US gateway (its request log), per accepted message;',
  "  attempts refused before reaching it (gateway down) are in the CA ledger's failed attempts below",
  'recovered: every accepted message delivered with no action but the restart itself, within the bound; then when the last one reached',
  '  the agency: after the fault was undone / after the later of that and the last submission (the lag the fault left)',
  'ledger verifies: verifyLedger (as npm run audit:verify) on each ledger after the run (entries checked)',
  'time: the whole row, from the first submission to the end of counting'
]

export function details(rows: readonly FaultRow[]): string {
  const out: string[] = []
  for (const row of rows) {
    const c = row.counts
    out.push(
      `${row.title}: ${row.pass ? 'PASS' : 'FAIL'}; ` +
        `dead-lettered CA ${c.deadLettered.CA} / US ${c.deadLettered.US}; failed attempts audited CA ${c.failuresAudited.CA} / US ${c.failuresAudited.US}; ` +
        `ledger entries CA ${c.ledgerEntries.CA} / US ${c.ledgerEntries.US}; ` +
        `mock duplicates() ${c.mockDuplicates}; exchange calls ${c.exchangeCalls}; ` +
        `CA->US connections through the proxy ${row.proxy.connections} (${row.proxy.connected} reached the US gateway)` +
        (row.failedStarts.length > 0 ? `; gateway starts that failed and were retried: ${row.failedStarts.length} (${row.failedStarts.join(' | ')})` : '') +
        (c.acceptedUnbeknown.length > 0 ? `; accepted by CA but never answered to the client: ${c.acceptedUnbeknown.length}` : '') +
        (row.keptDir !== null ? `; logs and ledgers kept in ${row.keptDir}` : '')
    )
    for (const f of row.findings) out.push(`  ${f.replaceAll('\n', '\n  ')}`)
  }
  return out.join('\n')
}
