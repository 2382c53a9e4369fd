// When the certificates a gateway depends on stop being valid. An expired
// gateway or CA certificate stops the exchange outright, so operators are
// warned ahead (log, /metrics, `npm run keys -- expiry`).
import type { X509Certificate } from 'node:crypto'
import type { TrustStore } from './trust-store.ts'

export interface CertificateExpiry {
  /** What the certificate is: `gateway`, `agency-ca`, `partner-ca`, `partner-gateway`, or a file name. */
  readonly name: string
  readonly subject: string
  readonly notAfter: string
  /** Fractional days from `now` to notAfter; negative once expired. */
  readonly daysLeft: number
}

const DAY_MS = 86_400_000

export function expiryOf(name: string, cert: X509Certificate, now = Date.now()): CertificateExpiry {
  const notAfter = new Date(cert.validTo)
  return { name, subject: cert.subject.replaceAll('\n', ', '), notAfter: notAfter.toISOString(), daysLeft: (notAfter.getTime() - now) / DAY_MS }
}

/** The certificates the trust store itself holds, soonest to expire first. */
export function certificateExpiries(trust: TrustStore, now = Date.now()): CertificateExpiry[] {
  return [
    expiryOf('gateway', trust.gatewayCert, now),
    expiryOf('agency-ca', trust.agencyCa, now),
    expiryOf('partner-ca', trust.partner.caCert, now),
    expiryOf('partner-gateway', partnerGatewayCert(trust), now)
  ].sort((a, b) => a.daysLeft - b.daysLeft)
}

/**
 * The partner gateway's pinned certificate that expires last. During its
 * renewal both are pinned and either is taken, and the partner presents the
 * next one from its step 3 (docs/operators.md, "Renewing a gateway's TLS
 * certificate"): the old one's expiry then stops nothing, and a gateway made
 * not ready by it would be taken out of service with the exchange working.
 * Should the partner still present the expired one, the partner check fails.
 */
function partnerGatewayCert(trust: TrustStore): X509Certificate {
  const { gatewayCert, nextGatewayCert } = trust.partner
  return nextGatewayCert !== undefined && Date.parse(nextGatewayCert.validTo) > Date.parse(gatewayCert.validTo) ? nextGatewayCert : gatewayCert
}
