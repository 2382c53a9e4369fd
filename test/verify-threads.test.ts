// Verification checks pages on worker threads while it reads the next ones
// (gateway/audit/ledger-pages.ts, entry-check-pool.ts): the entry it names is
// still the first that does not verify, whichever thread found it and however
// many pages were read past it, and the result is the same on one thread as
// on several.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkEntries, isCanonicalInstant, type PackedTexts, packedLeaves, packTexts } from '../gateway/audit/entry-checks.ts'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { GENESIS_HASH, chainHash } from '../gateway/store/audit-chain.ts'
import { normaliseInstant } from '../gateway/store/audit-index.ts'
import { leafHash } from '../gateway/store/merkle-tree.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import type { GatewayStore } from '../gateway/store/records.ts'
import { sqliteTamper, type Tamper } from './lib/ledger-tamper.ts'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const PAGE = 8
const LENGTH = 5 * PAGE

async function ledger(t: Test): Promise<{ store: SqliteStore; tamper: Tamper }> {
  const dir = mkdtempSync(join(tmpdir(), 'btb-verify-threads-'))
  const path = join(dir, 'ledger.sqlite')
  const store = new SqliteStore(path)
  for (let i = 1; i <= LENGTH; i++) {
    await store.appendAudit(
      auditEntry({
        event: 'accepted',
        direction: 'outbound',
        messageId: `m-${i}`,
        at: new Date(Date.UTC(2026, 10, 20, 0, i)).toISOString(),
        subjects: [`subject-${i}`, `subject-${i + 1}`],
        fields: [
          { path: 'traveller.surname', action: 'share', rule: 'r1', principle: 'P2', digest: `d-${i}` },
          { path: `records[${i % 3}].document.number`, action: 'withhold', rule: 'r2', principle: 'P2', digest: `e-${i}` }
        ] as never
      })
    )
  }
  const tamper = sqliteTamper(path)
  t.teardown(async () => {
    tamper.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { store, tamper }
}

/** The store, with each page read recorded, and reads from `failFrom` on failing. */
function watched(store: GatewayStore, failFrom = Number.POSITIVE_INFINITY): { store: GatewayStore; reads: number[] } {
  const reads: number[] = []
  const auditPage: GatewayStore['auditPage'] = async (afterSeq, limit) => {
    reads.push(afterSeq)
    if (afterSeq >= failFrom) throw new Error(`the read after entry ${afterSeq} failed`)
    return store.auditPage(afterSeq, limit)
  }
  return { store: new Proxy(store, { get: (target, key) => (key === 'auditPage' ? auditPage : Reflect.get(target, key).bind(target)) }), reads }
}

// Threads however short the ledger (`threadsFrom: 0`): these tests are about what they do.
const verify = (store: GatewayStore, threads: number) => verifyLedger(store, new Map(), undefined, { pageSize: PAGE, threads, threadsFrom: 0 })

t.test('an untouched ledger verifies alike on this thread and on one, two or three others', async (t) => {
  const { store } = await ledger(t)
  for (const threads of [0, 1, 2, 3]) {
    t.match(await verify(store, threads), { ok: true, entries: LENGTH, threads }, `${threads} threads`)
  }
})

t.test('a ledger no longer than threadsFrom is checked on this thread alone: starting threads would cost more than they save', async (t) => {
  const { store } = await ledger(t)
  const options = { pageSize: PAGE, threads: 2 }
  t.match(await verifyLedger(store, new Map(), undefined, { pageSize: PAGE }), { ok: true, entries: LENGTH, threads: 0 }, 'by default (20,000 entries)')
  t.match(
    await verifyLedger(store, new Map(), undefined, { ...options, threadsFrom: LENGTH }),
    { ok: true, entries: LENGTH, threads: 0 },
    `${LENGTH} entries, threadsFrom ${LENGTH}`
  )
  t.match(
    await verifyLedger(store, new Map(), undefined, { ...options, threadsFrom: LENGTH - 1 }),
    { ok: true, entries: LENGTH, threads: 2 },
    `${LENGTH} entries, threadsFrom ${LENGTH - 1}: two threads`
  )
})

t.test('a long ledger is checked by default on one thread fewer than the cores: the reading thread has a core of its own', async (t) => {
  const { store } = await ledger(t)
  const threads = Math.max(1, availableParallelism() - 1)
  t.match(await verifyLedger(store, new Map(), undefined, { pageSize: PAGE, threadsFrom: 0 }), { ok: true, entries: LENGTH, threads }, `${threads} threads`)
})

t.test('an entry edited in page 3 of 5 is named, while the pages after it are read and checked ahead', async (t) => {
  const { store, tamper } = await ledger(t)
  const seq = 2 * PAGE + 3
  await tamper.run(`UPDATE audit SET entry = replace(entry, '"m-${seq}"', '"m-99"') WHERE seq = ?`, seq)
  const results = []
  for (const threads of [0, 1, 3]) {
    const w = watched(store)
    const { threads: used, ...result } = await verify(w.store, threads)
    t.equal(used, threads, `checked on ${threads} threads`)
    results.push(result)
    t.match(result.firstBad, { seq, reason: /does not match its hash/ }, `${threads} threads`)
    t.equal(result.entries, seq - 1, 'the entries before it verified')
    if (threads > 0) t.ok(w.reads.includes(3 * PAGE), 'page 4 was read before page 3 had been verified')
  }
  t.same(results[1], results[0], 'one thread says what this thread says')
  t.same(results[2], results[0], 'and so do three')
})

t.test('a read that fails past the first bad entry is never thrown: verification had stopped before it', async (t) => {
  const { store, tamper } = await ledger(t)
  const seq = 2 * PAGE + 3
  await tamper.run('UPDATE audit SET message_id = ? WHERE seq = ?', 'm-99', seq)
  const w = watched(store, 3 * PAGE)
  t.match((await verify(w.store, 2)).firstBad, { seq, reason: /searchable column message_id/ })
  t.rejects(verify(watched(store, PAGE).store, 2), /the read after entry 8 failed/, 'one before it is')
})

t.test('of two bad entries in different pages, the lower is named, whichever is found first', async (t) => {
  const { store, tamper } = await ledger(t)
  // A later page's entry fails its hash; an earlier page's only its index.
  await tamper.run(`UPDATE audit SET entry = replace(entry, '"m-30"', '"m-99"') WHERE seq = 30`)
  // Its field set unnamed: a search by any of its fields would miss it.
  await tamper.run('UPDATE audit SET field_set = NULL WHERE seq = ?', 12)
  for (const threads of [0, 1, 2]) {
    t.match((await verify(store, threads)).firstBad, { seq: 12, reason: /the search index of entry 12 lacks a field row/ }, `${threads} threads`)
  }
})

t.test("within a page, the chain is checked before the index, as on one thread: a later entry's hash before an earlier entry's index row", async (t) => {
  const { store, tamper } = await ledger(t)
  await tamper.run('DELETE FROM audit_subjects WHERE seq = ?', 18)
  await tamper.run(`UPDATE audit SET entry = replace(entry, '"m-21"', '"m-99"') WHERE seq = 21`)
  for (const threads of [0, 2]) {
    t.match((await verify(store, threads)).firstBad, { seq: 21, reason: /does not match its hash/ }, `${threads} threads`)
  }
  await tamper.run(`UPDATE audit SET entry = replace(entry, '"m-99"', '"m-21"') WHERE seq = 21`)
  for (const threads of [0, 2]) {
    t.match((await verify(store, threads)).firstBad, { seq: 18, reason: /lacks a traveller row/ }, `${threads} threads`)
  }
})

t.test('the fast forms say what audit-index.ts and merkle-tree.ts say', async (t) => {
  for (const text of ['', '{"a":1}', 'é', '😀 x', '\u0000', 'a'.repeat(5000)]) {
    t.same(leafHash(text), leafHash(Buffer.from(text, 'utf8')), `leaf of ${JSON.stringify(text.slice(0, 10))}`)
  }
  // Taken as canonical only where normaliseInstant gives the value back; anything else is normalised as before.
  const canonical = ['2026-01-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z', '2000-02-29T00:00:00.000Z']
  const not = [
    '2026-02-29T00:00:00.000Z',
    '2026-02-30T00:00:00.000Z',
    '1900-02-29T00:00:00.000Z',
    '2026-01-01T24:00:00.000Z',
    '2026-13-01T00:00:00.000Z',
    '2026-01-01T00:00:60.000Z',
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.000+00:00',
    'x026-01-01T00:00:00.000Z'
  ]
  for (const at of canonical) t.ok(isCanonicalInstant(at) && normaliseInstant(at) === at, `${at} is canonical`)
  for (const at of not) t.notOk(isCanonicalInstant(at), `${at} is left to normaliseInstant`)
})

t.test('a page packed for a thread hashes as chainHash and leafHash do, whatever its prevHashes and texts', async (t) => {
  const prevHashes = [GENESIS_HASH, 'short', 'é-prev', '', chainHash(GENESIS_HASH, 'x')]
  const texts = ['{"a":1}', '"😀 x"', '{}', JSON.stringify('a'.repeat(5000)), '[1,"\\n"]']
  const seqs = texts.map((_, i) => i + 1)
  const hashes = texts.map((text, i) => chainHash(prevHashes[i]!, text))
  const packed = packTexts(prevHashes, texts, undefined)
  t.notOk(Array.isArray(packed), 'well-formed texts are packed into one buffer')
  const leaves = Buffer.concat(texts.map((text) => leafHash(text)))
  for (const round of ['first', 'second']) {
    // The second check reads the buffer the first left: each text's byte before it is a newline again.
    const checked = checkEntries({ seqs, prevHashes, hashes, texts: packed, rows: undefined })
    t.same(checked.broken, undefined, `${round} check: every chain hash matches`)
    t.same(Buffer.from(checked.leaves), leaves, `${round} check: every Merkle leaf is leafHash of the text`)
  }
  // The reading thread hashes the leaves itself and hands them over (entry-check-pool.ts): the same leaves, and the chain still checked.
  const hashedFirst = packedLeaves(packed as PackedTexts)
  t.same(Buffer.from(hashedFirst), leaves, 'packedLeaves gives leafHash of each text')
  const given = checkEntries({ seqs, prevHashes, hashes, texts: packed, rows: undefined, leaves: hashedFirst })
  t.equal(given.leaves, hashedFirst, 'leaves handed over are the ones answered, not hashed again')
  t.same(given.broken, undefined)
  t.same(
    checkEntries({ seqs, prevHashes, hashes: hashes.with(1, 'x'), texts: packed, rows: undefined, leaves: hashedFirst }).broken,
    { at: 1, why: 'hash' },
    'with the leaves handed over, a chain hash that does not match is still found'
  )
  const edited = hashes.with(2, chainHash(prevHashes[2]!, '{"b":1}'))
  t.same(
    checkEntries({ seqs, prevHashes, hashes: edited, texts: packed, rows: undefined }).broken,
    { at: 2, why: 'hash' },
    'a hash that is not of its prevHash and text is found'
  )
  // Three UTF-8 bytes a character: more than the room packTexts first gives a page (its length and a quarter).
  const wide = [JSON.stringify('漢'.repeat(3000)), '{"a":"é"}', JSON.stringify('字'.repeat(10))]
  const widePrev = ['p1', 'p2', 'p3']
  for (const spare of [undefined, new ArrayBuffer(64), new ArrayBuffer(1 << 16)]) {
    const page = packTexts(widePrev, wide, spare) as PackedTexts
    const label = spare === undefined ? 'no spare buffer' : `a spare of ${spare.byteLength} bytes`
    t.same(
      wide.map((_, i) => Buffer.from(page.bytes.buffer, page.bytes.byteOffset).toString('utf8', page.starts[i], page.ends[i])),
      wide,
      `${label}: texts wider in UTF-8 than the first guess are packed whole`
    )
    if (spare !== undefined) t.equal(page.bytes.buffer === spare, spare.byteLength === 1 << 16, `${label}: reused only if large enough`)
    const checked = checkEntries({
      seqs: [1, 2, 3],
      prevHashes: widePrev,
      hashes: wide.map((text, i) => chainHash(widePrev[i]!, text)),
      texts: page,
      rows: undefined
    })
    t.same(checked.broken, undefined, `${label}: every chain hash matches`)
    t.same(Buffer.from(checked.leaves), Buffer.concat(wide.map((text) => leafHash(text))), `${label}: every leaf matches`)
  }
  t.ok(Array.isArray(packTexts(['p'], ['"\ud800"'], undefined)), 'a text with a lone surrogate is left a string (UTF-8 would change it)')
  t.ok(Array.isArray(packTexts(['\ud800'], ['{}'], undefined)), 'and so is a page with such a prevHash')
})
