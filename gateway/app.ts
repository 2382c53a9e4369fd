// The app factory: everything a gateway is, built from a config and a trust
// store. Tests call it; only server.ts reads the environment and listens.
import Fastify, { type FastifyInstance } from 'fastify'
import { abandonRequestsAfterMs, ConfigError, type GatewayConfig, webhookSystemProblems } from './config.ts'
import { AJV_OPTIONS } from './lib/ajv-options.ts'
import { buildSerializer, buildValidator } from './lib/schema-compilers.ts'
import type { Envelope } from './pipeline/envelope.ts'
import { authenticateClient, type PeerCertificateSource } from './pipeline/authenticate-client.ts'
import { accessTokens } from './pipeline/authorize-token.ts'
import { bodyParsers } from './plugins/body-parsers.ts'
import { deliveryPlugin } from './plugins/delivery.ts'
import { ledgerPlugin } from './plugins/ledger.ts'
import { openapiPlugin } from './plugins/openapi.ts'
import { metricsPlugin } from './plugins/metrics.ts'
import { pipelinePlugin } from './plugins/pipeline.ts'
import { problemDetails } from './plugins/problem-details.ts'
import { intakeBudget } from './plugins/intake-budget.ts'
import { HTTP_TIMEOUTS, httpHardening, httpHardeningOptions, type HttpTimeouts } from './plugins/http-hardening.ts'
import { intakePlugin } from './plugins/intake.ts'
import { strictQuery } from './plugins/strict-query.ts'
import { trustPlugin } from './plugins/trust.ts'
import { oversightPlugin } from './plugins/oversight.ts'
import { partnerPlugin } from './plugins/partner.ts'
import { auditRoutes } from './routes/audit.ts'
import { consoleRoutes } from './routes/console.ts'
import { witnessRoutes } from './routes/witness.ts'
import { exchangeRoutes } from './routes/exchange.ts'
import { healthRoutes } from './routes/health.ts'
import { jwksRoutes } from './routes/jwks.ts'
import { ledgerKeysRoutes } from './routes/ledger-keys.ts'
import { messageRoutes } from './routes/messages.ts'
import { metricsRoutes } from './routes/metrics.ts'
import { operationsRoutes } from './routes/operations.ts'
import { policyRoutes } from './routes/policies.ts'
import { tokenRoutes } from './routes/token.ts'
import { loadTrustStore, type TrustStore } from './trust/trust-store.ts'
import { tlsOptions } from './trust/tls-options.ts'
import { requestForLog } from './observability/request-log.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** What a refusal's audit entry can name about the message, once its signature verified. */
    auditEnvelope: Partial<Envelope> | null
  }
}

/** Personal data never reaches the logs: bodies are not logged, and these paths are censored. */
export const LOG_REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'body',
  'payload',
  'envelope',
  'jws',
  '*.payload',
  '*.envelope',
  '*.jws',
  '*.traveller',
  '*.document',
  '*.identity',
  '*.subject'
]

export { tlsOptions } from './trust/tls-options.ts'

export interface AppDependencies {
  readonly trust?: TrustStore
  /** Where logs go (default stdout): tests read them to prove nothing personal is logged. */
  readonly logStream?: { write(line: string): void }
  /** The HTTP timeouts (default HTTP_TIMEOUTS): tests of slow clients shorten them. */
  readonly httpTimeouts?: Partial<HttpTimeouts>
  /**
   * Where the caller's client certificate comes from (default: the TLS socket
   * the request came on). Tests that call routes with `app.inject()`, where
   * there is no socket, pass the certificate here; nothing in the
   * configuration or the environment can.
   */
  readonly peerCertificate?: PeerCertificateSource
}

export async function buildApp(config: GatewayConfig, deps: AppDependencies = {}): Promise<FastifyInstance> {
  const trust = deps.trust ?? loadTrustStore(config.trustFile)
  // Settings that only the trust file can judge, refused before anything is opened (config.ts).
  const misfits = webhookSystemProblems(config.webhooks, trust)
  if (misfits.length > 0) throw new ConfigError(misfits)
  const app = Fastify({
    // Mutual TLS, and HTTP/1.1 held to its RFCs below the routes: limits,
    // timeouts, problem documents for what Node's parser refuses.
    ...httpHardeningOptions(tlsOptions(trust), deps.httpTimeouts),
    logger: {
      level: config.logLevel,
      redact: { paths: LOG_REDACT, censor: '[redacted]' },
      serializers: { req: requestForLog },
      ...(deps.logStream ? { stream: deps.logStream } : {})
    },
    // Start-up opens the ledger on its own thread, connects to Redis and
    // compiles every schema: a second or two, far more on a machine whose
    // cores are all busy (a suite run beside others took Fastify's default
    // 10 s). A plugin that truly hangs is still stopped, later.
    pluginTimeout: 60_000,
    // Every route's validator is compiled with the gateway's one Ajv
    // configuration (lib/ajv-options.ts): strict, nothing coerced or dropped.
    // No route sets a compiler or Ajv of its own.
    ajv: { customOptions: { ...AJV_OPTIONS } },
    // Compiled once per process, however many apps it builds (lib/schema-compilers.ts).
    schemaController: { compilersFactory: { buildValidator, buildSerializer } },
    bodyLimit: config.bodyLimitBytes,
    keepAliveTimeout: 65_000,
    forceCloseConnections: 'idle',
    return503OnClosing: true
  })
  if (trust.example) app.log.warn('the trust file is marked as EXAMPLE material: never use it in production')

  app.decorateRequest('auditEnvelope', null)
  await app.register(problemDetails)
  await app.register(httpHardening)
  await app.register(bodyParsers)
  await app.register(strictQuery)
  await app.register(trustPlugin, { trust, file: config.trustFile, watch: config.trustWatch, expiryWarnDays: config.certExpiryWarnDays })
  await app.register(authenticateClient, deps.peerCertificate === undefined ? {} : { peerCertificate: deps.peerCertificate })
  await app.register(intakeBudget, { limitBytes: config.intakeBudgetBytes, waitMs: deps.httpTimeouts?.roomWaitMs ?? HTTP_TIMEOUTS.roomWaitMs })
  await app.register(ledgerPlugin, {
    path: config.ledgerPath,
    synchronous: config.ledgerSynchronous,
    postgres:
      config.ledgerPostgresUrl === undefined
        ? undefined
        : { url: config.ledgerPostgresUrl, schema: config.ledgerPostgresSchema, timeoutMs: config.ledgerPostgresTimeoutMs }
  })
  await app.register(metricsPlugin)
  await app.register(pipelinePlugin, {
    sealKey: config.sealKey,
    auditKey: config.auditKey,
    pseudonymKey: config.pseudonymKey,
    threads: config.pipelineThreads,
    workerMinBytes: config.pipelineWorkerMinBytes
  })
  await app.register(accessTokens, { issuer: `gateway:${trust.country}`, ttlSeconds: config.tokenTtlSeconds })
  const abandonAfterMs = abandonRequestsAfterMs(config.shutdownTimeoutMs)
  await app.register(partnerPlugin, { url: config.partnerUrl, webhooks: config.webhooks, timeoutMs: config.deliveryTimeoutMs, abandonAfterMs })
  await app.register(deliveryPlugin, {
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    attempts: config.deliveryAttempts,
    backoffMs: config.deliveryBackoffMs,
    timeoutMs: config.deliveryTimeoutMs,
    abandonAfterMs,
    relayIntervalMs: config.relayIntervalMs,
    concurrency: config.workerConcurrency,
    budgetBytes: config.deliveryBudgetBytes,
    lockMs: config.queueLockMs,
    stalledCheckMs: config.queueStalledCheckMs,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    runWorkers: config.runWorkers,
    redisChecks: config.redisChecks
  })
  await app.register(intakePlugin)

  // After the request decorators, before any route: it documents the routes registered after it.
  await app.register(openapiPlugin)
  await app.register(healthRoutes, { partnerRequired: config.readyRequiresPartner })
  await app.register(metricsRoutes)
  await app.register(jwksRoutes)
  await app.register(ledgerKeysRoutes)
  await app.register(tokenRoutes, { ttlSeconds: config.tokenTtlSeconds })
  await app.register(messageRoutes, {
    bodyLimitBytes: config.bodyLimitBytes,
    repeatFirstMinBytes: config.pipelineWorkerMinBytes,
    clockSkewSeconds: config.clockSkewSeconds,
    maxAgeSeconds: config.messageMaxAgeSeconds
  })
  await app.register(policyRoutes, { clockSkewSeconds: config.clockSkewSeconds, maxAgeSeconds: config.messageMaxAgeSeconds })
  await app.register(exchangeRoutes, {
    bodyLimitBytes: config.bodyLimitBytes,
    // Ids of received messages are kept MESSAGE_RETENTION_DAYS from their last change (queue/retention.ts).
    window: { clockSkewSeconds: config.clockSkewSeconds, maxAgeSeconds: config.messageRetentionDays * 86_400 - config.clockSkewSeconds },
    repeatFirstMinBytes: config.pipelineWorkerMinBytes
  })
  await app.register(witnessRoutes)
  await app.register(auditRoutes, { cosignatureMaxAgeMs: config.cosignatureMaxAgeMs })
  await app.register(consoleRoutes)
  await app.register(operationsRoutes)
  await app.register(oversightPlugin, {
    everyEntries: config.checkpointEveryEntries,
    everyMs: config.checkpointEveryMs,
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    retentionDays: config.messageRetentionDays,
    purgeEveryMs: config.purgeEveryMs,
    runWorkers: config.runWorkers,
    clockSkewSeconds: config.clockSkewSeconds
  })
  await app.ready()
  return app
}
