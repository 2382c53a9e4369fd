// The partner gateway, and the local agency webhooks, as this gateway reaches
// them. One place decides where the partner is (the configuration's
// PARTNER_URL, else the trust file's, see docs/operators.md, "Configuration") and holds
// the one mutual-TLS client to it, so that deliveries, checkpoint exchange and
// the readiness probe always talk to the same partner, the one in force now:
// a trust reload that moves the partner moves all three at once
// (docs/operators.md, "Keys and trust CLI").
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { TrustBoundClient } from '../delivery/tls-client.ts'
import { partnerClientOptions } from '../trust/tls-options.ts'
import type { TrustStore } from '../trust/trust-store.ts'
import { unknownWebhookSystems } from '../config.ts'

export interface PartnerGateway {
  /** The partner's base URL in force now: read at each use, never kept. */
  url(): string
  /** A path on the partner gateway (`/v1/exchange`), resolved against the URL in force now. */
  endpoint(path: string): string
  /** Mutual TLS to the partner: this gateway's certificate, the partner's root and pinned certificate, as the trust store in force says. */
  readonly client: TrustBoundClient<TrustStore>
  /** A local agency system's webhook: the configuration's override, else the trust file's; undefined when it has none. */
  webhookFor(systemId: string): string | undefined
}

declare module 'fastify' {
  interface FastifyInstance {
    readonly partner: PartnerGateway
  }
}

export interface PartnerPluginOptions {
  /** PARTNER_URL: overrides the trust file's partner URL (tests, docker). */
  readonly url: string | undefined
  /** AGENCY_WEBHOOKS: system id -> webhook URL, overriding the trust file. */
  readonly webhooks: Readonly<Record<string, string>>
  /** Deadline of a request to the partner; the readiness probe asks for a shorter one per request. */
  readonly timeoutMs: number
  /** Once the gateway starts closing, how long its requests to the partner may still run (config.ts, abandonRequestsAfterMs). */
  readonly abandonAfterMs: number
}

export const partnerPlugin = fp(
  async function partner(app: FastifyInstance, opts: PartnerPluginOptions) {
    const url = (): string => opts.url ?? app.trust.partner.url
    const client = new TrustBoundClient(
      () => app.trust,
      (trust) => partnerClientOptions(trust, opts.timeoutMs)
    )
    const gateway: PartnerGateway = {
      url,
      endpoint: (path) => new URL(path, url()).toString(),
      client,
      webhookFor: (systemId) => {
        // Only a system in force takes deliveries: a revoked one gets none, whatever the configuration says.
        const system = app.trust.agencies.get(systemId)
        return system === undefined ? undefined : (opts.webhooks[systemId] ?? system.webhook)
      }
    }
    app.decorate('partner', gateway)
    // A start refuses an override for a system the trust file does not list
    // (app.ts). A reload that removes one is applied all the same: it may be
    // a revocation that cannot wait for the configuration to be mended. The
    // override is unused from then on, and each reload says so until the
    // setting is mended, since the next start would refuse it
    // (docs/operators.md, "Configuration").
    app.onTrustReloaded((trust) => {
      const unknown = unknownWebhookSystems(opts.webhooks, trust)
      if (unknown.length === 0) return
      app.log.warn(
        { component: 'partner', alert: 'WEBHOOK_OVERRIDE_UNKNOWN', systems: unknown },
        'AGENCY_WEBHOOKS names systems the trust file no longer lists: their overrides are unused, and a restart with this setting is refused; remove them from it'
      )
    })
    // Deliveries and a checkpoint being cosigned are waited for on close, but
    // not past the shutdown's bound (docs/operators.md, "Shutdown").
    app.addHook('preClose', (done) => {
      client.abandonAfter(opts.abandonAfterMs, (requests) =>
        app.log.warn({ component: 'partner', requests }, 'abandoning the requests to the partner still in hand; their messages stay queued')
      )
      done()
    })
    // Registered before its users, so closed after them: onClose runs in reverse order.
    app.addHook('onClose', () => client.close())
  },
  { name: 'partner', fastify: '5.x', dependencies: ['trust'] }
)
