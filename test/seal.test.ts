import t from 'tap'
import { randomBytes } from 'node:crypto'
import { DEFLATE_MIN_BYTES, heldBytes, openedLength, Sealer } from '../gateway/lib/seal.ts'

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

t.test('a batch-sized text is deflated before it is sealed, and opens to the same bytes', async (t) => {
  const sealer = new Sealer(randomBytes(32))
  // A batch's push is base64url inside base64url: repetitive, as records are.
  const record = JSON.stringify({ designationType: 'trusted-traveller-member', programme: 'NEXUS', status: 'approved', document: { type: 'P' } })
  const payload = Buffer.from(JSON.stringify({ records: Array.from({ length: 2_000 }, (_, i) => `${record}${i}`) })).toString('base64url')
  const text = `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(JSON.stringify({ jws: `eyJhbGciOiJFUzI1NiJ9.${payload}.sig` })).toString('base64url')}.sig`
  t.ok(Buffer.byteLength(text) >= DEFLATE_MIN_BYTES, `${Buffer.byteLength(text)} bytes`)
  const sealed = sealer.seal(text, 'batch-1')
  const raw = Buffer.from(sealed, 'base64')
  t.equal(raw[0], 2, 'sealed as version 2 (deflated)')
  t.ok(raw.length * 3 < Buffer.byteLength(text), `the sealed bytes are under a third of the text (${raw.length} of ${Buffer.byteLength(text)})`)
  t.equal(sealer.unseal(sealed, 'batch-1'), text)
  t.same(sealer.unsealBytes(sealed, 'batch-1'), Buffer.from(text), 'and as bytes, what a delivery sends')
  t.equal(openedLength(sealed), Buffer.byteLength(text), 'what it opens to is read from its header, without the key')
  t.equal(heldBytes(sealed), sealed.length + Buffer.byteLength(text), 'a delivery holds the copy and what it opens to')
  t.throws(() => sealer.unseal(sealed, 'batch-2'), 'bound to its message id')

  // Relabelled as version 1, the text fails its tag: it is never inflated, nor read as plain.
  const relabelled = Buffer.from(raw)
  relabelled[0] = 1
  t.throws(() => sealer.unseal(relabelled.toString('base64'), 'batch-1'), /unable to authenticate|auth/i, 'the version is bound')
  const unknown = Buffer.from(raw)
  unknown[0] = 3
  t.throws(() => sealer.unseal(unknown.toString('base64'), 'batch-1'), /unknown sealed-data version/)
  // A header that lies about the length fails its tag before anything is inflated.
  const longer = Buffer.from(raw)
  longer.writeUInt32BE(longer.readUInt32BE(1) + 1, 1)
  t.throws(() => sealer.unseal(longer.toString('base64'), 'batch-1'), /unable to authenticate|auth/i, 'the length is bound')
})

t.test('a single message is sealed as it is (version 1), as every copy sealed before', async (t) => {
  const sealer = new Sealer(randomBytes(32))
  const text = `eyJhbGciOiJFUzI1NiJ9.${'x'.repeat(4_000)}.sig`
  const raw = Buffer.from(sealer.seal(text, 'message-1'), 'base64')
  t.equal(raw[0], 1, 'version 1')
  t.equal(raw.length, 1 + 12 + 16 + Buffer.byteLength(text), 'not deflated: version, IV, tag and the ciphertext of every byte')
  for (const length of [0, 1, 2, 3, 4_000]) {
    const plain = 'é'.repeat(length)
    t.equal(openedLength(sealer.seal(plain, 'm')), Buffer.byteLength(plain), `what ${length} characters open to, from the sealed length`)
  }
  // A version 2 label on a version 1 text fails its tag too.
  raw[0] = 2
  t.throws(() => sealer.unseal(raw.toString('base64'), 'message-1'), 'the version is bound')
})
