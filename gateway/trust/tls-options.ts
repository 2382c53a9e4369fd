import type { TlsClientOptions } from '../delivery/tls-client.ts'
import type { TrustStore } from './trust-store.ts'

/**
 * TLS 1.2 and 1.3 with forward secrecy and AEAD only, both ways (docs/operators.md,
 * "Trust material"): no static RSA key exchange, whose recorded traffic a
 * key stolen later would open, and no CBC with SHA-1. TLS 1.3's suites are
 * all of that kind and Node offers them whatever this list says.
 */
export const CIPHER_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'TLS_AES_128_GCM_SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256'
  ].join(':'),
  honorCipherOrder: true
} as const

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
    ...CIPHER_POLICY
  } as const
}

/** Calling the partner gateway: this gateway's certificate, the partner's root, and its certificate pinned. */
export function partnerClientOptions(trust: TrustStore, timeoutMs: number): TlsClientOptions {
  return {
    cert: trust.tls.cert,
    key: trust.tls.key,
    ca: trust.partner.ca,
    pinsSha256: trust.partner.gatewayCertPins,
    revokedSha256: trust.revokedCerts,
    timeoutMs
  }
}

/** Calling an agency webhook: this gateway's certificate, and the agency CA for the webhook's. */
export function agencyClientOptions(trust: TrustStore, timeoutMs: number): TlsClientOptions {
  return { cert: trust.tls.cert, key: trust.tls.key, ca: trust.agencyCa.toString(), revokedSha256: trust.revokedCerts, timeoutMs }
}
