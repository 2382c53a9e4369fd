import { PayloadUnsafeError } from '../errors.ts'
import { IJsonError, parseIJsonBytes } from './i-json.ts'

/**
 * Parses a signed payload. jose would use plain JSON.parse, which lets a
 * `__proto__` or `constructor.prototype` key through (docs/architecture.md,
 * "Runtime") and reads
 * duplicate names, lone surrogates and over-precise numbers its own way: only
 * I-JSON (RFC 7493) is accepted, so every party reads the same record.
 */
export function parseSignedJson(bytes: Uint8Array): unknown {
  try {
    return parseIJsonBytes(bytes)
  } catch (err) {
    if (err instanceof IJsonError) throw new PayloadUnsafeError(err.message)
    throw err
  }
}
