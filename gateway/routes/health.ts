import type { FastifyInstance } from 'fastify'
import { PARTNER_PROBE_PATH, PartnerProbe } from '../observability/partner-probe.ts'
import { certificateExpiries } from '../trust/cert-expiry.ts'
import type { TrustStore } from '../trust/trust-store.ts'

export interface HealthRouteOptions {
  /** How long each check may take to answer: the partner, Redis, the ledger. */
  readonly checkTimeoutMs?: number
  /** How long a verdict on the partner is kept. */
  readonly partnerCacheMs?: number
  /**
   * Whether an unreachable partner makes this gateway not ready. Messages are
   * still accepted into the outbox while the partner is down, so a deployment
   * whose load balancer uses /readyz may prefer to only report it.
   */
  readonly partnerRequired?: boolean
}

const READINESS = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'not-ready'] },
    checks: {
      type: 'object',
      description: 'each dependency: `ok`, or why not',
      properties: { redis: { type: 'string' }, ledger: { type: 'string' }, keys: { type: 'string' }, partner: { type: 'string' } },
      additionalProperties: { type: 'string' }
    }
  },
  required: ['status', 'checks']
} as const

/** /healthz: the process is alive. /readyz: it can take messages now, and deliver them. */
export async function healthRoutes(app: FastifyInstance, opts: HealthRouteOptions = {}): Promise<void> {
  const timeoutMs = opts.checkTimeoutMs ?? 2000
  // The partner deliveries go to, over their own client (plugins/partner.ts),
  // with the shorter deadline of a probe.
  const partner = new PartnerProbe({
    client: { get: (url) => app.partner.client.get(url, timeoutMs) },
    timeoutMs,
    cacheMs: opts.partnerCacheMs ?? 5000,
    partnerUrl: () => app.partner.url()
  })

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process answers, and can still write its ledger',
        description: "503 once the ledger's thread has stopped: nothing but a restart brings it back, and the process is closing itself to be started again.",
        tags: ['operations'],
        response: {
          200: { description: 'alive', type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] },
          503: {
            description: 'not alive: `reason` says why',
            type: 'object',
            properties: { status: { type: 'string', enum: ['failing'] }, reason: { type: 'string' } },
            required: ['status', 'reason']
          }
        }
      }
    },
    async (_request, reply) => {
      const failure = app.ledgerLiveness.failure
      return failure === undefined ? { status: 'ok' } : reply.code(503).send({ status: 'failing', reason: failure.message })
    }
  )

  app.get(
    '/readyz',
    {
      schema: {
        summary: "Readiness: Redis, the ledger, the trust store's certificates and the partner gateway",
        description:
          `The partner's ${PARTNER_PROBE_PATH}, which it answers only to this gateway's pinned certificate as it does deliveries, ` +
          'is asked over mutual TLS at most once every few seconds, whatever the number of probes: a partner that refuses this ' +
          "gateway's certificate makes it not ready. `keys` fails once a certificate of the trust in force has expired. " +
          'With READY_REQUIRES_PARTNER=false the partner check is reported but does not decide readiness.',
        tags: ['operations'],
        response: {
          200: { description: 'ready: every check is `ok`', ...READINESS },
          503: { description: 'not ready: `checks` names what failed and why', ...READINESS }
        }
      }
    },
    async (_request, reply) => {
      // Each check has the partner's deadline: a Redis or a database that
      // stops answering without closing its connections would otherwise hold
      // the probe open until it came back.
      const [redis, ledger, partnerVerdict] = await Promise.all([
        verdict(() => app.queues.queue('outbound').getWaitingCount(), 'Redis', timeoutMs),
        verdict(() => app.store.findMessage('outbound', '00000000-0000-0000-0000-000000000000'), 'the ledger', timeoutMs).then((read) => {
          // A ledger that reads may still not write (a full disk): the intake's last write says.
          const failing = app.ledgerWrites.failing
          return read === 'ok' && failing !== undefined ? `the ledger could not write: ${failing}` : read
        }),
        partner.check()
      ])
      const checks: Record<string, string> = {
        redis,
        ledger,
        keys: certificatesInForce(app.trust),
        partner: partnerVerdict
      }
      const ready = Object.entries(checks).every(([name, c]) => c === 'ok' || (name === 'partner' && opts.partnerRequired === false))
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks })
    }
  )
}

/**
 * `ok`, or which certificates of the trust in force have expired: each one
 * stops the exchange (trust/cert-expiry.ts), this gateway's own as surely as
 * the partner's, and nothing but new trust material mends it. The signing
 * key is not checked here: a trust file whose active key does not load, or
 * is revoked, is refused, at start-up and on reload alike, so the key in
 * force is always one that signs.
 */
function certificatesInForce(trust: TrustStore, now = Date.now()): string {
  const expired = certificateExpiries(trust, now).filter((cert) => cert.daysLeft <= 0)
  return expired.length === 0 ? 'ok' : expired.map((cert) => `the ${cert.name} certificate expired at ${cert.notAfter}`).join('; ')
}

async function verdict(check: () => Promise<unknown>, what: string, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    await Promise.race([check(), deadline])
    return 'ok'
  } catch (err) {
    return (err as Error).message
  } finally {
    clearTimeout(timer)
  }
}
