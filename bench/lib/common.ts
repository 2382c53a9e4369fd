// What every benchmark shares: the --quick switch, a teardown list (the shape
// test/helper.ts expects), percentiles and the result format run.ts prints.

export interface BenchOptions {
  /** Small sizes: the whole suite in a few minutes, its figures rough. */
  readonly quick: boolean
  /**
   * Smaller still, and implies `quick`: only that every bench runs and
   * computes every figure, which CI checks (test/bench-smoke.test.ts); its
   * figures say nothing about speed.
   */
  readonly smoke: boolean
  /** Progress lines (stderr), so a long run shows where it is. */
  readonly log: (line: string) => void
}

/** One reported figure: always beside the baseline measured in the same run. */
export interface Figure {
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly baseline?: { readonly name: string; readonly value: number; readonly unit: string }
  /** value / baseline (or the ratio the figure is, when the figure itself is a ratio). */
  readonly ratio?: number
  /** The target of docs/architecture.md, "Targets", as text. */
  readonly target?: string
  readonly met?: boolean
  /** Shown beside the figure: latencies, settings. */
  readonly extra?: string
}

export interface BenchResult {
  readonly bench: string
  readonly figures: Figure[]
  readonly notes: string[]
  /** Absolute numbers and settings, for results/latest.json. */
  readonly details: Record<string, unknown>
}

export function benchOptions(argv: readonly string[] = process.argv): BenchOptions {
  const smoke = argv.includes('--smoke')
  return { quick: smoke || argv.includes('--quick'), smoke, log: (line) => process.stderr.write(`  ${line}\n`) }
}

/**
 * Collects clean-ups the way tap's `t.teardown` does, so test/helper.ts's
 * startGateway and startExchange can be used as they are; runs them last-first.
 */
export class Teardowns {
  readonly #fns: Array<() => unknown> = []

  teardown(fn: () => unknown): void {
    this.#fns.push(fn)
  }

  async run(): Promise<void> {
    const errors: unknown[] = []
    while (this.#fns.length > 0) {
      const fn = this.#fns.pop()!
      try {
        await fn()
      } catch (err) {
        errors.push(err)
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'teardown failed')
  }
}

/** Runs `work` with a fresh teardown list and always empties it. */
export async function withTeardowns<T>(work: (t: Teardowns) => Promise<T>): Promise<T> {
  const t = new Teardowns()
  try {
    return await work(t)
  } finally {
    await t.run()
  }
}

/** Nearest-rank percentile of an unsorted sample (p in 0..100). */
export function percentile(sample: ArrayLike<number>, p: number): number {
  if (sample.length === 0) return Number.NaN
  const sorted = Float64Array.from(sample).sort()
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** A figure rounded to a whole number, its thousands separated: "1,257". */
export function whole(value: number): string {
  return Math.round(value).toLocaleString('en')
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Epoch milliseconds with sub-millisecond precision, comparable across threads. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now()
}
