// JSON text the way a hostile or careless signer could write it. JSON.stringify
// can only write well-formed, duplicate-free, round-trippable text, and the
// inputs that split parsers (RFC 7493: duplicate names, lone surrogates,
// numbers no double holds, a BOM) are exactly the ones it cannot write. So the
// fuzzer builds a value, marks where it wants raw text, and writes it here.

/** A value written as this exact JSON text (e.g. `1e400`, `"A\ud800"`). */
export class RawJson {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

/** Members written into an object as raw text, after (or before) its own. */
export const EXTRA_MEMBERS: unique symbol = Symbol('extra members')

export interface ExtraMember {
  /** The member name as JSON text, quotes included: `"id"`, `"\u0069d"`. */
  readonly name: string
  /** The value as JSON text. */
  readonly value: string
  readonly first?: boolean
}

export type Marked = Record<string | symbol, unknown> & { [EXTRA_MEMBERS]?: ExtraMember[] }

export interface TextStyle {
  /** Spaces per level (0: compact). Whitespace between tokens is legal JSON. */
  readonly indent: number
  /** Members in reverse order: order carries no meaning in JSON. */
  readonly reverse: boolean
}

export const COMPACT: TextStyle = { indent: 0, reverse: false }

export function addExtraMember(target: object, member: ExtraMember): void {
  const marked = target as Marked
  ;(marked[EXTRA_MEMBERS] ??= []).push(member)
}

/** Whether a value holds raw text or extra members anywhere (else JSON.stringify writes it, much faster). */
export function isMarked(value: unknown): boolean {
  if (value instanceof RawJson) return true
  if (value === null || typeof value !== 'object') return false
  if (Array.isArray(value)) return value.some(isMarked)
  if ((value as Marked)[EXTRA_MEMBERS] !== undefined) return true
  for (const k in value) if (isMarked((value as Record<string, unknown>)[k])) return true
  return false
}

export function writeJson(value: unknown, style: TextStyle = COMPACT, depth = 0): string {
  if (depth === 0 && !style.reverse && !isMarked(value)) return JSON.stringify(value, null, style.indent) ?? 'null'
  if (value instanceof RawJson) return value.text
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  const nl = style.indent > 0 ? `\n${' '.repeat(style.indent * (depth + 1))}` : ''
  const end = style.indent > 0 ? `\n${' '.repeat(style.indent * depth)}` : ''
  const colon = style.indent > 0 ? ': ' : ':'
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    return `[${value.map((v) => nl + writeJson(v, style, depth + 1)).join(',')}${end}]`
  }
  const marked = value as Marked
  let members = Object.keys(marked).map((k) => `${JSON.stringify(k)}${colon}${writeJson(marked[k], style, depth + 1)}`)
  if (style.reverse) members.reverse()
  const extra = marked[EXTRA_MEMBERS] ?? []
  members = [
    ...extra.filter((m) => m.first === true).map((m) => `${m.name}${colon}${m.value}`),
    ...members,
    ...extra.filter((m) => m.first !== true).map((m) => `${m.name}${colon}${m.value}`)
  ]
  if (members.length === 0) return '{}'
  return `{${members.map((m) => nl + m).join(',')}${end}}`
}
