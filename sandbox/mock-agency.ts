// A mock agency system for the sandbox: it receives pushes from its own
// gateway over mTLS, checks both signatures (its gateway's, and the partner
// gateway's inside), and answers biometric match requests through its own
// gateway at roughly the rates of the 2013 implementation report.
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { compactVerify, createLocalJWKSet, errors, type JSONWebKeySet } from 'jose'
import type { AgencyClient } from './agency-client.ts'
import { matchResponse } from './sample-messages.ts'

export interface ReceivedMessage {
  readonly id: string
  readonly kind: string
  readonly purpose: string
  readonly from: string
  readonly correlationId: string | null
  /** On a correction or a retraction: the message it supersedes (docs/integrators.md, "Corrections and retractions"). */
  readonly supersedes: { readonly id: string; readonly action: 'correct' | 'retract'; readonly reason?: string } | null
  readonly gatewayKid: string
  /** The partner gateway's kid, null when the push left its JWS out (its payload was narrowed on the way in). */
  readonly partnerKid: string | null
  readonly policyVersion: string
  readonly payload: Record<string, unknown>
  readonly receivedAt: string
  /** The push's Idempotency-Key header: the message id (docs/integrators.md, "Receiving"). */
  readonly idempotencyKey: string | null
}

export interface MockAgencyOptions {
  readonly client: AgencyClient
  readonly port: number
  readonly host?: string
  /** This country's gateway's JWKS, and the partner gateway's. */
  readonly gatewayJwks: JSONWebKeySet
  readonly partnerJwks: JSONWebKeySet
  /** Share of incoming match requests answered MATCH (0..1). */
  readonly matchRate: number
  /** Deterministic source of randomness for tests. */
  readonly random?: () => number
  readonly onMessage?: (message: ReceivedMessage) => void
  readonly log?: (line: string) => void
}

export interface MockAgency {
  readonly url: string
  /** The latest messages received (at least RECEIVED_KEPT, at most twice that), oldest first. */
  readonly received: ReceivedMessage[]
  readonly responses: Array<{ requestId: string; responseId: string; status: number; result: string }>
  /** Pushes whose Idempotency-Key it had already seen: answered 2xx, acted on once (as docs/integrators.md asks of an agency). */
  readonly duplicates: () => number
  close(): Promise<void>
}

/** How many received messages a mock keeps for inspection. */
export const RECEIVED_KEPT = 20_000

export async function startMockAgency(opts: MockAgencyOptions): Promise<MockAgency> {
  let gatewayKeys = createLocalJWKSet(opts.gatewayJwks)
  let partnerKeys = createLocalJWKSet(opts.partnerJwks)
  const random = opts.random ?? Math.random
  const received: ReceivedMessage[] = []
  // The keys of the pushes acted on, bounded like `received`: a real agency
  // keeps them at least as long as its gateway may retry.
  let seen = new Set<string>()
  let older = new Set<string>()
  let duplicates = 0
  const rememberKey = (key: string): void => {
    seen.add(key)
    if (seen.size >= RECEIVED_KEPT) {
      older = seen
      seen = new Set()
    }
  }
  const isSeen = (key: string): boolean => seen.has(key) || older.has(key)
  const responses: MockAgency['responses'] = []
  const decoder = new TextDecoder()

  // A kid not seen before means a key rotation: ask our own gateway (over
  // mTLS, so the answer is authentic) for the keys in force, once, and retry.
  async function refreshKeys(): Promise<void> {
    const [own, partner] = await Promise.all([opts.client.call('GET', '/.well-known/jwks.json'), opts.client.call('GET', '/.well-known/partner-jwks.json')])
    if (own.status !== 200 || partner.status !== 200) throw new Error('the gateway did not give its keys')
    gatewayKeys = createLocalJWKSet(own.json<JSONWebKeySet>())
    partnerKeys = createLocalJWKSet(partner.json<JSONWebKeySet>())
    opts.log?.(`${opts.client.creds.agency} fetched the gateway's keys again after an unknown kid`)
  }

  async function verifyBoth(jws: string) {
    const outer = await compactVerify(jws, gatewayKeys)
    // Each signed object typed as what it is: a push, and inside it the envelope the partner forwarded (docs/integrators.md, "Step by step").
    if (outer.protectedHeader.typ !== 'btb-push+jws') throw new errors.JWSInvalid('the push is not typed btb-push+jws')
    const delivered = JSON.parse(decoder.decode(outer.payload)) as Record<string, any>
    // Absent when the gateway's inbound policy withheld something the partner sent (docs/integrators.md, "Step by step").
    const innerJws = delivered.receivedFrom.jws as string | undefined
    const inner = innerJws === undefined ? undefined : await compactVerify(innerJws, partnerKeys)
    if (inner !== undefined && inner.protectedHeader.typ !== 'btb-envelope+jws')
      throw new errors.JWSInvalid('the forwarded envelope is not typed btb-envelope+jws')
    return { outer, delivered, inner }
  }

  async function accept(jws: string, idempotencyKey: string | null): Promise<ReceivedMessage> {
    let verified
    try {
      verified = await verifyBoth(jws)
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err
      await refreshKeys()
      verified = await verifyBoth(jws)
    }
    const { outer, delivered, inner } = verified
    const message: ReceivedMessage = {
      id: delivered.id,
      kind: delivered.kind,
      purpose: delivered.purpose,
      from: `${delivered.from.country}/${delivered.from.agency}/${delivered.from.system}`,
      correlationId: delivered.correlationId ?? null,
      supersedes: delivered.supersedes ?? null,
      gatewayKid: String(outer.protectedHeader.kid),
      partnerKid: inner === undefined ? null : String(inner.protectedHeader.kid),
      policyVersion: delivered.handling.policyVersion,
      payload: delivered.payload,
      receivedAt: new Date().toISOString(),
      idempotencyKey
    }
    return message
  }

  async function answer(request: ReceivedMessage): Promise<void> {
    const matched = random() < opts.matchRate
    const envelope = opts.client.envelope(matchResponse(request, matched, opts.client.creds.country === 'CA' ? 'US' : 'CA'))
    const res = await opts.client.submit(await opts.client.sign(envelope))
    responses.push({ requestId: request.id, responseId: String(envelope.id), status: res.status, result: matched ? 'MATCH' : 'NO_MATCH' })
    opts.log?.(`${opts.client.creds.agency} answered ${request.id} with ${matched ? 'MATCH' : 'NO_MATCH'} (${res.status})`)
  }

  const server: Server = createServer(
    {
      cert: opts.client.creds.cert,
      key: opts.client.creds.key,
      ca: opts.client.creds.ca,
      requestCert: true,
      rejectUnauthorized: true
    },
    (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        void (async () => {
          if (req.method !== 'POST' || req.url !== '/v1/inbox') {
            res.writeHead(404).end()
            return
          }
          try {
            const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null
            const message = await accept(Buffer.concat(chunks).toString('utf8'), key)
            received.push(message)
            if (key !== null && isSeen(key)) {
              // Seen before: acknowledged again, acted on once. Logged, so that a
              // test reading only the log (the container sandbox's) can count them.
              duplicates++
              opts.log?.(`${opts.client.creds.agency} acknowledged a repeated push of ${message.id} (acted on once)`)
              res.writeHead(204).end()
              return
            }
            if (key !== null) rememberKey(key)
            // A bulk load pushes hundreds of thousands: keep the latest only, so the
            // mock's memory stays flat (trimmed in steps, not on every push).
            if (received.length >= 2 * RECEIVED_KEPT) received.splice(0, received.length - RECEIVED_KEPT)
            opts.onMessage?.(message)
            // A correction replaces the record it names, a retraction withdraws it: a real system applies either to what it holds.
            const supersedes =
              message.supersedes === null ? '' : `, ${message.supersedes.action === 'correct' ? 'correcting' : 'retracting'} ${message.supersedes.id}`
            opts.log?.(
              `${opts.client.creds.agency} received ${message.kind} ${message.id} from ${message.from}${supersedes} (signed by ${message.partnerKid ?? 'the partner, narrowed here'} and ${message.gatewayKid})`
            )
            res.writeHead(204).end()
            if (message.kind === 'biometric.match-request') {
              answer(message).catch((err: Error) => opts.log?.(`answer failed: ${err.message}`))
            }
          } catch (err) {
            // A push that does not verify is refused for good (a 4xx dead-letters it); one that could not be
            // checked (the gateway's keys could not be fetched again) is a moment's failure, to be pushed again.
            if (err instanceof errors.JOSEError || err instanceof SyntaxError) {
              res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'JWS_INVALID', detail: (err as Error).message }))
            } else {
              res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'SERVICE_UNAVAILABLE', detail: (err as Error).message }))
            }
          }
        })()
      })
    }
  )
  await new Promise<void>((resolve) => server.listen(opts.port, opts.host ?? '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}/v1/inbox`,
    received,
    responses,
    duplicates: () => duplicates,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
