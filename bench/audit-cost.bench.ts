// The cost of per-field auditing: policy + ledger append with every field decision
// (path, action, rule, principle, HMAC) against the same append without them,
// measured in the same run. `node bench/audit-cost.bench.ts`
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
const book = new PolicyBook(randomBytes(32), randomBytes(32))
const env: any = {
  id: randomUUID(),
  from: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
  ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' })
}
const policy = book.select(env, 'outbound')
async function run(withFields: boolean, n = 5000) {
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'ac-')), 'l.sqlite'))
  const t0 = performance.now()
  const inflight: Promise<void>[] = []
  for (let i = 0; i < n; i++) {
    const m = book.apply(policy, env.payload)
    inflight.push(store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', envelope: env, policy, fields: withFields ? m.decisions : [] })))
    if (inflight.length >= 32) await Promise.all(inflight.splice(0))
  }
  await Promise.all(inflight)
  const rate = n / ((performance.now() - t0) / 1000)
  await store.close()
  return rate
}
for (let round = 0; round < 2; round++) {
  const a = await run(true),
    b = await run(false)
  console.log(`round ${round}: policy+audit with per-field decisions ${a.toFixed(0)}/s, without ${b.toFixed(0)}/s, ratio ${(a / b).toFixed(2)}`)
}
