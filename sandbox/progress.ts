// Progress of a long job (a border day, a NEXUS roster, the sandbox's sample
// traffic), for the person watching it or for the log that keeps it.
//
// On a terminal: one bar, redrawn in place at most every `redrawMs` (100 ms),
// with count/total, percentage, a smoothed rate, the ETA and the refused and
// failed counts. Anywhere else (a pipe, a CI log, a file): plain lines, with
// no timestamps and no control characters, each time another tenth of the job
// is done or `lineEveryMs` has passed, and one summary line at the end, e.g.
//
//   border-day: 20000/200000 (10%) 1830/s, 0 refused
//   border-day: 200000/200000 in 1m49s (1830/s), 0 refused
//
// It writes to stderr unless told otherwise: stdout stays for a job's result,
// which another program may read.
//
// Written here rather than with cli-progress: the non-terminal output is half
// the point, and cli-progress's non-TTY mode reprints the bar's own format on
// a timer instead of milestone lines; its rate and smoothing would have to be
// computed here anyway, and its render loop is a timer that holds the process
// open until stopped. What is left — one line, `\r` and clear-to-end — is
// less code than configuring it.

export interface ProgressStream {
  write(chunk: string): unknown
  readonly isTTY?: boolean
  readonly columns?: number
}

export interface ProgressOptions {
  /** Names the job at the start of every line. */
  readonly label: string
  /** Items the job will process, if known (no bar, percentage or ETA without it). */
  readonly total?: number
  /** Default process.stderr. */
  readonly stream?: ProgressStream
  /** Terminal or not; default `stream.isTTY === true`. */
  readonly tty?: boolean
  /** Milliseconds, for tests; default performance.now. */
  readonly clock?: () => number
  /** Terminal: fewest milliseconds between two redraws (default 100, ~10 a second). */
  readonly redrawMs?: number
  /** Not a terminal: a line each time this share of the total is passed (default 0.1). */
  readonly lineEveryFraction?: number
  /** Not a terminal: a line at least this often while running, stalled or not (default 10 000 ms). */
  readonly lineEveryMs?: number
  /** The rate is the average over this trailing window (default 5000 ms), so it follows the job's current pace. */
  readonly rateWindowMs?: number
  /** How often a stalled job is redrawn or checked for a due line; 0 for none (default 1000 ms). */
  readonly heartbeatMs?: number
}

export type Outcome = 'ok' | 'refused' | 'failed'

export interface ProgressSnapshot {
  readonly done: number
  readonly refused: number
  readonly failed: number
  readonly total: number | undefined
  readonly elapsedMs: number
  /** Items per second over the trailing window. */
  readonly rate: number
  /** Items per second since the start. */
  readonly averageRate: number
}

const CLEAR_TO_END = '\x1b[K'
const BAR_FULL = '█'
const BAR_EMPTY = '░'

export class Progress {
  readonly label: string
  readonly total: number | undefined
  readonly #stream: ProgressStream
  readonly #tty: boolean
  readonly #clock: () => number
  readonly #redrawMs: number
  readonly #lineEveryFraction: number
  readonly #lineEveryMs: number
  readonly #rateWindowMs: number
  readonly #startedAt: number
  readonly #samples: Array<{ at: number; done: number }> = []
  #done = 0
  #refused = 0
  #failed = 0
  #lastDrawAt = Number.NEGATIVE_INFINITY
  #lastLineAt: number
  #lastMilestone = 0
  #drawn = false
  #finished = false
  readonly #heartbeat: NodeJS.Timeout | undefined

  constructor(opts: ProgressOptions) {
    this.label = opts.label
    this.total = opts.total !== undefined && opts.total > 0 ? opts.total : undefined
    this.#stream = opts.stream ?? process.stderr
    this.#tty = opts.tty ?? this.#stream.isTTY === true
    this.#clock = opts.clock ?? (() => performance.now())
    this.#redrawMs = opts.redrawMs ?? 100
    this.#lineEveryFraction = opts.lineEveryFraction ?? 0.1
    this.#lineEveryMs = opts.lineEveryMs ?? 10_000
    this.#rateWindowMs = opts.rateWindowMs ?? 5_000
    this.#startedAt = this.#clock()
    this.#lastLineAt = this.#startedAt
    this.#samples.push({ at: this.#startedAt, done: 0 })
    const heartbeatMs = opts.heartbeatMs ?? 1_000
    if (heartbeatMs > 0) {
      // A stalled job must still show its rate falling (terminal) or that it is alive (log).
      this.#heartbeat = setInterval(() => this.#refresh(true), heartbeatMs)
      this.#heartbeat.unref()
    }
  }

  /** Counts `n` more items processed, with their outcome. */
  tick(n = 1, outcome: Outcome = 'ok'): void {
    if (this.#finished) return
    this.#done += n
    if (outcome === 'refused') this.#refused += n
    else if (outcome === 'failed') this.#failed += n
    this.#refresh(false)
  }

  snapshot(): ProgressSnapshot {
    const now = this.#clock()
    const elapsedMs = now - this.#startedAt
    return {
      done: this.#done,
      refused: this.#refused,
      failed: this.#failed,
      total: this.total,
      elapsedMs,
      rate: this.#rate(now),
      averageRate: elapsedMs > 0 ? (this.#done * 1000) / elapsedMs : 0
    }
  }

  /**
   * Writes a line of the job's own output (default to stdout) without tearing
   * the bar: the bar is cleared first and redrawn after.
   */
  log(line: string, to: ProgressStream = process.stdout): void {
    if (this.#tty && this.#drawn && !this.#finished) {
      this.#stream.write(`\r${CLEAR_TO_END}`)
      to.write(`${line}\n`)
      this.#draw(this.#clock())
      return
    }
    to.write(`${line}\n`)
  }

  /** Writes the summary line (the bar gives way to it) and stops; returns the line. */
  finish(note?: string): string {
    if (this.#finished) return ''
    const now = this.#clock()
    this.#finished = true
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    const s = this.snapshot()
    const count = this.total !== undefined ? `${s.done}/${this.total}` : String(s.done)
    const line = `${this.label}: ${note !== undefined ? `${note} at ` : ''}${count} in ${formatDuration(now - this.#startedAt)} (${formatRate(s.averageRate)}/s)${this.#outcomes(', ')}`
    this.#stream.write(this.#tty ? `\r${CLEAR_TO_END}${line}\n` : `${line}\n`)
    return line
  }

  #refresh(heartbeat: boolean): void {
    if (this.#finished) return
    const now = this.#clock()
    this.#sample(now)
    if (this.#tty) {
      if (now - this.#lastDrawAt >= this.#redrawMs) this.#draw(now)
      return
    }
    let due = heartbeat ? false : this.#passedMilestone()
    if (now - this.#lastLineAt >= this.#lineEveryMs) due = true
    if (due && !(this.total !== undefined && this.#done >= this.total)) this.#line(now)
  }

  #passedMilestone(): boolean {
    if (this.total === undefined) return false
    const milestone = Math.floor(this.#done / (this.total * this.#lineEveryFraction))
    if (milestone <= this.#lastMilestone) return false
    this.#lastMilestone = milestone
    return true
  }

  #sample(now: number): void {
    const last = this.#samples[this.#samples.length - 1]!
    // One sample per 100 ms is plenty for a 5 s window, and keeps the array short at 100k ticks/s.
    if (now - last.at >= 100) this.#samples.push({ at: now, done: this.#done })
    while (this.#samples.length > 2 && now - this.#samples[1]!.at >= this.#rateWindowMs) this.#samples.shift()
  }

  #rate(now: number): number {
    const oldest = this.#samples[0]!
    const span = now - oldest.at
    if (span <= 0) return 0
    return ((this.#done - oldest.done) * 1000) / span
  }

  #line(now: number): void {
    this.#lastLineAt = now
    const count = this.total !== undefined ? `${this.#done}/${this.total} (${Math.floor((this.#done / this.total) * 100)}%)` : String(this.#done)
    this.#stream.write(`${this.label}: ${count} ${formatRate(this.#rate(now))}/s${this.#outcomes(', ')}\n`)
  }

  #draw(now: number): void {
    this.#lastDrawAt = now
    this.#drawn = true
    const rate = this.#rate(now)
    const parts: string[] = []
    if (this.total !== undefined) {
      const share = Math.min(1, this.#done / this.total)
      parts.push(`${this.#done}/${this.total}`, `${Math.floor(share * 100)}%`)
    } else {
      parts.push(String(this.#done))
    }
    parts.push(`${formatRate(rate)}/s`)
    if (this.total !== undefined) {
      const left = this.total - this.#done
      parts.push(`eta ${rate > 0 ? formatDuration((left / rate) * 1000, false) : '--'}`)
    }
    const tail = `${parts.join(' ')}${this.#outcomes(' ')}`
    const columns = this.#stream.columns ?? 80
    // The cursor must not reach the last column, or the terminal wraps and `\r` redraws on a new line.
    const room = columns - 1 - this.label.length - tail.length - 2
    let line = `${this.label} ${tail}`
    if (this.total !== undefined && room >= 10) {
      const width = Math.min(40, room)
      const filled = Math.round(Math.min(1, this.#done / this.total) * width)
      line = `${this.label} ${BAR_FULL.repeat(filled)}${BAR_EMPTY.repeat(width - filled)} ${tail}`
    }
    if (line.length > columns - 1) line = line.slice(0, Math.max(0, columns - 1))
    this.#stream.write(`\r${line}${CLEAR_TO_END}`)
  }

  #outcomes(sep: string): string {
    return `${sep}${this.#refused} refused${this.#failed > 0 ? `${sep}${this.#failed} failed` : ''}`
  }
}

/** `1830`, `12.5`, `0.3`: whole numbers once there is enough to count. */
export function formatRate(perSecond: number): string {
  if (perSecond >= 100) return String(Math.round(perSecond))
  return perSecond.toFixed(1).replace(/\.0$/, '')
}

/** `850ms`, `12.3s`, `1m49s`, `2h05m`; `precise` keeps tenths of seconds under a minute. */
export function formatDuration(ms: number, precise = true): string {
  if (!Number.isFinite(ms) || ms < 0) return '--'
  if (ms < 1000 && precise) return `${Math.round(ms)}ms`
  const seconds = ms / 1000
  if (seconds < 60) return precise ? `${seconds.toFixed(1)}s` : `${Math.ceil(seconds)}s`
  const whole = Math.round(seconds)
  const h = Math.floor(whole / 3600)
  const m = Math.floor((whole % 3600) / 60)
  const s = whole % 60
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`
}
