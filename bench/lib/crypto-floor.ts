// The crypto floor of one submission (docs/architecture.md, "Targets"):
// exactly the signatures, verifications, digests, HMACs and the sealing that
// one accepted message costs the gateway, done back to back on one core with
// node:crypto and keys already imported. No gateway can ingest faster on one
// core than this; the ingest figure is shown beside it.
//
// What one message costs is read off a real one, not assumed: a submission
// is made through the gateway and its ledger entry says how many field
// decisions (a keyed digest each) and traveller subjects (another each) it
// took.
import { createCipheriv, createHash, createHmac, createPublicKey, createSecretKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import { derToJose, joseToDer } from 'ecdsa-sig-formatter'
import { injectGateway, client, startExchange, testConfig } from '../../test/helper.ts'
import { sampleEnvelope } from '../../sandbox/sample-messages.ts'
import { withTeardowns } from './common.ts'

export interface CryptoWork {
  /** Compact JWS: the agency's submission. */
  readonly submission: string
  /** The agency's public key, and the gateway's key pair (ES256 both, as in keys-example/). */
  readonly agencyKey: KeyObject
  readonly gatewayKey: KeyObject
  readonly gatewayPublicKey: KeyObject
  /** The access token the submission came with (signed by the gateway). */
  readonly token: string
  /** Keyed digests one submission takes: one per field decision and per traveller subject, and the message's own. */
  readonly hmacs: number
}

export interface CryptoFloor {
  readonly perSecond: number
  readonly work: Omit<CryptoWork, 'agencyKey' | 'gatewayKey' | 'gatewayPublicKey' | 'submission' | 'token'> & { readonly submissionBytes: number }
}

/** One entry-exit.record from CBSA through an in-process gateway: the work it took, with the keys to redo it. */
export async function submissionWork(): Promise<CryptoWork> {
  return withTeardowns(async (t) => {
    const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
    const cbsa = client(t, 'CBSA', gw.url)
    const submission = await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' })))
    const token = await cbsa.token()
    const res = await cbsa.submit(submission)
    if (res.status !== 202) throw new Error(`crypto floor: the sample submission got ${res.status}`)
    const head = await gw.app.store.auditHead()
    const { entry } = (await gw.app.store.auditEntry(head!.seq))!
    const signing = gw.app.trust.signingKey
    return {
      submission,
      agencyKey: createPublicKey(cbsa.creds.signingKey),
      gatewayKey: signing.key,
      gatewayPublicKey: createPublicKey(signing.key),
      token,
      hmacs: entry.fields.length + entry.subjects.length + 1
    }
  })
}

/** Keyed digests the receiving gateway's `received` entry takes for one entry-exit.record from CBSA, read off a real exchange in this process. */
export async function receivedDigests(): Promise<number> {
  return withTeardowns(async (t) => {
    const ex = await startExchange(t, { logLevel: 'silent' })
    const cbsa = ex.clients.CBSA
    const res = await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))
    if (res.status !== 202) throw new Error(`crypto floor: the sample submission got ${res.status}`)
    const deadline = Date.now() + 30_000
    for (;;) {
      // The US ledger's first entry is the message's `received` one.
      const first = await ex.us.app.store.auditEntry(1)
      if (first !== undefined) {
        if (first.entry.event !== 'received') throw new Error(`crypto floor: the partner's first entry is "${first.entry.event}"`)
        return first.entry.fields.length + first.entry.subjects.length + 1
      }
      if (Date.now() > deadline) throw new Error('crypto floor: the partner did not receive the sample message within 30 s')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })
}

/** A field value to take keyed digests of: 24 characters of the submission's payload. */
function fieldValueOf(work: CryptoWork): string {
  return work.submission.slice(work.submission.indexOf('.') + 1, work.submission.indexOf('.') + 25)
}

function verifyJws(jws: string, key: KeyObject): boolean {
  const dot = jws.lastIndexOf('.')
  // As the gateway verifies (gateway/jws/verify-compact.ts): DER and the KeyObject alone, the fastest form node:crypto has.
  return verify('sha256', Buffer.from(jws.slice(0, dot)), key, joseToDer(jws.slice(dot + 1), 'ES256'))
}

/** Submissions/s of the floor, measured for `durationMs` on this thread. */
export function measureCryptoFloor(work: CryptoWork, durationMs: number): CryptoFloor {
  // Keys as KeyObjects, as the gateway holds them: an HMAC under a KeyObject
  // costs a quarter of one under a Buffer (2.8 µs against 12.5 µs here).
  const auditKey = createSecretKey(randomBytes(32))
  const sealKey = createSecretKey(randomBytes(32))
  const fieldValue = fieldValueOf(work)
  let done = 0
  const started = performance.now()
  while (performance.now() - started < durationMs) {
    for (let i = 0; i < 50; i++) {
      if (!verifyJws(work.token, work.gatewayPublicKey) || !verifyJws(work.submission, work.agencyKey))
        throw new Error('crypto floor: a signature did not verify')
      createHash('sha256').update(work.submission).digest()
      for (let h = 0; h < work.hmacs; h++) createHmac('sha256', auditKey).update(fieldValue).digest()
      // The forwarded message: about the submission's size, signed, then sealed for the outbox.
      const signature = derToJose(sign('sha256', Buffer.from(work.submission.slice(0, work.submission.lastIndexOf('.'))), work.gatewayKey), 'ES256')
      const cipher = createCipheriv('aes-256-gcm', sealKey, randomBytes(12))
      cipher.update(work.submission)
      cipher.update(signature)
      cipher.final()
      cipher.getAuthTag()
      done++
    }
  }
  return { perSecond: done / ((performance.now() - started) / 1000), work: { hmacs: work.hmacs, submissionBytes: work.submission.length } }
}

/** µs of CPU for each operation a message's floor counts (bench/lib/message-floor.ts). */
export interface CryptoOpCosts {
  /** An ES256 signature over the submission's signing input, in JWS form. */
  readonly signUs: number
  /** An ES256 verification of the submission, as the gateway verifies. */
  readonly verifyUs: number
  /** A keyed digest (HMAC-SHA256 under a KeyObject) of a field's value. */
  readonly hmacUs: number
}

/**
 * Each operation back to back for a third of `durationMs`. Its CPU is the
 * whole process's (as bench/lib/raw-sqlite.ts reads it, to the microsecond):
 * only meaningful while nothing else runs in this process.
 */
export function measureCryptoOps(work: CryptoWork, durationMs: number): CryptoOpCosts {
  const auditKey = createSecretKey(randomBytes(32))
  const signingInput = Buffer.from(work.submission.slice(0, work.submission.lastIndexOf('.')))
  const fieldValue = fieldValueOf(work)
  const costOf = (op: () => void): number => {
    const cpu = process.cpuUsage()
    const started = performance.now()
    let done = 0
    while (performance.now() - started < durationMs / 3) {
      for (let i = 0; i < 20; i++) op()
      done += 20
    }
    const used = process.cpuUsage(cpu)
    return (used.user + used.system) / done
  }
  return {
    signUs: costOf(() => derToJose(sign('sha256', signingInput, work.gatewayKey), 'ES256')),
    verifyUs: costOf(() => {
      if (!verifyJws(work.submission, work.agencyKey)) throw new Error('crypto floor: a signature did not verify')
    }),
    hmacUs: costOf(() => createHmac('sha256', auditKey).update(fieldValue).digest())
  }
}
