// The entry point: read the environment, build, listen, shut down gracefully.
//   node gateway/server.ts                 run the gateway
//   node gateway/server.ts --check-config  check the settings and trust material, then exit
import cluster from 'node:cluster'
import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { StopRequests, Supervisor, stopWithSupervisor } from './cluster.ts'
import { checkConfiguration } from './check-config.ts'
import { ConfigError, configFromEnv, type GatewayConfig } from './config.ts'

function configOrExit(): GatewayConfig | undefined {
  try {
    return configFromEnv()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`gateway: ${err.message}\n`)
    process.exitCode = 1
    return undefined
  }
}

if (process.argv.includes('--check-config')) {
  const { ok, lines } = checkConfiguration(process.env)
  process.stdout.write(`${lines.join('\n')}\n${ok ? 'configuration OK' : 'configuration has errors'}\n`)
  process.exitCode = ok ? 0 : 1
} else {
  const config = configOrExit()
  if (config !== undefined && config.processes > 1 && cluster.isPrimary) {
    // GATEWAY_PROCESSES: this process only supervises; each of the N runs the branch below.
    new Supervisor({ processes: config.processes, log: pino({ level: config.logLevel }) }).start()
  } else if (config !== undefined) {
    // SIGHUP re-reads the trust file (below). One that comes while the app is
    // still loading and building must neither end the process (Node's default)
    // nor be lost: the file may have changed after the build read it. The app
    // is imported after this handler is in place: loading it takes a while.
    let reloadWhenBuilt = false
    const hupWhileStarting = () => {
      reloadWhenBuilt = true
    }
    process.on('SIGHUP', hupWhileStarting)
    const { buildApp } = await import('./app.ts')
    const app = await buildApp(config).catch((err: unknown) => {
      // A setting only the trust file can judge (config.ts, webhookSystemProblems): said as any other bad setting is.
      if (err instanceof ConfigError) {
        process.stderr.write(`gateway: ${err.message}\n`)
        process.exit(1)
      }
      // Redis or PostgreSQL not answering, a trust file that does not load:
      // one line in the gateway's JSON log, not a stack on stderr, and exit 1
      // at once, whatever the parts opened so far still hold open
      // (docs/operators.md, "A start that fails").
      pino({ level: config.logLevel }).fatal({ err }, 'the gateway could not start')
      process.exit(1)
    })
    // Closing waits for a checkpoint being sent and the deliveries in hand,
    // abandoned at two thirds of SHUTDOWN_TIMEOUT_MS; past all of it, the
    // process exits 1 (docs/operators.md, "Shutdown").
    // Signals are StopRequests' (gateway/cluster.ts), which also takes the
    // supervisor's stop message; close-with-grace keeps the delay, errors
    // and the other signals. SIGHUP is not a shutdown here (close-with-grace
    // counts it as one by default): it re-reads the trust file, below.
    let ledgerStopped = false
    // Its own lines (the bound reached, a close that threw) go to the gateway's log as JSON, not to stderr as text.
    const grace = closeWithGrace({ delay: config.shutdownTimeoutMs, skip: ['SIGHUP', 'SIGINT', 'SIGTERM'], logger: app.log }, async ({ err }) => {
      if (err !== undefined) {
        stops.closing()
        app.log.error({ err }, 'shutting down after an error')
      } else if (ledgerStopped) app.log.error('shutting down: the ledger has stopped')
      else app.log.info({ signal: stoppedBy }, 'shutting down')
      await app.close()
      // close-with-grace exits 0 after a close it was asked for. A process
      // that lost its ledger failed, and exits 1: the supervisor (or the
      // container's restart policy) starts it again (docs/operators.md,
      // "Metrics and health").
      if (ledgerStopped) process.exit(1)
    })
    // Nothing in this process can bring a stopped ledger back (plugins/ledger.ts, LedgerLiveness).
    void app.ledgerLiveness.stopped.then(() => {
      ledgerStopped = true
      stops.closing()
      grace.close()
    })
    let stoppedBy: NodeJS.Signals | undefined
    const stops = new StopRequests({
      stop: (signal, by) => {
        stoppedBy = signal
        if (by === 'supervisor') app.log.info({ signal }, 'told to stop by the supervisor')
        void grace.close()
      },
      exitNow: (signal) => {
        app.log.error({ signal }, `second ${signal} while closing: exiting now`)
        process.exit(1)
      }
    }).listen()
    stopWithSupervisor()
    // Listening for messages holds the channel open: let go of it again, as stopWithSupervisor does.
    process.channel?.unref()
    // The usual daemon convention: SIGHUP re-reads the trust file (revocations, rotated keys).
    process.on('SIGHUP', () => {
      void app.reloadTrust('SIGHUP')
    })
    process.off('SIGHUP', hupWhileStarting)
    if (reloadWhenBuilt) void app.reloadTrust('SIGHUP')
    await app.listen({ host: config.host, port: config.port })
  }
}
