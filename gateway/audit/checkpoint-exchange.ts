// The two halves of bilateral checkpointing: countersigning a partner's
// checkpoint (read with checkpointer.ts's verifyCheckpointJws), and sending
// one's own and keeping the countersignature.
import { JwsInvalidError } from '../errors.ts'
import { parseSignedJson } from '../lib/safe-json.ts'
import { signCompactJws } from '../jws/sign-compact.ts'
import type { SigningKey, VerificationKey } from '../jws/signing-key.ts'
import { verifyCompactJws } from '../jws/verify-compact.ts'
import type { Poster } from '../delivery/tls-client.ts'
import type { Checkpoint, GatewayStore } from '../store/records.ts'
import type { CheckpointClaims } from './checkpointer.ts'

export const COUNTERSIGNATURE_TYP = 'btb-countersignature+jws'

export interface CountersignatureClaims extends CheckpointClaims {
  readonly countersignedBy: string
  readonly countersignedAt: string
}

export function countersignCheckpoint(claims: CheckpointClaims, self: string, key: SigningKey): Promise<string> {
  const countersigned: CountersignatureClaims = {
    gateway: claims.gateway,
    seq: claims.seq,
    hash: claims.hash,
    at: claims.at,
    countersignedBy: self,
    countersignedAt: new Date().toISOString()
  }
  return signCompactJws(JSON.stringify(countersigned), key, COUNTERSIGNATURE_TYP)
}

export async function readCountersignature(
  jws: string,
  { keys, owner, expected }: { keys: ReadonlyMap<string, VerificationKey>; owner: string; expected: Pick<Checkpoint, 'seq' | 'hash'> }
): Promise<CountersignatureClaims> {
  const { payload } = await verifyCompactJws(jws, { keys, owner, typ: COUNTERSIGNATURE_TYP })
  const claims = parseSignedJson(payload) as CountersignatureClaims
  if (claims.seq !== expected.seq || claims.hash !== expected.hash) throw new JwsInvalidError('the countersignature names another checkpoint')
  return claims
}

/** Sends a checkpoint to the partner and keeps its countersignature. */
export async function sendCheckpoint(
  checkpoint: Pick<Checkpoint, 'seq' | 'hash' | 'jws'>,
  deps: { client: Poster; url: string; store: GatewayStore; partnerKeys: ReadonlyMap<string, VerificationKey>; partnerOwner: string }
): Promise<void> {
  const res = await deps.client.post(deps.url, checkpoint.jws, 'application/jose')
  if (res.status !== 200) throw new Error(`the partner answered ${res.status}: ${res.body.slice(0, 200)}`)
  await readCountersignature(res.body, { keys: deps.partnerKeys, owner: deps.partnerOwner, expected: checkpoint })
  await deps.store.setCountersignature(checkpoint.seq, res.body)
}
