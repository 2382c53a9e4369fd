// The code of a peer's problem document (RFC 9457), as this gateway may
// record it: the partner's answer to a delivery or to a checkpoint, an
// agency's answer to a push. Only the contract's own codes are kept (of an
// answer to a delivery, only those a delivery can be refused with:
// delivery/delivery-outcome.ts, deliveryAnswerCode); the rest of what a peer
// wrote is its own text, which never reaches the ledger, the logs or a
// message's status.
import { ERROR_CODES } from '../errors.ts'

/** The codes of the contract (docs/integrators.md, "Error codes"): the only ones a peer's answer is recorded by. */
const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES)

/**
 * The code of a peer's problem document, as the ledger, the message's status
 * and the logs may name it: one of `codes` (by default the contract's),
 * else UNKNOWN (the attempt is then recorded by its status). A webhook that answers
 * `"code": "no record of Jean Tremblay"` would otherwise write a name into a
 * ledger nothing can be purged from; and a code's form alone is no guard, as
 * a surname in capitals (`NGUYEN`) or a document number (`C4471862`) has it.
 */
export function problemCode(body: string, codes: ReadonlySet<string> = KNOWN_CODES): string {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code
    return typeof code === 'string' && codes.has(code) ? code : 'UNKNOWN'
  } catch {
    return 'UNKNOWN'
  }
}
