import type { TlsClientOptions } from '../delivery/tls-client.ts'
import type { TrustStore } from './trust-store.ts'

/** The gateway's listener: mutual TLS, client certificates checked per request. */
export function tlsOptions(trust: TrustStore) {
  return {
    cert: trust.tls.cert,
    key: trust.tls.key,
    ca: trust.tls.ca,
    requestCert: true,
    // Checked per request instead, so an unknown client gets a problem
    // document with a code rather than a bare handshake failure.
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2'
  } as const
}

/** Calling the partner gateway: this gateway's certificate, the partner's root, and its certificate pinned. */
export function partnerClientOptions(trust: TrustStore, timeoutMs: number): TlsClientOptions {
  return { cert: trust.tls.cert, key: trust.tls.key, ca: trust.partner.ca, pinSha256: trust.partner.gatewayCertSha256, timeoutMs }
}

/** Calling an agency webhook: this gateway's certificate, and the agency CA for the webhook's. */
export function agencyClientOptions(trust: TrustStore, timeoutMs: number): TlsClientOptions {
  return { cert: trust.tls.cert, key: trust.tls.key, ca: trust.agencyCa.toString(), timeoutMs }
}
