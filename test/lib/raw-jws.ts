// Compact JWS built from raw text, for tests that must send what jose would
// never produce: duplicate header members, unknown parameters, a payload
// that is not what JSON.stringify writes. Signed for real with the key given.
import { sign, type KeyObject } from 'node:crypto'

const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64url')

export function signRaw(headerText: string, payload: string | Buffer, key: { signingKey: KeyObject; alg: 'ES256' | 'EdDSA' }): string {
  const input = `${b64(headerText)}.${b64(payload)}`
  const signature =
    key.alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key: key.signingKey, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(input), key.signingKey)
  return `${input}.${b64(signature)}`
}

/** The header an agency system is told to write (docs/integrators.md, "Sign"), plus or minus members. */
export function headerText(fields: { alg: string; kid: string }, extra = ''): string {
  return `{"alg":"${fields.alg}","kid":"${fields.kid}","typ":"btb-envelope+jws"${extra}}`
}
