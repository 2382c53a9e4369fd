// The system under test: a real gateway pair built by buildApp (through
// test/helper.ts, so the fuzzer runs exactly what the tests run: TLS
// listeners, Redis queues, SQLite ledgers, the example PKI). The CA gateway is
// fuzzed; the US gateway is its real partner, so known-valid messages are
// delivered and receipted end to end. Agency webhooks point at sinks that
// answer 204 to anything, so nothing but the fuzzer's inputs causes traffic
// (the sandbox's mock agencies answer match requests on their own).
// Both gateways' logs are read line by line: error-level lines are reported.
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { GatewayConfig } from '../gateway/config.ts'
import { freePort, startGateway, testConfig } from '../test/helper.ts'
import type { Identities } from './identities.ts'

export interface LogRecord {
  readonly gateway: 'CA' | 'US'
  readonly level: number
  readonly msg: string
  readonly detail: string
}

export interface GatewayPair {
  readonly ca: { readonly app: FastifyInstance; readonly url: string }
  readonly us: { readonly app: FastifyInstance; readonly url: string }
  readonly counts: { errorLogs: number; warnLogs: number; pushes: number }
  close(): Promise<void>
}

function logStream(gateway: 'CA' | 'US', counts: GatewayPair['counts'], onError: (record: LogRecord) => void) {
  return {
    write(line: string): void {
      let record: { level?: number; msg?: string; err?: { type?: string; message?: string; code?: string } }
      try {
        record = JSON.parse(line) as typeof record
      } catch {
        return
      }
      const level = record.level ?? 0
      if (level >= 50) {
        counts.errorLogs++
        const err = record.err
        onError({ gateway, level, msg: record.msg ?? '', detail: err === undefined ? '' : `${err.type ?? ''} ${err.code ?? ''} ${err.message ?? ''}`.trim() })
      } else if (level >= 40) counts.warnLogs++
    }
  }
}

/** An agency system's webhook that takes every push (the gateway's own TLS client checks its certificate). */
async function startSink(tls: { cert: string; key: string }, counts: GatewayPair['counts']): Promise<{ url: string; server: Server }> {
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    req.resume()
    req.on('end', () => {
      counts.pushes++
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/inbox`, server }
}

const SYSTEMS = { CA: ['CA/CBSA/pik-primary', 'CA/IRCC/gcms-biometrics'], US: ['US/CBP/ades', 'US/USCIS/ident-gateway'] } as const

export async function startGatewayPair(
  identities: Identities,
  overrides: Partial<GatewayConfig>,
  onErrorLog: (record: LogRecord) => void
): Promise<GatewayPair> {
  const teardowns: Array<() => unknown> = []
  // test/helper.ts's startGateway registers its cleanup with a tap-like `t`.
  const t = {
    teardown: (fn: () => unknown) => {
      teardowns.push(fn)
    }
  }
  const counts = { errorLogs: 0, warnLogs: 0, pushes: 0 }
  try {
    const sinks = { CA: await startSink(identities.sinks.CA, counts), US: await startSink(identities.sinks.US, counts) }
    for (const sink of Object.values(sinks))
      teardowns.push(
        () =>
          new Promise<void>((resolve) => {
            sink.server.closeAllConnections()
            sink.server.close(() => resolve())
          })
      )
    const ports = { CA: await freePort(), US: await freePort() }
    const config = (country: 'CA' | 'US'): GatewayConfig =>
      testConfig(country, {
        port: ports[country],
        partnerUrl: `https://127.0.0.1:${ports[country === 'CA' ? 'US' : 'CA']}`,
        webhooks: Object.fromEntries(SYSTEMS[country].map((s) => [s, sinks[country].url])),
        // Errors and warnings are what the fuzzer reads; info would log every refusal.
        logLevel: 'warn',
        // A long run must not see its tokens expire mid-flight.
        tokenTtlSeconds: 3600,
        ...overrides
      })
    const ca = await startGateway(t, config('CA'), { logStream: logStream('CA', counts, onErrorLog) })
    const us = await startGateway(t, config('US'), { logStream: logStream('US', counts, onErrorLog) })
    return {
      ca,
      us,
      counts,
      async close() {
        for (const fn of teardowns.reverse()) await fn()
      }
    }
  } catch (err) {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {})
    throw err
  }
}
