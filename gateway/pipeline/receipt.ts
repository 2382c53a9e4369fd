// Step 9: proof of delivery (non-repudiation of receipt). The receiving
// gateway signs the digest of exactly the bytes it received; the sender keeps
// it. A retry of the same message gets the same receipt, never an error.
import { JwsInvalidError } from '../errors.ts'
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

/** Verifies a partner's receipt and that it names exactly what was sent. */
export async function verifyReceipt(
  jws: string,
  { keys, owner, expected }: { keys: ReadonlyMap<string, VerificationKey>; owner: string; expected: { messageId: string; digest: string } }
): Promise<Receipt> {
  const { payload } = await verifyCompactJws(jws, { keys, owner, typ: RECEIPT_TYP })
  const receipt = parseSignedJson(payload) as Receipt
  if (receipt.messageId !== expected.messageId || receipt.digest !== expected.digest) {
    throw new JwsInvalidError('the receipt does not name the message that was sent')
  }
  return receipt
}
