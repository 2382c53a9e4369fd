import secureJson from 'secure-json-parse'
import { PayloadUnsafeError } from '../errors.ts'

/**
 * Parses a signed payload. jose would use plain JSON.parse, which lets a
 * `__proto__` or `constructor.prototype` key through (DESIGN §8): refuse them.
 */
export function parseSignedJson(bytes: Uint8Array): unknown {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new PayloadUnsafeError('not UTF-8')
  }
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (err) {
    throw new PayloadUnsafeError((err as Error).message)
  }
}
