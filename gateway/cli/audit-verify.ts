// npm run audit:verify -- --ledger <path> --trust <trust.json>
// npm run audit:verify -- --postgres <url> --schema <name> --trust <trust.json>
//
// Re-verifies the audit ledger from the genesis hash, with the keys of the
// trust configuration, and says plainly whether it can be relied on.
// Exit code 0: verified. 1: the ledger does not verify. 2: it could not be checked.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { verifyLedger } from '../audit/verify-ledger.ts'
import { PostgresStore } from '../store/ledger-postgres.ts'
import { SqliteStore } from '../store/ledger-sqlite.ts'
import type { GatewayStore } from '../store/records.ts'
import { loadTrustStore } from '../trust/trust-store.ts'

const USAGE = `usage: audit-verify --trust <trust.json> (--ledger <ledger.sqlite> | --postgres <url> --schema <name>)`

function fail(message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

async function main(): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        ledger: { type: 'string' },
        postgres: { type: 'string' },
        schema: { type: 'string' },
        trust: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      },
      strict: true
    }))
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`)
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (values.trust === undefined) fail(`--trust is required\n${USAGE}`)
  if ((values.ledger === undefined) === (values.postgres === undefined)) fail(`give either --ledger or --postgres\n${USAGE}`)
  if (values.postgres !== undefined && values.schema === undefined) fail(`--postgres needs --schema\n${USAGE}`)

  const trust = loadTrustStore(values.trust)
  let store: GatewayStore
  let where: string
  if (values.ledger !== undefined) {
    // Opening a missing file would create an empty ledger, which verifies.
    if (!existsSync(values.ledger)) fail(`no ledger at ${values.ledger}`)
    store = new SqliteStore(values.ledger, { readOnly: true })
    where = `${values.ledger} (SQLite)`
  } else {
    store = PostgresStore.open(values.postgres!, { schema: values.schema! }, 2)
    where = `schema ${values.schema} (PostgreSQL)`
  }

  try {
    const started = Date.now()
    const result = await verifyLedger(store, trust.ownLedgerKeys, trust.partner.ledgerKeys)
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    const lines = [
      `Audit ledger of gateway ${trust.country}: ${where}`,
      `Entries checked:      ${result.entries}`,
      `Checkpoints checked:  ${result.checkpoints} (${result.countersignatures} countersigned by ${trust.partnerCountry})` +
        (result.checkpointedTo > 0 ? `; the last signs entry ${result.checkpointedTo}` : ''),
      `Time:                 ${seconds} s`
    ]
    if (result.ok) {
      lines.push(
        result.entries === 0
          ? 'Result: OK. The ledger is empty.'
          : `Result: OK. Every entry chains from the genesis hash to entry ${result.entries}, and every checkpoint verifies.`
      )
      if (result.entries > result.checkpointedTo) {
        const range = result.checkpointedTo + 1 === result.entries ? `Entry ${result.entries}` : `Entries ${result.checkpointedTo + 1} to ${result.entries}`
        lines.push(
          `Note:   ${range} ${result.checkpointedTo === 0 ? 'are covered by no checkpoint' : 'follow the last checkpoint'}: ` +
            'they are held by the hash chain alone. Whoever can write the database could rewrite and rehash them, or cut them ' +
            'from the end, without it showing here until a checkpoint signs them.'
        )
      }
    } else {
      lines.push(`Result: NOT OK. The first entry that does not verify is entry ${result.firstBad!.seq}.`)
      lines.push(`Why:    ${result.firstBad!.reason}.`)
    }
    process.stdout.write(`${lines.join('\n')}\n`)
    return result.ok ? 0 : 1
  } finally {
    await store.close()
  }
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => fail(`could not verify the ledger: ${(err as Error).message}`)
)
