// pipeline/prepare-outbound.ts textDigests and submissionDigests: the digests of a submission's
// text, taken from one copy of its bytes, are the ones its string gives: the
// receipt's SHA-256 and the ledger's keyed digest do not change with how
// they are computed, for any text a client can send.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { sha256 } from '../gateway/lib/digest.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import { submissionDigests, textDigests } from '../gateway/pipeline/prepare-outbound.ts'

t.test("a text's digests from its bytes are its string's digests", async (t) => {
  const book = new PolicyBook(randomBytes(32), randomBytes(32))
  const texts = [
    'eyJhbGciOiJFUzI1NiJ9.eyJpZCI6IjEifQ.c2ln',
    // Not a JWS, as a refused body may be: accents, a character outside the BMP, a lone surrogate.
    'Ané Côté \u{1F6C2} \ud800 end',
    'x'.repeat(3 * 2 ** 20)
  ]
  for (const text of texts) {
    const { digest, auditDigest } = textDigests(text, book)
    t.equal(digest, sha256(text), `SHA-256 of ${text.length} characters`)
    t.equal(auditDigest, book.digest(text), `keyed digest of ${text.length} characters`)
  }
  t.not(textDigests('a', book).auditDigest, new PolicyBook(randomBytes(32), randomBytes(32)).digest('a'), 'keyed: another key gives another digest')
})

t.test("a submission's payload digest is its payload segment's, whatever the signature", async (t) => {
  const book = new PolicyBook(randomBytes(32), randomBytes(32))
  const first = submissionDigests('eyJhbGciOiJFUzI1NiJ9.eyJpZCI6IjEifQ.c2ln', book)
  t.equal(first.payloadDigest, book.digest('eyJpZCI6IjEifQ'), 'the segment between the two dots, keyed')
  t.same(
    textDigests('eyJhbGciOiJFUzI1NiJ9.eyJpZCI6IjEifQ.c2ln', book),
    { digest: first.digest, auditDigest: first.auditDigest },
    'and the two digests of the text'
  )
  const signedAgain = submissionDigests('eyJhbGciOiJFUzI1NiJ9.eyJpZCI6IjEifQ.b3RoZXI', book)
  t.equal(signedAgain.payloadDigest, first.payloadDigest, 'another signature: the same payload digest')
  t.not(signedAgain.digest, first.digest, 'but another digest of the text')
  t.not(submissionDigests('eyJhbGciOiJFUzI1NiJ9.eyJpZCI6IjIifQ.c2ln', book).payloadDigest, first.payloadDigest, 'another payload: another')
  // Not a JWS: refused before any id is looked up, so its payload digest is never compared.
  t.equal(submissionDigests('Ané Côté \u{1F6C2}', book).payloadDigest, book.digest(''), 'no segment: the empty one')
})
