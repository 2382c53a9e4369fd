// AES-256-GCM sealing of what sits in the queue and the outbox: a Redis dump
// or a copied ledger file holds no readable personal data (P3).
//
// A large plaintext (a batch) is deflated before it is sealed. A batch's push
// is a JWS inside a JWS, base64url twice over, and deflate takes it to about a
// fifth (1 MB in about 5 ms of CPU). Every copy the gateway then makes of the
// sealed text is that much smaller: the clones between its threads, SQLite's
// write and read-back of the outbox row, the WAL, and the megabyte blocks
// glibc keeps resident afterwards (docs/measurements.md, "Speed and memory").
// Compressing before encrypting lets the ciphertext's length say how
// repetitive the plaintext was. That is no side channel across parties here:
// one sealed text is one message, all of it from one sender and its
// gateways, and the sealed copies are read only by the gateway itself.
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'

/** v1: the plaintext sealed as it is. Its header is the version byte alone. */
const PLAIN = 1
/**
 * v2: the plaintext deflated (raw DEFLATE, RFC 1951), then sealed. Its
 * header is the version byte and the plaintext's length (32 bits, big-endian),
 * so that what a sealed copy opens to is known before it is read
 * (`openedLength`).
 */
const DEFLATED = 2
const headerBytes = (version: number): number => (version === DEFLATED ? 5 : 1)
const IV_BYTES = 12
const TAG_BYTES = 16
/** From this many bytes of plaintext on, it is deflated: a single message (a few kilobytes) is not worth the CPU. */
export const DEFLATE_MIN_BYTES = 64 * 1024

// Loaded with the first large text, not with every gateway: most never seal one.
let zlib: typeof import('node:zlib') | undefined
const zlibModule = (): typeof import('node:zlib') => (zlib ??= process.getBuiltinModule('node:zlib'))

/**
 * What a ciphertext is bound to besides its header: v1 to the message id
 * alone, as it always has been; v2 to its header (version and length) and
 * then the id. A message id never begins with the byte 2, so neither can be
 * passed off as the other.
 */
function associatedData(header: Buffer, aad: string): Buffer {
  return header[0] === PLAIN ? Buffer.from(aad) : Buffer.concat([header, Buffer.from(aad)])
}

/**
 * How many bytes a sealed text opens to, from its header alone, without the
 * key: what a delivery will hold once it opens it (delivery/delivery-outcome.ts
 * counts it against the delivery budget). The header is checked when the text
 * is opened, not here.
 */
export function openedLength(sealed: string): number {
  // Eight base64 characters are the first six bytes: the longest header.
  const head = Buffer.from(sealed.slice(0, 8), 'base64')
  if (head[0] === DEFLATED && head.length >= headerBytes(DEFLATED)) return head.readUInt32BE(1)
  const padding = sealed.endsWith('==') ? 2 : sealed.endsWith('=') ? 1 : 0
  return Math.max(0, Math.floor((sealed.length * 3) / 4) - padding - headerBytes(PLAIN) - IV_BYTES - TAG_BYTES)
}

/**
 * What a delivery holds of a sealed copy while it is in hand: the copy as it
 * was read, and the message it opens to. The delivery budget counts this
 * (lib/byte-budget.ts): a deflated batch is a fifth of the message it opens to.
 */
export function heldBytes(sealed: string): number {
  return sealed.length + openedLength(sealed)
}

export class Sealer {
  /**
   * Imported once: node:crypto checks and imports a Buffer key on every
   * cipher it makes, which made sealing a message cost 26 µs here instead of 15.
   */
  readonly #key: KeyObject

  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError('the sealing key must be 32 bytes')
    this.#key = createSecretKey(key)
  }

  /** `aad` binds the ciphertext to what it belongs to (the message id), so sealed blobs cannot be swapped. */
  seal(plaintext: string, aad: string): string {
    // A batch is megabytes, and each transient copy of it is memory the
    // allocator keeps resident (docs/measurements.md, "Speed and memory"). So
    // the text becomes bytes first (given a string, node:crypto makes a
    // buffer three times its length for its UTF-8), and the parts are
    // concatenated once: GCM holds nothing back, so `rest` is empty.
    let bytes = Buffer.from(plaintext, 'utf8')
    let header = Buffer.of(PLAIN)
    if (bytes.length >= DEFLATE_MIN_BYTES) {
      header = Buffer.alloc(headerBytes(DEFLATED))
      header[0] = DEFLATED
      header.writeUInt32BE(bytes.length, 1)
      // Level 1: nearly all of what level 6 saves on this text, in a third of the time.
      bytes = zlibModule().deflateRawSync(bytes, { level: 1 })
    }
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(associatedData(header, aad))
    const body = cipher.update(bytes)
    const rest = cipher.final()
    return Buffer.concat([header, iv, cipher.getAuthTag(), body, rest]).toString('base64')
  }

  unseal(sealed: string, aad: string): string {
    return this.unsealBytes(sealed, aad).toString('utf8')
  }

  /**
   * The plaintext as bytes: what a delivery sends. A batch's JWS is a
   * megabyte or two, and decoding it to a string only for the HTTP client to
   * encode it again cost the event loop two copies of it per delivery.
   */
  unsealBytes(sealed: string, aad: string): Buffer {
    const raw = Buffer.from(sealed, 'base64')
    const version = raw[0]
    if (version !== PLAIN && version !== DEFLATED) throw new Error('unknown sealed-data version')
    const header = raw.subarray(0, headerBytes(version))
    const iv = raw.subarray(header.length, header.length + IV_BYTES)
    const tag = raw.subarray(header.length + IV_BYTES, header.length + IV_BYTES + TAG_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv)
    // The header is bound too: a v2 text relabelled v1 fails its tag, and is never inflated.
    decipher.setAAD(associatedData(header, aad))
    decipher.setAuthTag(tag)
    const body = decipher.update(raw.subarray(header.length + IV_BYTES + TAG_BYTES))
    // final() checks the tag and, GCM holding nothing back, adds no bytes:
    // the body is used as it is rather than copied once more. Nothing is
    // inflated before the tag has been checked.
    const rest = decipher.final()
    const opened = rest.length === 0 ? body : Buffer.concat([body, rest])
    if (version === PLAIN) return opened
    // No more than the header says: it was authenticated with the rest.
    const length = header.readUInt32BE(1)
    const inflated = zlibModule().inflateRawSync(opened, { maxOutputLength: length })
    if (inflated.length !== length) throw new Error('a sealed text opened to another length than its header gives')
    return inflated
  }
}
