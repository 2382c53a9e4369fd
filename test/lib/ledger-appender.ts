// A gateway instance's PostgreSQL ledger, appending as under load until it is
// killed: the process test/postgres-ledger.test.ts freezes (SIGSTOP) while it
// holds the chain, as a paused VM or a machine cut off from the network would
// leave an instance. Arguments: the server's URL, the schema, the ledger's timeout.
import { auditEntry } from '../../gateway/pipeline/audit-entry.ts'
import { PostgresStore } from '../../gateway/store/ledger-postgres.ts'

const [url, schema, timeoutMs] = process.argv.slice(2)
const store = PostgresStore.open(url!, { schema: schema!, timeoutMs: Number(timeoutMs) })
await store.create()
process.send?.('ready')
for (;;) {
  // Eight at a time, as a gateway's group commit takes them; a refusal (the lock lost, the server gone) is no matter here.
  await Promise.all(Array.from({ length: 8 }, () => store.appendAudit(auditEntry({ event: 'purged', counts: { retentionDays: 1 } })).catch(() => undefined)))
}
