// Small value generators shared by the endpoint generators: the spellings of
// an id and of an instant (the contract admits some and refuses the others), and
// the odd strings (unicode lookalikes, invisible characters) that tell a
// strict parser from a lenient one.
import fc from 'fast-check'
import type { IdForm, InstantForm, Json } from '../case.ts'
import { FRESH_WINDOW, FUTURE_SECONDS, STALE_SECONDS } from '../contract.ts'

export const VALID_ID_FORMS: readonly IdForm[] = ['v4', 'v7']
/** Every other spelling of a UUID: the canonical-id rule says one message has one id. */
export const BAD_ID_FORMS: readonly IdForm[] = [
  'upper',
  'mixed-case',
  'urn',
  'braces',
  'no-hyphens',
  'fullwidth-digit',
  'zero-width-space',
  'cyrillic-a',
  'trailing-newline',
  'leading-space',
  'short',
  'long',
  'non-hex'
]

export const VALID_INSTANT_FORMS: readonly InstantForm[] = ['Z', 'fraction', 'offset']
/** Outside the contract's RFC 3339 profile (docs/integrators.md, schemas/common.schema.json dateTime). */
export const BAD_INSTANT_FORMS: readonly InstantForm[] = [
  'lower-t',
  'lower-z',
  'space',
  'no-offset',
  'hour-offset',
  'compact-offset',
  'offset-24',
  'fraction-10',
  'empty-fraction',
  'second-60',
  'hour-24',
  'feb-30',
  'month-13',
  'comma-fraction',
  'date-only',
  'z-and-offset',
  'fullwidth-digit',
  'expanded-year'
]

export const freshOffset = (): fc.Arbitrary<number> => fc.integer({ min: -FRESH_WINDOW.pastSeconds, max: FRESH_WINDOW.futureSeconds })
export const staleOffset = (): fc.Arbitrary<number> => fc.integer({ min: STALE_SECONDS, max: 20 * 365 * 86400 }).map((s) => -s)
export const futureOffset = (): fc.Arbitrary<number> => fc.integer({ min: FUTURE_SECONDS, max: 20 * 365 * 86400 })

/** Characters a huge string is made of: one byte, two, four (astral), a combining mark. */
export const hugeChar = (): fc.Arbitrary<string> => fc.constantFrom('A', 'é', '😀', 'e\u0301', '0')
/** Longer than any maxLength in schemas/ (the largest is 8192); now and then far longer (each one is signed and sent, so mostly not). */
export const hugeLength = (): fc.Arbitrary<number> =>
  fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 9000, max: 20_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 300_000 }) })

/** Member names no schema declares: lookalikes, invisible characters, JavaScript's own names. */
export const strangeName = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      'extra',
      'Id',
      'ID',
      'id ',
      ' id',
      'i\u0000d',
      'kind\u200b',
      '$schema',
      '$ref',
      'toString',
      'hasOwnProperty',
      'valueOf',
      '__defineGetter__',
      'constructor',
      '',
      '😀',
      'payload\u0000',
      'ｉｄ',
      'signature',
      'handling2'
    ),
    fc.string({ minLength: 1, maxLength: 12 }).map((s) => `x-${s}`)
  )

/** A JSON value of any type, small. */
export const anyJson = (): fc.Arbitrary<Json> =>
  fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.string({ maxLength: 20 }),
    fc.constant([]),
    fc.constant({}),
    fc.constant([1, 'a'])
  ) as fc.Arbitrary<Json>

/** A string that is printable and short: valid wherever the schema asks only for a bounded string. */
export const plainString = (max: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ minLength: 1, maxLength: max, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._') }),
    fc.constantFrom('entry-exit.record', 'refused', 'accepted', 'CBSA', 'traveller.surname', 'JWS_INVALID', 'Désirée', 'NGUYEN').filter((s) => s.length <= max)
  )

/** Decimal integer spellings the strict query rules refuse (docs/integrators.md, "Error codes": REQUEST_INVALID). */
export const BAD_INTEGER_TEXTS: readonly string[] = [
  'Infinity',
  '-Infinity',
  'NaN',
  '1e309',
  '1e3',
  '1E2',
  '0x10',
  '0b1',
  '0o7',
  ' 5',
  '5 ',
  '+5',
  '5.0',
  '5.5',
  '-1',
  '0',
  '1001',
  '99999999999999999999',
  '007',
  '',
  '١٠',
  '５',
  'true',
  'null',
  '[]',
  '{}',
  '5%00',
  '5,0',
  '1_000'
]

/**
 * Arbitraries are built once and kept: building one costs more than drawing a
 * value from it, and the campaign draws one value per input.
 */
export function once<A extends unknown[], T>(build: (...args: A) => T): (...args: A) => T {
  const made = new Map<string, T>()
  return (...args: A) => {
    const key = JSON.stringify(args)
    let value = made.get(key)
    if (value === undefined) made.set(key, (value = build(...args)))
    return value
  }
}
