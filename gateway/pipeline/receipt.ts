// Step 9: proof of delivery (non-repudiation of receipt). The receiving
// gateway signs the digest of exactly the compact JWS it received (the body,
// whitespace around it set aside: gateway/plugins/body-parsers.ts); the sender
// keeps it. A retry of the same message gets the same receipt, never an error.
import { ERROR_CODES, JwsInvalidError } from '../errors.ts'
import { isInstant } from '../lib/instant.ts'
import { parseSignedJson } from '../lib/safe-json.ts'
import { signCompactJws } from '../jws/sign-compact.ts'
import type { SigningKey, VerificationKey } from '../jws/signing-key.ts'
import { verifyCompactJws } from '../jws/verify-compact.ts'

export const RECEIPT_TYP = 'btb-receipt+jws'

export interface Receipt {
  readonly messageId: string
  /** base64url SHA-256 of the JWS as received. */
  readonly digest: string
  readonly receivedAt: string
  readonly receiver: string
  readonly policyVersion: string
}

export function signReceipt(receipt: Receipt, key: SigningKey): Promise<string> {
  return signCompactJws(JSON.stringify(receipt), key, RECEIPT_TYP)
}

/** The contract's codes, by which a receipt's JWS or JSON is refused. */
const CODES: ReadonlySet<unknown> = new Set(ERROR_CODES)

/**
 * A receipt whose JWS or JSON is refused, named by the code of the check that
 * refused it. The error becomes the attempt's record, a log line and BullMQ's
 * failed reason, which Redis's events stream keeps after the job is removed
 * (docs/architecture.md, "Privacy principles in code"); and those checks
 * quote what they refuse, all of it the partner's text: the protected
 * header's typ, kid, alg or a parameter's name, read before the signature, or
 * a member's name. A partner at fault could write a traveller's name there.
 */
function refused(err: unknown): Error {
  const code = (err as { code?: unknown } | null)?.code
  return new JwsInvalidError(`the receipt was refused: ${CODES.has(code) ? String(code) : 'it could not be read'}`)
}

const RECEIPT_MEMBERS = ['messageId', 'digest', 'receivedAt', 'receiver', 'policyVersion'] as const

/**
 * Verifies a partner's receipt, and that it is the whole proof the sender
 * keeps: it names exactly what was sent, received by the partner's gateway
 * (the owner of its key), at an instant, under a policy version. Members a
 * later version may add are let through.
 */
export async function verifyReceipt(
  jws: string,
  { keys, owner, expected }: { keys: ReadonlyMap<string, VerificationKey>; owner: string; expected: { messageId: string; digest: string } }
): Promise<Receipt> {
  let value: unknown
  try {
    const { payload } = await verifyCompactJws(jws, { keys, owner, typ: RECEIPT_TYP })
    value = parseSignedJson(payload)
  } catch (err) {
    throw refused(err)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new JwsInvalidError('the receipt is not a JSON object')
  const fields = value as Record<string, unknown>
  const missing = RECEIPT_MEMBERS.find((name) => typeof fields[name] !== 'string')
  if (missing !== undefined) throw new JwsInvalidError(`the receipt has no ${missing} as text`)
  const receipt = value as Receipt
  if (receipt.messageId !== expected.messageId || receipt.digest !== expected.digest) {
    throw new JwsInvalidError('the receipt does not name the message that was sent')
  }
  // Said without quoting the partner's text: the error becomes the attempt's
  // record, a log line and BullMQ's failed reason.
  if (receipt.receiver !== owner) throw new JwsInvalidError(`the receipt names another receiver than ${owner}`)
  if (!isInstant(receipt.receivedAt)) throw new JwsInvalidError("the receipt's receivedAt is not an instant")
  return receipt
}
