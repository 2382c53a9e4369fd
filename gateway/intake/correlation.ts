// A match response answers a match request (docs/integrators.md, "Answering a
// match request"): a matched traveller's identity and immigration history
// travel only on MATCH, as the answer to a query one agency put to the other, linked by
// `correlationId`. Without the link a match response would carry a person's
// identity to any agency on its recipient list, unasked. Both directions
// check it: the answering gateway against the request it received from the
// partner, the asking gateway against the request its agency sent.
import { AnswersNoRequestError } from '../errors.ts'
import type { Direction, MessageRecord } from '../store/records.ts'

export const MATCH_REQUEST = 'biometric.match-request'
export const MATCH_RESPONSE = 'biometric.match-response'

/** What the lookup needs of a message: its kind and correlationId, its purpose, and the agencies it goes from and to. */
export interface Correlated {
  readonly kind: string
  readonly correlationId?: string | null
  readonly purpose: string
  readonly from: { readonly agency: string }
  readonly to: { readonly agency: string }
}

/**
 * For a match response, looks up the request it answers in `requestDirection`
 * with `stored` (the intake's) and refuses it unless it answers one
 * (checkAnswers). A correction or retraction of a response this gateway
 * holds answers the request its original answered, which was checked when
 * the original came, and may since have been purged: it must name the same
 * one. Any other kind passes as it is.
 */
export async function requireRequestAnswered(
  message: Correlated,
  requestDirection: Direction,
  stored: (direction: Direction, id: string) => Promise<MessageRecord | undefined>,
  original?: MessageRecord
): Promise<void> {
  if (message.kind !== MATCH_RESPONSE) return
  const correlationId = message.correlationId ?? null
  if (original !== undefined) {
    if (correlationId !== original.correlationId) {
      throw new AnswersNoRequestError(`a correction or retraction answers the request its original answered: correlationId ${original.correlationId}`)
    }
    return
  }
  const request = correlationId === null ? undefined : await stored(requestDirection, correlationId)
  checkAnswers({ correlationId, purpose: message.purpose, fromAgency: message.from.agency, toAgency: message.to.agency }, request, requestDirection)
}

/** What the check needs of the response: its purpose, and the agencies it goes from and to. */
export interface Answer {
  readonly correlationId: string | null
  readonly purpose: string
  readonly fromAgency: string
  readonly toAgency: string
}

/** The agency of a system or recipient as the records name them: `CA/IRCC/gcms-biometrics` and `US/USCIS` are IRCC and USCIS. */
function agencyOf(name: string): string | undefined {
  return name.split('/')[1]
}

/**
 * Refuses a match response that answers no request, with a stable code,
 * before anything is written. `request` is the message stored under the
 * response's correlationId in the direction the request went: the answering
 * gateway received it (inbound), the asking gateway sent it (outbound). It
 * must be a match request of the same purpose, from the agency the response
 * goes to, to the agency that answers.
 */
export function checkAnswers(answer: Answer, request: MessageRecord | undefined, requestDirection: Direction): void {
  const { correlationId } = answer
  if (correlationId === null) throw new AnswersNoRequestError('correlationId is null: set it to the id of the request it answers')
  const where = requestDirection === 'inbound' ? 'received from the partner' : 'sent to the partner'
  if (request === undefined) throw new AnswersNoRequestError(`no match request ${where} has the id ${correlationId}`)
  const differs: string[] = []
  if (request.kind !== MATCH_REQUEST) differs.push(`it is a ${request.kind}`)
  if (request.purpose !== answer.purpose) differs.push(`its purpose is ${request.purpose}`)
  if (agencyOf(request.sender) !== answer.toAgency) differs.push(`it was sent by ${agencyOf(request.sender)}`)
  if (agencyOf(request.recipient) !== answer.fromAgency) differs.push(`it was sent to ${agencyOf(request.recipient)}`)
  // A retraction carries no query; a request withdrawn before it went, or
  // retracted since, asks nothing any more: an answer to it would disclose a
  // matched person to an agency that no longer asks.
  if (request.supersedes?.action === 'retract') differs.push('it is a retraction')
  else if (request.status === 'withdrawn') differs.push('it was withdrawn')
  else if (request.supersededBy?.action === 'retract') differs.push('it was retracted')
  if (differs.length > 0) throw new AnswersNoRequestError(`${correlationId}, ${where}: ${differs.join(', ')}`)
}
