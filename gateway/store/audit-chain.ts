import { sha256 } from '../lib/digest.ts'
import type { AuditEntry } from './records.ts'

/** The hash that precedes the first entry. */
export const GENESIS_HASH = 'genesis'

/**
 * Each entry's hash covers the previous hash and the entry's exact text, so
 * editing, deleting or reordering any row breaks every hash after it.
 */
export function chainHash(prevHash: string, entryText: string): string {
  return sha256(`${prevHash}\n${entryText}`)
}

export function serialiseEntry(entry: AuditEntry): string {
  return JSON.stringify(entry)
}
