// JSON Schema pieces for text a caller writes that the gateway keeps or
// queries with: no control characters. PostgreSQL's text refuses NUL (a
// query carrying one fails, which answered 500), and a line break or an
// escape sequence has no place in a filter or in a reason the ledger keeps.

/** Printable characters only: no C0 control character (NUL included) and no DEL. */
export const PRINTABLE_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$'

/** A filter's value: printable, at most `maxLength` characters. */
export function printable(maxLength: number, description?: string) {
  return { type: 'string', maxLength, pattern: PRINTABLE_PATTERN, ...(description === undefined ? {} : { description }) } as const
}

/** Why an operator or a privacy officer did something, for the ledger: one printable line with something in it. */
export const REASON_SCHEMA = {
  type: 'string',
  minLength: 1,
  maxLength: 500,
  // The one character that is not white space is no control character either: `\S` alone let a NUL be it.
  pattern: '^[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f][^\\u0000-\\u001f\\u007f]*$',
  description: 'Why, for the audit ledger: one line, never personal data.'
} as const
