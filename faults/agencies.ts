// The agency systems at the ends of the exchange: the sandbox's own mock
// agency (sandbox/mock-agency.ts), one per system of the example
// PKI, in this process so that every push can be counted. A mock can be
// stopped and started again on the same port (the "webhook down" fault); its
// pushes are kept across incarnations, because a repeat push after a restart
// is exactly what the counting must see.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JSONWebKeySet } from 'jose'
import { AgencyClient, loadAgencyCredentials } from '../sandbox/agency-client.ts'
import { SYSTEMS, systemId, type SystemName } from '../sandbox/example-systems.ts'
import { startMockAgency, type MockAgency, type ReceivedMessage } from '../sandbox/mock-agency.ts'
import { freePort } from './free-port.ts'
import { KEYS_DIR, type Country } from './processes.ts'

/** One push as the agency saw it. */
export interface Push {
  readonly id: string
  readonly idempotencyKey: string | null
  /** Date.now() in this process when the mock had verified it (same clock as the load's submit times). */
  readonly at: number
}

function jwks(country: Country): JSONWebKeySet {
  return JSON.parse(readFileSync(join(KEYS_DIR, country, 'jwks.json'), 'utf8')) as JSONWebKeySet
}

/** One agency system: a port of its own, kept across restarts. */
class Agency {
  readonly name: SystemName
  readonly port: number
  readonly client: AgencyClient
  /** Pushes of the stopped incarnations, then the running one's. */
  readonly #past: ReceivedMessage[][] = []
  #pastDuplicates = 0
  #mock: MockAgency | undefined
  /** Pushes the mocks acted on (their onMessage), all incarnations. */
  #actedOn = 0
  /** First pushes of each incarnation, as they arrive (for latency). */
  readonly #onPush: (name: SystemName, push: Push) => void

  constructor({ name, port, gatewayUrl, onPush }: { name: SystemName; port: number; gatewayUrl: string; onPush: (name: SystemName, push: Push) => void }) {
    this.name = name
    this.port = port
    const s = SYSTEMS[name]
    this.client = new AgencyClient(loadAgencyCredentials(KEYS_DIR, s.country, s.agency, s.system), gatewayUrl)
    this.#onPush = onPush
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}/v1/inbox`
  }

  get running(): boolean {
    return this.#mock !== undefined
  }

  async start(): Promise<void> {
    const country = SYSTEMS[this.name].country
    this.#mock = await startMockAgency({
      client: this.client,
      port: this.port,
      gatewayJwks: jwks(country),
      partnerJwks: jwks(country === 'CA' ? 'US' : 'CA'),
      // Nothing the faults send asks for a match; the rates of the sandbox all the same.
      matchRate: country === 'US' ? 0.5 : 0.02,
      onMessage: (m) => {
        this.#actedOn++
        this.#onPush(this.name, { id: m.id, idempotencyKey: m.idempotencyKey, at: Date.now() })
      }
    })
  }

  /** Closes the listener and every connection: pushes in flight get a reset. */
  async stop(): Promise<void> {
    const mock = this.#mock
    if (mock === undefined) return
    this.#mock = undefined
    await mock.close()
    this.#past.push(mock.received)
    this.#pastDuplicates += mock.duplicates()
  }

  /**
   * Every push received, all incarnations. The mock keeps its latest
   * RECEIVED_KEPT to 2 × RECEIVED_KEPT pushes only, so `complete` says
   * whether the list still holds them all (acted on + recognised repeats).
   */
  pushes(): { all: ReceivedMessage[]; complete: boolean; recognisedRepeats: number } {
    const lists = [...this.#past, ...(this.#mock ? [this.#mock.received] : [])]
    const all = lists.flat()
    const recognisedRepeats = this.#pastDuplicates + (this.#mock?.duplicates() ?? 0)
    return { all, complete: all.length === this.#actedOn + recognisedRepeats, recognisedRepeats }
  }

  async close(): Promise<void> {
    await this.stop()
    await this.client.close()
  }
}

/** All four systems; webhooks point here, agency clients point at their own gateway. */
export class AgencyFleet {
  readonly #agencies = new Map<SystemName, Agency>()
  /** Every first push of each incarnation, in arrival order (subscribers: the soak's latency). */
  readonly listeners: Array<(name: SystemName, push: Push) => void> = []

  static async start(gatewayUrls: Readonly<Record<Country, string>>): Promise<AgencyFleet> {
    const fleet = new AgencyFleet()
    for (const name of Object.keys(SYSTEMS) as SystemName[]) {
      const agency = new Agency({
        name,
        port: await freePort(),
        gatewayUrl: gatewayUrls[SYSTEMS[name].country],
        onPush: (n, p) => {
          for (const l of fleet.listeners) l(n, p)
        }
      })
      fleet.#agencies.set(name, agency)
      await agency.start()
    }
    return fleet
  }

  get(name: SystemName): Agency {
    return this.#agencies.get(name)!
  }

  /** The AGENCY_WEBHOOKS of one country's gateway: every system of it, at our mocks. */
  webhooks(country: Country): Record<string, string> {
    return Object.fromEntries([...this.#agencies.values()].filter((a) => SYSTEMS[a.name].country === country).map((a) => [systemId(a.name), a.url]))
  }

  async close(): Promise<void> {
    await Promise.all([...this.#agencies.values()].map((a) => a.close()))
  }
}
