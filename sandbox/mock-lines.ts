// What the sandbox learns from its mock agencies' output (sandbox/run.ts):
// which mocks are listening, and which messages they were pushed. The
// sandbox waits on these, line by line, where it once slept: a fixed pause
// was too short on a busy machine (a correction's push arrived after
// `--once` had summed up) and needlessly long on an idle one.

/** `[mock US] CBP/ades listening on https://…` (sandbox/mock-agency-process.ts). */
const LISTENING = /^\[mock (?:CA|US)\] \S+ listening on /
/** `[mock US] CBP received entry-exit.record <id> from CA/CBSA/…` (sandbox/mock-agency.ts). */
const RECEIVED = /^\[mock (?:CA|US)\] \S+ received \S+ (\S+) from /

export class MockLines {
  #listening = 0
  readonly #pushed = new Set<string>()
  readonly #waiters = new Set<() => void>()

  /** One line of a mock process's standard output. */
  read(line: string): void {
    if (LISTENING.test(line)) this.#listening++
    else {
      const id = RECEIVED.exec(line)?.[1]
      if (id === undefined) return
      this.#pushed.add(id)
    }
    for (const wake of this.#waiters) wake()
  }

  /** How many mock agency systems have said they listen. */
  get listening(): number {
    return this.#listening
  }

  /** Whether a mock agency has been pushed the message with this id. */
  pushed(id: string): boolean {
    return this.#pushed.has(id)
  }

  /** Resolves true as soon as `condition` holds after a line is read (or already does), false after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (result: boolean): void => {
        clearTimeout(timer)
        this.#waiters.delete(wake)
        resolve(result)
      }
      const wake = (): void => {
        if (condition()) done(true)
      }
      const timer = setTimeout(() => done(false), timeoutMs)
      this.#waiters.add(wake)
    })
  }
}
