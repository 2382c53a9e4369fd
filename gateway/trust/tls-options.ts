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
