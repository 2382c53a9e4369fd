// The receiving side's inputs, as a test makes them: an envelope as the
// partner gateway forwards it (minimised by the sender's outbound policy,
// with its handling, signed with the partner gateway's own key), the
// headers that present the partner's certificate to an injected gateway,
// and an agency's webhook with a test's answers.
import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { signCompactJws } from '../../gateway/jws/sign-compact.ts'
import { PolicyBook } from '../../gateway/pipeline/apply-policy.ts'
import { ENVELOPE_TYP, handlingFor } from '../../gateway/pipeline/envelope.ts'
import { loadTrustStore } from '../../gateway/trust/trust-store.ts'
import { loadAgencyCredentials } from '../../sandbox/agency-client.ts'
import { sampleEnvelope } from '../../sandbox/sample-messages.ts'
import { citableBy } from '../../policies/authorities.ts'
import { KEYS_DIR, presenting } from '../helper.ts'

type Country = 'CA' | 'US'

const PARTNER_OF = { CA: 'US', US: 'CA' } as const
/** The agency system each side's samples go to, as `SYSTEMS` names them. */
const RECEIVER = { CA: { agency: 'CBSA', system: 'pik-primary' }, US: { agency: 'CBP', system: 'ades' } } as const

export interface Forwarded {
  readonly id: string
  readonly envelope: Record<string, unknown>
  readonly jws: string
}

export interface ForwardedOptions {
  /** Changes to the handling the partner's policy gives (a partner at fault, or hostile). */
  readonly handling?: (honest: Record<string, unknown>) => Record<string, unknown>
  /** Envelope members set after the rest (`id`, `supersedes`…), signed as they are. */
  readonly envelope?: Record<string, unknown>
  /** Another message in place of the entry record (its kind, purpose, payload…), minimised by the partner's policy like it. */
  readonly message?: Record<string, unknown>
}

/** An entry record (or `message`) the partner of `to` forwards to it, signed with that partner gateway's key. */
export async function forwardedTo(to: Country, opts: ForwardedOptions = {}): Promise<Forwarded> {
  const from = PARTNER_OF[to]
  const sender = RECEIVER[from]
  const envelope: Record<string, unknown> = {
    ...sampleEnvelope('entry-exit.record', from, { country: to, agency: RECEIVER[to].agency }),
    ...opts.message,
    id: randomUUID(),
    from: { country: from, ...sender },
    createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  }
  const book = new PolicyBook(randomBytes(32), randomBytes(32))
  const policy = book.select(envelope as never, 'outbound')
  envelope.payload = book.apply(policy, envelope.payload as never).payload
  const honest = handlingFor(policy, { forwardedBy: from, forwardedAt: new Date().toISOString(), originDigest: 'A'.repeat(43) })
  envelope.handling = opts.handling?.({ ...honest }) ?? honest
  Object.assign(envelope, opts.envelope)
  const partner = loadTrustStore(join(KEYS_DIR, from, 'trust.json'))
  return { id: String(envelope.id), envelope, jws: await signCompactJws(JSON.stringify(envelope), partner.signingKey, ENVELOPE_TYP) }
}

/** Each side's immigration agency and the system of it that asks for matches, as `SYSTEMS` names them. */
const IMMIGRATION = { CA: { agency: 'IRCC', system: 'gcms-biometrics' }, US: { agency: 'USCIS', system: 'ident-gateway' } } as const

/**
 * A match request the partner of `to` forwards from its immigration agency to
 * `to`'s, for `purpose`, received by `gateway` (an injected one of `to`):
 * what a match response of `to`'s agency answers (gateway/intake/correlation.ts).
 * Its id and purpose, for the response's `correlationId` and `purpose`.
 */
export async function requestReceived(
  gateway: { inject(opts: { method: 'POST'; url: string; payload: string; headers: Record<string, string> }): Promise<{ statusCode: number; body: string }> },
  to: Country,
  purpose = 'immigration-examination'
): Promise<{ readonly id: string; readonly purpose: string }> {
  const from = PARTNER_OF[to]
  const request = sampleEnvelope('biometric.match-request', from, { country: to, agency: IMMIGRATION[to].agency })
  const authorities = citableBy(from, 'biometric.match-request', purpose)
  const sent = await forwardedTo(to, {
    message: { ...request, purpose, legalAuthority: authorities[0] ?? request.legalAuthority },
    envelope: { from: { country: from, ...IMMIGRATION[from] } }
  })
  const res = await gateway.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf(to) })
  if (res.statusCode !== 200) throw new Error(`the partner's match request was refused: ${res.statusCode} ${res.body}`)
  return { id: sent.id, purpose }
}

/**
 * A match request `asker` (an agency client of a gateway: `client(t, 'USCIS',
 * url)`) sends to the partner's immigration agency, for `purpose`: what a
 * match response the partner forwards answers (gateway/intake/correlation.ts).
 * Its id and purpose.
 */
export async function requestSent(
  asker: {
    envelope(e: Record<string, unknown>): Record<string, unknown>
    sign(e: Record<string, unknown>): Promise<string>
    submit(jws: string): Promise<{ status: number; body: string }>
    readonly creds: { readonly country: string }
  },
  purpose = 'immigration-examination'
): Promise<{ readonly id: string; readonly purpose: string }> {
  const from = asker.creds.country as Country
  const to = PARTNER_OF[from]
  const request = sampleEnvelope('biometric.match-request', from, { country: to, agency: IMMIGRATION[to].agency })
  const authorities = citableBy(from, 'biometric.match-request', purpose)
  const envelope = asker.envelope({ ...request, purpose, legalAuthority: authorities[0] ?? request.legalAuthority })
  const res = await asker.submit(await asker.sign(envelope))
  if (res.status !== 202) throw new Error(`the match request was refused: ${res.status} ${res.body}`)
  return { id: String(envelope.id), purpose }
}

/** Headers for an injected POST /v1/exchange to `to`'s gateway: its partner gateway's certificate, and a JWS body. */
export function asPartnerOf(to: Country): Record<string, string> {
  return { 'content-type': 'application/jose', ...presenting(readFileSync(join(KEYS_DIR, PARTNER_OF[to], 'gateway.crt.pem'), 'utf8')) }
}

export interface Push {
  readonly idempotencyKey: string | undefined
  readonly body: string
}

/**
 * The webhook of `country`'s receiving agency system in the samples, over
 * mTLS with that system's certificate; `answer` answers each push (the n-th,
 * from 1). Closed when the test ends.
 */
export async function agencyWebhook(
  t: { teardown(fn: () => unknown): void },
  country: Country,
  answer: (res: ServerResponse, n: number, req: IncomingMessage) => void = (res) => void res.writeHead(204).end()
): Promise<{ readonly url: string; readonly pushes: readonly Push[] }> {
  const { agency, system } = RECEIVER[country]
  // The system's own certificate, asking for the gateway's, as its webhook would (sandbox/mock-agency.ts).
  const { cert, key, ca } = loadAgencyCredentials(KEYS_DIR, country, agency, system)
  const pushes: Push[] = []
  const server = createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true }, async (req, res) => {
    let body = ''
    for await (const chunk of req) body += chunk
    const idempotencyKey = req.headers['idempotency-key']
    pushes.push({ idempotencyKey: typeof idempotencyKey === 'string' ? idempotencyKey : undefined, body })
    answer(res, pushes.length, req)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  )
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}/v1/inbox`, pushes }
}
