// The faults themselves, each one thing done to the running exchange and
// undone the way a supervisor or the infrastructure would undo it: a killed
// process is started again with the same settings, Redis comes back, the
// partner comes back. None of them touches the ledgers, the queues or the
// messages: whatever recovery follows is the gateways' own.
import type { Load } from './load.ts'
import { hold, type AofMode } from './processes.ts'
import type { Topology } from './topology.ts'

export interface FaultTimings {
  /** Partner gateway down, agency webhook down (issue: 60 s). */
  readonly outageMs: number
  /** How long the partner stays slow. */
  readonly slowMs: number
  /** The latency added each way while it is slow (issue: 500 ms). */
  readonly slowDelayMs: number
  /** Between Redis going down and coming back. */
  readonly redisDownMs: number
}

export interface FaultContext {
  readonly topo: Topology
  readonly load: Load
  readonly timings: FaultTimings
  readonly say: (line: string) => void
}

export interface Fault {
  /** For --only. */
  readonly name: string
  /** The row's label, with the lengths this run used. */
  title(t: FaultTimings): string
  /** The Redis this fault needs. */
  readonly aof: AofMode
  /** Does the fault, waits out its length, undoes it; resolves when the system is whole again. */
  inject(ctx: FaultContext): Promise<void>
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`

export const FAULTS: readonly Fault[] = [
  {
    name: 'kill-sender',
    title: () => '1. CA gateway kill -9, restarted',
    aof: 'everysec',
    async inject({ topo, say }) {
      await topo.gateways.CA.kill9()
      say('CA gateway killed (-9); starting it again on the same ledger, keys and queue prefix')
      await topo.gateways.CA.start()
    }
  },
  {
    name: 'kill-receiver',
    title: () => '2. US gateway kill -9, restarted',
    aof: 'everysec',
    async inject({ topo, say }) {
      await topo.gateways.US.kill9()
      say('US gateway killed (-9); starting it again on the same ledger, keys and queue prefix')
      await topo.gateways.US.start()
    }
  },
  {
    name: 'redis-kill-aof',
    title: () => '3. Redis kill -9, AOF on (everysec)',
    aof: 'everysec',
    async inject({ topo, timings, say }) {
      await topo.redis.kill9()
      say(`Redis killed (-9), AOF appendfsync everysec; back in ${timings.redisDownMs} ms from its AOF`)
      await hold(timings.redisDownMs)
      await topo.redis.start()
    }
  },
  {
    name: 'redis-kill-noaof',
    title: () => '4. Redis kill -9, AOF off',
    aof: 'off',
    async inject({ topo, timings, say }) {
      await topo.redis.kill9()
      say(`Redis killed (-9), no AOF; back empty in ${timings.redisDownMs} ms`)
      await hold(timings.redisDownMs)
      await topo.redis.start()
    }
  },
  {
    name: 'redis-restart-empty',
    title: () => '5. Redis clean restart, empty',
    aof: 'off',
    async inject({ topo, timings, say }) {
      await topo.redis.shutdownNoSave()
      say(`Redis shut down cleanly (SHUTDOWN NOSAVE, no AOF, no RDB); back empty in ${timings.redisDownMs} ms`)
      await hold(timings.redisDownMs)
      await topo.redis.start()
    }
  },
  {
    name: 'partner-down',
    title: (t) => `6. partner (US) gateway down ${seconds(t.outageMs)}`,
    aof: 'everysec',
    async inject({ topo, timings, say }) {
      await topo.gateways.US.stop()
      say(`US gateway stopped (SIGTERM) for ${timings.outageMs / 1000} s`)
      await hold(timings.outageMs)
      await topo.gateways.US.start()
    }
  },
  {
    name: 'partner-slow',
    title: (t) => `7. partner ${t.slowDelayMs} ms slower each way for ${seconds(t.slowMs)}`,
    aof: 'everysec',
    async inject({ topo, timings, say }) {
      topo.proxies.US.delayMs = timings.slowDelayMs
      topo.proxies.CA.delayMs = timings.slowDelayMs
      say(`${timings.slowDelayMs} ms added each way between the gateways for ${timings.slowMs / 1000} s`)
      await hold(timings.slowMs)
      topo.proxies.US.delayMs = 0
      topo.proxies.CA.delayMs = 0
    }
  },
  {
    name: 'webhook-down',
    title: (t) => `8. US agency webhook down ${seconds(t.outageMs)}`,
    aof: 'everysec',
    async inject({ topo, timings, say }) {
      await topo.agencies.get('CBP').stop()
      say(`CBP's webhook stopped for ${timings.outageMs / 1000} s`)
      await hold(timings.outageMs)
      await topo.agencies.get('CBP').start()
    }
  }
]

export function faultsNamed(names: readonly string[] | undefined): Fault[] {
  if (names === undefined || names.length === 0) return [...FAULTS]
  const unknown = names.filter((n) => !FAULTS.some((f) => f.name === n))
  if (unknown.length > 0) throw new Error(`unknown fault ${unknown.join(', ')}: one of ${FAULTS.map((f) => f.name).join(', ')}`)
  return FAULTS.filter((f) => names.includes(f.name))
}
