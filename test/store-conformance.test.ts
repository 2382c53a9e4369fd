// One set of behaviours, proved against both stores: what the gateway and the
// privacy officer rely on must not depend on which database holds the ledger.
import t from 'tap'
import { messageRecord } from './lib/store-fixtures.ts'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { FieldDecision } from '../policies/lib/engine.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { GENESIS_HASH, chainHash, serialiseEntry } from '../gateway/store/audit-chain.ts'
import { AUDIT_COLUMNS, auditColumnValues, auditColumns, fieldPattern } from '../gateway/store/audit-index.ts'
import { PostgresStore } from '../gateway/store/ledger-postgres.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { SqliteStoreThread } from '../gateway/store/store-thread.ts'
import type {
  AuditEntry,
  AuditQuery,
  CommitListener,
  CommittedEntry,
  GatewayStore,
  LegalHold,
  MessageRecord,
  OutboxItem,
  StoredAuditEntry
} from '../gateway/store/records.ts'
import { eventually, PG_URL } from './helper.ts'
import { inclusionProof, treeHead } from '../gateway/audit/ledger-proofs.ts'
import { TreeEdge, leafHash, verifyInclusion } from '../gateway/store/merkle-tree.ts'
import { encodeTreeNodes } from '../gateway/store/sql/ledger.ts'

/** A tap test, root or subtest (the last overload of `t.test` takes only the callback). */
type Test = Parameters<Parameters<typeof t.test>[0]>[0]

interface Backend {
  readonly name: string
  /** A fresh, empty store, removed when the test ends. */
  open(t: Test, onCommitted?: CommitListener): Promise<GatewayStore>
}

const sqlite: Backend = {
  name: 'SQLite',
  async open(t, onCommitted) {
    const dir = mkdtempSync(join(tmpdir(), 'btb-conformance-'))
    const store = new SqliteStore(join(dir, 'ledger.sqlite'), { onCommitted })
    t.teardown(async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    })
    return store
  }
}

/** The same SQLite store on a thread of its own, as the gateway runs it: calls and answers cross as messages. */
const sqliteThread: Backend = {
  name: 'SQLite on its own thread',
  async open(t, onCommitted) {
    const dir = mkdtempSync(join(tmpdir(), 'btb-conformance-'))
    const store = await SqliteStoreThread.open(join(dir, 'ledger.sqlite'), { onCommitted })
    t.teardown(async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    })
    return store
  }
}

/** A schema of its own per test, dropped afterwards. */
async function freshSchema(t: Test, pool: pg.Pool): Promise<string> {
  const schema = `t_${randomBytes(6).toString('hex')}`
  t.teardown(() => pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`))
  return schema
}

function postgres(pool: pg.Pool): Backend {
  return {
    name: 'PostgreSQL',
    async open(t, onCommitted) {
      const store = new PostgresStore(pool, { schema: await freshSchema(t, pool), onCommitted })
      await store.create()
      return store
    }
  }
}

// Fixtures -------------------------------------------------------------------

const T0 = Date.parse('2026-11-20T00:00:00.000Z')
const iso = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString()

const record = (id: string, at = iso(0)): MessageRecord => messageRecord(id, at)
const outbox = (id: string, at = iso(0)): OutboxItem => ({ direction: 'outbound', id, target: 'partner', sealed: `sealed-${id}`, createdAt: at })
const accepted = (id: string, at = iso(0), subjects: string[] = []) => auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at, subjects })

/**
 * An entry no store can write: JSON has no BigInt, so serialising it throws
 * inside the transaction (on the store's own thread too: a BigInt survives
 * structured cloning).
 */
function unwritableEntry(): AuditEntry {
  return { ...auditEntry({ event: 'purged' }), counts: { n: 1n as unknown as number } }
}

function decision(path: string): FieldDecision {
  return { path, action: 'share', rule: 'r', principle: 'P2', digest: `h-${path}` }
}

function entry(over: Partial<AuditEntry>): AuditEntry {
  return { ...auditEntry({ event: 'accepted', direction: 'outbound' }), ...over }
}

/** A ledger that varies every searchable field, so each filter selects some entries and not others. */
function searchFixture(): AuditEntry[] {
  const out: AuditEntry[] = []
  const parties = [
    ['CA/CBSA/pik-primary', 'US/CBP'],
    ['CA/IRCC/gcms-biometrics', 'US/USCIS'],
    ['US/CBP', 'CA/CBSA/pik-primary'],
    [null, null]
  ] as const
  const kinds = ['entry-exit.record', 'entry-exit.batch', 'biometric.match-request']
  const purposes = ['entry-exit-verification', 'removal-enforcement']
  const events = ['accepted', 'refused', 'delivered', 'received', 'dead-lettered'] as const
  for (let i = 0; i < 60; i++) {
    const [from, to] = parties[i % parties.length]!
    const event = events[i % events.length]!
    out.push(
      entry({
        // Not in seq order everywhere: instances' clocks differ, search must not assume otherwise.
        at: new Date(T0 + (i * 60 + (i % 7 === 3 ? -90 : 0)) * 1000).toISOString(),
        event,
        direction: event === 'received' ? 'inbound' : 'outbound',
        messageId: `m-${i % 17}`,
        kind: from === null ? null : kinds[i % kinds.length]!,
        purpose: from === null ? null : purposes[i % purposes.length]!,
        from,
        to,
        policy: from === null ? null : { id: 'entry-exit.record', version: i < 30 ? 'sha256:v1' : 'sha256:v2' },
        code: event === 'refused' ? (i % 2 === 0 ? 'POLICY_DENIED' : 'SCHEMA_INVALID') : null,
        // A field of its own in every entry: each is of a set of its own, so
        // a search by a field runs both ways (store/audit-index.ts,
        // searchSql): over 20 sets, one range each; over 40, by seq.
        fields:
          i % 3 === 0
            ? [decision('records[0].document.number'), decision('records[1].document.number'), decision('records[0].surname'), decision(`remarks.r${i}`)]
            : [decision('traveller.surname'), decision('traveller.dateOfBirth'), decision(`remarks.r${i}`)],
        subjects: i % 4 === 0 ? ['subject-A'] : i % 5 === 0 ? ['subject-B', 'subject-A'] : []
      })
    )
  }
  return out
}

/** What each filter means, written plainly, to hold the stores' SQL against. */
function matches(e: AuditEntry, q: AuditQuery): boolean {
  const country = (p: string | null) => p?.split('/')[0]
  const agency = (p: string | null) => p?.split('/')[1]
  return (
    (q.from === undefined || Date.parse(e.at) >= Date.parse(q.from)) &&
    (q.to === undefined || Date.parse(e.at) < Date.parse(q.to)) &&
    (q.kind === undefined || e.kind === q.kind) &&
    (q.purpose === undefined || e.purpose === q.purpose) &&
    (q.partner === undefined || country(e.from) === q.partner || country(e.to) === q.partner) &&
    (q.agency === undefined || agency(e.from) === q.agency || agency(e.to) === q.agency) &&
    (q.event === undefined || e.event === q.event) &&
    (q.code === undefined || e.code === q.code) &&
    (q.direction === undefined || e.direction === q.direction) &&
    (q.fieldPath === undefined || e.fields.some((f) => fieldPattern(f.path) === fieldPattern(q.fieldPath!))) &&
    (q.policyVersion === undefined || e.policy?.version === q.policyVersion) &&
    (q.subject === undefined || e.subjects.includes(q.subject)) &&
    (q.messageId === undefined || e.messageId === q.messageId)
  )
}

const QUERIES: Array<[string, AuditQuery]> = [
  ['a time window [from, to)', { from: new Date(T0 + 600_000).toISOString(), to: new Date(T0 + 1_800_000).toISOString() }],
  ['a window given without milliseconds', { from: '2026-11-20T00:10:00Z', to: '2026-11-20T00:20:00Z' }],
  ['from only', { from: iso(45) }],
  ['kind', { kind: 'entry-exit.batch' }],
  ['purpose', { purpose: 'removal-enforcement' }],
  ['partner country', { partner: 'US' }],
  ['agency, as sender or recipient', { agency: 'CBSA' }],
  ['event', { event: 'refused' }],
  ['code', { code: 'POLICY_DENIED' }],
  ['direction', { direction: 'inbound' }],
  ['a field pattern', { fieldPath: 'records[].document.number' }],
  ['a field pattern given with an index', { fieldPath: 'records[7].surname' }],
  ['a plain field path', { fieldPath: 'traveller.dateOfBirth' }],
  ['policy version', { policyVersion: 'sha256:v2' }],
  ['a traveller digest', { subject: 'subject-B' }],
  ['message id', { messageId: 'm-3' }],
  ['several filters at once', { agency: 'CBP', event: 'accepted', kind: 'entry-exit.record', from: iso(5) }],
  ['a traveller digest and a field pattern', { subject: 'subject-A', fieldPath: 'traveller.surname' }],
  ['a field pattern and other filters', { fieldPath: 'traveller.surname', policyVersion: 'sha256:v1', direction: 'outbound' }],
  ['a field pattern of 20 sets and other filters', { fieldPath: 'records[].surname', event: 'accepted' }],
  ['a field of one entry', { fieldPath: 'remarks.r7' }]
]

async function allPages(store: GatewayStore, query: AuditQuery, limit: number): Promise<StoredAuditEntry[]> {
  const out: StoredAuditEntry[] = []
  let after = 0
  for (;;) {
    const page = await store.searchAudit(query, after, limit)
    out.push(...page)
    if (page.length < limit) return out
    after = page[page.length - 1]!.seq
  }
}

function assertChain(t: Test, entries: StoredAuditEntry[], expectedLength: number): void {
  t.equal(entries.length, expectedLength, `${expectedLength} entries`)
  let prev = GENESIS_HASH
  let broken = 0
  entries.forEach((e, i) => {
    if (e.seq !== i + 1 || e.prevHash !== prev || e.hash !== chainHash(prev, serialiseEntry(e.entry))) broken++
    prev = e.hash
  })
  t.equal(broken, 0, 'every entry chains onto the one before, from the genesis hash, with no gap')
}

// The behaviours -------------------------------------------------------------

function conformance(parent: Test, backend: Backend): void {
  parent.test(`${backend.name}: conformance`, async (t) => {
    t.test('accept writes the message, its outbox item and its audit entry together, once', async (t) => {
      const store = await backend.open(t)
      t.equal(await store.accept(record('m1'), outbox('m1'), accepted('m1')), true)
      const again = { ...outbox('m1'), sealed: 'other' }
      t.equal(await store.accept({ ...record('m1'), digest: 'other' }, again, accepted('m1')), false, 'the same id is not accepted twice')
      const m = await store.findMessage('outbound', 'm1')
      t.equal(m?.status, 'accepted')
      t.equal(m?.digest, 'd-m1', 'the first message stands')
      t.equal((await store.outboxItem('outbound', 'm1'))?.sealed, 'sealed-m1', 'the refused duplicate wrote no outbox item')
      t.equal((await store.auditEntries(0, 10)).length, 1, 'the refused duplicate wrote no audit entry')
      t.equal(await store.findMessage('inbound', 'm1'), undefined, 'directions are separate')
      t.same(record('m1'), m, 'the record reads back as written')
      // An agency submission's payload digest, by which the same envelope signed again is a repeat.
      const withPayload = { ...record('m2'), payloadDigest: 'p-m2' }
      t.equal(await store.accept(withPayload, outbox('m2'), accepted('m2')), true)
      t.same(await store.findMessage('outbound', 'm2'), withPayload, 'with its payload digest')
    })

    t.test('delivery attempts accumulate on the message, each audited', async (t) => {
      const store = await backend.open(t)
      await store.accept(record('a'), outbox('a'), accepted('a'))
      await store.recordAttempt(
        'outbound',
        'a',
        { at: iso(1), error: 'ECONNREFUSED' },
        auditEntry({ event: 'delivery-failed', direction: 'outbound', messageId: 'a', at: iso(1) })
      )
      await store.recordAttempt(
        'outbound',
        'a',
        { at: iso(2), error: 'HTTP 503' },
        auditEntry({ event: 'delivery-failed', direction: 'outbound', messageId: 'a', at: iso(2) })
      )
      const a = await store.findMessage('outbound', 'a')
      t.same(a?.attempts, [
        { at: iso(1), error: 'ECONNREFUSED' },
        { at: iso(2), error: 'HTTP 503' }
      ])
      t.equal(a?.updatedAt, iso(2))
      t.same(
        (await store.auditEntries(0, 10)).map((e) => e.entry.event),
        ['accepted', 'delivery-failed', 'delivery-failed']
      )
    })

    // A far side's 429 or 503 with Retry-After: when it asked to be called
    // again was only the BullMQ job's delay, lost with a Redis restarted
    // empty; the relay reads it with what it re-drives (queue/outbox-relay.ts).
    t.test("a failed attempt's Retry-After instant is kept for the relay: the last attempt's, and none after a resend", async (t) => {
      const store = await backend.open(t)
      await store.accept(record('a', iso(1)), outbox('a', iso(1)), accepted('a', iso(1)))
      await store.accept(record('b', iso(1)), outbox('b', iso(1)), accepted('b', iso(1)))
      const pending = async () => Object.fromEntries((await store.pendingOutbox(iso(50), 10)).map((i) => [i.id, i.notBefore]))
      t.same(await pending(), { a: undefined, b: undefined }, 'no attempt, nothing asked')
      await store.recordAttempt('outbound', 'a', { at: iso(2), error: 'partner answered 503' }, null, iso(4))
      t.same(await pending(), { a: iso(4), b: undefined }, 'the instant asked, on its message only')
      t.same(
        Object.keys((await store.pendingOutbox(iso(50), 1))[0]!).sort(),
        ['createdAt', 'direction', 'id', 'notBefore', 'target'],
        'with what the relay re-drives'
      )
      t.same((await store.findMessage('outbound', 'a'))?.attempts, [{ at: iso(2), error: 'partner answered 503' }], 'the attempt reads as it was')
      await store.recordAttempt('outbound', 'a', { at: iso(5), error: 'ECONNREFUSED' }, null)
      t.same(await pending(), { a: undefined, b: undefined }, 'a later attempt that asked nothing clears it')
      await store.recordAttempt('outbound', 'b', { at: iso(2), error: 'partner answered 429' }, null, iso(30))
      await store.markDeadLettered(
        'outbound',
        'b',
        { at: iso(31), error: 'refused' },
        auditEntry({ event: 'dead-lettered', direction: 'outbound', messageId: 'b', at: iso(31) })
      )
      const resent = {
        ...auditEntry({ event: 'dead-letter-resent', direction: 'outbound', messageId: 'b', caller: 'CA/operator/ops-1', at: iso(32) }),
        reason: 'back'
      }
      t.equal(await store.requeueDeadLetter('outbound', 'b', resent), true)
      t.same(await pending(), { a: undefined, b: undefined }, 'a resend goes at once: the pause asked of its earlier attempts goes with them')
    })

    t.test('delivery drops the outbox item; a dead letter keeps it but is not re-driven', async (t) => {
      const store = await backend.open(t)
      await store.accept(record('a'), outbox('a'), accepted('a'))
      await store.accept(record('b'), outbox('b'), accepted('b'))
      const toDeliver = await store.messageToDeliver('outbound', 'a')
      t.same(
        toDeliver,
        { record: await store.findMessage('outbound', 'a'), sealed: 'sealed-a' },
        'awaiting delivery: the record and its sealed copy in one read'
      )
      t.equal(await store.messageToDeliver('inbound', 'a'), undefined, 'of its own direction only')
      await store.markDelivered('outbound', 'a', 'receipt-jws', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'a', at: iso(3) }))
      await store.markDeadLettered(
        'outbound',
        'b',
        { at: iso(4), error: 'refused' },
        auditEntry({ event: 'dead-lettered', direction: 'outbound', messageId: 'b', at: iso(4) })
      )
      const a = await store.findMessage('outbound', 'a')
      t.equal(a?.status, 'delivered')
      t.equal(a?.receipt, 'receipt-jws')
      t.equal(a?.updatedAt, iso(3))
      t.equal(await store.outboxItem('outbound', 'a'), undefined, 'delivered: nothing left to send')
      t.equal(await store.messageToDeliver('outbound', 'a'), undefined, 'delivered: not awaiting delivery')
      const b = await store.findMessage('outbound', 'b')
      t.equal(b?.status, 'dead-lettered')
      t.same(b?.attempts, [{ at: iso(4), error: 'refused' }])
      t.ok(await store.outboxItem('outbound', 'b'), 'dead-lettered: kept, sealed, for an operator to resend')
      t.equal(await store.messageToDeliver('outbound', 'b'), undefined, 'dead-lettered: not awaiting delivery')
      t.same(await store.pendingOutbox('2099-01-01T00:00:00Z', 10), [], 'neither is re-driven by the relay')
      await store.markDelivered('outbound', 'b', null, auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'b' }))
      t.equal((await store.findMessage('outbound', 'b'))?.receipt, null, 'no receipt given, none invented')
    })

    t.test('dead letters: listed in order, by queue, with a cursor; counted; requeued or discarded once', async (t) => {
      const store = await backend.open(t)
      const dead = async (id: string, minute: number, direction: 'outbound' | 'inbound' = 'outbound') => {
        await store.accept({ ...record(id), direction }, { ...outbox(id), direction }, accepted(id))
        await store.markDeadLettered(
          direction,
          id,
          { at: iso(minute), error: 'ECONNREFUSED' },
          auditEntry({ event: 'dead-lettered', direction, messageId: id, at: iso(minute) })
        )
      }
      await dead('d1', 10)
      await dead('d2', 10, 'inbound')
      await dead('d3', 5)
      await store.accept(record('live'), outbox('live'), accepted('live'))
      const ids = (rows: MessageRecord[]) => rows.map((r) => `${r.direction}:${r.id}`)
      t.same(ids(await store.deadLetters(undefined, undefined, 10)), ['outbound:d3', 'inbound:d2', 'outbound:d1'], 'oldest first, ties by direction and id')
      t.same(ids(await store.deadLetters('outbound', undefined, 10)), ['outbound:d3', 'outbound:d1'], 'one queue')
      const paged: MessageRecord[] = []
      for (let page = await store.deadLetters(undefined, undefined, 1); page.length > 0; ) {
        paged.push(...page)
        const last = page[page.length - 1]!
        page = await store.deadLetters(undefined, { updatedAt: last.updatedAt, direction: last.direction, id: last.id }, 1)
      }
      t.same(ids(paged), ['outbound:d3', 'inbound:d2', 'outbound:d1'], 'pages of one, each after the last, make the whole')
      t.same(await store.countDeadLetters(), { outbound: 2, inbound: 1 })

      const head = (await store.auditHead())!.seq
      const resent = {
        ...auditEntry({ event: 'dead-letter-resent', direction: 'outbound', messageId: 'd1', caller: 'CA/operator/ops-1', at: iso(20) }),
        reason: 'back'
      }
      t.equal(await store.requeueDeadLetter('outbound', 'd1', resent), true)
      t.equal(await store.requeueDeadLetter('outbound', 'd1', resent), false, 'once')
      t.equal(await store.requeueDeadLetter('outbound', 'live', resent), false, 'only a dead letter')
      const d1 = await store.findMessage('outbound', 'd1')
      t.match(d1, { status: 'accepted', attempts: [], updatedAt: iso(20) }, 'accepted again, with its attempts cleared')
      t.same((await store.pendingOutbox('2099-01-01T00:00:00Z', 10)).map((i) => i.id).sort(), ['d1', 'live'], 'so the relay re-drives it if the queue loses it')

      const discarded = {
        ...auditEntry({ event: 'dead-letter-discarded', direction: 'outbound', messageId: 'd3', caller: 'CA/operator/ops-1', at: iso(21) }),
        reason: 'duplicate'
      }
      t.equal(await store.discardDeadLetter('outbound', 'd3', discarded), 'deleted')
      t.equal(await store.discardDeadLetter('outbound', 'd3', discarded), undefined, 'once')
      t.equal(await store.discardDeadLetter('outbound', 'd1', discarded), undefined, 'not one back in play')
      t.match(await store.findMessage('outbound', 'd3'), { status: 'discarded', updatedAt: iso(21) })
      t.equal(await store.outboxItem('outbound', 'd3'), undefined, 'its sealed copy is deleted')
      t.same(await store.countDeadLetters(), { outbound: 0, inbound: 1 })
      t.same(ids(await store.deadLetters(undefined, undefined, 10)), ['inbound:d2'])
      const entries = await store.auditEntries(head, 10)
      t.same(
        entries.map((e) => [e.entry.event, e.entry.reason]),
        [
          ['dead-letter-resent', 'back'],
          ['dead-letter-discarded', 'duplicate']
        ],
        'one entry each, reason kept'
      )
      await store.purge(iso(50), auditEntry({ event: 'purged' }))
      t.equal(await store.findMessage('outbound', 'd3'), undefined, 'retention purges a discarded message too')
    })

    t.test('pendingOutbox gives what is older than the cut-off, oldest first, up to the limit', async (t) => {
      const store = await backend.open(t)
      for (const [id, minute] of [
        ['late', 30],
        ['early', 10],
        ['middle', 20],
        ['recent', 50]
      ] as const) {
        await store.accept(record(id, iso(minute)), outbox(id, iso(minute)), accepted(id, iso(minute)))
      }
      t.same(
        (await store.pendingOutbox(iso(40), 10)).map((i) => i.id),
        ['early', 'middle', 'late']
      )
      t.same(
        (await store.pendingOutbox(iso(40), 2)).map((i) => i.id),
        ['early', 'middle']
      )
      t.same(await store.pendingOutbox(iso(10), 10), [], 'the cut-off is exclusive')
      // The relay's next page: what comes after the last item of the page before, in the same order.
      const [, second] = await store.pendingOutbox(iso(40), 2)
      t.same(
        (await store.pendingOutbox(iso(40), 2, second)).map((i) => i.id),
        ['late'],
        'the page after'
      )
      // Two items created at the same instant come by direction, then id, each on one page only.
      await store.accept(record('same-b', iso(5)), outbox('same-b', iso(5)), accepted('same-b', iso(5)))
      await store.accept(record('same-a', iso(5)), outbox('same-a', iso(5)), accepted('same-a', iso(5)))
      const [first] = await store.pendingOutbox(iso(40), 1)
      t.equal(first?.id, 'same-a')
      t.same(
        (await store.pendingOutbox(iso(40), 1, first)).map((i) => i.id),
        ['same-b'],
        'a tie on the instant is broken by id'
      )
      // The relay enqueues ids; a sealed copy (a megabyte for a batch) read
      // with each of up to 1,000 items every interval held the event loop.
      t.same(
        Object.keys((await store.pendingOutbox(iso(40), 1))[0]!).sort(),
        ['createdAt', 'direction', 'id', 'target'],
        'what to re-drive, without the sealed copy'
      )
    })

    t.test('audit entries form one hash chain from the genesis hash; the head is its last link', async (t) => {
      const store = await backend.open(t)
      t.equal(await store.auditHead(), undefined, 'an empty ledger has no head')
      for (let i = 0; i < 25; i++) await store.appendAudit(accepted(`m${i}`, iso(i), [`s${i}`]))
      const entries = await store.auditEntries(0, 100)
      assertChain(t, entries, 25)
      t.same(await store.auditHead(), { seq: 25, hash: entries[24]!.hash })
      t.same(await store.auditEntry(7), entries[6], 'one entry by seq')
      t.equal(await store.auditEntry(26), undefined)
      t.same(
        (await store.auditEntries(10, 5)).map((e) => e.seq),
        [11, 12, 13, 14, 15],
        'paged by seq'
      )
      t.same(entries[3]!.entry, accepted('m3', iso(3), ['s3']), 'an entry reads back as written, subjects included')
    })

    t.test('search answers every filter exactly as its meaning says', async (t) => {
      const store = await backend.open(t)
      const fixture = searchFixture()
      for (const e of fixture) await store.appendAudit(e)
      for (const [name, query] of QUERIES) {
        const expected = fixture.flatMap((e, i) => (matches(e, query) ? [i + 1] : []))
        t.ok(expected.length > 0 && expected.length < fixture.length, `${name}: the fixture makes the filter select`)
        const found = await store.searchAudit(query, 0, 1000)
        t.same(
          found.map((e) => e.seq),
          expected,
          name
        )
      }
      t.same(await store.searchAudit({ subject: 'nobody' }, 0, 10), [], 'an unknown digest finds nothing')
      t.same(await store.searchAudit({ fieldPath: 'remarks.none' }, 0, 10), [], 'a field no entry decided on finds nothing')
      t.same(await store.searchAudit({}, 0, 1000).then((r) => r.length), fixture.length, 'no filter: everything')
      // The last hour of year 9999 at UTC-5 is an instant of year 10000, whose ISO text sorts before every other.
      const late = '9999-12-31T23:00:00-05:00'
      t.equal((await store.searchAudit({ to: late }, 0, 1000)).length, fixture.length, 'a bound past the year 9999: everything is before it')
      t.same(await store.searchAudit({ from: late }, 0, 1000), [], 'and nothing after it')
    })

    t.test('search pages with the last seq as cursor: the pages are the one big answer, without repeats', async (t) => {
      const store = await backend.open(t)
      const fixture = searchFixture()
      for (const e of fixture) await store.appendAudit(e)
      for (const [name, query] of QUERIES) {
        const whole = (await store.searchAudit(query, 0, 1000)).map((e) => e.seq)
        const paged = (await allPages(store, query, 3)).map((e) => e.seq)
        t.same(paged, whole, `${name}: pages of 3`)
      }
      // Entries appended between pages land after the cursor, never inside a page already read.
      const query: AuditQuery = { agency: 'CBSA' }
      const first = await store.searchAudit(query, 0, 5)
      for (const e of fixture.slice(0, 8)) await store.appendAudit(e)
      const rest = await allPages(store, query, 4)
      const seqs = [...first, ...rest.filter((e) => e.seq > first[first.length - 1]!.seq)].map((e) => e.seq)
      t.same(
        seqs,
        (await store.searchAudit(query, 0, 1000)).map((e) => e.seq),
        'stable while the ledger grows'
      )
      t.equal(new Set(seqs).size, seqs.length, 'no entry twice')
    })

    t.test('checkpoints are kept once per size, cosigned later, listed in order', async (t) => {
      const store = await backend.open(t)
      t.equal(await store.latestCheckpoint(), undefined)
      t.equal(await store.latestCosignedCheckpoint(), undefined)
      for (const size of [10, 20, 30]) {
        t.equal(await store.addCheckpoint({ size, root: `r${size}`, at: iso(size), note: `note${size}` }), true)
      }
      t.equal(await store.addCheckpoint({ size: 20, root: 'other', at: iso(99), note: 'other' }), false, 'the first checkpoint at a size stands')
      await store.setCosignature(20, 'cosig20', iso(21))
      t.same(await store.checkpoints(0, 10), [
        { size: 10, root: 'r10', at: iso(10), note: 'note10', cosignature: null, cosignedAt: null },
        { size: 20, root: 'r20', at: iso(20), note: 'note20', cosignature: 'cosig20', cosignedAt: iso(21) },
        { size: 30, root: 'r30', at: iso(30), note: 'note30', cosignature: null, cosignedAt: null }
      ])
      t.same(
        (await store.checkpoints(10, 1)).map((c) => c.size),
        [20],
        'paged by size'
      )
      t.equal((await store.latestCheckpoint())?.size, 30)
      t.equal((await store.latestCosignedCheckpoint())?.size, 20, 'the largest one cosigned')
    })

    t.test("the witness's record of a partner ledger moves only from where it is, one mover at a time", async (t) => {
      const store = await backend.open(t)
      const cp = (origin: string, size: number, root = `r${size}`) => ({ origin, size, root, note: `note${size}`, cosignedAt: iso(size) })
      t.equal(await store.witnessState('US'), undefined)
      t.equal(await store.witnessCheckpoint(0, cp('US', 5)), true, 'the first')
      t.equal(await store.witnessCheckpoint(0, cp('US', 6)), false, 'not again from nothing')
      // Two requests extending the same checkpoint at once (two instances): one wins.
      const raced = await Promise.all([store.witnessCheckpoint(5, cp('US', 9)), store.witnessCheckpoint(5, cp('US', 12))])
      t.same(raced.filter(Boolean).length, 1, 'exactly one of two racing moves')
      const state = (await store.witnessState('US'))!
      t.ok(state.size === 9 || state.size === 12)
      t.equal(await store.witnessCheckpoint(5, cp('US', 20)), false, 'a move from a size left behind does nothing')
      t.equal(await store.witnessCheckpoint(0, cp('CA', 7)), true, 'origins apart')
      // The empty tree cosigned first, then again by a request that read no record before the first made it.
      t.equal(await store.witnessCheckpoint(0, cp('MX', 0)), true, 'the empty tree, first')
      t.equal(await store.witnessCheckpoint(0, cp('MX', 0)), false, 'the empty tree again, from nothing: no move, and no error')
      t.equal(await store.witnessCheckpoint(7, cp('CA', 7)), false, 'a record never moves to the size it is at')
      t.same(
        (await store.witnessedCheckpoints('US', 0, 10)).map((c) => c.size),
        [5, state.size],
        'every checkpoint cosigned, in order'
      )
      t.same(await store.latestWitnessedCheckpoint('US'), cp('US', state.size))
      t.same(await store.latestWitnessedCheckpoint('CA'), cp('CA', 7))
    })

    t.test('a conflict with a checkpoint cosigned is recorded once, with its entry, however often and by however many at once', async (t) => {
      const store = await backend.open(t)
      const conflict = (reason: string) => auditEntry({ event: 'refused', caller: 'gateway:US', code: 'CHECKPOINT_CONFLICT', reason })
      const raced = await Promise.all(Array.from({ length: 8 }, (_, i) => store.recordWitnessConflict('US', 20, conflict(`at 20, #${i}`))))
      t.equal(raced.filter(Boolean).length, 1, 'exactly one of eight at once')
      t.equal(await store.recordWitnessConflict('US', 20, conflict('at 20, again')), false, 'nor again later')
      t.equal(await store.recordWitnessConflict('US', 30, conflict('at 30')), true, 'one with the next checkpoint cosigned is recorded in its turn')
      t.equal(await store.recordWitnessConflict('CA', 20, conflict('CA at 20')), true, 'origins apart')
      const recorded = await store.searchAudit({ event: 'refused', code: 'CHECKPOINT_CONFLICT' }, 0, 100)
      t.equal(recorded.length, 3, 'one entry for each recorded, none for the others')
    })

    t.test('the Merkle tree kept with the entries is the tree of the entries, however they were appended', async (t) => {
      const store = await backend.open(t)
      // One at a time, then many in one turn (a group commit).
      for (let i = 0; i < 5; i++) await store.appendAudit(entry({ messageId: `t${i}` }))
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.appendAudit(entry({ messageId: `u${i}` }))))
      const links = await store.auditChain(0, 1000)
      const edge = new TreeEdge()
      let stored = 0
      for (const link of links) {
        if (encodeTreeNodes(edge.append(leafHash(link.text))) === link.treeNodes) stored++
      }
      t.equal(stored, 45, "every entry's stored nodes are those its text gives")
      t.equal((await treeHead(store)).root, edge.root().toString('base64'), 'the root from the stored nodes')
      const proof = (await inclusionProof(store, 17, 45)).map((h) => Buffer.from(h, 'base64'))
      t.ok(verifyInclusion(16, 45, leafHash(links[16]!.text), proof, edge.root()), 'an inclusion proof served from them verifies')
    })

    t.test('legal holds are placed once, released once, and listed', async (t) => {
      const store = await backend.open(t)
      const hold: LegalHold = {
        ref: 'OPC-2026-001',
        complaintRef: null,
        messageId: 'm1',
        subject: null,
        reason: 'complaint',
        placedAt: iso(1),
        releasedAt: null
      }
      t.equal(await store.addLegalHold(hold), true)
      t.equal(await store.addLegalHold({ ...hold, reason: 'other' }), false, 'a ref names one hold')
      t.same(await store.releaseLegalHold('OPC-2026-001', iso(2)), { ...hold, releasedAt: iso(2) }, 'released: the hold as it now is')
      t.equal(await store.releaseLegalHold('OPC-2026-001', iso(3)), undefined, 'released already')
      t.equal(await store.releaseLegalHold('unknown', iso(3)), undefined)
      t.same(await store.legalHolds(), [{ ...hold, releasedAt: iso(2) }])
    })

    t.test('a hold carries its complaint reference; several holds may share one', async (t) => {
      const store = await backend.open(t)
      const onMessage: LegalHold = {
        ref: 'H-1',
        complaintRef: 'OPC-2026-0042',
        messageId: 'm1',
        subject: null,
        reason: 'complaint',
        placedAt: iso(1),
        releasedAt: null
      }
      const onTraveller: LegalHold = { ...onMessage, ref: 'H-2', messageId: null, subject: 'traveller-X', placedAt: iso(2) }
      const litigation: LegalHold = { ...onMessage, ref: 'H-3', complaintRef: null, reason: 'litigation', placedAt: iso(3) }
      for (const hold of [onMessage, onTraveller, litigation]) t.equal(await store.addLegalHold(hold), true, hold.ref)
      t.same(await store.legalHolds(), [onMessage, onTraveller, litigation], 'listed with their complaint references, or none')
    })

    t.test('the holds covering a traveller: on the traveller, or on a message their entries name; released ones too', async (t) => {
      const store = await backend.open(t)
      await store.accept(record('a1'), outbox('a1'), accepted('a1', iso(0), ['trav-A']))
      await store.accept(record('a2'), outbox('a2'), accepted('a2', iso(0), ['trav-A', 'trav-C']))
      await store.accept(record('b1'), outbox('b1'), accepted('b1', iso(0), ['trav-B']))
      const hold = (ref: string, minute: number, over: Partial<LegalHold>): LegalHold => ({
        ref,
        complaintRef: `C-${ref}`,
        messageId: null,
        subject: null,
        reason: 'r',
        placedAt: iso(minute),
        releasedAt: null,
        ...over
      })
      const holds = [
        hold('on-a2', 1, { messageId: 'a2' }),
        hold('on-A', 2, { subject: 'trav-A' }),
        hold('on-b1', 3, { messageId: 'b1' }),
        hold('on-B', 4, { subject: 'trav-B' }),
        hold('on-unknown', 5, { messageId: 'no-such-message' }),
        hold('on-a1', 6, { messageId: 'a1', complaintRef: null })
      ]
      for (const h of holds) await store.addLegalHold(h)
      await store.releaseLegalHold('on-A', iso(7))
      t.same(
        (await store.legalHoldsCovering('trav-A')).map((h) => [h.ref, h.complaintRef, h.releasedAt]),
        [
          ['on-a2', 'C-on-a2', null],
          ['on-A', 'C-on-A', iso(7)],
          ['on-a1', null, null]
        ],
        "the traveller's own hold and those on their messages, in the order placed"
      )
      t.same(
        (await store.legalHoldsCovering('trav-C')).map((h) => h.ref),
        ['on-a2'],
        'a message names several travellers: its hold covers each'
      )
      t.same(
        (await store.legalHoldsCovering('trav-B')).map((h) => h.ref),
        ['on-b1', 'on-B']
      )
      t.same(await store.legalHoldsCovering('trav-Z'), [], 'none for a traveller no entry names')
    })

    t.test('purge removes finished, expired messages except what a legal hold covers, and audits itself', async (t) => {
      const store = await backend.open(t)
      const finish = async (id: string, how: 'delivered' | 'dead-lettered' | 'accepted', minute: number, subjects: string[] = []) => {
        await store.accept(record(id, iso(0)), outbox(id, iso(0)), accepted(id, iso(0), subjects))
        if (how === 'delivered')
          await store.markDelivered('outbound', id, 'r', auditEntry({ event: 'delivered', direction: 'outbound', messageId: id, at: iso(minute) }))
        if (how === 'dead-lettered')
          await store.markDeadLettered(
            'outbound',
            id,
            { at: iso(minute), error: 'x' },
            auditEntry({ event: 'dead-lettered', direction: 'outbound', messageId: id, at: iso(minute) })
          )
      }
      await finish('old-delivered', 'delivered', 10)
      await finish('old-dead', 'dead-lettered', 10)
      await finish('held-by-id', 'delivered', 10)
      await finish('held-by-traveller', 'delivered', 10, ['traveller-X'])
      await finish('released-hold', 'delivered', 10)
      await finish('recent', 'delivered', 100)
      await finish('unfinished', 'accepted', 0)
      await store.addLegalHold({
        ref: 'H1',
        complaintRef: 'OPC-1',
        messageId: 'held-by-id',
        subject: null,
        reason: 'complaint',
        placedAt: iso(20),
        releasedAt: null
      })
      await store.addLegalHold({
        ref: 'H2',
        complaintRef: 'OPC-2',
        messageId: null,
        subject: 'traveller-X',
        reason: 'redress',
        placedAt: iso(20),
        releasedAt: null
      })
      await store.addLegalHold({
        ref: 'H3',
        complaintRef: null,
        messageId: 'released-hold',
        subject: null,
        reason: 'done',
        placedAt: iso(20),
        releasedAt: null
      })
      await store.releaseLegalHold('H3', iso(30))
      const before = (await store.auditHead())!

      const counts = await store.purge(iso(50), auditEntry({ event: 'purged', at: iso(60), counts: { retentionDays: 30 }, fields: [decision('retention')] }))
      t.same(counts, { messages: 3, outbox: 1 }, "three messages, and the dead letter's sealed outbox item")
      for (const id of ['old-delivered', 'old-dead', 'released-hold']) t.equal(await store.findMessage('outbound', id), undefined, `${id} purged`)
      t.equal(await store.outboxItem('outbound', 'old-dead'), undefined, 'with its outbox item')
      for (const id of ['held-by-id', 'held-by-traveller', 'recent', 'unfinished']) t.ok(await store.findMessage('outbound', id), `${id} kept`)
      t.ok(await store.outboxItem('outbound', 'unfinished'), 'an undelivered message keeps its outbox item')

      const entries = await store.auditEntries(0, 100)
      const last = entries[entries.length - 1]!
      t.equal(last.seq, before.seq + 1, 'one entry appended')
      t.equal(last.entry.event, 'purged')
      t.same(last.entry.counts, { retentionDays: 30, messages: 3, outbox: 1 }, 'the entry asked for, with the counts in it')
      t.equal(last.entry.fields[0]?.path, 'retention')
      t.notOk('direction' in last.entry, 'a purge is about no message: it names no direction')
      assertChain(t, entries, before.seq + 1)

      t.same(await store.purge(iso(50), auditEntry({ event: 'purged' })), { messages: 0, outbox: 0 }, 'nothing left to purge')
      t.equal((await store.auditHead())!.seq, before.seq + 1, 'a purge that removed nothing appends nothing')

      await store.releaseLegalHold('H2', iso(70))
      t.same(await store.purge(iso(50), auditEntry({ event: 'purged' })), { messages: 1, outbox: 0 }, "released: the traveller's message goes too")
    })

    t.test('a legal hold keeps the sealed copy of a message discarded or withdrawn, until the first purge after its release', async (t) => {
      const store = await backend.open(t)
      for (const [id, subjects] of [
        ['held-discarded', []],
        ['held-withdrawn', []],
        ['traveller-discarded', ['traveller-Y']],
        ['unheld-discarded', []]
      ] as const) {
        await store.accept(record(id), outbox(id), accepted(id, iso(0), [...subjects]))
        await store.markDeadLettered(
          'outbound',
          id,
          { at: iso(5), error: 'x' },
          auditEntry({ event: 'dead-lettered', direction: 'outbound', messageId: id, at: iso(5) })
        )
      }
      const hold = (ref: string, messageId: string | null, subject: string | null): LegalHold => ({
        ref,
        complaintRef: 'OPC-1',
        messageId,
        subject,
        reason: 'complaint',
        placedAt: iso(6),
        releasedAt: null
      })
      await store.addLegalHold(hold('H-discarded', 'held-discarded', null))
      await store.addLegalHold(hold('H-withdrawn', 'held-withdrawn', null))
      await store.addLegalHold(hold('H-traveller', null, 'traveller-Y'))
      const discard = (id: string) =>
        store.discardDeadLetter('outbound', id, auditEntry({ event: 'dead-letter-discarded', direction: 'outbound', messageId: id, at: iso(10) }))
      t.equal(await discard('held-discarded'), 'kept-under-hold', 'held by id')
      t.equal(await discard('traveller-discarded'), 'kept-under-hold', "held by its traveller's hold")
      t.equal(await discard('unheld-discarded'), 'deleted', 'held by no one')
      t.equal(
        await store.acceptSuperseding({
          record: record('correction', iso(10)),
          outbox: outbox('correction', iso(10)),
          audit: accepted('correction', iso(10)),
          supersession: { direction: 'outbound', original: 'held-withdrawn', by: 'correction', action: 'correct', reason: 'data-error', at: iso(10) },
          withdrawal: auditEntry({ event: 'withdrawn', direction: 'outbound', messageId: 'held-withdrawn', at: iso(10) })
        }),
        'accepted'
      )
      t.match(await store.findMessage('outbound', 'held-withdrawn'), { status: 'withdrawn' }, 'a correction withdraws the held dead letter')
      const copies = async () =>
        (await Promise.all(['held-discarded', 'held-withdrawn', 'traveller-discarded', 'unheld-discarded'].map((id) => store.outboxItem('outbound', id))))
          .filter((item) => item !== undefined)
          .map((item) => item.id)
      t.same(await copies(), ['held-discarded', 'held-withdrawn', 'traveller-discarded'], 'each held copy is kept; the other is deleted')
      t.same(await store.pendingOutbox('2099-01-01T00:00:00Z', 10).then((p) => p.map((i) => i.id)), ['correction'], 'no kept copy is re-driven')

      t.same(await store.purge(iso(1), auditEntry({ event: 'purged' })), { messages: 0, outbox: 0 }, 'the purge leaves them while held')
      await store.releaseLegalHold('H-discarded', iso(20))
      await store.releaseLegalHold('H-withdrawn', iso(20))
      t.same(await store.purge(iso(1), auditEntry({ event: 'purged' })), { messages: 0, outbox: 2 }, 'released: their copies go, however recent')
      t.same(await copies(), ['traveller-discarded'], "the traveller's hold still keeps its copy")
      for (const id of ['held-discarded', 'held-withdrawn']) t.ok(await store.findMessage('outbound', id), `${id}: its record stays for its retention`)
      t.ok(await store.outboxItem('outbound', 'correction'), 'a copy still to send is never touched')
      await store.releaseLegalHold('H-traveller', iso(30))
      t.same(await store.purge(iso(1), auditEntry({ event: 'purged' })), { messages: 0, outbox: 1 })
      t.same(await copies(), [])
    })

    t.test('a purge of more messages than one chunk removes them all, a chunk a transaction, and a held message keeps its outbox item', async (t) => {
      const store = await backend.open(t)
      const dead = async (id: string) => {
        await store.accept(record(id, iso(0)), outbox(id, iso(0)), accepted(id, iso(0)))
        await store.markDeadLettered(
          'outbound',
          id,
          { at: iso(10), error: 'x' },
          auditEntry({ event: 'dead-lettered', direction: 'outbound', messageId: id, at: iso(10) })
        )
      }
      for (const id of ['c1', 'c2', 'c3', 'c4', 'c5', 'held']) await dead(id)
      await store.addLegalHold({ ref: 'H', complaintRef: null, messageId: 'held', subject: null, reason: 'complaint', placedAt: iso(20), releasedAt: null })
      const before = (await store.auditHead())!
      const counts = await store.purge(iso(50), auditEntry({ event: 'purged', counts: { retentionDays: 30 } }), { chunkMessages: 2 })
      t.same(counts, { messages: 5, outbox: 5 }, 'every expired message, in three chunks')
      for (const id of ['c1', 'c2', 'c3', 'c4', 'c5']) t.equal(await store.findMessage('outbound', id), undefined, `${id} purged`)
      t.ok(await store.findMessage('outbound', 'held'), 'the held message is kept')
      t.ok(await store.outboxItem('outbound', 'held'), 'and its sealed copy with it')
      const entries = await store.auditEntries(before.seq, 100)
      t.same(
        entries.map((e) => e.entry.counts),
        [
          { retentionDays: 30, messages: 2, outbox: 2 },
          { retentionDays: 30, messages: 2, outbox: 2 },
          { retentionDays: 30, messages: 1, outbox: 1 }
        ],
        'one entry a chunk, committed with what it removed; the short chunk ends the run, and no empty one follows'
      )
      assertChain(t, await store.auditEntries(0, 100), before.seq + 3)
    })

    t.test('an entry about no message has no direction; one written with a made-up direction keeps it', async (t) => {
      const store = await backend.open(t)
      const written = [
        auditEntry({ event: 'legal-hold-placed', caller: 'CA/officer/po-1', reference: 'H1', at: iso(1) }),
        // As entries about no message were written before: the chain holds them as written.
        auditEntry({ event: 'legal-hold-released', direction: 'outbound', caller: 'CA/officer/po-1', reference: 'H1', at: iso(2) })
      ]
      for (const e of written) await store.appendAudit(e)
      const entries = await store.auditEntries(0, 10)
      t.same(
        entries.map((e) => e.entry),
        written
      )
      t.notOk('direction' in entries[0]!.entry)
      assertChain(t, entries, 2)
      const rows = (await store.auditPage(0, 2)).index
      t.same(
        rows.columns,
        written.flatMap((e) => auditColumnValues(auditColumns(e))),
        'the searchable columns say what the entries say'
      )
      t.equal(rows.columns[AUDIT_COLUMNS.indexOf('direction')], null, 'no direction: a NULL column')
      t.same(
        (await store.searchAudit({ direction: 'outbound' }, 0, 10)).map((e) => e.seq),
        [2],
        'a search by direction finds only the entry that names one'
      )
      t.same(
        (await store.searchAudit({ event: 'legal-hold-placed' }, 0, 10)).map((e) => e.seq),
        [1]
      )
    })

    t.test('a hold placed or released with its ledger entry is one write: neither without the other', async (t) => {
      const store = await backend.open(t)
      const hold: LegalHold = { ref: 'H-one', complaintRef: null, messageId: 'm1', subject: null, reason: 'complaint', placedAt: iso(1), releasedAt: null }
      const placedEntry = auditEntry({ event: 'legal-hold-placed', messageId: 'm1', reference: 'H-one', at: iso(1) })
      await t.rejects(store.addLegalHold(hold, unwritableEntry()), 'an entry that cannot be written fails the placing')
      t.same(await store.legalHolds(), [], 'and no hold is in force')
      t.equal(await store.addLegalHold(hold, placedEntry), true)
      t.same(
        (await store.auditEntries(0, 10)).map((e) => e.entry.event),
        ['legal-hold-placed'],
        'placed, with its entry'
      )
      t.equal(await store.addLegalHold(hold, placedEntry), false, 'a ref already held: no second entry')
      await t.rejects(store.releaseLegalHold('H-one', iso(2), unwritableEntry()), 'the same for a release')
      t.equal((await store.legalHolds())[0]?.releasedAt, null, 'still in force')
      t.match(await store.releaseLegalHold('H-one', iso(2), auditEntry({ event: 'legal-hold-released', reference: 'H-one', at: iso(2) })), {
        ref: 'H-one',
        releasedAt: iso(2)
      })
      t.equal(
        await store.releaseLegalHold('H-one', iso(3), auditEntry({ event: 'legal-hold-released', reference: 'H-one', at: iso(3) })),
        undefined,
        'released once'
      )
      t.same(
        (await store.auditEntries(0, 10)).map((e) => e.entry.event),
        ['legal-hold-placed', 'legal-hold-released'],
        'each change, one entry'
      )
    })

    t.test('writes issued together commit together, and one that fails leaves the others whole', async (t) => {
      const store = await backend.open(t)
      await store.accept(record('old'), outbox('old'), accepted('old'))
      await store.markDelivered('outbound', 'old', 'r', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'old', at: iso(1) }))
      const results = await Promise.allSettled([
        store.accept(record('a'), outbox('a'), accepted('a')),
        store.purge(iso(50), unwritableEntry()),
        store.appendAudit(accepted('x')),
        store.accept(record('a'), outbox('a'), accepted('a')),
        store.accept(record('b'), outbox('b'), accepted('b'))
      ])
      t.same(
        results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected')),
        [true, 'rejected', undefined, false, true]
      )
      t.ok(await store.findMessage('outbound', 'old'), 'the failed purge removed nothing')
      const entries = await store.auditEntries(0, 100)
      t.same(
        entries.map((e) => e.entry.messageId),
        ['old', 'old', 'a', 'x', 'b'],
        'the others are in the ledger, in the order asked'
      )
      assertChain(t, entries, 5)
    })

    t.test('the store announces the entries of each commit, and nothing of a write that failed or did nothing', async (t) => {
      const announced: string[] = []
      const store = await backend.open(t, (entries) => {
        for (const e of entries) announced.push(`${e.event}:${e.messageId ?? '-'}`)
      })
      await Promise.allSettled([
        store.accept(record('a'), outbox('a'), accepted('a')),
        store.appendAudit(unwritableEntry()),
        store.accept(record('a'), outbox('a'), accepted('a')),
        store.markDelivered('outbound', 'a', 'r', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'a', at: iso(1) }))
      ])
      await store.markDelivered('outbound', 'a', 'r', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'a', at: iso(2) }))
      await store.purge(iso(0), auditEntry({ event: 'purged' }))
      await store.auditHead()
      t.same(
        announced,
        ['accepted:a', 'delivered:a'],
        'the accepted and the first delivered; not the refused entry, the duplicate, the second delivery or the empty purge'
      )
      t.same(
        (await store.auditEntries(0, 10)).map((e) => `${e.entry.event}:${e.entry.messageId ?? '-'}`),
        announced,
        'exactly what the ledger holds'
      )
    })

    t.test('a purge whose audit entry cannot be written removes nothing', async (t) => {
      const store = await backend.open(t)
      await store.accept(record('a'), outbox('a'), accepted('a'))
      await store.markDelivered('outbound', 'a', 'r', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'a', at: iso(1) }))
      await t.rejects(store.purge(iso(50), unwritableEntry()))
      t.ok(await store.findMessage('outbound', 'a'), 'the deletion rolled back with the entry')
    })
  })

  parent.test(`${backend.name}: entries and their index rows are stored exactly, whatever characters they hold`, async (t) => {
    // The PostgreSQL store sends a batch's values as array literals it writes
    // itself (ledger-postgres.ts, textArrayLiteral): quotes, backslashes,
    // braces, commas, the word NULL and the empty string must all survive.
    const awkward = ['a "quoted" id', 'back\\slash \\"', '{braces}, and commas', 'NULL', '', 'é ünï 🛂 \u2028', '\\\\']
    const store = await backend.open(t)
    await Promise.all(awkward.map((id, i) => store.appendAudit(accepted(id, iso(i), [`${id}|subject`]))))
    const stored = await store.auditEntries(0, 100)
    t.same(stored.map((e) => e.entry.messageId).sort(), [...awkward].sort(), 'each entry as it was appended')
    assertChain(t, stored, awkward.length)
    // Named by number: a line separator in a test's name would end its TAP line.
    for (const [i, id] of awkward.entries()) {
      t.same(
        (await store.searchAudit({ messageId: id }, 0, 10)).map((e) => e.entry.messageId),
        [id],
        `entry ${i + 1} found by its message id`
      )
      t.same(
        (await store.searchAudit({ subject: `${id}|subject` }, 0, 10)).map((e) => e.entry.messageId),
        [id],
        `and by its subject`
      )
    }
  })
}

conformance(t, sqlite)
conformance(t, sqliteThread)

t.test("the ledger's thread sends back of each committed entry only what is counted, not its fields or travellers", async (t) => {
  const announced: CommittedEntry[] = []
  const store = await sqliteThread.open(t, (entries) => announced.push(...entries))
  const entry = auditEntry({
    event: 'accepted',
    direction: 'outbound',
    messageId: 'a',
    at: iso(0),
    subjects: ['s1', 's2'],
    fields: [decision('document.number')]
  })
  await store.accept(record('a'), outbox('a'), entry)
  await store.auditHead()
  t.same(announced, [{ at: iso(0), event: 'accepted', direction: 'outbound', messageId: 'a', kind: entry.kind, purpose: entry.purpose, code: null }])
  t.same(Object.keys(announced[0]!).sort(), ['at', 'code', 'direction', 'event', 'kind', 'messageId', 'purpose'])
})

t.test('PostgreSQL', async (t) => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 8 })
  t.teardown(() => pool.end())
  try {
    await pool.query('SELECT 1')
  } catch (err) {
    t.fail(`the PostgreSQL store needs a database: set PG_URL (tried ${PG_URL}: ${(err as Error).message})`)
    return
  }
  conformance(t, postgres(pool))

  t.test('two instances appending at once make one unbroken chain', async (t) => {
    const schema = await freshSchema(t, pool)
    const pools = [new pg.Pool({ connectionString: PG_URL, max: 5 }), new pg.Pool({ connectionString: PG_URL, max: 5 })]
    t.teardown(() => Promise.all(pools.map((p) => p.end())))
    const stores = pools.map((p) => new PostgresStore(p, { schema }))
    await Promise.all(stores.map((s) => s.create()))
    await Promise.all(stores.flatMap((s, n) => Array.from({ length: 200 }, (_, i) => s.appendAudit(accepted(`instance-${n}-${i}`, iso(i), [`s${i % 10}`])))))
    const entries = await stores[0]!.auditEntries(0, 1000)
    assertChain(t, entries, 400)
    t.same(await stores[1]!.auditHead(), { seq: 400, hash: entries[399]!.hash }, 'both instances see the same head')
    t.equal(new Set(entries.map((e) => e.entry.messageId)).size, 400, 'every append is in the chain once')
    t.equal((await stores[1]!.searchAudit({ subject: 's3' }, 0, 1000)).length, 40, 'and indexed')
  })

  t.test('a hold placed while a purge runs waits for it: a hold the store has confirmed is never one a purge then ignores', async (t) => {
    const schema = await freshSchema(t, pool)
    const store = new PostgresStore(pool, { schema })
    await store.create()
    for (const id of ['held', 'blocker']) {
      await store.accept(record(id, iso(0)), outbox(id, iso(0)), accepted(id, iso(0)))
      await store.markDelivered('outbound', id, 'r', auditEntry({ event: 'delivered', direction: 'outbound', messageId: id, at: iso(10) }))
    }
    // A purge held up part-way, at the messages another connection has locked
    // (its lock on the holds is taken; a row locked alone it would leave to its next run).
    const blocker = await pool.connect()
    t.teardown(() => blocker.release())
    await blocker.query('BEGIN')
    await blocker.query(`LOCK TABLE ${schema}.messages IN SHARE MODE`)
    const purging = store.purge(iso(50), auditEntry({ event: 'purged' }))
    /** Whether a statement starting with `start` waits for a lock. */
    const waiting = async (start: string): Promise<boolean> =>
      (await pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [`${start}%`])).rows[0].n > 0
    await eventually(() => waiting('WITH RECURSIVE held').then((w) => (w ? true : undefined)), 15_000, 'the purge to wait at the locked row')
    let confirmed = false
    // Placed through another instance on the same ledger: one instance's own writes queue behind its purge in any case.
    const other = new PostgresStore(pool, { schema })
    const placing = other
      .addLegalHold({ ref: 'H-race', complaintRef: null, messageId: 'held', subject: null, reason: 'complaint', placedAt: iso(60), releasedAt: null })
      .then((placed) => {
        confirmed = placed
      })
    // The hold either waits for the purge, or (as before) is confirmed at once, under the purge's feet.
    await eventually(() => (confirmed ? true : waiting('INSERT INTO').then((w) => (w ? true : undefined))), 15_000, 'the hold to wait or be placed')
    t.notOk(confirmed, 'the hold is not confirmed while the purge runs')
    await blocker.query('COMMIT')
    t.same(await purging, { messages: 2, outbox: 0 }, 'the purge goes on: it began before the hold')
    await placing
    t.ok(confirmed, 'the hold is confirmed once the purge has committed')
  })

  t.test('a purge chunk past its deadline fails alone: a write asked for beside it commits, and the next run purges', async (t) => {
    const schema = await freshSchema(t, pool)
    const store = new PostgresStore(pool, { schema, timeoutMs: 300 })
    await store.create()
    for (const id of ['old', 'blocker']) {
      await store.accept(record(id, iso(0)), outbox(id, iso(0)), accepted(id, iso(0)))
      await store.markDelivered('outbound', id, 'r', auditEntry({ event: 'delivered', direction: 'outbound', messageId: id, at: iso(10) }))
    }
    // The messages another connection holds keep the purge's chunk waiting past LEDGER_POSTGRES_TIMEOUT_MS, as a large one did.
    const blocker = await pool.connect()
    t.teardown(() => blocker.release())
    await blocker.query('BEGIN')
    await blocker.query(`LOCK TABLE ${schema}.messages IN SHARE MODE`)
    // In the same turn, as an agency's accept comes beside the scheduled purge.
    const [purge, other] = await Promise.allSettled([store.purge(iso(50), auditEntry({ event: 'purged' })), store.appendAudit(accepted('beside', iso(60)))])
    t.match(purge, { status: 'rejected', reason: { message: 'Query read timeout' } }, 'the purge fails past its deadline')
    t.same(other, { status: 'fulfilled', value: undefined }, 'the write beside it commits')
    await blocker.query('COMMIT')
    t.same(await store.purge(iso(50), auditEntry({ event: 'purged' })), { messages: 2, outbox: 0 }, 'the next run purges what the failed one left')
    t.same(
      (await store.auditEntries(0, 100)).map((e) => `${e.entry.event}:${e.entry.messageId ?? '-'}`),
      ['accepted:old', 'delivered:old', 'accepted:blocker', 'delivered:blocker', 'accepted:beside', 'purged:-']
    )
  })

  t.test('a schema made before holds carried a complaint reference gains the column, and keeps its holds', async (t) => {
    const schema = await freshSchema(t, pool)
    await pool.query(`CREATE SCHEMA ${schema}`)
    await pool.query(
      `CREATE TABLE ${schema}.legal_holds (ref TEXT PRIMARY KEY, message_id TEXT, subject TEXT, reason TEXT NOT NULL, placed_at TEXT NOT NULL, released_at TEXT)`
    )
    await pool.query(`INSERT INTO ${schema}.legal_holds VALUES ('OLD-1', 'm1', NULL, 'complaint', $1, NULL)`, [iso(1)])
    const store = new PostgresStore(pool, { schema })
    await store.create()
    await store.create()
    t.same(await store.legalHolds(), [
      { ref: 'OLD-1', complaintRef: null, messageId: 'm1', subject: null, reason: 'complaint', placedAt: iso(1), releasedAt: null }
    ])
    const hold: LegalHold = { ref: 'NEW-1', complaintRef: 'OPC-9', messageId: 'm2', subject: null, reason: 'r', placedAt: iso(2), releasedAt: null }
    t.equal(await store.addLegalHold(hold), true)
    t.same(
      (await store.legalHolds()).map((h) => h.complaintRef),
      [null, 'OPC-9']
    )
  })

  t.test('a schema made before Retry-After instants were kept gains the column, and keeps its messages awaiting delivery', async (t) => {
    const schema = await freshSchema(t, pool)
    const first = new PostgresStore(pool, { schema })
    await first.create()
    await first.accept(record('m1'), outbox('m1'), accepted('m1'))
    await pool.query(`ALTER TABLE ${schema}.messages DROP COLUMN not_before`)
    // As a gateway of the version before would have left it: its mark says the DDL it ran (ledger-postgres.ts, create).
    await pool.query(`COMMENT ON SCHEMA ${schema} IS 'btb-ledger older'`)
    const store = new PostgresStore(pool, { schema })
    await store.create()
    t.same(await store.pendingOutbox(iso(50), 10), [{ direction: 'outbound', id: 'm1', target: 'partner', createdAt: iso(0) }], 'nothing asked of it')
    await store.recordAttempt('outbound', 'm1', { at: iso(1), error: 'partner answered 503' }, null, iso(3))
    t.equal((await store.pendingOutbox(iso(50), 10))[0]?.notBefore, iso(3), "a failed attempt's Retry-After instant is kept")
  })

  t.test('entries and sealed messages are compressed with lz4 where the server has it, in a new ledger and an older one', async (t) => {
    const lz4 = (await pool.query(`SELECT 'lz4' = ANY(enumvals) AS has FROM pg_settings WHERE name = 'default_toast_compression'`)).rows[0]?.has === true
    const compression = async (schema: string): Promise<string[]> =>
      (
        await pool.query(
          `SELECT c.relname || '.' || a.attname || ': ' || a.attcompression::text AS c FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           WHERE c.relnamespace = $1::regnamespace AND (c.relname, a.attname) IN (('audit', 'entry'), ('outbox', 'sealed')) ORDER BY 1`,
          [schema]
        )
      ).rows.map((r) => r.c)
    const expected = lz4 ? ['audit.entry: l', 'outbox.sealed: l'] : ['audit.entry: ', 'outbox.sealed: ']
    const fresh = await freshSchema(t, pool)
    await new PostgresStore(pool, { schema: fresh }).create()
    t.same(await compression(fresh), expected, `a new ledger${lz4 ? '' : ' (this server has no lz4)'}`)

    // A ledger made before: its columns on the server's default, an entry written with it, and no mark of this code's schema.
    const older = await freshSchema(t, pool)
    const before = new PostgresStore(pool, { schema: older })
    await before.create()
    await pool.query(
      `ALTER TABLE ${older}.audit ALTER COLUMN entry SET COMPRESSION default; ALTER TABLE ${older}.outbox ALTER COLUMN sealed SET COMPRESSION default; COMMENT ON SCHEMA ${older} IS NULL`
    )
    const long = 'x'.repeat(10_000)
    await before.appendAudit(accepted(`old-${long}`))
    const reopened = new PostgresStore(pool, { schema: older })
    await reopened.create()
    t.same(await compression(older), expected, 'an older ledger, once an instance starts on it')
    await reopened.appendAudit(accepted(`new-${long}`))
    const entries = await reopened.auditEntries(0, 10)
    assertChain(t, entries, 2)
    t.same(
      entries.map((e) => e.entry.messageId),
      [`old-${long}`, `new-${long}`],
      'entries compressed either way read back whole'
    )
  })

  t.test("a group's writes each take a savepoint, and release the one before in the same round trip", async (t) => {
    // Every statement on the group's connection waits for the one before
    // (ledger-postgres.ts, #commitBatch): counted on the real connection.
    const counted = new pg.Pool({ connectionString: PG_URL, max: 1 })
    t.teardown(() => counted.end())
    const sent: string[] = []
    counted.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      ;(client as { query: unknown }).query = (...args: unknown[]) => {
        const text = args[0]
        sent.push(typeof text === 'string' ? text : ((text as { text?: string }).text ?? ''))
        return query(...args)
      }
    })
    const store = new PostgresStore(counted, { schema: await freshSchema(t, counted) })
    await store.create()
    sent.length = 0
    const ids = ['a', 'b', 'c', 'a', 'd']
    const results = await Promise.all(ids.map((id) => store.accept(record(id), outbox(id), accepted(id))))
    t.same(results, [true, true, true, false, true], 'the repeat of a is told it exists')
    const savepoints = sent.filter((q) => /SAVEPOINT/.test(q))
    t.same(
      savepoints,
      ['SAVEPOINT write', ...Array<string>(4).fill('RELEASE SAVEPOINT write; SAVEPOINT write')],
      'one round trip of savepoints a write; COMMIT releases the last'
    )
    // BEGIN, then per write its savepoint and its two rows (the repeat, one: its message row is refused), then the chain lock, the head, the entries, COMMIT.
    t.equal(sent.length, 1 + 5 + (4 * 2 + 1) + 4, `${sent.length} statements: ${JSON.stringify(sent.map((q) => q.slice(0, 40)))}`)
    const entries = await store.auditEntries(0, 10)
    t.same(
      entries.map((e) => e.entry.messageId),
      ['a', 'b', 'c', 'd'],
      'every write that succeeded is in the ledger, in order'
    )
    assertChain(t, entries, 4)
  })

  t.test('a duplicate accepted by two instances at once is written once', async (t) => {
    const schema = await freshSchema(t, pool)
    const pools = [new pg.Pool({ connectionString: PG_URL, max: 2 }), new pg.Pool({ connectionString: PG_URL, max: 2 })]
    t.teardown(() => Promise.all(pools.map((p) => p.end())))
    const stores = pools.map((p) => new PostgresStore(p, { schema }))
    await stores[0]!.create()
    const results = await Promise.all(stores.map((s) => s.accept(record('same'), outbox('same'), accepted('same'))))
    t.same(results.sort(), [false, true], 'one wins, the other is told it exists')
    t.equal((await stores[0]!.auditEntries(0, 10)).length, 1, 'one audit entry')
  })
})
