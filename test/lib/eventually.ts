// Waiting on a condition, not on a timer: no imports, so that light tests can use it.
/**
 * Polls until `check` returns a value (not a fixed sleep: it returns as soon
 * as the condition holds). `what` may be a function, so that a timeout says
 * what was last seen.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  what: string | (() => string) = 'condition'
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
