// I-JSON (RFC 7493): the subset of JSON that every conforming parser reads
// the same way. A signed record must mean one thing to the gateway, to the
// partner gateway and to whoever audits it later, whatever parser each uses;
// text outside the subset is refused rather than given our parser's reading.
//
// Native JSON.parse builds the value (it also enforces the RFC 8259 grammar),
// then one linear pass over the same text checks what JSON.parse cannot see:
// it keeps the last of duplicate names, silently, and has already rounded
// every number by the time the value exists.
//
// Where a member name is written with an escape, the value JSON.parse built
// is not trusted: V8 (Node 24 and later lines) can read such a name as "\\"
// once an earlier text held a member named "\\" after the same preceding
// names (nodejs/node#63785; docs/architecture.md, "Runtime"). An agency could
// send that name first and have later messages misread. Those texts are read
// again by readValue below, which builds objects by plain assignment and
// decodes escapes itself.

export type IJsonErrorCode =
  | 'NOT_UTF8'
  | 'SYNTAX'
  | 'BYTE_ORDER_MARK'
  | 'DUPLICATE_MEMBER'
  | 'LONE_SURROGATE'
  | 'NONCHARACTER'
  | 'NUMBER_NOT_EXACT'
  | 'PROTOTYPE_KEY'

/**
 * Why a text is not I-JSON. `offset` counts UTF-16 code units into the
 * decoded text (not bytes); -1 when unknown.
 */
export class IJsonError extends Error {
  readonly code: IJsonErrorCode
  readonly offset: number

  constructor(code: IJsonErrorCode, message: string, offset: number) {
    super(message)
    this.name = 'IJsonError'
    this.code = code
    this.offset = offset
  }
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const MINUS = 0x2d
const DIGIT_0 = 0x30
const DIGIT_9 = 0x39
const LOWER_E = 0x65
const UPPER_E = 0x45
const LOWER_U = 0x75
const PLUS = 0x2b
const POINT = 0x2e

// Fatal: RFC 7493 §2.1 requires UTF-8, and a lossy decode would accept text
// other than the bytes that were signed. ignoreBOM keeps a leading BOM in the
// text so it is refused below rather than silently dropped. Shared: a
// non-streaming decode() keeps no state between calls.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Parses I-JSON from UTF-8 bytes or throws IJsonError: for signed payloads and
 * for the JWS protected header once base64url-decoded. RFC 7515 §4 lets a JWS
 * parser either reject duplicate header names or keep the lexically last; jose
 * keeps the last (plain JSON.parse, after a decode that drops a BOM).
 */
export function parseIJsonBytes(bytes: Uint8Array): unknown {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new IJsonError('NOT_UTF8', 'not UTF-8 (RFC 7493 §2.1)', -1)
  }
  // A fatal decode never yields a lone surrogate: no isWellFormed pass here.
  return parseWellFormed(text)
}

/** Parses I-JSON text that is already a string, or throws IJsonError. */
export function parseIJson(text: string): unknown {
  // RFC 7493 §2.1: the text must be valid Unicode. A JavaScript string can
  // hold a raw lone surrogate that no UTF-8 text can; JSON.parse keeps it.
  if (!text.isWellFormed()) {
    const at = firstLoneSurrogate(text)
    throw new IJsonError('LONE_SURROGATE', `lone surrogate at position ${at} (RFC 7493 §2.1)`, at)
  }
  return parseWellFormed(text)
}

function parseWellFormed(text: string): unknown {
  // RFC 8259 §8.1: a BOM must not be added and a parser may ignore one. That
  // "may" is the ambiguity: refuse it so no reader has to choose.
  if (text.charCodeAt(0) === 0xfeff) throw new IJsonError('BYTE_ORDER_MARK', 'starts with a byte order mark (RFC 8259 §8.1)', 0)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new IJsonError('SYNTAX', syntaxDetail(err), positionOf(err))
  }
  const escapedName = checkIJson(text)
  // Raw ones; checkEscape refuses the escaped. Only strings can hold them,
  // in text JSON.parse accepted.
  const at = text.search(NONCHARACTER)
  if (at !== -1) throw noncharacterAt(at)
  return escapedName ? readValue(text) : value
}

/**
 * RFC 7493 §2.1: names and strings hold no noncharacter, U+FDD0 to U+FDEF
 * and the last two code points of every plane (U+FFFE, U+FFFF, U+1FFFE …
 * U+10FFFF). They are for a program's own use: another reader may drop or
 * replace one, or refuse the text (XML 1.0 has no U+FFFE or U+FFFF), and
 * read another name than the one signed. As UTF-16 code units, without the
 * `u` flag: a scan of the units is several times faster on a two-byte string
 * than one of code points, and nothing on a one-byte string.
 */
const NONCHARACTER =
  /[\uFDD0-\uFDEF\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/

function noncharacterAt(at: number): IJsonError {
  return new IJsonError('NONCHARACTER', `noncharacter at position ${at} (RFC 7493 §2.1)`, at)
}

/**
 * The single pass. It runs only on text JSON.parse accepted, so it tracks just
 * enough state (open containers, member names so far, whether the next string
 * is a name) and never has to report a grammar error itself. Returns whether
 * any member name was written with an escape.
 */
function checkIJson(text: string): boolean {
  const length = text.length
  // The names of every open object, outer objects first: the innermost
  // object's names are names[base[depth - 1]] up to names[top - 1]. One
  // shared stack, because allocating per object cost more than the checks.
  const names: string[] = []
  let top = 0
  // Per open container: where its names start, or -1 for an array.
  const base: number[] = []
  // Per open object, a Set once it has many names (linear search below that).
  const sets: Array<Set<string> | null> = []
  // Per open object: whether it is the value of a `constructor` member.
  const constructorFrame: boolean[] = []
  let depth = 0
  let expectName = false
  let lastName = ''
  let escapedName = false
  // For long strings: the next backslash at or after the search position, -1
  // when none is left, stale when behind it. Backslashes occur only in
  // strings and the position only moves forward, so the searches stay linear
  // over the whole text. Not searched up front: Node 24's optimising compiler
  // re-ran such an up-front indexOf at every string, making the pass quadratic.
  let backslash = 0
  // The same for the next quote: searched again only once passed, or a long
  // string with many escapes would be rescanned to its end at each one.
  let quote = 0
  let i = 0
  while (i < length) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      // Walked: names and most values are short, where a walk beats calls to
      // indexOf, and it meets every escape on the way. A long string is
      // handed to indexOf, which is several times faster per character.
      let end = i + 1
      let escaped = false
      for (;;) {
        const d = text.charCodeAt(end)
        if (d === QUOTE) break
        if (d === BACKSLASH) {
          escaped = true
          end = checkEscape(text, end)
        } else if (end - i < SHORT_STRING) {
          end++
        } else {
          for (;;) {
            if (quote < end) quote = text.indexOf('"', end)
            if (backslash !== -1 && backslash < end) backslash = text.indexOf('\\', end)
            if (backslash === -1 || backslash > quote) {
              end = quote
              break
            }
            escaped = true
            end = checkEscape(text, backslash)
          }
          break
        }
      }
      if (expectName) {
        const name = escaped ? decodeString(text, i + 1, end) : text.slice(i + 1, end)
        escapedName ||= escaped
        // RFC 7493 §2.3: names within an object must be unique; RFC 8259 §4
        // leaves the reading of duplicates unpredictable (first, last, error).
        // Compared decoded, so "a" and "\u0061" are the same name.
        const from = base[depth - 1]!
        let duplicate = false
        if (top - from < MANY_NAMES) {
          for (let k = from; k < top; k++) {
            if (names[k] === name) {
              duplicate = true
              break
            }
          }
        } else {
          let set = sets[depth - 1]
          if (set == null) sets[depth - 1] = set = new Set(names.slice(from, top))
          duplicate = set.has(name)
          set.add(name)
        }
        if (duplicate) throw new IJsonError('DUPLICATE_MEMBER', `duplicate member name ${quoteName(name)} at position ${i} (RFC 7493 §2.3)`, i)
        names[top++] = name
        // Not an I-JSON rule: a JavaScript consumer merging or copying the
        // value would write to a prototype (docs/architecture.md, "Runtime").
        if (name === '__proto__' || (name === 'prototype' && constructorFrame[depth - 1] === true)) {
          throw new IJsonError('PROTOTYPE_KEY', `member name ${quoteName(name)} is not allowed (prototype pollution)`, i)
        }
        lastName = name
        expectName = false
      }
      i = end + 1
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      const start = i
      let digits = 0
      let exponent = false
      for (; i < length; i++) {
        const d = text.charCodeAt(i)
        if (d >= DIGIT_0 && d <= DIGIT_9) digits++
        else if (d === LOWER_E || d === UPPER_E) exponent = true
        // '-', '+' and '.' are the only other characters of a number token.
        else if (d !== MINUS && d !== PLUS && d !== POINT) break
      }
      // Up to 15 digits and no exponent: a decimal of at most 15 significant
      // digits between 1e-15 and 1e15, which a double holds to the digit
      // (DBL_DIG = 15), so it is its own shortest round-trip form.
      if (exponent || digits > 15) checkNumber(text, start, i)
    } else if (c === OPEN_BRACE) {
      constructorFrame[depth] = depth > 0 && base[depth - 1]! >= 0 && lastName === 'constructor'
      sets[depth] = null
      base[depth++] = top
      expectName = true
      i++
    } else if (c === OPEN_BRACKET) {
      base[depth++] = -1
      i++
    } else if (c === COMMA) {
      expectName = base[depth - 1]! >= 0
      i++
    } else if (c === CLOSE_BRACE) {
      top = base[--depth]!
      sets[depth] = null
      expectName = false
      i++
    } else if (c === CLOSE_BRACKET) {
      depth--
      expectName = false
      i++
    } else {
      // Whitespace, the colon and the letters of true/false/null.
      if (c === COLON) expectName = false
      i++
    }
  }
  return escapedName
}

/**
 * Builds the value of a text JSON.parse accepted and checkIJson passed, with
 * no help from the engine's JSON parser (see the note at the top). Iterative,
 * so a deeply nested text cannot exhaust the stack here when JSON.parse did
 * not. Duplicate and prototype names were refused already, so a plain
 * assignment creates each member as JSON.parse would.
 */
function readValue(text: string): unknown {
  const open: Array<unknown[] | Record<string, unknown>> = []
  let name: string | undefined
  let root: unknown
  const put = (value: unknown): void => {
    const into = open[open.length - 1]
    if (into === undefined) root = value
    else if (Array.isArray(into)) into.push(value)
    else into[name!] = value
  }
  let expectName = false
  let i = 0
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      let end = i + 1
      let escaped = false
      while (text.charCodeAt(end) !== QUOTE) {
        if (text.charCodeAt(end) === BACKSLASH) {
          escaped = true
          end += 2
        } else end++
      }
      const s = escaped ? decodeString(text, i + 1, end) : text.slice(i + 1, end)
      if (expectName) {
        name = s
        expectName = false
      } else put(s)
      i = end + 1
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const container = c === OPEN_BRACE ? {} : []
      put(container)
      open.push(container)
      expectName = c === OPEN_BRACE
      i++
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      open.pop()
      i++
    } else if (c === COMMA) {
      expectName = !Array.isArray(open[open.length - 1])
      i++
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      const start = i
      while (i < text.length && NUMBER_CHARS.includes(text[i]!)) i++
      put(Number(text.slice(start, i)))
    } else if (c === 0x74 /* t */) {
      put(true)
      i += 4
    } else if (c === 0x66 /* f */) {
      put(false)
      i += 5
    } else if (c === 0x6e /* n */) {
      put(null)
      i += 4
    } else i++ // whitespace and the colon
  }
  return root
}

const NUMBER_CHARS = '0123456789+-.eE'
const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }

/** The characters a JSON string's text between `from` and `to` stands for. */
function decodeString(text: string, from: number, to: number): string {
  let out = ''
  let run = from
  for (let k = from; k < to; k++) {
    if (text.charCodeAt(k) !== BACKSLASH) continue
    out += text.slice(run, k)
    const letter = text[k + 1]!
    if (letter === 'u') {
      out += String.fromCharCode(hex4(text, k + 2))
      k += 5
    } else {
      out += SIMPLE_ESCAPES[letter]
      k += 1
    }
    run = k + 1
  }
  return out + text.slice(run, to)
}

// Below this many names a linear search beats hashing freshly sliced strings.
const MANY_NAMES = 8
// Characters walked before a string is handed to indexOf.
const SHORT_STRING = 32

/**
 * Checks the escape at `at` (a backslash) and returns the index after it.
 * RFC 8259 §8.2 allows "\ud800" in the grammar but leaves its reading
 * unpredictable; RFC 7493 §2.1 forbids it, and a noncharacter (NONCHARACTER)
 * written as an escape. Raw surrogates were ruled out (fatal decode or
 * isWellFormed), so only escapes can pair badly.
 */
function checkEscape(text: string, at: number): number {
  if (text.charCodeAt(at + 1) !== LOWER_U) return at + 2
  const unit = hex4(text, at + 2)
  if (unit < 0xd800 || unit > 0xdfff) {
    if ((unit >= 0xfdd0 && unit <= 0xfdef) || unit >= 0xfffe) throw noncharacterAt(at)
    return at + 6
  }
  if (unit <= 0xdbff && text.charCodeAt(at + 6) === BACKSLASH && text.charCodeAt(at + 7) === LOWER_U) {
    const low = hex4(text, at + 8)
    if (low >= 0xdc00 && low <= 0xdfff) {
      // U+xFFFE and U+xFFFF of the planes above the first: the pair's high
      // unit ends in six one bits, its low unit is U+DFFE or U+DFFF.
      if ((unit & 0x3f) === 0x3f && low >= 0xdffe) throw noncharacterAt(at)
      return at + 12
    }
  }
  throw new IJsonError('LONE_SURROGATE', `escaped lone surrogate at position ${at} (RFC 7493 §2.1)`, at)
}

function hex4(text: string, at: number): number {
  let value = 0
  for (let k = at; k < at + 4; k++) {
    const c = text.charCodeAt(k) | 0x20 // folds A-F onto a-f; digits are unchanged
    value = value * 16 + (c <= DIGIT_9 ? c - DIGIT_0 : c - 0x57)
  }
  return value
}

/**
 * RFC 7493 §2.2: numbers must not claim more magnitude or precision than an
 * IEEE 754 double has, or two parsers (double, decimal, bigint) read two
 * values. The test: the text, as a decimal, is exactly the decimal of the
 * double's shortest round-trip form (what String(n) prints). 0.1 passes (it is
 * the shortest form of its double); 0.10000000000000001, 1e400, 1e-400 and
 * 9007199254740993 do not.
 */
function checkNumber(text: string, start: number, end: number): void {
  const token = text.slice(start, end)
  const n = Number(token)
  // Producers that print doubles as JavaScript does write exactly this form.
  if (String(n) === token) return
  const written = decimal(token)
  // Zero, whatever its sign and exponent, is exact.
  if (written === '') return
  if (Number.isFinite(n) && n !== 0 && decimal(String(n)) === written) return
  throw new IJsonError('NUMBER_NOT_EXACT', `number at position ${start} is not exactly a double (RFC 7493 §2.2)`, start)
}

/**
 * A number token (or String(n)) as "digits e exponent", digits without
 * leading or trailing zeros; '' for zero. The sign is left out: Number() keeps it.
 */
function decimal(token: string): string {
  const length = token.length
  let e = length
  for (let k = 0; k < length; k++) {
    if ((token.charCodeAt(k) | 0x20) === LOWER_E) {
      e = k
      break
    }
  }
  const sign = token.charCodeAt(0) === MINUS ? 1 : 0
  const point = token.indexOf('.')
  const hasFraction = point !== -1 && point < e
  const digits = hasFraction ? token.slice(sign, point) + token.slice(point + 1, e) : token.slice(sign, e)
  // Number() reads a signed exponent ("+21", "-07"); exponents long enough to
  // lose precision here only occur in tokens that overflowed or underflowed.
  let exponent = (e < length ? Number(token.slice(e + 1)) : 0) - (hasFraction ? e - point - 1 : 0)
  let first = 0
  while (first < digits.length && digits.charCodeAt(first) === DIGIT_0) first++
  let last = digits.length
  while (last > first && digits.charCodeAt(last - 1) === DIGIT_0) last--
  if (first === last) return ''
  exponent += digits.length - last
  return `${digits.slice(first, last)}e${exponent}`
}

function quoteName(name: string): string {
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 37)}...` : name)
}

function firstLoneSurrogate(text: string): number {
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k)
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(k + 1)
      if (next >= 0xdc00 && next <= 0xdfff) k++
      else return k
    } else if (c >= 0xdc00 && c <= 0xdfff) return k
  }
  return -1
}

// V8 quotes the start of the offending text in its message ('"{x" is not
// valid JSON'); the payload is not ours to echo into problem documents or logs.
/** What JSON.parse said of text that is not JSON, without the piece of the text V8 quotes: the text is not ours to echo. */
export function syntaxDetail(err: unknown): string {
  const message = err instanceof Error ? err.message.replace(/, (?:\.\.\.)?".*is not valid JSON$/s, '') : 'unreadable'
  return `not valid JSON (RFC 8259): ${message}`
}

function positionOf(err: unknown): number {
  const m = err instanceof Error ? /at position (\d+)/.exec(err.message) : null
  return m === null ? -1 : Number(m[1])
}
