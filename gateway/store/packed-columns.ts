// The searchable columns of an audit row as one text, which is how
// verification reads them (sql/ledger.ts, VERIFICATION_SQL; audit/entry-checks.ts):
// each value as its length in UTF-8 bytes, a colon and the value, or `-` for
// NULL, in AUDIT_COLUMNS order. One string a row where there were twelve:
// node:sqlite makes a JavaScript string of every column it returns, and the
// page's structured copy to a checking thread copies each one, so the twelve
// cost the reading thread about a quarter of its read of a row
// (docs/measurements.md, "Speed and memory"). The lengths make the text
// unambiguous: no value, whatever it holds, can be read as part of another,
// so an edit that moves text from one column into the next still shows.
import { AUDIT_COLUMNS } from './audit-index.ts'

/** The SQL expression, the same in SQLite and PostgreSQL, of the packed columns of the audit row aliased `alias`. */
export function packedColumnsSql(alias: string): string {
  return AUDIT_COLUMNS.map((c) => `coalesce(octet_length(${alias}.${c}) || ':' || ${alias}.${c}, '-')`).join(' || ')
}

/** What packedColumnsSql gives for these values (AUDIT_COLUMNS order). */
export function packColumns(values: ReadonlyArray<string | null>): string {
  return values.map((v) => (v === null ? '-' : `${Buffer.byteLength(v, 'utf8')}:${v}`)).join('')
}

const COLON = 0x3a
const DASH = 0x2d
const ZERO = 0x30
const NINE = 0x39

/**
 * The values back from a packed text, AUDIT_COLUMNS.length of them. A value
 * that cannot be read (the text ended early, or a length was not one) is
 * undefined, and so is every one after it; bytes left over make the last one
 * undefined (a column whose stored bytes were not UTF-8 comes back with
 * another length than it was stored with). Undefined never equals what an
 * entry implies, so verification names such a column as edited.
 */
export function unpackColumns(packed: string | null): Array<string | null | undefined> {
  const values: Array<string | null | undefined> = new Array(AUDIT_COLUMNS.length).fill(undefined)
  if (typeof packed !== 'string') return values
  // ASCII, the common case: bytes are characters, and the text is read in place.
  const bytes = Buffer.byteLength(packed, 'utf8') === packed.length ? undefined : Buffer.from(packed, 'utf8')
  const length = bytes === undefined ? packed.length : bytes.length
  const at = (i: number): number => (bytes === undefined ? packed.charCodeAt(i) : bytes[i]!)
  let i = 0
  for (let c = 0; c < AUDIT_COLUMNS.length; c++) {
    if (i >= length) return values
    if (at(i) === DASH) {
      values[c] = null
      i++
      continue
    }
    let size = 0
    let digits = 0
    for (; i < length && at(i) >= ZERO && at(i) <= NINE && digits < 10; i++, digits++) size = size * 10 + (at(i) - ZERO)
    if (digits === 0 || i >= length || at(i) !== COLON || i + 1 + size > length) return values
    i++
    values[c] = bytes === undefined ? packed.slice(i, i + size) : bytes.toString('utf8', i, i + size)
    i += size
  }
  if (i !== length) values[AUDIT_COLUMNS.length - 1] = undefined
  return values
}
