// Every core (docs/operators.md, "Every core"): with GATEWAY_PROCESSES=N the
// process started is a supervisor that runs N gateway processes on the same
// port (node:cluster hands each new connection to one of them in turn). Each
// is a whole gateway: the same ledger, Redis, keys and configuration. Nothing
// is shared in memory, so nothing needs to be: the ledger keeps one chain
// because every append reads the head inside its write transaction (SQLite's
// BEGIN IMMEDIATE, PostgreSQL's advisory lock), BullMQ hands each job to one
// worker, a message id is a primary key (a repeat sent to another process is
// still a repeat), and the checkpointer signs the head it reads. The
// supervisor starts a process that dies again, stops them all gracefully on
// SIGTERM or SIGINT, and passes SIGHUP (re-read the trust file) to each.
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'

export interface SupervisorOptions {
  readonly processes: number
  readonly log: Logger
  /**
   * How long a process must have run for its death to be restarted at once;
   * one that dies sooner (a bad ledger path, Redis down at start-up) is
   * started again after a pause that doubles, up to maxRestartDelayMs.
   */
  readonly healthyAfterMs?: number
  readonly maxRestartDelayMs?: number
}

/**
 * Started by a supervisor over an IPC channel (the fault harness; a gateway
 * process of this supervisor's): when the supervisor goes away, even killed
 * with -9, this process stops as if told to, instead of living on as an
 * orphan that holds its port.
 */
export function stopWithSupervisor(): void {
  if (process.channel === undefined) return
  process.channel.unref()
  process.once('disconnect', () => {
    process.kill(process.pid, 'SIGTERM')
  })
}

/** What the supervisor sends a gateway process to stop it: a message, not a signal (Supervisor.stop). */
export interface StopMessage {
  readonly type: 'btb:stop'
  readonly signal: NodeJS.Signals
}

export function isStopMessage(message: unknown): message is StopMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'btb:stop'
}

export interface StopRequestsOptions {
  /** Close the process, for this signal; called once. */
  readonly stop: (signal: NodeJS.Signals, by: 'signal' | 'supervisor') => void
  /** A second signal while closing: an operator's "exit now". */
  readonly exitNow: (signal: NodeJS.Signals) => void
}

/**
 * A gateway process's stop, however it is asked for: SIGTERM or SIGINT, or
 * its supervisor's stop message. The first closes the process and a second
 * signal is "exit now", as close-with-grace has it. But a signal sent to the
 * whole process group (a Ctrl-C) reaches this process and its supervisor at
 * once, and the supervisor relays it as a message: on a busy machine the
 * message may be read first. So after the supervisor's message for a
 * signal, the first copy of that signal is that same stop, not a second one.
 * An operator who sent the supervisor alone a SIGTERM and then wants a
 * process to exit now sends it two.
 */
export class StopRequests {
  readonly #opts: StopRequestsOptions
  #signal: NodeJS.Signals | undefined
  #groupCopyDue = false
  #closing = false

  constructor(opts: StopRequestsOptions) {
    this.#opts = opts
  }

  /** Takes SIGTERM, SIGINT and the supervisor's stop message from now on. */
  listen(): this {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => this.signal(signal))
    process.on('message', (message) => {
      if (isStopMessage(message)) this.message(message.signal)
    })
    return this
  }

  /** The process closes for another reason (an uncaught error): a signal from now on is "exit now". */
  closing(): void {
    this.#closing = true
  }

  signal(signal: NodeJS.Signals): void {
    if (this.#closing && this.#signal === undefined) {
      this.#opts.exitNow(signal)
    } else if (this.#signal === undefined) {
      this.#signal = signal
      this.#opts.stop(signal, 'signal')
    } else if (this.#groupCopyDue && signal === this.#signal) {
      this.#groupCopyDue = false
    } else {
      this.#opts.exitNow(signal)
    }
  }

  message(signal: NodeJS.Signals): void {
    // Closing already: the signal reached this process before the supervisor's message, or an error did.
    if (this.#signal !== undefined || this.#closing) return
    this.#signal = signal
    this.#groupCopyDue = true
    this.#opts.stop(signal, 'supervisor')
  }
}

export class Supervisor {
  readonly #opts: Required<SupervisorOptions>
  readonly #workers = new Map<number, Worker>()
  readonly #delays = new Map<number, number>()
  readonly #restarts = new Set<NodeJS.Timeout>()
  /** The processes that listen: each has its handler for the supervisor's stop message. */
  readonly #listening = new WeakSet<Worker>()
  /** The processes a SIGHUP came for while they were starting. */
  readonly #reloadWhenListening = new WeakSet<Worker>()
  #stopping: NodeJS.Signals | undefined
  #failed = false

  constructor(opts: SupervisorOptions) {
    this.#opts = { healthyAfterMs: 10_000, maxRestartDelayMs: 10_000, ...opts }
  }

  start(): void {
    for (let index = 0; index < this.#opts.processes; index++) this.#fork(index)
    process.on('SIGTERM', () => this.stop('SIGTERM'))
    process.on('SIGINT', () => this.stop('SIGINT'))
    process.on('SIGHUP', () => {
      // One still starting gets it once it listens: before its app is built
      // it may have no handler yet, and Node's default for SIGHUP ends it.
      for (const worker of this.#workers.values()) {
        if (this.#listening.has(worker)) worker.process.kill('SIGHUP')
        else this.#reloadWhenListening.add(worker)
      }
    })
    stopWithSupervisor()
  }

  /**
   * Each process closes gracefully; the supervisor exits once all have. They
   * are told by a message, not the signal again: a signal sent to the whole
   * process group (Ctrl-C in a terminal, a service manager's stop) has
   * reached each of them already, and a second one is close-with-grace's
   * "exit now", which abandons the close. A process already closing ignores
   * the message, and one that reads the message first takes the signal's
   * copy that follows as the same stop (StopRequests).
   */
  stop(signal: NodeJS.Signals): void {
    if (this.#stopping !== undefined) return
    this.#stopping = signal
    for (const timer of this.#restarts) clearTimeout(timer)
    this.#opts.log.info({ signal, processes: this.#workers.size }, 'stopping the gateway processes')
    for (const worker of this.#workers.values()) {
      // One not yet listening may have no handler for the message yet (server.ts sets it up
      // before it listens): the signal itself ends it, as asked.
      if (this.#listening.has(worker) && worker.isConnected()) worker.send({ type: 'btb:stop', signal } satisfies StopMessage)
      else worker.process.kill(signal)
    }
    this.#exitWhenDone()
  }

  #fork(index: number): void {
    const started = Date.now()
    const worker = cluster.fork()
    this.#workers.set(index, worker)
    worker.once('listening', () => {
      this.#listening.add(worker)
      // The trust file it read as it started may have changed since the SIGHUP.
      if (this.#reloadWhenListening.delete(worker)) worker.process.kill('SIGHUP')
    })
    this.#opts.log.info({ index, gatewayPid: worker.process.pid }, 'gateway process started')
    worker.once('exit', (code, signal) => {
      this.#workers.delete(index)
      if (this.#stopping !== undefined) {
        // One still starting has no handler yet: the signal itself ends it, as asked.
        if (code !== 0 && signal !== this.#stopping) this.#failed = true
        this.#exitWhenDone()
        return
      }
      const healthy = Date.now() - started >= this.#opts.healthyAfterMs
      const delay = healthy ? 0 : Math.min(this.#opts.maxRestartDelayMs, Math.max(500, 2 * (this.#delays.get(index) ?? 0)))
      this.#delays.set(index, delay)
      this.#opts.log.error({ index, gatewayPid: worker.process.pid, code, signal, restartInMs: delay }, 'gateway process exited; starting it again')
      const timer = setTimeout(() => {
        this.#restarts.delete(timer)
        this.#fork(index)
      }, delay)
      this.#restarts.add(timer)
    })
  }

  #exitWhenDone(): void {
    if (this.#workers.size > 0) return
    this.#opts.log.info('every gateway process has stopped')
    process.exitCode = this.#failed ? 1 : 0
  }
}
