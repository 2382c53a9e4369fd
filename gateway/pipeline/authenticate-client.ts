// Step 1: mutual TLS. Who the caller is follows from the certificate it
// presented: it must chain to a root this gateway trusts (checked by Node's
// TLS stack) and its thumbprint must be registered and not revoked.
import type { PeerCertificate, TLSSocket } from 'node:tls'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ForbiddenError, UnauthenticatedError } from '../errors.ts'
import { certThumbprint, type AgencySystem, type Operator, type PrivacyOfficer, type TrustStore } from '../trust/trust-store.ts'

export type Caller =
  | { readonly role: 'agency'; readonly id: string; readonly certSha256: string; readonly system: AgencySystem }
  | { readonly role: 'partner'; readonly id: string; readonly certSha256: string }
  | { readonly role: 'privacy-officer'; readonly id: string; readonly certSha256: string; readonly officer: PrivacyOfficer }
  | { readonly role: 'operator'; readonly id: string; readonly certSha256: string; readonly operator: Operator }

declare module 'fastify' {
  interface FastifyRequest {
    /** Null until authenticated; set for every registered certificate. */
    caller: Caller | null
    /** RFC 8705 thumbprint of the client certificate, when one was presented and chains. */
    clientCertSha256: string | null
    /** When that certificate expires (its notAfter), when one was presented and chains. */
    clientCertExpiry: Date | null
  }
}

/** What is read of a client certificate that chained to a trusted root. */
export type PresentedCertificate = Pick<PeerCertificate, 'raw' | 'valid_to'>

/**
 * Where the client certificate comes from, when not from the TLS socket:
 * undefined for a request without one that chains to a root this gateway
 * trusts. Only code can pass one (AppDependencies.peerCertificate, for tests
 * that call routes with `app.inject()`); no configuration or environment
 * variable reaches it, and production reads the socket.
 */
export type PeerCertificateSource = (request: FastifyRequest) => PresentedCertificate | undefined

interface Presented {
  readonly sha256: string
  readonly expiry: Date | null
}
const NONE: Presented | null = null

function presented(cert: PresentedCertificate | undefined): Presented | null {
  if (cert?.raw === undefined) return NONE
  const expiry = typeof cert.valid_to === 'string' && cert.valid_to !== '' ? new Date(cert.valid_to) : null
  return { sha256: certThumbprint(cert.raw), expiry }
}

// getPeerCertificate copies the whole chain: do it once per connection.
const fromSockets = new WeakMap<TLSSocket, Presented | null>()

function fromSocket(socket: TLSSocket): Presented | null {
  let known = fromSockets.get(socket)
  if (known === undefined) {
    known = presented(socket.authorized ? socket.getPeerCertificate(false) : undefined)
    fromSockets.set(socket, known)
  }
  return known
}

function identify(trust: TrustStore, thumbprint: string): Caller | null {
  const system = trust.agenciesByCert.get(thumbprint)
  if (system !== undefined) return { role: 'agency', id: system.id, certSha256: thumbprint, system }
  if (trust.partner.gatewayCertPins.includes(thumbprint) && !trust.revokedCerts.has(thumbprint))
    return { role: 'partner', id: `gateway:${trust.partner.country}`, certSha256: thumbprint }
  const officer = trust.privacyOfficersByCert.get(thumbprint)
  if (officer !== undefined) return { role: 'privacy-officer', id: officer.id, certSha256: thumbprint, officer }
  const operator = trust.operatorsByCert.get(thumbprint)
  if (operator !== undefined) return { role: 'operator', id: operator.id, certSha256: thumbprint, operator }
  return null
}

export const authenticateClient = fp(
  async function authenticateClient(app: FastifyInstance, opts: { peerCertificate?: PeerCertificateSource }) {
    app.decorateRequest('caller', null)
    app.decorateRequest('clientCertSha256', null)
    app.decorateRequest('clientCertExpiry', null)
    const source = opts.peerCertificate
    app.addHook('onRequest', async (request) => {
      let cert: Presented | null
      if (source !== undefined) cert = presented(source(request))
      else {
        const socket = request.raw.socket as TLSSocket
        if (typeof socket.getPeerCertificate !== 'function') return
        cert = fromSocket(socket)
      }
      if (cert === null) return
      request.clientCertSha256 = cert.sha256
      request.clientCertExpiry = cert.expiry
      // TLS checked the certificate's validity once, at the handshake; a
      // connection kept alive outlives it. Identity is decided per request,
      // as revocation is, so an expired certificate is no one's from the
      // request after its notAfter.
      if (cert.expiry !== null && cert.expiry.getTime() <= Date.now()) return
      request.caller = identify(app.trust, cert.sha256)
    })
  },
  { name: 'authenticate-client', fastify: '5.x', dependencies: ['trust'] }
)

/** A hook that admits any registered caller, whatever its role. */
export async function requireCaller(request: FastifyRequest): Promise<void> {
  if (request.clientCertSha256 === null) throw new UnauthenticatedError('a client certificate issued by a trusted CA is required')
  if (request.caller === null) throw new UnauthenticatedError(unidentified(request))
}

/** A preHandler that admits only callers of the given role. */
export function requireRole(role: Caller['role']) {
  return async function requireCallerRole(request: FastifyRequest): Promise<void> {
    await requireCaller(request)
    if (request.caller!.role !== role) throw new ForbiddenError(`this endpoint is for the ${role} role`)
  }
}

function unidentified(request: FastifyRequest): string {
  const expiry = request.clientCertExpiry
  if (expiry !== null && expiry.getTime() <= Date.now()) return `the client certificate expired at ${expiry.toISOString()}: connect again with a current one`
  return 'the client certificate is not registered, or has been revoked'
}
