// AES-256-GCM sealing of what sits in the queue and the outbox: a Redis dump
// or a copied ledger file holds no readable personal data (P3).
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'

const VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16

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
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(aad))
    // A batch is megabytes, and each transient copy of it is memory the
    // allocator keeps resident (docs/measurements.md, "Speed and memory"). So
    // the text becomes bytes first (given a string, node:crypto makes a
    // buffer three times its length for its UTF-8), and the parts are
    // concatenated once: GCM holds nothing back, so `rest` is empty.
    const body = cipher.update(Buffer.from(plaintext, 'utf8'))
    const rest = cipher.final()
    return Buffer.concat([Buffer.of(VERSION), iv, cipher.getAuthTag(), body, rest]).toString('base64')
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
    if (raw[0] !== VERSION) throw new Error('unknown sealed-data version')
    const iv = raw.subarray(1, 1 + IV_BYTES)
    const tag = raw.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv)
    decipher.setAAD(Buffer.from(aad))
    decipher.setAuthTag(tag)
    const body = decipher.update(raw.subarray(1 + IV_BYTES + TAG_BYTES))
    // final() checks the tag and, GCM holding nothing back, adds no bytes:
    // the body is returned as it is rather than copied once more.
    const rest = decipher.final()
    return rest.length === 0 ? body : Buffer.concat([body, rest])
  }
}
