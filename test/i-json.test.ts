import { deepStrictEqual } from 'node:assert'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { IJsonError, parseIJson, parseIJsonBytes, type IJsonErrorCode } from '../gateway/lib/i-json.ts'
import { parseSignedJson } from '../gateway/lib/safe-json.ts'
import { PayloadUnsafeError } from '../gateway/errors.ts'

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

function refusal(text: string): IJsonError {
  try {
    parseIJson(text)
  } catch (err) {
    if (err instanceof IJsonError) return err
    throw err
  }
  throw new Error(`accepted: ${text}`)
}

function refuses(t: Test, text: string, code: IJsonErrorCode, what = text): void {
  t.throws(() => parseIJson(text), { name: 'IJsonError', code }, `${what}: ${code}`)
}

function accepts(t: Test, text: string, what = text): void {
  let value: unknown
  t.doesNotThrow(() => {
    value = parseIJson(text)
  }, `${what}: accepted`)
  // node:assert rather than t.strictSame, which reads an own "constructor"
  // member as the object's class.
  t.doesNotThrow(() => deepStrictEqual(value, JSON.parse(text)), `${what}: the value JSON.parse gives`)
}

// Would a JavaScript merge of the value write to a prototype? Such values are
// refused on purpose, so the no-false-refusal properties leave them out.
function pollutes(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(pollutes)
  if (value === null || typeof value !== 'object') return false
  if (Object.hasOwn(value, '__proto__')) return true
  const ctor = (value as Record<string, unknown>).constructor
  if (Object.hasOwn(value, 'constructor') && ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return true
  return Object.values(value).some(pollutes)
}

t.test('accepts plain JSON and gives the value JSON.parse gives', async (t) => {
  for (const text of [
    '{}',
    '[]',
    '{"a":{}}',
    '[[],{},[{}]]',
    ' { "a" : [ 1 , 2 ] } ',
    '"x"',
    '0',
    '-1',
    'true',
    'false',
    'null',
    '{"records":[{"id":"T-1","surname":"Côté","port":453,"lat":45.50884,"items":[{"code":"A","declared":true}]}],"next":null}'
  ]) {
    accepts(t, text)
  }
})

t.test('refuses duplicate member names, also when written with escapes', async (t) => {
  refuses(t, '{"a":1,"a":2}', 'DUPLICATE_MEMBER')
  refuses(t, '{"a":1,"\\u0061":2}', 'DUPLICATE_MEMBER')
  refuses(t, '{"\\u00e9":1,"é":2}', 'DUPLICATE_MEMBER')
  refuses(t, '{"\\n":1,"\\u000a":2}', 'DUPLICATE_MEMBER')
  refuses(t, '{"a":1,"b":2,"a":{}}', 'DUPLICATE_MEMBER')
  refuses(t, '{"😀":1,"\\ud83d\\ude00":2}', 'DUPLICATE_MEMBER', 'an emoji written raw and as an escaped pair')
  const err = refusal('{"id":1,"id":2}')
  t.equal(err.message, 'duplicate member name "id" at position 8 (RFC 7493 §2.3)', 'the detail names the member and where')
  t.equal(err.offset, 8)
})

// V8 can read an escaped member name as "\\" once it has parsed a member
// named "\\" after the same preceding names (docs/architecture.md, "Runtime").
// Run in a child process, so the poisoned engine state is that process's alone.
t.test("an escaped member name keeps its meaning after a text that poisons the engine's name cache", async (t) => {
  const script = fileURLToPath(new URL('lib/i-json-poisoned.ts', import.meta.url))
  const seen = JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8' })) as Record<string, unknown>
  t.same(seen.engine, ['p1', '\\'], 'the engine itself misreads "\\u0061" (when this fails, V8 is fixed and readValue can go)')
  t.same(seen.keys, ['p2', 'a'], '"\\u0061" is read as "a"')
  t.same(seen.quoteKey, ['p3', '"'], 'an escaped quote is read as a quote')
  t.same(seen.nested, { p4: { '\n': [{ '\t': 0, x: 'a\u00e9\\b' }], n: 1500, z: [true, false, null] } }, 'a whole value, read without the engine')
  t.equal(seen.duplicate, 'DUPLICATE_MEMBER', '"a" and "\\u0061" are still the same name')
})

t.test('refuses duplicate member names at any depth, in objects inside arrays too', async (t) => {
  refuses(t, '{"a":{"b":{"c":1,"c":2}}}', 'DUPLICATE_MEMBER')
  refuses(t, '[1,[{"x":1},{"y":1,"y":2}]]', 'DUPLICATE_MEMBER')
  refuses(t, '{"a":[{"b":1}],"a":2}', 'DUPLICATE_MEMBER', 'a duplicate after a nested container closes')
  refuses(t, '{"a":{"x":1},"b":{"y":1},"a":{}}', 'DUPLICATE_MEMBER')
  const many = Array.from({ length: 40 }, (_, k) => `"k${k}":${k}`)
  accepts(t, `{${many.join(',')}}`, '40 distinct names')
  refuses(t, `{${many.join(',')},"k3":0}`, 'DUPLICATE_MEMBER', '40 names, then one again')
  refuses(t, `{${many.join(',')},"k39":0}`, 'DUPLICATE_MEMBER', '40 names, then the last again')
})

t.test('allows the same name in different objects, siblings or nested', async (t) => {
  accepts(t, '{"a":{"a":{"a":1}},"b":{"a":2}}')
  accepts(t, '[{"a":1},{"a":2},{"a":{"a":3}}]')
  accepts(t, '{"x":{"a":1,"b":2},"a":{"b":3},"b":[{"a":1,"b":1}]}')
  const names = Array.from({ length: 20 }, (_, k) => `"n${k}":{"n${k}":${k},"z":{"n${k}":1}}`)
  accepts(t, `{${names.join(',')}}`, 'many objects sharing names')
})

t.test('is not fooled by braces, quotes, colons and escapes inside strings', async (t) => {
  accepts(t, '{"a":"}{\\"a\\":1,","b":"]["}', 'a value that looks like members')
  accepts(t, '{"a\\"":1,"a":2,"a\\\\":3}', 'names differing by an escaped quote or backslash')
  accepts(t, '{"{\\"a\\":1}":1,"a":2}')
  accepts(t, '["\\\\",{"a":"\\\\\\""},"\\"]"]')
  accepts(t, '{"\\\\ud800":"\\\\udc00"}', 'an escaped backslash before "ud800" is no surrogate escape')
  accepts(t, `{"long":"${'x{\\"a\\":1},'.repeat(20)}\\"${'y'.repeat(50)}\\\\","a":1}`, 'a long string with braces and escapes')
  refuses(t, '{"a":"}","a":1}', 'DUPLICATE_MEMBER', 'a closing brace in a value does not end the object')
  refuses(t, '{"a":"\\"","a":1}', 'DUPLICATE_MEMBER', 'an escaped quote does not end the string')
  refuses(t, `{"a":"${'z'.repeat(100)}\\"}","a":1}`, 'DUPLICATE_MEMBER', 'nor in a long string')
})

t.test('a long string of escapes costs time in proportion to its length, not its square', async (t) => {
  // 400,000 escapes in one string: each once rescanned the rest of the
  // string for its closing quote, about 2,000 times JSON.parse's time (479
  // at 200,000), where the pass costs a few times it (6.9 quiet, 52 once
  // beside two busy loops, at 200,000). Against JSON.parse on the same text
  // in the same process, each warmed once and the best of five taken, so
  // that neither the machine's speed nor a moment's load decides it.
  // A plain run first: a string is walked a character at a time only at its start.
  const text = `{"kid":"${'x'.repeat(100)}${'\\n'.repeat(400_000)}x"}`
  const best = (read: () => unknown): number => {
    read()
    let least = Number.POSITIVE_INFINITY
    for (let run = 0; run < 5; run++) {
      const started = performance.now()
      read()
      least = Math.min(least, performance.now() - started)
    }
    return least
  }
  t.equal((parseIJson(text) as { kid: string }).kid.length, 400_101, 'read as JSON.parse reads it')
  const ratio = best(() => parseIJson(text)) / best(() => JSON.parse(text))
  t.ok(ratio < 200, `${ratio.toFixed(1)}× JSON.parse's time`)
})

t.test('refuses a UTF-8 byte order mark', async (t) => {
  refuses(t, '\ufeff{}', 'BYTE_ORDER_MARK')
  refuses(t, '\ufeff"x"', 'BYTE_ORDER_MARK')
  t.throws(() => parseIJsonBytes(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), { code: 'BYTE_ORDER_MARK' }, 'in bytes: not stripped by the decode')
  accepts(t, '"\ufeff"', 'U+FEFF inside a string is just a character')
})

t.test('refuses lone surrogates written as escapes, in values and in member names', async (t) => {
  refuses(t, '"\\ud800"', 'LONE_SURROGATE')
  refuses(t, '"\\udc00x"', 'LONE_SURROGATE')
  refuses(t, '"x\\uDBFF"', 'LONE_SURROGATE', 'upper-case hex')
  refuses(t, '"\\ud800\\u0041"', 'LONE_SURROGATE', 'a high surrogate before a non-surrogate escape')
  refuses(t, '"\\ud800\\ud800\\udc00"', 'LONE_SURROGATE', 'two high surrogates')
  refuses(t, '"\\udc00\\ud800"', 'LONE_SURROGATE', 'a reversed pair')
  refuses(t, '"\\ud800\\n"', 'LONE_SURROGATE')
  refuses(t, '{"\\ud800":1}', 'LONE_SURROGATE', 'in a member name')
  refuses(t, '[{"a":["ok","\\udfff"]}]', 'LONE_SURROGATE', 'nested')
  refuses(t, `"${'x'.repeat(100)}\\ud800${'x'.repeat(100)}"`, 'LONE_SURROGATE', 'in a long string')
  accepts(t, '"\\ud83d\\ude00"', 'an escaped pair')
  accepts(t, '"\\uD83D\\uDE00"', 'an escaped pair, upper-case hex')
  accepts(t, '{"\\ud83d\\ude00":"😀","\\u00e9":"\\u20ac"}')
})

// RFC 7493 §2.1: names and strings "MUST NOT include code points that
// identify Surrogates or Noncharacters". A noncharacter is for a program's
// own use: another reader may drop it, replace it or refuse the text (XML
// 1.0 has no U+FFFE or U+FFFF), and read another name than was signed.
t.test('refuses noncharacters, raw and escaped, in values and in member names', async (t) => {
  refuses(t, '"\\uffff"', 'NONCHARACTER', 'U+FFFF escaped')
  refuses(t, '"A\\uFFFEB"', 'NONCHARACTER', 'U+FFFE escaped, upper-case hex')
  refuses(t, '"\\ufdd0"', 'NONCHARACTER', 'U+FDD0 escaped')
  refuses(t, '"\\ufdef"', 'NONCHARACTER', 'U+FDEF escaped')
  refuses(t, '"\\ud83f\\udffe"', 'NONCHARACTER', 'U+1FFFE escaped as a pair')
  refuses(t, '"\\udbff\\udfff"', 'NONCHARACTER', 'U+10FFFF escaped as a pair')
  refuses(t, '{"a\\uffff":1}', 'NONCHARACTER', 'escaped, in a member name')
  refuses(t, `["${'x'.repeat(100)}\\ufffe${'x'.repeat(100)}"]`, 'NONCHARACTER', 'escaped, in a long string')
  refuses(t, '"NGUYEN\uffff"', 'NONCHARACTER', 'raw U+FFFF')
  refuses(t, '"\ufdd5"', 'NONCHARACTER', 'raw U+FDD5')
  refuses(t, '"\u{10fffe}"', 'NONCHARACTER', 'raw U+10FFFE')
  refuses(t, '{"a\uffff":1}', 'NONCHARACTER', 'raw, in a member name')
  refuses(t, `["${'x'.repeat(100)}\ufffe${'x'.repeat(100)}"]`, 'NONCHARACTER', 'raw, in a long string')
  t.throws(() => parseIJsonBytes(utf8('{"a":"\uffff"}')), { code: 'NONCHARACTER' }, 'raw U+FFFF as UTF-8 bytes')
  accepts(t, '"\\ufdcf\\ufdf0\\ufffd\\ud83f\\udffd\\ud83e\\udfff"', 'their neighbours, escaped: U+FDCF, U+FDF0, U+FFFD, U+1FFFD, U+1EFFF')
  accepts(t, '"\ufdcf\ufdf0\ufffd\u{1fffd}\u{1efff}"', 'the same, raw')
})

t.test('refuses raw lone surrogates in a string, and bytes that are not UTF-8', async (t) => {
  refuses(t, '"\ud800"', 'LONE_SURROGATE', 'a raw lone surrogate (only possible in a JavaScript string)')
  refuses(t, '"\\ud800\udc00"', 'LONE_SURROGATE', 'an escaped half and a raw half')
  t.throws(() => parseIJsonBytes(new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22])), { code: 'NOT_UTF8' }, 'CESU-8 surrogate bytes')
  t.throws(() => parseIJsonBytes(new Uint8Array([0x22, 0xff, 0x22])), { code: 'NOT_UTF8' })
  t.strictSame(parseIJsonBytes(utf8('{"a":"été 😀"}')), { a: 'été 😀' })
})

t.test('refuses numbers a double cannot hold as written', async (t) => {
  for (const text of [
    '15.000000000000000001',
    '1e-400',
    '1e400',
    '-1e400',
    '9007199254740993',
    '0.10000000000000001',
    '123456789012345678901234567890',
    '4.9e-324',
    '1.7976931348623159e308',
    '[1,2,9007199254740993]',
    '{"a":{"b":1e999}}'
  ]) {
    refuses(t, text, 'NUMBER_NOT_EXACT')
  }
  const err = refusal('{"amount":0.10000000000000001}')
  t.equal(err.message, 'number at position 10 is not exactly a double (RFC 7493 §2.2)', 'the detail gives where, not the value')
})

t.test('accepts numbers whose text is the double exactly, however written', async (t) => {
  for (const text of [
    '0.1',
    '1.0',
    '1e2',
    '-0',
    '0',
    '100',
    '2.5E-3',
    '1E+2',
    '1e-7',
    '1.5e300',
    '5e-324',
    '1.7976931348623157e308',
    '9007199254740992',
    '9007199254740991',
    '-9007199254740992',
    '1e21',
    '1e23',
    '123456789012345',
    '0.000000000000001',
    '1.00000000000000000000',
    '100000000000000000000',
    '0e400',
    '-0.0e-400',
    '0.30000000000000004',
    '45.50884',
    '2.50'
  ]) {
    accepts(t, text)
  }
  t.ok(Object.is(parseIJson('-0'), -0), '-0 keeps its sign')
})

t.test('refuses __proto__ names anywhere and constructor objects holding prototype', async (t) => {
  refuses(t, '{"__proto__":{"polluted":true}}', 'PROTOTYPE_KEY')
  refuses(t, '{"a":[{"__proto__":1}]}', 'PROTOTYPE_KEY')
  refuses(t, '{"\\u005f_proto__":1}', 'PROTOTYPE_KEY', 'written with an escape')
  refuses(t, '{"constructor":{"prototype":{"polluted":true}}}', 'PROTOTYPE_KEY')
  refuses(t, '[{"a":{"constructor":{"x":1,"prototype":1}}}]', 'PROTOTYPE_KEY')
  refuses(t, '{"\\u0063onstructor":{"prototype":1}}', 'PROTOTYPE_KEY', 'constructor written with an escape')
  accepts(t, '{"constructor":1,"prototype":1}', 'the names alone are fine')
  accepts(t, '{"constructor":{"a":{"prototype":1}}}', "prototype deeper than constructor's own members")
  accepts(t, '{"constructor":[{"prototype":1}]}')
  accepts(t, '{"proto":"__proto__","a":"constructor"}', 'as values they are just strings')
})

t.test('refuses text that is not JSON, without echoing it', async (t) => {
  for (const text of ['', '{', '{"id": ', '{"a":}', '[1,]', "{'a':1}", '{"a":1}x', 'NaN', '01', '"\t"', '"Tremblay', 'Tremblay']) {
    const err = refusal(text)
    t.equal(err.code, 'SYNTAX', `${JSON.stringify(text)}: SYNTAX`)
    t.match(err.message, /^not valid JSON \(RFC 8259\)/)
    if (text.includes('Tremblay')) t.notMatch(err.message, /Tremblay/, 'the payload is not quoted back')
  }
})

t.test('an IJsonError is an Error with a code and an offset', async (t) => {
  const err = refusal('{"a":1,"a":2}')
  t.ok(err instanceof Error)
  t.equal(err.name, 'IJsonError')
  t.equal(err.code, 'DUPLICATE_MEMBER')
  t.type(err.offset, 'number')
})

t.test('parseSignedJson answers every refusal with PayloadUnsafeError (PAYLOAD_UNSAFE, 400)', async (t) => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['duplicate', utf8('{"id":"a","id":"b"}'), /duplicate member name "id"/],
    ['BOM', new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('{}')]), /byte order mark/],
    ['lone surrogate', utf8('{"name":"\\ud800"}'), /lone surrogate/],
    ['number', utf8('{"n":9007199254740993}'), /not exactly a double/],
    ['__proto__', utf8('{"__proto__":{"polluted":true}}'), /__proto__/],
    ['constructor.prototype', utf8('{"constructor":{"prototype":{}}}'), /prototype/],
    ['not UTF-8', new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]), /not UTF-8/],
    ['not JSON', utf8('{"id": '), /not valid JSON/]
  ]
  for (const [what, bytes, detail] of cases) {
    let caught: unknown
    try {
      parseSignedJson(bytes)
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof PayloadUnsafeError, `${what}: PayloadUnsafeError`)
    t.match(caught, { code: 'PAYLOAD_UNSAFE', statusCode: 400, message: detail }, `${what}: code, status and detail`)
  }
  t.strictSame(parseSignedJson(utf8('{"id":"T-1","n":[1.5,-0]}')), { id: 'T-1', n: [1.5, -0] }, 'I-JSON passes through')
})

t.test('a JWS protected header with a duplicate parameter is refused once decoded', async (t) => {
  const header = Buffer.from('{"alg":"ES256","kid":"cbsa-1","alg":"none"}').toString('base64url')
  t.throws(() => parseIJsonBytes(Buffer.from(header, 'base64url')), { code: 'DUPLICATE_MEMBER' })
  t.strictSame(parseIJsonBytes(Buffer.from(Buffer.from('{"alg":"EdDSA","kid":"k"}').toString('base64url'), 'base64url')), { alg: 'EdDSA', kid: 'k' })
})

// What JSON.stringify's text of a generated value reads back as: -0 is
// written 0. Computed without JSON.parse, whose reading of escaped names this
// file shows to be wrong at times (the poisoned-cache test above).
function asRead(value: unknown): unknown {
  if (Object.is(value, -0)) return 0
  if (Array.isArray(value)) return value.map(asRead)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([name, member]) => [name, asRead(member)]))
}

t.test('property: JSON.stringify output is accepted and read as the value it was made from', async (t) => {
  for (const stringUnit of ['grapheme-ascii', 'grapheme'] as const) {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit }), (value) => {
        fc.pre(!pollutes(value))
        const text = JSON.stringify(value)
        deepStrictEqual(parseIJson(text), asRead(value))
        deepStrictEqual(parseIJsonBytes(utf8(JSON.stringify(value, null, 2))), asRead(value))
      }),
      { numRuns: 500 }
    )
  }
  t.pass('no false refusals')
})

t.test('property: a string is refused exactly when it holds a lone surrogate or a noncharacter', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 8 }), fc.boolean(), (s, asName) => {
      // JSON.stringify escapes lone surrogates (\udxxx) and keeps pairs raw.
      const text = asName ? `{${JSON.stringify(s)}:1}` : JSON.stringify([s])
      let code: string | undefined
      try {
        parseIJson(text)
      } catch (err) {
        code = (err as IJsonError).code
      }
      if (!s.isWellFormed()) deepStrictEqual(code, 'LONE_SURROGATE')
      else if (/\p{Noncharacter_Code_Point}/u.test(s)) deepStrictEqual(code, 'NONCHARACTER')
      else deepStrictEqual(code, asName && s === '__proto__' ? 'PROTOTYPE_KEY' : undefined)
    }),
    { numRuns: 1000 }
  )
  t.pass("agrees with String.prototype.isWellFormed and Unicode's Noncharacter_Code_Point")
})

// Names full of the characters a scanner could trip on.
const trickyName = fc
  .string({ unit: fc.constantFrom('a', 'b', '"', '\\', '{', '}', '[', ']', ',', ':', ' ', '\n', 'é', '😀', '\u0000', '/'), maxLength: 6 })
  .filter((name) => name !== '__proto__')
// The same name as JSON text, with some characters written as \u escapes.
const spelled = (name: string, escapeMask: number): string =>
  `"${[...name]
    .map((ch, k) =>
      ((escapeMask >> k) & 1) === 1
        ? Array.from({ length: ch.length }, (_, u) => `\\u${ch.charCodeAt(u).toString(16).padStart(4, '0')}`).join('')
        : JSON.stringify(ch).slice(1, -1)
    )
    .join('')}"`
const safeValue = fc.jsonValue({ maxDepth: 2, stringUnit: 'grapheme' }).filter((v) => !pollutes(v))

t.test('property: inserting a duplicate name into any generated object is refused', async (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(trickyName, safeValue), { minLength: 1, maxLength: 8, selector: ([name]) => name }),
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      safeValue,
      fc.nat({ max: 3 }),
      (members, which, where, escapeMask, value, wrap) => {
        const text = (entries: string[]): string => `{${entries.join(',')}}`
        const entries = members.map(([name, v]) => `${spelled(name, escapeMask)}:${JSON.stringify(v)}`)
        // Distinct names, however spelled: accepted, and read as written.
        const object = text(entries)
        deepStrictEqual(parseIJson(object), asRead(Object.fromEntries(members)))
        const name = members[which % members.length]![0]
        entries.splice(where % (entries.length + 1), 0, `${spelled(name, ~escapeMask)}:${JSON.stringify(value)}`)
        const wrapped = [text(entries), `[0,${text(entries)}]`, `{"outer":${text(entries)},"after":{}}`, `[{"x":[${text(entries)}]}]`][wrap]!
        let code: string | undefined
        try {
          parseIJson(wrapped)
        } catch (err) {
          code = (err as IJsonError).code
        }
        deepStrictEqual(code, 'DUPLICATE_MEMBER')
      }
    ),
    { numRuns: 1000 }
  )
  t.pass('every duplicate found')
})

// An independent statement of the rule, on BigInt and strings: the decimal
// the text denotes must be the decimal of String(Number(text)).
function exactDecimal(text: string): string {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text)!
  let digits = BigInt(`${m[1]}${m[2] ?? ''}`)
  let exponent = Number(m[3] ?? 0) - (m[2]?.length ?? 0)
  if (digits === 0n) return '0'
  while (digits % 10n === 0n) {
    digits /= 10n
    exponent++
  }
  return `${digits}e${exponent}`
}
function holdsExactly(text: string): boolean {
  const written = exactDecimal(text)
  if (written === '0') return true
  const n = Number(text)
  return Number.isFinite(n) && n !== 0 && exactDecimal(String(n)) === written
}

t.test('property: a number is accepted exactly when its text is the decimal of its double', async (t) => {
  const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9'), minLength: min, maxLength: max })
  const token = fc
    .tuple(
      fc.boolean(),
      fc.oneof(
        fc.constant('0'),
        fc.tuple(fc.constantFrom('1', '2', '4', '9'), digits(0, 20)).map(([a, b]) => a + b)
      ),
      fc.option(digits(1, 20)),
      fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 400 })))
    )
    .map(
      ([negative, int, fraction, exp]) =>
        `${negative ? '-' : ''}${int}${fraction === null ? '' : `.${fraction}`}${exp === null ? '' : `${exp[0]}${exp[1]}${exp[2]}`}`
    )
  const doubles = fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .map(String)
    .map((s) => s.replace('e+', 'e'))
  fc.assert(
    fc.property(fc.oneof(token, doubles), (text) => {
      let accepted = true
      try {
        parseIJson(`[${text}]`)
      } catch (err) {
        deepStrictEqual((err as IJsonError).code, 'NUMBER_NOT_EXACT')
        accepted = false
      }
      deepStrictEqual(accepted, holdsExactly(text), text)
    }),
    { numRuns: 5000 }
  )
  t.pass('agrees with the rule')
})
