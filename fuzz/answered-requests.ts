// The match requests the templates' match responses answer, in place before
// the campaign sends any: a gateway takes no match response that answers no
// request, and each side checks it (gateway/intake/correlation.ts).
//
// - A response IRCC submits goes to USCIS: it answers a request USCIS sent
//   through the U.S. gateway of the pair, which that gateway delivered to
//   CA's. sendAskedRequests sends those, under the ids the responses name.
// - A response the fuzzer forwards as the U.S. gateway answers a request IRCC
//   submitted to CA's gateway: answeredRequestCases are those submissions,
//   sent first among the bootstrap's cases.
import { listExamples } from '../schemas/index.ts'
import { AgencyClient, loadAgencyCredentials } from '../sandbox/agency-client.ts'
import { validHttp } from './arbitraries/http.ts'
import { OWN_SIGNING } from './arbitraries/jws.ts'
import type { SubmitCase } from './case.ts'
import { KEYS_DIR } from './identities.ts'
import type { Targets } from './targets.ts'
import { EXCHANGE_TEMPLATES, SUBMISSION_TEMPLATES } from './templates.ts'

const MATCH_REQUEST = 'biometric.match-request'
const MATCH_RESPONSE = 'biometric.match-response'

/** The correlationIds of these templates' match responses, each with the purpose it answers, once. */
function answered(templates: ReadonlyArray<{ readonly kind: string; readonly envelope: Readonly<Record<string, unknown>> }>): Map<string, string> {
  const found = new Map<string, string>()
  for (const t of templates) {
    const id = t.envelope.correlationId
    if (t.kind === MATCH_RESPONSE && typeof id === 'string') found.set(id, String(t.envelope.purpose))
  }
  return found
}

/** IRCC's submissions of the requests the forwarded responses answer, each under the id they name. */
export function answeredRequestCases(): SubmitCase[] {
  return [...answered(EXCHANGE_TEMPLATES)].map(([id, purpose]) => {
    const template = SUBMISSION_TEMPLATES.findIndex((t) => t.kind === MATCH_REQUEST && t.envelope.purpose === purpose)
    if (template < 0) throw new Error(`fuzz: no match request template of ${purpose} for the responses to ${id} to answer`)
    return {
      kind: 'submit',
      endpoint: 'messages',
      family: 'bootstrap',
      body: {
        template,
        envelope: [{ tag: 'answered-request-id', effect: 'ok', op: 'set', path: ['id'], value: { json: id } }],
        text: [],
        header: [],
        signing: OWN_SIGNING,
        encoding: []
      },
      http: validHttp('messages', SUBMISSION_TEMPLATES[template]!.sender)
    }
  })
}

/** How long the pair may take to deliver one of them to CA's gateway and push it to IRCC. */
const DELIVERED_WITHIN_MS = 20_000

/** USCIS's requests, through the U.S. gateway, that IRCC's responses answer, each under the id they name: back once each is delivered and pushed. */
export async function sendAskedRequests(targets: Targets): Promise<void> {
  const uscis = new AgencyClient(loadAgencyCredentials(KEYS_DIR, 'US', 'USCIS', 'ident-gateway'), targets.us.url)
  try {
    for (const [id, purpose] of answered(SUBMISSION_TEMPLATES)) {
      const example = listExamples(MATCH_REQUEST).find(
        (e) => e.valid && (e.envelope as { from: { country: string } }).from.country === 'US' && (e.envelope as { purpose: string }).purpose === purpose
      )
      if (example === undefined) throw new Error(`fuzz: no U.S. match request example of ${purpose} for the responses to ${id} to answer`)
      const { id: _id, from: _from, createdAt: _createdAt, ...request } = structuredClone(example.envelope) as Record<string, unknown>
      const envelope = { ...uscis.envelope(request), id }
      const res = await uscis.submit(await uscis.sign(envelope))
      if (res.status !== 202) throw new Error(`fuzz: the U.S. gateway refused the match request ${id}: ${res.status} ${res.body}`)
      // Delivered to CA's gateway and pushed to IRCC: nothing more of it is written to either ledger.
      const deadline = Date.now() + DELIVERED_WITHIN_MS
      const done = async () =>
        (await targets.messageStatus('US', 'outbound', id)) === 'delivered' && (await targets.messageStatus('CA', 'inbound', id)) === 'delivered'
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error(`fuzz: the match request ${id} was not delivered and pushed within ${DELIVERED_WITHIN_MS / 1000} s`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  } finally {
    await uscis.close()
  }
}
