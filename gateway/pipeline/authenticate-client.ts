// Step 1: mutual TLS. Who the caller is follows from the certificate it
// presented: it must chain to a root this gateway trusts (checked by Node's
// TLS stack) and its thumbprint must be registered and not revoked.
import type { TLSSocket } from 'node:tls'
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
  }
}

// getPeerCertificate copies the whole chain: do it once per connection.
const thumbprints = new WeakMap<TLSSocket, string | null>()

function peerThumbprint(socket: TLSSocket): string | null {
  let known = thumbprints.get(socket)
  if (known === undefined) {
    const cert = socket.authorized ? socket.getPeerCertificate(false) : undefined
    known = cert?.raw === undefined ? null : certThumbprint(cert.raw)
    thumbprints.set(socket, known)
  }
  return known
}

function identify(trust: TrustStore, thumbprint: string): Caller | null {
  const system = trust.agenciesByCert.get(thumbprint)
  if (system !== undefined) return { role: 'agency', id: system.id, certSha256: thumbprint, system }
  if (thumbprint === trust.partner.gatewayCertSha256 && !trust.revokedCerts.has(thumbprint)) return { role: 'partner', id: `gateway:${trust.partner.country}`, certSha256: thumbprint }
  const officer = trust.privacyOfficersByCert.get(thumbprint)
  if (officer !== undefined) return { role: 'privacy-officer', id: officer.id, certSha256: thumbprint, officer }
  const operator = trust.operatorsByCert.get(thumbprint)
  if (operator !== undefined) return { role: 'operator', id: operator.id, certSha256: thumbprint, operator }
  return null
}

export const authenticateClient = fp(async function authenticateClient(app: FastifyInstance) {
  app.decorateRequest('caller', null)
  app.decorateRequest('clientCertSha256', null)
  app.addHook('onRequest', async (request) => {
    const socket = request.raw.socket as TLSSocket
    if (typeof socket.getPeerCertificate !== 'function') return
    const thumbprint = peerThumbprint(socket)
    request.clientCertSha256 = thumbprint
    if (thumbprint !== null) request.caller = identify(app.trust, thumbprint)
  })
}, { name: 'authenticate-client', fastify: '5.x', dependencies: ['trust'] })

/** A preHandler that admits only callers of the given role. */
export function requireRole(role: Caller['role']) {
  return async function requireCallerRole(request: FastifyRequest): Promise<void> {
    if (request.clientCertSha256 === null) throw new UnauthenticatedError('a client certificate issued by a trusted CA is required')
    if (request.caller === null) throw new UnauthenticatedError('the client certificate is not registered, or has been revoked')
    if (request.caller.role !== role) throw new ForbiddenError(`this endpoint is for the ${role} role`)
  }
}
