// What a log line says of a request (Fastify's `req` serializer). A URL is
// whatever the client wrote, and a client can write a traveller's document
// number into its path or its query string: a privacy officer guessing
// `?documentNumber=`, a probe of `/v1/messages/<anything>`. The line names
// the route the request reached, by its pattern (`/v1/messages/:id`), never
// the URL itself, so that no personal value reaches the logs (P3;
// docs/operators.md, "Configuration"). What a route's handler read and validated it
// logs by name (a message id, a seq).
import type { FastifyRequest } from 'fastify'

export function requestForLog(request: FastifyRequest) {
  return {
    method: request.method,
    url: request.routeOptions?.url ?? '(no route)',
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}
