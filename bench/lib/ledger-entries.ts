// Audit entries shaped like the gateway's, for the ledger benches
// (ledger.bench.ts on SQLite, ledger-postgres.bench.ts): what an append
// writes is what a message's acceptance and delivery write in service.
import { randomBytes, randomUUID } from 'node:crypto'
import { auditEntry } from '../../gateway/pipeline/audit-entry.ts'
import { GENESIS_HASH, chainHash, serialiseEntry } from '../../gateway/store/audit-chain.ts'
import type { AuditEntry } from '../../gateway/store/records.ts'
import type { RawRow } from './raw-sqlite.ts'

/** The field paths an outbound entry-exit.record decides on (as the policy writes them: 22 decisions). */
const FIELD_PATHS = [
  'recordType',
  'traveller.surname',
  'traveller.givenNames',
  'traveller.middleNames',
  'traveller.dateOfBirth',
  'traveller.sex',
  'traveller.citizenship',
  'traveller.subjectCategory',
  'document.type',
  'document.issuingCountry',
  'document.number',
  'document.expiryDate',
  'crossing.dateTime',
  'crossing.portCode',
  'crossing.portName',
  'crossing.travelMode',
  'crossing.direction',
  'vehicle.licencePlate',
  'vehicle.jurisdiction',
  'carrier.code',
  'carrier.flightNumber',
  'remarks'
]

/**
 * Entries shaped like the gateway's: each message an `accepted` entry (22
 * field decisions with keyed digests, two traveller-subject digests, ~4 kB)
 * then a `delivered` one (~0.3 kB). Digests are random, so the subject index
 * takes random keys as it does in service.
 */
export class EntryMaker {
  #n = 0
  readonly #start = Date.parse('2026-01-01T00:00:00Z')
  #messageId = randomUUID()

  next(): AuditEntry {
    const n = this.#n++
    const at = new Date(this.#start + n * 50).toISOString()
    const envelope = {
      id: this.#messageId,
      kind: 'entry-exit.record',
      purpose: 'entry-exit-verification',
      legalAuthority: 'CustomsAct-92',
      agreementRef: 'CA-US-Entry-Exit-Joint-Statement-2012',
      from: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
      to: { country: 'US', agency: 'CBP' }
    } as const
    const policy = { id: 'entry-exit.record/entry-exit-verification/outbound', version: 'sha256:kWcXFBbg5tocn_6kPXoMD3NlgfEAsUhMhHPKIQFlwfY' }
    if (n % 2 === 1) {
      const entry = auditEntry({ event: 'delivered', direction: 'outbound', caller: null, envelope, policy: policy as never, at })
      this.#messageId = randomUUID()
      return entry
    }
    const digests = randomBytes(32 * (FIELD_PATHS.length + 3)).toString('base64url')
    const digest = (i: number): string => digests.slice(i * 43, i * 43 + 43)
    return auditEntry({
      event: 'accepted',
      direction: 'outbound',
      caller: 'CA/CBSA/pik-primary',
      envelope,
      policy: policy as never,
      at,
      digest: digest(0),
      fields: FIELD_PATHS.map(
        (path, i) =>
          ({
            path,
            action: i % 7 === 6 ? 'withhold' : 'share',
            rule: `eer-eev-out-${path.replace(/\./g, '-')}`,
            principle: 'P2',
            digest: digest(i + 1)
          }) as never
      ),
      subjects: [digest(FIELD_PATHS.length + 1), digest(FIELD_PATHS.length + 2)]
    })
  }

  /** 0 when the next entry is an `accepted` one. */
  parity(): number {
    return this.#n % 2
  }

  batch(count: number): AuditEntry[] {
    return Array.from({ length: count }, () => this.next())
  }
}

/** Entries as the raw baseline table holds them (bench/lib/raw-sqlite.ts): the serialised entry and a chain hash. */
export function rawRows(entries: readonly AuditEntry[]): RawRow[] {
  return entries.map((e) => {
    const text = serialiseEntry(e)
    return { text, hash: chainHash(GENESIS_HASH, text) }
  })
}
