// The whole exchange for one run, built fresh: a private Redis, the CA and
// US gateways as processes, a latency proxy on each gateway-to-gateway path,
// and the four mock agency systems. Everything it starts, close() stops,
// whatever state a fault left it in.
//
//   CBSA client ──▶ CA gateway ──▶ proxy ──▶ US gateway ──▶ CBP mock agency
//                   (ledger CA)              (ledger US)
//   both gateways ──▶ one private redis-server (queue prefixes faults:CA, faults:US)
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgencyFleet } from './agencies.ts'
import { freePort } from './free-port.ts'
import { GatewayProcess, RedisServer, type AofMode, type Country, type GatewaySettings } from './processes.ts'
import { LatencyProxy } from './proxy.ts'

export interface TopologyOptions {
  readonly aof: AofMode
  readonly settings: GatewaySettings
  /** A name for the run's directory (logs, ledgers, AOF). */
  readonly label: string
  /** Keep the directory when the start fails (its logs say why). */
  readonly keepOnFailure: boolean
}

export class Topology {
  readonly dir: string
  readonly redis: RedisServer
  readonly gateways: Record<Country, GatewayProcess>
  /** proxies.US sits in front of the US gateway (the CA gateway's PARTNER_URL), proxies.CA in front of the CA gateway. */
  readonly proxies: Record<Country, LatencyProxy>
  readonly agencies: AgencyFleet
  #closed = false

  private constructor({ dir, redis, gateways, proxies, agencies }: Pick<Topology, 'dir' | 'redis' | 'gateways' | 'proxies' | 'agencies'>) {
    this.dir = dir
    this.redis = redis
    this.gateways = gateways
    this.proxies = proxies
    this.agencies = agencies
  }

  static async start(opts: TopologyOptions): Promise<Topology> {
    const dir = mkdtempSync(join(tmpdir(), `btb-faults-${opts.label}-`))
    const started: Array<{ close(): Promise<void> }> = []
    try {
      const redis = new RedisServer({ port: await freePort(), dir: join(dir, 'redis'), aof: opts.aof })
      started.push({ close: () => redis.stop() })
      await redis.start()
      const ports = { CA: await freePort(), US: await freePort() }
      const proxies = { CA: new LatencyProxy(ports.CA), US: new LatencyProxy(ports.US) }
      for (const p of Object.values(proxies)) {
        await p.listen()
        started.push(p)
      }
      const urls = { CA: `https://127.0.0.1:${ports.CA}`, US: `https://127.0.0.1:${ports.US}` }
      const agencies = await AgencyFleet.start(urls)
      started.push(agencies)
      // Keys of our own, kept for the run: a restarted gateway must unseal its outbox.
      const key = (): string => randomBytes(32).toString('base64')
      const gateways = {} as Record<Country, GatewayProcess>
      for (const country of ['CA', 'US'] as const) {
        const partner: Country = country === 'CA' ? 'US' : 'CA'
        gateways[country] = new GatewayProcess({
          country,
          port: ports[country],
          partnerUrl: proxies[partner].url,
          redisUrl: redis.url,
          dir,
          webhooks: agencies.webhooks(country),
          keys: { seal: key(), audit: key(), pseudonym: key() },
          settings: opts.settings
        })
        started.push(gateways[country])
      }
      // Both at once: start-up is mostly CPU (TypeScript stripping, schema compilation), two cores.
      await Promise.all([gateways.CA.start(), gateways.US.start()])
      return new Topology({ dir, redis, gateways, proxies, agencies })
    } catch (err) {
      for (const s of started.reverse())
        await s.close().catch(() => {
          /* already down */
        })
      if (opts.keepOnFailure) (err as Error).message += ` (logs kept in ${dir})`
      else rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }

  /** Gateways first (their workers still reach Redis while closing), then mocks, proxies, Redis. */
  async close(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled([this.gateways.CA.close(), this.gateways.US.close()])
    await this.agencies.close().catch(() => {
      /* already closed */
    })
    await Promise.allSettled([this.proxies.CA.close(), this.proxies.US.close()])
    await this.redis.stop()
    if (opts.keepDir !== true) rmSync(this.dir, { recursive: true, force: true })
  }
}
