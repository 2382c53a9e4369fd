// A message this gateway signed and sealed, signed again with members of its
// envelope changed, once what they must say is known from the ledger: the
// sending gateway's forwarded envelope with its handling's earlier links, the
// receiving gateway's push naming the link it holds (docs/integrators.md,
// "Corrections and retractions"). Both are found only after the preparation
// (prepare-outbound.ts, prepare-inbound.ts) signed the message, and are
// rare: a correction of a link not yet delivered. Pure like the preparations,
// so that a large one runs on a worker thread (pipeline-pool.ts).
import { ForwardTooLargeError } from '../errors.ts'
import { signCompactJws } from '../jws/sign-compact.ts'
import type { SigningKey } from '../jws/signing-key.ts'
import { parseSignedJson } from '../lib/safe-json.ts'
import type { PipelineTools } from './prepare-outbound.ts'

export interface AmendTask {
  /** The sealed JWS, as a preparation made it, and the message id it is sealed under. */
  readonly sealed: string
  readonly id: string
  /** Its `typ` (ENVELOPE_TYP or PUSH_TYP), kept. */
  readonly typ: string
  readonly signingKey: SigningKey
  /** Envelope members set in place of those signed. */
  readonly members?: Readonly<Record<string, unknown>>
  /** Members of its `handling` set in place of those signed. */
  readonly handling?: Readonly<Record<string, unknown>>
  /** The most bytes the new JWS may have (a forwarded envelope must fit the partner's body limit, as in prepareOutbound). */
  readonly limitBytes?: number
}

/** The message signed again with the members changed, sealed for the outbox and the queue. */
export async function amendSealed(task: AmendTask, tools: Pick<PipelineTools, 'sealer'>): Promise<string> {
  const jws = tools.sealer.unseal(task.sealed, task.id)
  const payload = jws.slice(jws.indexOf('.') + 1, jws.lastIndexOf('.'))
  const envelope = parseSignedJson(Buffer.from(payload, 'base64url')) as Record<string, unknown> & { handling?: Record<string, unknown> }
  const amended = {
    ...envelope,
    ...task.members,
    ...(task.handling === undefined ? {} : { handling: { ...envelope.handling, ...task.handling } })
  }
  const signed = await signCompactJws(JSON.stringify(amended), task.signingKey, task.typ)
  if (task.limitBytes !== undefined && signed.length > task.limitBytes) throw new ForwardTooLargeError(task.limitBytes)
  return tools.sealer.seal(signed, task.id)
}
