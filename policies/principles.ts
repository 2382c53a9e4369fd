// The twelve Beyond the Border privacy principles (joint statement of
// 28 June 2012) and what the gateway does for each. Every policy rule cites
// one of these ids; the published catalogue (P7) prints this table.
import type { Principle } from './lib/types.ts'

export interface PrincipleEntry {
  readonly id: Principle
  readonly title: string
  /** What the gateway does to enforce or evidence the principle. */
  readonly gatewayDoes: string
  /** Set where the public record leaves the title or scope unconfirmed (DOMAIN.md). */
  readonly note?: string
}

export const PRINCIPLE_IDS: readonly Principle[] = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7', 'P8', 'P9', 'P10', 'P11', 'P12']

export function isPrinciple(value: unknown): value is Principle {
  return typeof value === 'string' && (PRINCIPLE_IDS as readonly string[]).includes(value)
}

export const principles: Readonly<Record<Principle, PrincipleEntry>> = Object.freeze({
  P1: {
    id: 'P1',
    title: 'Purpose specification',
    gatewayDoes:
      'Every envelope names its purpose and legal authority; a (kind, purpose) pair no policy names is refused, and so is an authority the registry does not give the sending country for that kind and purpose (LEGAL_AUTHORITY_MISMATCH), by both gateways.'
  },
  P2: {
    id: 'P2',
    title: 'Relevant and necessary / proportional',
    gatewayDoes: 'Field rules per (kind, purpose, direction) share, generalise, pseudonymise or withhold each field; anything no rule names is withheld.'
  },
  P3: {
    id: 'P3',
    title: 'Information security',
    gatewayDoes: 'Mutual TLS, signed messages, encrypted queue data; any bad signature fails closed.'
  },
  P4: {
    id: 'P4',
    title: 'Data quality and integrity',
    gatewayDoes:
      'Schema and code-list checks (ICAO document types, country codes, MRZ check digits where present, fingerprint quality); a correction or retraction from the sender supersedes an earlier message, stops it if it is not yet delivered, and follows it to the agency that received it.'
  },
  P5: {
    id: 'P5',
    title: 'Retention',
    gatewayDoes: 'A retention period per purpose travels with the data; biometric query data is deleted once matched; purge jobs enforce it.',
    note: 'Title unconfirmed in the public record.'
  },
  P6: {
    id: 'P6',
    title: 'Non-discrimination',
    gatewayDoes: 'Rules do not branch on nationality except where the law requires it (subject category); a test checks this.',
    note: 'Probable: inferred from the joint statement, not quoted.'
  },
  P7: {
    id: 'P7',
    title: 'Transparency',
    gatewayDoes: 'The field catalogue and purposes are published from the policy modules themselves.'
  },
  P8: {
    id: 'P8',
    title: 'Individual access and rectification',
    gatewayDoes:
      'A per-traveller disclosure report from the audit ledger, showing each message that was corrected or retracted and by which message; corrections and retractions travel to the partner and its receiving agency.'
  },
  P9: {
    id: 'P9',
    title: 'Redress',
    gatewayDoes:
      "A complaint reference is attached to a message or a traveller's entries by a legal hold that carries it: audited, it pauses purging, and the traveller's disclosure report lists it."
  },
  P10: {
    id: 'P10',
    title: 'Automated decisions',
    gatewayDoes:
      'No adverse decision by automation alone: a match result carries humanReviewRequired, and every direction policy states whether human review is required.',
    note: 'Recalled from memory in DOMAIN.md; wording unconfirmed.'
  },
  P11: {
    id: 'P11',
    title: 'Restrictions on onward transfer to third countries',
    gatewayDoes: 'onwardTransfer defaults to deny and travels with the record; the receiving side enforces it.'
  },
  P12: {
    id: 'P12',
    title: 'Effective oversight (accountability)',
    gatewayDoes: 'An append-only, tamper-evident audit of every field released, with exports for the oversight bodies.'
  }
})
