import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Sealer } from '../gateway/lib/seal.ts'

t.test('sealed queue data opens only with the same key and the same message id', async (t) => {
  const sealer = new Sealer(randomBytes(32))
  const sealed = sealer.seal('eyJhbGciOiJFUzI1NiJ9.payload.sig', 'message-1')
  t.notMatch(sealed, /payload/, 'the plaintext does not show through')
  t.equal(sealer.unseal(sealed, 'message-1'), 'eyJhbGciOiJFUzI1NiJ9.payload.sig')
  t.throws(() => sealer.unseal(sealed, 'message-2'), 'bound to its message id')
  t.throws(() => new Sealer(randomBytes(32)).unseal(sealed, 'message-1'), 'another key cannot open it')
  const bytes = Buffer.from(sealed, 'base64')
  bytes[bytes.length - 1]! ^= 1
  t.throws(() => sealer.unseal(bytes.toString('base64'), 'message-1'), 'a flipped bit is detected')
  t.not(sealer.seal('same', 'id'), sealer.seal('same', 'id'), 'a fresh IV each time')
  t.throws(() => new Sealer(randomBytes(16)), 'keys are 32 bytes')
})
