// npm run audit:verify -- --ledger <path> --trust <trust.json> [--partner | --witnessed <file>]
// npm run audit:verify -- --postgres <url> --schema <name> --trust <trust.json> [--partner | --witnessed <file>]
//
// Re-verifies the audit ledger from the genesis hash, with the keys of the
// trust configuration, against the latest checkpoint the partner cosigned as
// the partner holds it (fetched from it with --partner, or saved earlier and
// given with --witnessed when offline), and says plainly whether it can be
// relied on (docs/privacy-officers.md, "Verifying the ledger against the
// partner").
// Exit code 0: verified. 1: the ledger does not verify. 2: it could not be
// checked. 3: verified, but the partner's witness is missing or older than
// --max-cosignature-age (only when --partner or --witnessed is given).
import { existsSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { verifyLedger } from '../audit/verify-ledger.ts'
import { WITNESSED_CHECKPOINT_PATH, fetchWitnessedCheckpoint } from '../audit/witness-client.ts'
import { TlsClient } from '../delivery/tls-client.ts'
import { partnerClientOptions } from '../trust/tls-options.ts'
import { PostgresStore } from '../store/ledger-postgres.ts'
import { SqliteStore } from '../store/ledger-sqlite.ts'
import type { GatewayStore } from '../store/records.ts'
import { loadTrustStore } from '../trust/trust-store.ts'

const USAGE =
  'usage: audit-verify --trust <trust.json> (--ledger <ledger.sqlite> | --postgres <url> --schema <name>)\n' +
  '                    [--partner [--partner-url <url>] | --witnessed <checkpoint file>] [--max-cosignature-age <seconds>]'

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
        partner: { type: 'boolean' },
        'partner-url': { type: 'string' },
        witnessed: { type: 'string' },
        'max-cosignature-age': { type: 'string' },
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
  if (values.partner === true && values.witnessed !== undefined) fail(`give --partner or --witnessed, not both\n${USAGE}`)
  const maxAge = values['max-cosignature-age'] === undefined ? 3600 : Number(values['max-cosignature-age'])
  if (!(Number.isFinite(maxAge) && maxAge > 0)) fail(`--max-cosignature-age takes a number of seconds\n${USAGE}`)

  const trust = loadTrustStore(values.trust)
  const checkWitness = values.partner === true || values.witnessed !== undefined
  let witnessed: string | undefined
  if (values.witnessed !== undefined) {
    if (!existsSync(values.witnessed)) fail(`no checkpoint at ${values.witnessed}`)
    witnessed = readFileSync(values.witnessed, 'utf8')
  } else if (values.partner === true) {
    // As the gateway itself reaches the partner: its certificate, the partner's root and pin.
    const client = new TlsClient(partnerClientOptions(trust, 10_000))
    try {
      witnessed = await fetchWitnessedCheckpoint(client, new URL(WITNESSED_CHECKPOINT_PATH, values['partner-url'] ?? trust.partner.url).toString())
    } catch (err) {
      fail(`could not fetch the partner's checkpoint: ${(err as Error).message}`)
    } finally {
      await client.close()
    }
  }
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
    const result = await verifyLedger(store, trust.ownLedgerKeys, trust.partner.ledgerKeys, {
      ...(witnessed === undefined ? {} : { witnessed }),
      maxCosignatureAgeMs: maxAge * 1000
    })
    const seconds = (Date.now() - started) / 1000
    // The rate only over a second or more: below that, opening the ledger is most of the time.
    const rate = seconds >= 1 ? `, ${Math.round(result.entries / seconds).toLocaleString('en-CA')} entries/s` : ''
    const checkedOn =
      result.threads === 0
        ? 'the entries checked on one thread'
        : `the entries checked on ${result.threads} thread${result.threads === 1 ? '' : 's'} beside the reading one`
    const c = result.cosigned
    const lines = [
      `Audit ledger of gateway ${trust.country}: ${where}`,
      `Entries checked:      ${result.entries}`,
      `Checkpoints checked:  ${result.checkpoints} (${result.countersignatures} cosigned by ${trust.partnerCountry})` +
        (result.checkpointedTo > 0 ? `; the last is of ${result.checkpointedTo} entries` : ''),
      `Witnessed:            ${
        c === null
          ? 'nothing'
          : `the first ${c.size} entries, as ${c.fromPartner ? "the partner's copy of its cosigned checkpoint" : "this ledger's own record of the partner's cosignature"} (cosigned at ${c.cosignedAt}) says`
      }`,
      `Time:                 ${seconds.toFixed(1)} s${rate}; ${checkedOn}`
    ]
    if (checkWitness && witnessed === undefined) lines.push('Warning: the partner has cosigned no checkpoint of this ledger yet.')
    for (const warning of result.warnings) lines.push(`Warning: ${warning}.`)
    if (result.ok) {
      lines.push(
        result.entries === 0
          ? 'Result: OK. The ledger is empty.'
          : `Result: OK. Every entry chains from the genesis hash to entry ${result.entries}, the Merkle tree is theirs, and every checkpoint verifies.`
      )
      const witnessedTo = result.cosigned?.size ?? 0
      if (result.entries > witnessedTo) {
        const one = witnessedTo + 1 === result.entries
        const [range, them, they] = one ? [`Entry ${result.entries}`, 'it', 'it is'] : [`Entries ${witnessedTo + 1} to ${result.entries}`, 'them', 'they are']
        const where =
          witnessedTo === 0
            ? `${one ? 'is' : 'are'} covered by no checkpoint the partner cosigned`
            : `follow${one ? 's' : ''} the last checkpoint the partner cosigned`
        lines.push(
          `Note:   ${range} ${where}: ${they} held by this gateway's word alone. Whoever can write the database could rewrite ${them}, or cut ` +
            `${them} from the end, without it showing here until the partner witnesses a checkpoint that covers ${them}.`
        )
      }
    } else {
      lines.push(`Result: NOT OK. The first entry that does not verify is entry ${result.firstBad!.seq}.`)
      lines.push(`Why:    ${result.firstBad!.reason}.`)
    }
    process.stdout.write(`${lines.join('\n')}\n`)
    if (!result.ok) return 1
    return checkWitness && (witnessed === undefined || result.warnings.length > 0) ? 3 : 0
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
