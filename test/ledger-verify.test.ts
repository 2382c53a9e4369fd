// Tampering with the ledger is found, and the first entry that does not verify
// is named: what a privacy officer (or an oversight body) relies on when the
// ledger's keeper is not the one asking.
import t from 'tap'
import { execFile } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync, type SQLInputValue } from 'node:sqlite'
import { promisify } from 'node:util'
import pg from 'pg'
import { countersignCheckpoint } from '../gateway/audit/checkpoint-exchange.ts'
import { Checkpointer, signCheckpoint, verifyCheckpointJws } from '../gateway/audit/checkpointer.ts'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { chainHash } from '../gateway/store/audit-chain.ts'
import { PostgresStore } from '../gateway/store/ledger-postgres.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import type { Checkpoint, GatewayStore } from '../gateway/store/records.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { eventually, PG_URL } from './helper.ts'

const KEYS = join(import.meta.dirname, '..', 'keys-example')
const CA_TRUST = join(KEYS, 'CA', 'trust.json')
const CLI = join(import.meta.dirname, '..', 'gateway', 'cli', 'audit-verify.ts')
const ca = loadTrustStore(CA_TRUST)
const us = loadTrustStore(join(KEYS, 'US', 'trust.json'))

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/** Direct access to the ledger's tables, as someone with the database file or a DBA login has. */
interface Tamper {
  run(sql: string, ...params: Array<string | number>): Promise<void>
  rows<R>(sql: string, ...params: Array<string | number>): Promise<R[]>
}

interface Backend {
  readonly name: string
  open(t: Test): Promise<{ store: GatewayStore; tamper: Tamper; cliArgs: string[] }>
}

const sqlite: Backend = {
  name: 'SQLite',
  async open(t) {
    const dir = mkdtempSync(join(tmpdir(), 'btb-verify-'))
    const path = join(dir, 'ledger.sqlite')
    const store = new SqliteStore(path)
    const db = new DatabaseSync(path)
    t.teardown(async () => {
      db.close()
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    })
    return {
      store,
      cliArgs: ['--ledger', path],
      tamper: {
        async run(sql, ...params) {
          db.prepare(sql).run(...(params as SQLInputValue[]))
        },
        async rows<R>(sql: string, ...params: Array<string | number>) {
          return db.prepare(sql).all(...(params as SQLInputValue[])) as R[]
        }
      }
    }
  }
}

function postgres(pool: pg.Pool): Backend {
  return {
    name: 'PostgreSQL',
    async open(t) {
      const schema = `t_${randomBytes(6).toString('hex')}`
      t.teardown(() => pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`))
      const store = new PostgresStore(pool, { schema })
      await store.create()
      let n = 0
      const sql = (text: string) => text.replace(/\?/g, () => `$${++n}`).replace(/\b(audit_subjects|audit_fields|audit|checkpoints)\b(?!\.)/g, `${schema}.$1`)
      return {
        store,
        cliArgs: ['--postgres', PG_URL, '--schema', schema],
        tamper: {
          async run(text, ...params) {
            n = 0
            await pool.query(sql(text), params)
          },
          async rows<R>(text: string, ...params: Array<string | number>) {
            n = 0
            return (await pool.query(sql(text), params)).rows as R[]
          }
        }
      }
    }
  }
}

const LENGTH = 52

/** 52 entries, a checkpoint every 10 (the first two countersigned by the partner), as the gateway makes them. */
async function buildLedger(store: GatewayStore): Promise<Checkpoint[]> {
  const checkpointer = new Checkpointer({ store, key: ca.signingKey, country: 'CA', schedule: { everyEntries: 10, everyMs: 60_000 } })
  const made: Checkpoint[] = []
  for (let i = 1; i <= LENGTH; i++) {
    await store.appendAudit(
      auditEntry({
        event: 'accepted',
        direction: 'outbound',
        messageId: `m-${i}`,
        at: new Date(Date.UTC(2026, 10, 20, 0, i)).toISOString(),
        subjects: [`subject-${i % 5}`]
      })
    )
    if (i % 10 === 0) made.push((await checkpointer.checkpointNow())!)
  }
  for (const cp of made.slice(0, 2)) {
    const claims = await verifyCheckpointJws(cp.jws, ca.ownKeys, 'CA')
    await store.setCountersignature(cp.seq, await countersignCheckpoint(claims, 'US', us.signingKey))
  }
  return made
}

const verify = (store: GatewayStore) => verifyLedger(store, ca.ownKeys, ca.partner.keys, { pageSize: 7 })

/** pg gives a BIGINT as a string. */
interface Row {
  seq: number | string
  entry: string
  prev_hash: string
  hash: string
}

const run = promisify(execFile)
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, '--trust', CA_TRUST, ...args])
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

function suite(parent: Test, backend: Backend): void {
  parent.test(`${backend.name}: ledger verification`, async (t) => {
    t.test('an untouched ledger verifies, every checkpoint and countersignature included', async (t) => {
      const { store } = await backend.open(t)
      await buildLedger(store)
      t.same(await verify(store), { ok: true, entries: LENGTH, checkpoints: 5, countersignatures: 2, checkpointedTo: 50 })
      t.same(
        await verifyLedger(store, ca.ownKeys),
        { ok: true, entries: LENGTH, checkpoints: 5, countersignatures: 0, checkpointedTo: 50 },
        "without the partner's keys, countersignatures are not checked"
      )
    })

    t.test('an empty ledger verifies', async (t) => {
      const { store } = await backend.open(t)
      t.same(await verify(store), { ok: true, entries: 0, checkpoints: 0, countersignatures: 0, checkpointedTo: 0 })
    })

    const cases: Array<{ name: string; seq: number; reason: RegExp; tamper: (x: Tamper, store: GatewayStore) => Promise<void> }> = [
      {
        name: "an entry's JSON edited in place",
        seq: 23,
        reason: /does not match its hash/,
        tamper: (x) => x.run(`UPDATE audit SET entry = replace(entry, '"m-23"', '"m-99"') WHERE seq = ?`, 23)
      },
      {
        name: "an entry's hash edited",
        seq: 23,
        reason: /does not match its hash/,
        tamper: (x) => x.run('UPDATE audit SET hash = ? WHERE seq = ?', 'x'.repeat(43), 23)
      },
      {
        name: 'a row deleted from the middle',
        seq: 23,
        reason: /entry 23 is missing/,
        tamper: (x) => x.run('DELETE FROM audit WHERE seq = ?', 23)
      },
      {
        name: 'the last rows deleted (found by the checkpoint at 50)',
        seq: 48,
        reason: /ends at entry 47, but checkpoint 50 .* entries 48 to 50 were deleted/,
        tamper: (x) => x.run('DELETE FROM audit WHERE seq >= ?', 48)
      },
      {
        name: 'two rows swapped, hashes and all',
        seq: 23,
        reason: /does not chain onto entry 22/,
        tamper: async (x) => {
          const [a, b] = await x.rows<Row>('SELECT seq, entry, prev_hash, hash FROM audit WHERE seq IN (?, ?) ORDER BY seq', 23, 24)
          for (const [row, other] of [
            [a!, b!],
            [b!, a!]
          ]) {
            await x.run('UPDATE audit SET entry = ?, prev_hash = ?, hash = ? WHERE seq = ?', other.entry, other.prev_hash, other.hash, row.seq)
          }
        }
      },
      {
        name: "two entries' contents swapped",
        seq: 23,
        reason: /does not match its hash/,
        tamper: async (x) => {
          const [a, b] = await x.rows<Row>('SELECT seq, entry FROM audit WHERE seq IN (?, ?) ORDER BY seq', 23, 24)
          await x.run('UPDATE audit SET entry = ? WHERE seq = ?', b!.entry, 23)
          await x.run('UPDATE audit SET entry = ? WHERE seq = ?', a!.entry, 24)
        }
      },
      {
        name: 'an entry edited and the chain rehashed after it (found by the checkpoint at 30)',
        seq: 30,
        reason: /entry 30 is not the entry checkpoint 30 signed: the ledger was rewritten after entry 20/,
        tamper: async (x) => {
          const rows = await x.rows<Row>('SELECT seq, entry, prev_hash, hash FROM audit WHERE seq >= ? ORDER BY seq', 23)
          let prev = rows[0]!.prev_hash
          for (const row of rows) {
            const entry = Number(row.seq) === 23 ? row.entry.replace('"m-23"', '"m-99"') : row.entry
            const hash = chainHash(prev, entry)
            await x.run('UPDATE audit SET entry = ?, prev_hash = ?, hash = ? WHERE seq = ?', entry, prev, hash, row.seq)
            // A thorough rewrite keeps the searchable columns in step with the entry.
            if (Number(row.seq) === 23) await x.run('UPDATE audit SET message_id = ? WHERE seq = ?', 'm-99', 23)
            prev = hash
          }
        }
      },
      {
        name: 'an entry replaced by text that is not JSON, its hash and the next link recomputed',
        seq: 23,
        reason: /entry 23 is not JSON/,
        tamper: async (x) => {
          // Verification read each entry by parsing it: this text made it throw rather than report.
          const [row, next] = await x.rows<Row>('SELECT seq, entry, prev_hash, hash FROM audit WHERE seq IN (?, ?) ORDER BY seq', 23, 24)
          const text = '{"event": "accepted"'
          const hash = chainHash(row!.prev_hash, text)
          await x.run('UPDATE audit SET entry = ?, hash = ? WHERE seq = ?', text, hash, 23)
          await x.run('UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?', hash, chainHash(hash, next!.entry), 24)
        }
      },
      {
        name: "a checkpoint signed with a forged key under this gateway's kid",
        seq: 30,
        reason: /checkpoint 30 is not signed by this gateway \(JWS_SIGNATURE_INVALID/,
        tamper: async (x, store) => {
          const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
          const head = (await store.auditEntry(30))!
          const forged = await signCheckpoint(
            { gateway: 'CA', seq: 30, hash: head.hash, at: new Date().toISOString() },
            { kid: ca.signingKey.kid, alg: 'ES256', key: privateKey }
          )
          await x.run('UPDATE checkpoints SET jws = ? WHERE seq = ?', forged, 30)
        }
      },
      {
        name: 'a traveller row deleted from the search index (hiding the entry from a disclosure report)',
        seq: 23,
        reason: /search index of entry 23 lacks a traveller row/,
        tamper: (x) => x.run('DELETE FROM audit_subjects WHERE seq = ?', 23)
      },
      {
        name: 'a traveller row added to the search index (attributing the entry to someone else)',
        seq: 23,
        reason: /search index of entry 23 adds a traveller row/,
        tamper: (x) => x.run('INSERT INTO audit_subjects (subject, seq) VALUES (?, ?)', 'someone-else', 23)
      },
      {
        name: 'a message id column edited (hiding the entry from a search by message)',
        seq: 23,
        reason: /searchable column message_id of entry 23 does not say what the entry says/,
        tamper: (x) => x.run('UPDATE audit SET message_id = ? WHERE seq = ?', '00000000-0000-0000-0000-000000000000', 23)
      },
      {
        name: 'an event column edited (a refusal shown as an acceptance in searches)',
        seq: 23,
        reason: /searchable column event of entry 23 does not say what the entry says/,
        tamper: (x) => x.run('UPDATE audit SET event = ? WHERE seq = ?', 'refused', 23)
      },
      {
        name: 'a searchable column filled in (attributing the entry to an agency)',
        seq: 23,
        reason: /searchable column from_agency of entry 23 does not say what the entry says/,
        tamper: (x) => x.run('UPDATE audit SET from_agency = ? WHERE seq = ?', 'CBSA', 23)
      },
      {
        name: 'a checkpoint row moved to another hash',
        seq: 40,
        reason: /checkpoint 40 was altered/,
        tamper: async (x) => x.run('UPDATE checkpoints SET hash = ? WHERE seq = ?', 'x'.repeat(43), 40)
      },
      {
        name: "a countersignature made with this gateway's key instead of the partner's",
        seq: 20,
        reason: /countersignature of checkpoint 20 does not verify with the partner's keys/,
        tamper: async (x, store) => {
          const cp = (await store.checkpoints(19, 1))[0]!
          const claims = await verifyCheckpointJws(cp.jws, ca.ownKeys, 'CA')
          await x.run('UPDATE checkpoints SET countersignature = ? WHERE seq = ?', await countersignCheckpoint(claims, 'US', ca.signingKey), 20)
        }
      }
    ]

    for (const c of cases) {
      t.test(`finds ${c.name}, and names entry ${c.seq}`, async (t) => {
        const { store, tamper } = await backend.open(t)
        await buildLedger(store)
        await c.tamper(tamper, store)
        const result = await verify(store)
        t.equal(result.ok, false)
        t.equal(result.firstBad?.seq, c.seq)
        t.match(result.firstBad?.reason, c.reason)
      })
    }

    t.test('the CLI reports an intact ledger and exits 0, a tampered one and exits 1', async (t) => {
      const { store, tamper, cliArgs } = await backend.open(t)
      await buildLedger(store)
      const good = await cli(cliArgs)
      t.equal(good.code, 0, good.stderr)
      t.match(good.stdout, /Entries checked:\s+52/)
      t.match(good.stdout, /Checkpoints checked:\s+5 \(2 countersigned by US\); the last signs entry 50/)
      t.match(good.stdout, /Result: OK/)
      t.match(good.stdout, /Entries 51 to 52 follow the last checkpoint/, 'what the checkpoints do not yet cover is said')

      await tamper.run('DELETE FROM audit WHERE seq = ?', 17)
      const bad = await cli(cliArgs)
      t.equal(bad.code, 1, bad.stderr)
      t.match(bad.stdout, /Entries checked:\s+16/)
      t.match(bad.stdout, /Result: NOT OK\. The first entry that does not verify is entry 17\./)
      t.match(bad.stdout, /Why:\s+entry 17 is missing/)
    })
  })
}

suite(t, sqlite)

t.test('PostgreSQL', async (t) => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
  t.teardown(() => pool.end())
  try {
    await pool.query('SELECT 1')
  } catch (err) {
    t.fail(`the PostgreSQL store needs a database: set PG_URL (tried ${PG_URL}: ${(err as Error).message})`)
    return
  }
  suite(t, postgres(pool))
})

t.test('the CLI refuses to verify a ledger that is not there, rather than an empty one it would create', async (t) => {
  const result = await cli(['--ledger', join(tmpdir(), `absent-${randomBytes(4).toString('hex')}.sqlite`)])
  t.equal(result.code, 2)
  t.match(result.stderr, /no ledger at/)
})

t.test('the checkpointer signs the head on its schedule, once per head', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btb-checkpointer-'))
  const store = new SqliteStore(join(dir, 'ledger.sqlite'))
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const append = (n: number) =>
    Promise.all(Array.from({ length: n }, (_, i) => store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: `m${i}` }))))
  const sent: Checkpoint[] = []

  // Each scheduled look at the head is reported; the test waits for the looks it needs, not for a time.
  const ticks: number[] = []
  const onTick = (): void => {
    ticks.push(Date.now())
  }
  /** Waits until the checkpointer has looked at the head, a whole look begun at or after `from`: two ends after it, the looks being one at a time. */
  const lookedAt = (from: number) => eventually(() => ticks.filter((at) => at >= from).length >= 2 || undefined, 10_000, 'a look at the head')

  const byCount = new Checkpointer({
    store,
    key: ca.signingKey,
    country: 'CA',
    schedule: { everyEntries: 5, everyMs: 60_000, pollMs: 10 },
    onCheckpoint: async (cp) => {
      sent.push(cp)
    },
    onTick
  })
  byCount.start()
  await append(3)
  await lookedAt(Date.now())
  t.equal(await store.latestCheckpoint(), undefined, 'fewer entries than everyEntries, too soon: no checkpoint')
  await append(3)
  await lookedAt(Date.now())
  t.equal((await store.latestCheckpoint())?.seq, 6, 'the head moved by everyEntries: signed')
  t.same(
    sent.map((cp) => cp.seq),
    [6],
    'and handed to the partner exchange'
  )
  await byCount.stop()

  const byTime = new Checkpointer({ store, key: ca.signingKey, country: 'CA', schedule: { everyEntries: 1000, everyMs: 40, pollMs: 10 }, onTick })
  byTime.start()
  const signedAt = Date.parse((await store.latestCheckpoint())!.at)
  await lookedAt(Math.max(Date.now(), signedAt + 40))
  t.equal((await store.checkpoints(0, 10)).length, 1, 'time passed but the head did not move: nothing new to sign')
  await append(1)
  await lookedAt(Date.now())
  t.equal((await store.latestCheckpoint())?.seq, 7, 'time passed and the head moved: signed')
  await byTime.stop()
  t.equal(await byTime.checkpointNow(), undefined, 'the head is signed already')

  const claims = await verifyCheckpointJws((await store.latestCheckpoint())!.jws, ca.ownKeys, 'CA')
  t.same({ gateway: claims.gateway, seq: claims.seq, hash: claims.hash }, { gateway: 'CA', ...(await store.auditHead())! })
  await t.rejects(verifyCheckpointJws((await store.latestCheckpoint())!.jws, us.ownKeys, 'US'), "not the partner's")
  t.same(await verifyLedger(store, ca.ownKeys), { ok: true, entries: 7, checkpoints: 2, countersignatures: 0, checkpointedTo: 7 })
})
