import { CompactSign } from 'jose'
import type { SigningKey } from './signing-key.ts'

const encoder = new TextEncoder()

/** Signs `payload` (already serialised: what is signed is exactly what is sent). */
export function signCompactJws(payload: string, key: SigningKey, typ: string): Promise<string> {
  return new CompactSign(encoder.encode(payload))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ })
    .sign(key.key)
}
