// The store's side of corrections and retractions (docs/integrators.md,
// "Corrections and retractions"), proved on every store the gateway runs on:
// a supersession is recorded with its message in one transaction, an
// original is superseded once, a withdrawal happens once and only to a
// superseded message not delivered, and retention takes the links with the
// messages.
import t from 'tap'
import { messageRecord } from './lib/store-fixtures.ts'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { PostgresStore } from '../gateway/store/ledger-postgres.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import { SqliteStoreThread } from '../gateway/store/store-thread.ts'
import type { AuditEntry, GatewayStore, MessageRecord, OutboxItem, Supersession } from '../gateway/store/records.ts'
import { PG_URL } from './helper.ts'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const T0 = Date.parse('2026-11-20T00:00:00.000Z')
const iso = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString()

const record = (id: string, at = iso(0)): MessageRecord => messageRecord(id, at)
const outbox = (id: string, at = iso(0)): OutboxItem => ({ direction: 'outbound', id, target: 'partner', sealed: `sealed-${id}`, createdAt: at })
const accepted = (id: string, at = iso(0)): AuditEntry => auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at })
const withdrawn = (id: string, at = iso(1)): AuditEntry => auditEntry({ event: 'withdrawn', direction: 'outbound', messageId: id, at })
const link = (original: string, by: string, action: 'correct' | 'retract' = 'correct', at = iso(1)): Supersession => ({
  direction: 'outbound',
  original,
  by,
  action,
  reason: action === 'retract' ? 'wrong-traveller' : null,
  at
})

/** A superseding message `by` of `original`, as the intake hands it to the store. */
function supersede(store: GatewayStore, original: string, by: string, action: 'correct' | 'retract' = 'correct', at = iso(1)) {
  return store.acceptSuperseding({
    record: record(by, at),
    outbox: outbox(by, at),
    audit: accepted(by, at),
    supersession: link(original, by, action, at),
    withdrawal: withdrawn(original, at)
  })
}

async function events(store: GatewayStore, id: string): Promise<string[]> {
  return (await store.auditEntries(0, 1000)).filter((e) => e.entry.messageId === id).map((e) => e.entry.event)
}

interface Backend {
  readonly name: string
  open(t: Test): Promise<GatewayStore>
}

function sqlite(thread: boolean): Backend {
  return {
    name: thread ? 'SQLite on its own thread' : 'SQLite',
    async open(t) {
      const dir = mkdtempSync(join(tmpdir(), 'btb-supersession-'))
      const path = join(dir, 'ledger.sqlite')
      const store = thread ? await SqliteStoreThread.open(path) : new SqliteStore(path)
      t.teardown(async () => {
        await store.close()
        rmSync(dir, { recursive: true, force: true })
      })
      return store
    }
  }
}

function postgres(pool: pg.Pool): Backend {
  return {
    name: 'PostgreSQL',
    async open(t) {
      const schema = `t_sup_${randomBytes(6).toString('hex')}`
      t.teardown(() => pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`))
      const store = new PostgresStore(pool, { schema })
      await store.create()
      return store
    }
  }
}

function conformance(backend: Backend): void {
  t.test(`${backend.name}: a supersession is recorded with its message, and links both ways`, async (t) => {
    const store = await backend.open(t)
    t.ok(await store.accept(record('o'), outbox('o'), accepted('o')))
    t.equal(await supersede(store, 'o', 's', 'retract'), 'accepted')
    t.same(
      (await store.findMessage('outbound', 'o'))?.supersededBy,
      { id: 's', action: 'retract', reason: 'wrong-traveller' },
      'the original knows what superseded it'
    )
    t.same(
      (await store.findMessage('outbound', 's'))?.supersedes,
      { id: 'o', action: 'retract', reason: 'wrong-traveller' },
      'and the superseding message what it superseded'
    )
    t.equal((await store.outboxItem('outbound', 's'))?.sealed, 'sealed-s', 'with its outbox item')
    t.same(
      (await store.messageToDeliver('outbound', 'o'))?.record.supersededBy,
      { id: 's', action: 'retract', reason: 'wrong-traveller' },
      'a delivery reads the link with the message (and withdraws it)'
    )
    t.same((await store.messageToDeliver('outbound', 's'))?.record.supersedes?.id, 'o', 'and the superseding message waits for its original')
    t.same(await events(store, 's'), ['accepted'], 'and its entry')
    t.same(await events(store, 'o'), ['accepted'], 'an accepted original is left to whoever holds its job')
    t.equal((await store.findMessage('outbound', 'o'))?.status, 'accepted')
    t.notOk('supersedes' in (await store.findMessage('outbound', 'o'))!, 'a record reads as written where it has no link')
  })

  t.test(`${backend.name}: an original is superseded once`, async (t) => {
    const store = await backend.open(t)
    await store.accept(record('o'), outbox('o'), accepted('o'))
    t.equal(await supersede(store, 'o', 's1'), 'accepted')
    t.equal(await supersede(store, 'o', 's2'), 'conflict', 'a second one is a conflict')
    t.equal(await store.findMessage('outbound', 's2'), undefined, 'and wrote no message')
    t.equal(await store.outboxItem('outbound', 's2'), undefined, 'no outbox item')
    t.same(await events(store, 's2'), [], 'no entry')
    t.equal(await supersede(store, 'o', 's1'), 'exists', 'the first one again is a repeat')
    t.equal((await store.findMessage('outbound', 'o'))?.supersededBy?.id, 's1')

    // Its id taken by a message that supersedes nothing: the link it would have made is not kept.
    await store.accept(record('taken'), outbox('taken'), accepted('taken'))
    await store.accept(record('o2'), outbox('o2'), accepted('o2'))
    t.equal(await supersede(store, 'o2', 'taken'), 'exists')
    t.equal((await store.findMessage('outbound', 'o2'))?.supersededBy, undefined, 'o2 is not superseded')
    t.equal(await supersede(store, 'o2', 's3'), 'accepted', 'and can be')

    // Two at once: one wins, the other finds its link.
    await store.accept(record('o3'), outbox('o3'), accepted('o3'))
    const outcomes = await Promise.all([supersede(store, 'o3', 'a'), supersede(store, 'o3', 'b')])
    t.same([...outcomes].sort(), ['accepted', 'conflict'])
    const loser = outcomes[0] === 'conflict' ? 'a' : 'b'
    t.equal(await store.findMessage('outbound', loser), undefined, 'the loser left nothing')
  })

  t.test(`${backend.name}: a withdrawal happens once, to a superseded message not delivered`, async (t) => {
    const store = await backend.open(t)
    await store.accept(record('o'), outbox('o'), accepted('o'))
    t.equal(await store.withdraw('outbound', 'o', withdrawn('o')), false, 'not superseded: not withdrawn')
    await supersede(store, 'o', 's', 'retract')
    t.equal(await store.withdraw('outbound', 'o', withdrawn('o')), true, 'superseded: withdrawn')
    t.equal((await store.findMessage('outbound', 'o'))?.status, 'withdrawn')
    t.equal(await store.outboxItem('outbound', 'o'), undefined, 'its sealed copy is gone')
    t.equal(await store.withdraw('outbound', 'o', withdrawn('o')), false, 'once')
    t.same(await events(store, 'o'), ['accepted', 'withdrawn'], 'one entry')
    t.equal(await store.recordAttempt('outbound', 'o', { at: iso(2), error: 'late' }, null), false, 'a late failure is not recorded')
    t.same(
      await store.pendingOutbox(iso(10), 10),
      [{ direction: 'outbound', id: 's', target: 'partner', createdAt: iso(1) }],
      'the relay re-drives only its superseding message'
    )

    await store.accept(record('d'), outbox('d'), accepted('d'))
    await store.markDelivered('outbound', 'd', 'receipt', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'd', at: iso(1) }))
    await supersede(store, 'd', 'c')
    t.equal(await store.withdraw('outbound', 'd', withdrawn('d')), false, 'a delivered message is not withdrawn')
    t.equal((await store.findMessage('outbound', 'd'))?.status, 'delivered')
  })

  t.test(`${backend.name}: a dead letter superseded is withdrawn with the acceptance, and cannot be resent`, async (t) => {
    const store = await backend.open(t)
    await store.accept(record('o'), outbox('o'), accepted('o'))
    await store.markDeadLettered(
      'outbound',
      'o',
      { at: iso(1), error: 'refused' },
      auditEntry({ event: 'dead-lettered', direction: 'outbound', messageId: 'o', at: iso(1) })
    )
    t.equal(await supersede(store, 'o', 's', 'correct', iso(2)), 'accepted')
    t.equal((await store.findMessage('outbound', 'o'))?.status, 'withdrawn', 'withdrawn in the same transaction')
    t.equal(await store.outboxItem('outbound', 'o'), undefined)
    t.same(
      (await store.auditEntries(0, 100)).map((e) => [e.entry.event, e.entry.messageId]),
      [
        ['accepted', 'o'],
        ['dead-lettered', 'o'],
        ['accepted', 's'],
        ['withdrawn', 'o']
      ],
      'after the entry of what superseded it'
    )
    t.equal(
      await store.requeueDeadLetter('outbound', 'o', auditEntry({ event: 'dead-letter-resent', direction: 'outbound', messageId: 'o' })),
      false,
      'an operator cannot resend it'
    )
  })

  t.test(`${backend.name}: retention purges withdrawn messages, and a link once neither of its messages is left`, async (t) => {
    const store = await backend.open(t)
    await store.accept(record('o', iso(0)), outbox('o', iso(0)), accepted('o', iso(0)))
    await supersede(store, 'o', 's', 'retract', iso(1))
    await store.withdraw('outbound', 'o', withdrawn('o', iso(1)))
    await store.markDelivered('outbound', 's', 'receipt', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 's', at: iso(100) }))
    t.same(await store.purge(iso(50), auditEntry({ event: 'purged', at: iso(60) })), { messages: 1, outbox: 0 }, 'the withdrawn original goes')
    t.same(
      (await store.findMessage('outbound', 's'))?.supersedes,
      { id: 'o', action: 'retract', reason: 'wrong-traveller' },
      'the link stays while its retraction is kept'
    )
    t.same(await store.purge(iso(200), auditEntry({ event: 'purged', at: iso(210) })), { messages: 1, outbox: 0 })
    // Ids are the senders' choice: a new message may take a purged one's id, and must not inherit its link.
    await store.accept(record('s', iso(300)), outbox('s', iso(300)), accepted('s', iso(300)))
    t.equal((await store.findMessage('outbound', 's'))?.supersedes, undefined, 'the link went with its messages')
  })

  t.test(`${backend.name}: a hold on a correction already purged keeps the original it corrects, once another hold on it is released`, async (t) => {
    // docs/privacy-officers.md, "More of the API": a hold also covers what its
    // message corrects or retracts. The correction's record may be gone (it
    // was held by nothing) while its original is kept by a hold of its own.
    const store = await backend.open(t)
    const hold = (ref: string, messageId: string, at: string) =>
      store.addLegalHold({ ref, complaintRef: null, messageId, subject: null, reason: 'complaint', placedAt: at, releasedAt: null })
    await store.accept(record('o', iso(0)), outbox('o', iso(0)), accepted('o', iso(0)))
    await store.markDelivered('outbound', 'o', 'receipt', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'o', at: iso(1) }))
    t.ok(await hold('H-ORIGINAL', 'o', iso(2)))
    t.equal(await supersede(store, 'o', 'c', 'correct', iso(3)), 'accepted')
    await store.markDelivered('outbound', 'c', 'receipt', auditEntry({ event: 'delivered', direction: 'outbound', messageId: 'c', at: iso(4) }))
    t.same(await store.purge(iso(50), auditEntry({ event: 'purged', at: iso(50) })), { messages: 1, outbox: 0 }, 'the correction, held by nothing, goes')
    t.ok(await store.findMessage('outbound', 'o'), 'its original is held')

    t.ok(await hold('H-CORRECTION', 'c', iso(60)), 'a hold on the purged correction, which its ledger entries still name')
    await store.releaseLegalHold('H-ORIGINAL', iso(61))
    t.same(await store.purge(iso(100), auditEntry({ event: 'purged', at: iso(100) })), { messages: 0, outbox: 0 }, 'nothing goes')
    t.ok(await store.findMessage('outbound', 'o'), 'the original is kept by the hold on what corrected it')
    await store.releaseLegalHold('H-CORRECTION', iso(110))
    t.same(await store.purge(iso(100), auditEntry({ event: 'purged', at: iso(120) })), { messages: 1, outbox: 0 }, 'released: it goes')
  })
}

conformance(sqlite(false))
conformance(sqlite(true))
const pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
t.teardown(() => pool.end())
conformance(postgres(pool))
