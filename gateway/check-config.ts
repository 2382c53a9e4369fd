// `node gateway/server.ts --check-config`: everything the gateway would read
// at start-up, checked without starting it: the environment, the trust file
// and every key and certificate it names, expiry dates, the systems
// AGENCY_WEBHOOKS names (config.ts, webhookSystemProblems), the ledger's place.
// Nothing is written and no connection is opened.
import { accessSync, constants, existsSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { certificateExpiries } from './trust/cert-expiry.ts'
import { loadTrustStore, type TrustStore } from './trust/trust-store.ts'
import { ConfigError, configFromEnv, type GatewayConfig, webhookSystemProblems } from './config.ts'

export interface ConfigCheck {
  readonly ok: boolean
  /** What was found, one line each: `ok …`, `warn …` or `error …`. */
  readonly lines: readonly string[]
}

export function checkConfiguration(env: NodeJS.ProcessEnv): ConfigCheck {
  const lines: string[] = []
  let failed = false
  const error = (line: string): void => {
    failed = true
    lines.push(`error ${line}`)
  }

  let config: GatewayConfig
  try {
    config = configFromEnv(env)
  } catch (err) {
    if (err instanceof ConfigError) for (const p of err.problems) error(p)
    else error((err as Error).message)
    return { ok: false, lines }
  }
  lines.push(`ok    environment: ${config.host}:${config.port}, Redis ${new URL(config.redisUrl).host}, queue prefix ${config.queuePrefix}`)

  let trust: TrustStore | undefined
  try {
    trust = loadTrustStore(config.trustFile)
    lines.push(
      `ok    trust file ${config.trustFile}: gateway ${trust.country}, ${trust.agencies.size} agency systems, ` +
        `${trust.ownKeys.size} signing key(s), active ${trust.signingKey.kid}, partner ${trust.partner.country} with ${trust.partner.keys.size} key(s)`
    )
    if (trust.example) lines.push('warn  the trust file is EXAMPLE material (keys-example): never in production')
    for (const problem of webhookSystemProblems(config.webhooks, trust)) error(problem)
  } catch (err) {
    error(`GATEWAY_TRUST_FILE: ${(err as Error).message}`)
  }
  for (const cert of trust === undefined ? [] : certificateExpiries(trust)) {
    const when = `${cert.name} certificate expires ${cert.notAfter.slice(0, 10)}`
    if (cert.daysLeft < 0) error(`${cert.name} certificate expired on ${cert.notAfter.slice(0, 10)}`)
    else if (cert.daysLeft <= config.certExpiryWarnDays) lines.push(`warn  ${when}, in ${Math.floor(cert.daysLeft)} days`)
  }

  if (config.ledgerPostgresUrl !== undefined) {
    lines.push(`ok    ledger in PostgreSQL at ${new URL(config.ledgerPostgresUrl).host}, schema ${config.ledgerPostgresSchema} (not connected by this check)`)
    return { ok: !failed, lines }
  }
  // The gateway creates the ledger and its directories: the nearest existing one must be writable.
  const existing = existsSync(config.ledgerPath) ? statSync(config.ledgerPath) : undefined
  if (existing !== undefined && !existing.isFile()) {
    const what = existing.isDirectory() ? 'a directory' : 'not a regular file'
    error(`LEDGER_PATH: ${config.ledgerPath} is ${what}, not a ledger file: name the file (e.g. ${join(config.ledgerPath, 'ledger.sqlite')})`)
    return { ok: false, lines }
  }
  let place = config.ledgerPath
  while (!existsSync(place) && dirname(place) !== place) place = dirname(place)
  try {
    accessSync(place, constants.W_OK)
    lines.push(`ok    ledger ${config.ledgerPath}${place === config.ledgerPath ? '' : ' (created at start-up)'}`)
  } catch {
    error(`LEDGER_PATH: ${place} is not writable, so ${config.ledgerPath} cannot be ${place === config.ledgerPath ? 'written' : 'created'}`)
  }
  return { ok: !failed, lines }
}
