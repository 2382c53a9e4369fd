// What the soak samples from outside the gateways, with what already exists:
// a process's resident memory from /proc/<pid>/status (no pidusage), and the
// gateway's own GET /metrics (prom-client's default metrics, event-loop delay
// among them), read with the operator certificate the way Prometheus would.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSecureContext } from 'node:tls'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { KEYS_DIR, type Country } from './processes.ts'

const { Agent, request } = undiciModule()
type Agent = InstanceType<typeof Agent>

/** VmRSS of a process, in bytes (Linux); undefined once it is gone. */
export function rssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb === undefined ? undefined : Number(kb) * 1024
  } catch {
    return undefined
  }
}

/**
 * GET /metrics takes an operator's client certificate and no token
 * (docs/operators.md, "Metrics and health"): keys-example/<C>/operators/ops-1.
 */
export class MetricsScraper {
  readonly #url: string
  readonly #agent: Agent

  constructor(url: string, country: Country) {
    this.#url = url
    const dir = join(KEYS_DIR, country, 'operators', 'ops-1')
    this.#agent = new Agent({
      connect: {
        secureContext: createSecureContext({
          cert: readFileSync(join(dir, 'client.crt.pem'), 'utf8'),
          key: readFileSync(join(dir, 'client.key.pem'), 'utf8'),
          ca: readFileSync(join(KEYS_DIR, country, 'ca.crt.pem'), 'utf8')
        })
      }
    })
  }

  /**
   * The series without labels, by name. prom-client's event-loop gauges
   * (nodejs_eventloop_lag_p99_seconds…) come from a histogram it resets at
   * each scrape, so each value covers the time since the previous scrape.
   */
  async scrape(): Promise<Map<string, number>> {
    const res = await request(`${this.#url}/metrics`, { dispatcher: this.#agent, headersTimeout: 5000, bodyTimeout: 5000 })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`GET /metrics answered ${res.statusCode}`)
    const values = new Map<string, number>()
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/.exec(line)
      if (m !== null) values.set(m[1]!, Number(m[2]))
    }
    return values
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}

/** The q-quantile (0..1) of some numbers, nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}
