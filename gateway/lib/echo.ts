// What a refusal may quote back of the caller's input. A problem document
// names the value it refused so an integrator can find it, but never more than
// a short, printable prefix: an unbounded echo turns a 1 MB `kind` into a 1 MB
// answer (an amplification), and raw control characters would reach logs and
// terminals as they were sent.

/** The longest piece of caller input a refusal quotes, in characters. */
export const ECHO_MAX = 64

/** A JSON string literal of at most ECHO_MAX characters of `value`, marked when cut. */
export function echo(value: unknown): string {
  const text = typeof value === 'string' ? value : jsonText(value)
  const cut = text.length > ECHO_MAX
  // Keep whole code points: a cut inside a surrogate pair would be a lone surrogate.
  const kept = cut
    ? Array.from(text.slice(0, ECHO_MAX + 1))
        .slice(0, ECHO_MAX)
        .join('')
        .slice(0, ECHO_MAX)
    : text
  return `${JSON.stringify(kept.isWellFormed() ? kept : kept.toWellFormed())}${cut ? `… (${text.length} characters)` : ''}`
}

/**
 * Any value's JSON text, or what it is when it has none. Input is parsed
 * without a bound on its nesting (lib/i-json.ts), and JSON.stringify recurses:
 * a header's `alg` nested ten thousand arrays deep overflows the stack, and a
 * refusal must not become a 500 for it.
 */
function jsonText(value: unknown): string {
  try {
    return String(JSON.stringify(value) ?? value)
  } catch {
    return Array.isArray(value) ? '[an array nested too deep to show]' : '{an object nested too deep to show}'
  }
}
