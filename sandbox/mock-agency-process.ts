// `node sandbox/mock-agency-process.ts CA https://127.0.0.1:8441`:
// runs the mock agency systems of one country, on the webhook ports of the
// trust file (or of MOCK_WEBHOOKS, a JSON object of system id to webhook URL,
// which sandbox/run.ts sets when its *_MOCK_PORTS move them), until stopped.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AgencyClient, loadAgencyCredentials } from './agency-client.ts'
import { startMockAgency, type MockAgency } from './mock-agency.ts'

const [country, gatewayUrl, keysDir = join(import.meta.dirname, '..', 'keys-example')] = process.argv.slice(2)
if ((country !== 'CA' && country !== 'US') || gatewayUrl === undefined) {
  console.error('usage: mock-agency-process.ts CA|US <gateway url> [keys dir]')
  process.exit(2)
}
const partner = country === 'CA' ? 'US' : 'CA'
const trust = JSON.parse(readFileSync(join(keysDir, country, 'trust.json'), 'utf8')) as {
  agencies: Array<{ agency: string; system: string; webhook?: string }>
}
const gatewayJwks = JSON.parse(readFileSync(join(keysDir, country, 'jwks.json'), 'utf8'))
const partnerJwks = JSON.parse(readFileSync(join(keysDir, country, 'partner', 'jwks.json'), 'utf8'))
// About 50 % of Canadian prints match in the US, about 2 % of U.S. prints in Canada (2013 report).
const matchRate = country === 'US' ? 0.5 : 0.02

const moved = JSON.parse(process.env.MOCK_WEBHOOKS ?? '{}') as Record<string, string>

const mocks: MockAgency[] = []
for (const a of trust.agencies) {
  const webhook = moved[`${country}/${a.agency}/${a.system}`] ?? a.webhook
  if (webhook === undefined) continue
  const client = new AgencyClient(loadAgencyCredentials(keysDir, country, a.agency, a.system), gatewayUrl)
  mocks.push(
    await startMockAgency({
      client,
      port: Number(new URL(webhook).port),
      // 0.0.0.0 in a container, where the gateway reaches it by service name.
      host: process.env.HOST ?? '127.0.0.1',
      gatewayJwks,
      partnerJwks,
      matchRate,
      log: (line) => console.log(`[mock ${country}] ${line}`)
    })
  )
  console.log(`[mock ${country}] ${a.agency}/${a.system} listening on ${webhook} (partner ${partner})`)
}
const stop = async (): Promise<void> => {
  await Promise.all(mocks.map((m) => m.close()))
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
