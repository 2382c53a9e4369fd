// Tampering with the ledger is found, and the first entry that does not verify
// is named: what a privacy officer (or an oversight body) relies on when the
// ledger's keeper is not the one asking. Every case runs as audit:verify does
// with the partner's copy of the latest checkpoint it cosigned (issue 12's
// tamper list: a rewrite with the chain and tree recomputed and the
// checkpoints re-signed or deleted passes every local check, and only that
// copy catches it), on SQLite and on PostgreSQL.
import t from 'tap'
import { execFile } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { cosignCheckpoint, ledgerKeys, ledgerOrigin, openCheckpoint, signCheckpoint, witnessName } from '../gateway/audit/checkpoint.ts'
import { Checkpointer } from '../gateway/audit/checkpointer.ts'
import { cosignNote } from '../gateway/audit/signed-note.ts'
import { verifyLedger } from '../gateway/audit/verify-ledger.ts'
import { consistencyProof } from '../gateway/audit/ledger-proofs.ts'
import { type CheckpointConflict, Witness } from '../gateway/audit/witness.ts'
import { EMPTY_ROOT, leafHash } from '../gateway/store/merkle-tree.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { PostgresStore } from '../gateway/store/ledger-postgres.ts'
import { SqliteStore } from '../gateway/store/ledger-sqlite.ts'
import type { Checkpoint, GatewayStore } from '../gateway/store/records.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { eventually, PG_URL } from './helper.ts'
import { type AuditRow, type Tamper, postgresTamper, rewriteLedger, sqliteTamper } from './lib/ledger-tamper.ts'

const KEYS = join(import.meta.dirname, '..', 'keys-example')
const CA_TRUST = join(KEYS, 'CA', 'trust.json')
const CLI = join(import.meta.dirname, '..', 'gateway', 'cli', 'audit-verify.ts')
const ca = loadTrustStore(CA_TRUST)
const us = loadTrustStore(join(KEYS, 'US', 'trust.json'))

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/** A ledger of a test's own, on one of the two stores. */
interface Ledger {
  readonly store: GatewayStore
  readonly tamper: Tamper
  readonly cliArgs: string[]
  /** Another ledger of a test's own, holding what this one holds now. */
  copy(t: Test): Promise<Ledger>
}

interface Backend {
  readonly name: string
  /** An empty ledger. */
  open(t: Test): Promise<Ledger>
}

function openSqlite(t: Test, from?: string): Ledger {
  const dir = mkdtempSync(join(tmpdir(), 'btb-verify-'))
  const path = join(dir, 'ledger.sqlite')
  if (from !== undefined) {
    // A consistent copy, what the WAL holds included.
    const source = new DatabaseSync(from, { readOnly: true })
    source.prepare('VACUUM INTO ?').run(path)
    source.close()
  }
  const store = new SqliteStore(path)
  const tamper = sqliteTamper(path)
  t.teardown(async () => {
    tamper.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { store, cliArgs: ['--ledger', path], tamper, copy: async (t) => openSqlite(t, path) }
}

const sqlite: Backend = { name: 'SQLite', open: async (t) => openSqlite(t) }

async function openPostgres(t: Test, pool: pg.Pool, from?: string): Promise<Ledger> {
  const schema = `t_${randomBytes(6).toString('hex')}`
  t.teardown(() => pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`))
  const store = new PostgresStore(pool, { schema })
  await store.create()
  if (from !== undefined) {
    const { rows } = await pool.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [from])
    for (const { table_name: table } of rows) await pool.query(`INSERT INTO ${schema}.${table} SELECT * FROM ${from}.${table}`)
  }
  return { store, cliArgs: ['--postgres', PG_URL, '--schema', schema], tamper: postgresTamper(pool, schema), copy: (t) => openPostgres(t, pool, schema) }
}

function postgres(pool: pg.Pool): Backend {
  return { name: 'PostgreSQL', open: (t) => openPostgres(t, pool) }
}

const LENGTH = 52
const CA_KEY = { name: ledgerOrigin('CA'), alg: ca.signingKey.alg, key: ca.signingKey.key }

/** The partner's side: a witness of CA's ledger, with its own store, as the US gateway runs it. */
async function partnerWitness(
  t: Test,
  onConflict: (conflict: CheckpointConflict) => Promise<void> = async () => {}
): Promise<{ witness: Witness; witnessed: () => Promise<string>; store: GatewayStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'btb-witness-'))
  const store = new SqliteStore(join(dir, 'ledger.sqlite'))
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const witness = new Witness({
    store,
    origin: ledgerOrigin('CA'),
    logKeys: () => ledgerKeys('CA', us.partner.ledgerKeys),
    key: () => ({ name: witnessName('US'), alg: us.signingKey.alg, key: us.signingKey.key }),
    onConflict
  })
  return { witness, witnessed: async () => (await store.latestWitnessedCheckpoint(ledgerOrigin('CA')))!.note, store }
}

/**
 * 52 entries, a checkpoint every 10, as the gateway makes them; the first
 * three witnessed by the partner, which keeps the one of 30 entries. Returns
 * the partner's copy of it: what audit:verify fetches.
 */
async function buildLedger(t: Test, store: GatewayStore): Promise<string> {
  const checkpointer = new Checkpointer({ store, key: ca.signingKey, country: 'CA', schedule: { everyEntries: 10, everyMs: 60_000 } })
  const made: Checkpoint[] = []
  for (let i = 1; i <= LENGTH; i++) {
    await store.appendAudit(
      auditEntry({
        event: 'accepted',
        direction: 'outbound',
        messageId: `m-${i}`,
        at: new Date(Date.UTC(2026, 10, 20, 0, i)).toISOString(),
        subjects: [`subject-${i % 5}`],
        // Two field sets: a search by field finds these entries through them.
        fields: (i % 3 === 2 ? ['traveller.surname', 'document.number'] : ['traveller.surname']).map(
          (path) => ({ path, action: 'share', rule: `r-${path}`, principle: 'P2', digest: `d-${i}` }) as never
        )
      })
    )
    if (i % 10 === 0) made.push((await checkpointer.checkpointNow())!)
  }
  const { witness, witnessed } = await partnerWitness(t)
  let old = 0
  for (const cp of made.slice(0, 3)) {
    const proof = old === 0 ? [] : (await consistencyProof(store, old, cp.size)).map((h) => Buffer.from(h, 'base64'))
    const answer = await witness.addCheckpoint({ oldSize: old, proof, note: cp.note })
    if (!('cosigned' in answer)) throw new Error('the witness did not cosign')
    await store.setCosignature(cp.size, answer.cosigned, new Date().toISOString())
    old = cp.size
  }
  return witnessed()
}

const verify = (store: GatewayStore, witnessed?: string) =>
  verifyLedger(store, ca.ownLedgerKeys, ca.partner.ledgerKeys, { pageSize: 7, ...(witnessed === undefined ? {} : { witnessed }) })

type Row = AuditRow
const rewrite = (x: Tamper, from: number, edit: (seq: number, entry: string) => string, checkpoints: 'keep' | 're-sign' | 'delete') =>
  rewriteLedger(x, { from, edit, checkpoints, key: CA_KEY })

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
    // One ledger built as the gateway builds it; each case below tampers with a copy of its own.
    const built = await backend.open(t)
    const witnessed = await buildLedger(t, built.store)

    t.test("an untouched ledger verifies, every checkpoint, cosignature and the partner's copy included", async (t) => {
      const { store } = await built.copy(t)
      const result = await verify(store, witnessed)
      t.match(result, { ok: true, entries: LENGTH, checkpoints: 5, countersignatures: 3, checkpointedTo: 50, warnings: [] })
      t.match(result.cosigned, { size: 30, fromPartner: true }, "checked against the partner's copy")
      const alone = await verifyLedger(store, ca.ownLedgerKeys)
      t.match(
        alone,
        { ok: true, entries: LENGTH, checkpoints: 5, countersignatures: 0, checkpointedTo: 50, cosigned: null },
        "without the partner's keys, cosignatures are not checked"
      )
      t.match(alone.warnings, [/no checkpoint of this ledger is cosigned by the partner/], 'and the missing cosignature is said')
      const stale = await verifyLedger(store, ca.ownLedgerKeys, ca.partner.ledgerKeys, { witnessed, maxCosignatureAgeMs: 1000, now: Date.now() + 60_000 })
      t.equal(stale.ok, true)
      t.match(stale.warnings, [/latest cosignature by the partner \(30 entries\) is from .* older than the 1 s allowed/], 'an old cosignature is said')
    })

    t.test('an empty ledger verifies', async (t) => {
      const { store } = await backend.open(t)
      t.match(await verify(store), { ok: true, entries: 0, checkpoints: 0, countersignatures: 0, checkpointedTo: 0, cosigned: null, warnings: [] })
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
        name: "an entry's stored Merkle tree nodes edited (proofs served from them would lie)",
        seq: 23,
        reason: /Merkle tree nodes stored with entry 23 are not those of the ledger's entries/,
        tamper: (x) => x.run('UPDATE audit SET tree_nodes = ? WHERE seq = ?', Buffer.alloc(32, 7).toString('base64'), 23)
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
        name: "the ledger truncated and the checkpoints that covered the cut deleted (found by the partner's copy)",
        seq: 25,
        reason: /ends at entry 24, but the partner cosigned a checkpoint of 30 entries .* entries 25 to 30 were deleted/,
        tamper: async (x) => {
          await x.run('DELETE FROM audit_subjects WHERE seq >= ?', 25)
          await x.run('DELETE FROM audit WHERE seq >= ?', 25)
          await x.run('DELETE FROM log_checkpoints WHERE size >= ?', 25)
        }
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
        name: 'two entries reordered, with the chain, the tree and the search index recomputed and the checkpoints re-signed',
        seq: 30,
        reason: /first 30 entries are not those of the checkpoint the partner cosigned/,
        tamper: async (x) => {
          const [a, b] = await x.rows<Row & { at: string; field_set: string }>(
            'SELECT seq, entry, at, field_set FROM audit WHERE seq IN (?, ?) ORDER BY seq',
            23,
            24
          )
          await rewrite(x, 23, (seq, entry) => (seq === 23 ? b!.entry : seq === 24 ? a!.entry : entry), 're-sign')
          // The searchable copies follow the entries, so that nothing local gives it away.
          for (const [seq, from] of [
            [23, b!],
            [24, a!]
          ] as const) {
            await x.run('UPDATE audit SET message_id = ?, at = ?, field_set = ? WHERE seq = ?', `m-${Number(from.seq)}`, from.at, from.field_set, seq)
            await x.run('UPDATE audit_subjects SET subject = ? WHERE seq = ?', `subject-${Number(from.seq) % 5}`, seq)
          }
        }
      },
      {
        name: 'an entry edited, the chain rehashed and the tree recomputed after it (found by the checkpoint at 30)',
        seq: 30,
        reason: /first 30 entries are not those checkpoint 30 signed: the ledger was rewritten after entry 20/,
        tamper: async (x) => {
          await rewrite(x, 23, (seq, entry) => (seq === 23 ? entry.replace('"m-23"', '"m-99"') : entry), 'keep')
          // A thorough rewrite keeps the searchable columns in step with the entry.
          await x.run('UPDATE audit SET message_id = ? WHERE seq = ?', 'm-99', 23)
        }
      },
      {
        name: "an entry edited, the chain and the tree recomputed, the checkpoints re-signed with the gateway's own key and the cosignatures dropped",
        seq: 30,
        reason: /first 30 entries are not those of the checkpoint the partner cosigned .*: the ledger was rewritten/,
        tamper: async (x) => {
          await rewrite(x, 23, (seq, entry) => (seq === 23 ? entry.replace('"m-23"', '"m-99"') : entry), 're-sign')
          await x.run('UPDATE audit SET message_id = ? WHERE seq = ?', 'm-99', 23)
        }
      },
      {
        name: 'an entry edited, the chain and the tree recomputed, and the checkpoints after it deleted',
        seq: 30,
        reason: /first 30 entries are not those of the checkpoint the partner cosigned/,
        tamper: async (x) => {
          await rewrite(x, 23, (seq, entry) => (seq === 23 ? entry.replace('"m-23"', '"m-99"') : entry), 'delete')
          await x.run('UPDATE audit SET message_id = ? WHERE seq = ?', 'm-99', 23)
        }
      },
      {
        name: 'an entry replaced by text that is not JSON, the chain and the tree recomputed',
        seq: 23,
        reason: /entry 23 is not JSON/,
        // Verification read each entry by parsing it: this text made it throw rather than report.
        tamper: (x) => rewrite(x, 23, (seq, entry) => (seq === 23 ? '{"event": "accepted"' : entry), 'keep')
      },
      {
        name: "a checkpoint signed with a forged key under this gateway's name",
        seq: 30,
        reason: /checkpoint 30 is not signed by this gateway \(NOTE_UNVERIFIED/,
        tamper: async (x, store) => {
          const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
          const cp = (await store.checkpoints(29, 1))[0]!
          const forged = signCheckpoint({ size: 30, root: cp.root }, { name: ledgerOrigin('CA'), alg: 'ES256', key: privateKey })
          await x.run('UPDATE log_checkpoints SET note = ? WHERE size = ?', forged, 30)
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
        name: 'text moved from one searchable column into the next (each column edited, what they hold together kept)',
        seq: 23,
        reason: /searchable column event of entry 23 does not say what the entry says/,
        tamper: (x) => x.run('UPDATE audit SET event = event || substr(direction, 1, 3), direction = substr(direction, 4) WHERE seq = ?', 23)
      },
      {
        name: 'a searchable column filled in (attributing the entry to an agency)',
        seq: 23,
        reason: /searchable column from_agency of entry 23 does not say what the entry says/,
        tamper: (x) => x.run('UPDATE audit SET from_agency = ? WHERE seq = ?', 'CBSA', 23)
      },
      {
        name: "an entry's field set unnamed (hiding it from a search by any of its fields)",
        seq: 23,
        reason: /search index of entry 23 lacks a field row/,
        tamper: (x) => x.run('UPDATE audit SET field_set = NULL WHERE seq = ?', 23)
      },
      {
        name: "an entry's field set swapped for another (showing it for a field it never carried)",
        seq: 22,
        reason: /search index of entry 22 adds a field row/,
        tamper: (x) => x.run('UPDATE audit SET field_set = (SELECT field_set FROM audit WHERE seq = ?) WHERE seq = ?', 23, 22)
      },
      {
        name: "a pattern row deleted from a field set (hiding the set's entries from a search by that field)",
        seq: 0,
        reason: /field set \S+ lacks a pattern row/,
        tamper: (x) => x.run('DELETE FROM audit_field_set_patterns WHERE path_pattern = ?', 'document.number')
      },
      {
        name: "a pattern row added to a field set (showing the set's entries for a field they never carried)",
        seq: 0,
        reason: /field set \S+ adds a pattern row/,
        tamper: (x) => x.run('INSERT INTO audit_field_set_patterns (path_pattern, field_set) SELECT ?, id FROM audit_field_sets', 'traveller.religion')
      },
      {
        name: 'a checkpoint row moved to another root',
        seq: 40,
        reason: /checkpoint 40 was altered/,
        tamper: async (x) => x.run('UPDATE log_checkpoints SET root = ? WHERE size = ?', Buffer.alloc(32).toString('base64'), 40)
      },
      {
        name: "a cosignature made with this gateway's key instead of the partner's",
        seq: 20,
        reason: /the cosignature of checkpoint 20 is not by the partner's key/,
        tamper: async (x, store) => {
          const cp = (await store.checkpoints(19, 1))[0]!
          const forged = cosignCheckpoint(cp.note, { name: witnessName('US'), alg: ca.signingKey.alg, key: ca.signingKey.key }, 1_800_000_000)
          await x.run('UPDATE log_checkpoints SET cosignature = ? WHERE size = ?', forged, 20)
        }
      },
      {
        // A blank line before it moves the note's split: appended to the note, the partner's line reads as a cosignature
        // of the checkpoint's text and this gateway's own signature line, not of the checkpoint (C2SP tlog-witness:
        // the witness answers signature lines only).
        name: "a cosignature stored after a blank line, over the checkpoint's text and its signature line",
        seq: 20,
        reason: /the cosignature of checkpoint 20 does not verify .*not signature lines only/,
        tamper: async (x, store) => {
          const cp = (await store.checkpoints(19, 1))[0]!
          const split = cp.note.lastIndexOf('\n\n')
          const shifted = `${cp.note.slice(0, split + 1)}\n${cp.note.slice(split + 2)}`
          const partner = { name: witnessName('US'), alg: us.signingKey.alg, key: us.signingKey.key }
          await x.run('UPDATE log_checkpoints SET cosignature = ? WHERE size = ?', `\n${cosignNote(shifted, partner, 1_800_000_000)}`, 20)
        }
      }
    ]

    for (const c of cases) {
      t.test(`finds ${c.name}, and names entry ${c.seq}`, async (t) => {
        const { store, tamper } = await built.copy(t)
        await c.tamper(tamper, store)
        const result = await verify(store, witnessed)
        t.equal(result.ok, false)
        t.equal(result.firstBad?.seq, c.seq)
        t.match(result.firstBad?.reason, c.reason)
      })
    }

    t.test("a partner's copy cosigned at a time no date can hold is refused as such, not a crash", async (t) => {
      const { store } = await built.copy(t)
      const { note } = (await store.checkpoints(29, 1))[0]!
      // Only a holder of the partner's key could make this; the example material is at hand here.
      const late = cosignCheckpoint(note, { name: witnessName('US'), alg: us.signingKey.alg, key: us.signingKey.key }, 9e12)
      const result = await verify(store, `${note}${late}`)
      t.equal(result.ok, false)
      t.match(result.firstBad?.reason, /cosignature that does not verify \(.*states a time past any date/)
    })

    t.test("a rewrite re-signed with the gateway's own key passes every local check: only the partner's copy finds it", async (t) => {
      const { store, tamper } = await built.copy(t)
      await rewrite(tamper, 23, (seq, entry) => (seq === 23 ? entry.replace('"m-23"', '"m-99"') : entry), 're-sign')
      await tamper.run('UPDATE audit SET message_id = ? WHERE seq = ?', 'm-99', 23)
      t.match(await verify(store), { ok: true, cosigned: null }, 'alone, the ledger verifies (and no cosignature is left)')
      t.match(await verify(store, witnessed), { ok: false, firstBad: { seq: 30 } }, "with the partner's copy, it does not")
    })

    t.test('the CLI reports an intact ledger and exits 0, a tampered one and exits 1', async (t) => {
      const { tamper, cliArgs } = await built.copy(t)
      const dir = mkdtempSync(join(tmpdir(), 'btb-witnessed-'))
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      const file = join(dir, 'witnessed.note')
      writeFileSync(file, witnessed)
      const good = await cli([...cliArgs, '--witnessed', file])
      t.equal(good.code, 0, good.stderr)
      t.match(good.stdout, /Entries checked:\s+52/)
      t.match(good.stdout, /Checkpoints checked:\s+5 \(3 cosigned by US\); the last is of 50 entries/)
      t.match(good.stdout, /Witnessed:\s+the first 30 entries, as the partner's copy of its cosigned checkpoint \(cosigned at [0-9T:.Z-]+\) says/)
      t.match(good.stdout, /Result: OK/)
      t.match(
        good.stdout,
        /Time:\s+\d+\.\d s(, [\d,]+ entries\/s)?; the entries checked on one thread\n/,
        'a short ledger is checked on one thread (threadsFrom)'
      )
      t.match(
        good.stdout,
        /Entries 31 to 52 follow the last checkpoint the partner cosigned: they are held by this gateway's word alone/,
        'what the witness does not yet cover is said'
      )

      await tamper.run('DELETE FROM audit WHERE seq = ?', 17)
      const bad = await cli([...cliArgs, '--witnessed', file])
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

t.test('the witness takes a checkpoint of the empty tree as one, not as a conflict, and goes on from it', async (t) => {
  const conflicts: unknown[] = []
  const { witness, store: witnessStore } = await partnerWitness(t, async (c) => {
    conflicts.push(c)
  })
  const empty = signCheckpoint({ size: 0, root: Buffer.from(EMPTY_ROOT).toString('base64') }, CA_KEY)
  t.ok('cosigned' in (await witness.addCheckpoint({ oldSize: 0, proof: [], note: empty })), 'cosigned')
  t.same(conflicts, [], 'no alert')
  t.ok('cosigned' in (await witness.addCheckpoint({ oldSize: 0, proof: [], note: empty })), 'the same again: the same answer')
  const one = signCheckpoint({ size: 1, root: leafHash('entry 1').toString('base64') }, CA_KEY)
  t.ok('cosigned' in (await witness.addCheckpoint({ oldSize: 0, proof: [], note: one })), 'then a tree of one entry, from it')
  t.same(await witnessStore.witnessState(ledgerOrigin('CA')), { size: 1, root: leafHash('entry 1').toString('base64') })
  t.same(conflicts, [])
})

t.test('two checkpoints of one ledger sent at once, the larger cosigned first: the other is told the size, and no alarm is raised', async (t) => {
  const conflicts: CheckpointConflict[] = []
  const { witness, store: witnessStore } = await partnerWitness(t, async (c) => {
    conflicts.push(c)
  })
  const { store } = openSqlite(t)
  const checkpointer = new Checkpointer({ store, key: ca.signingKey, country: 'CA', schedule: { everyEntries: 10, everyMs: 60_000 } })
  const made: Checkpoint[] = []
  for (let i = 1; i <= 30; i++) {
    await store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: `m-${i}` }))
    if (i % 10 === 0) made.push((await checkpointer.checkpointNow())!)
  }
  const [ten, twenty, thirty] = made as [Checkpoint, Checkpoint, Checkpoint]
  const send = async (cp: Checkpoint, oldSize: number) => {
    const proof = oldSize === 0 || oldSize === cp.size ? [] : (await consistencyProof(store, oldSize, cp.size)).map((h) => Buffer.from(h, 'base64'))
    return witness.addCheckpoint({ oldSize, proof, note: cp.note })
  }
  t.ok('cosigned' in (await send(ten, 0)), '10 entries, cosigned')
  // Both sent from 10, the one of 30 entries first.
  t.ok('cosigned' in (await send(thirty, 10)), '30 entries, from 10: cosigned')
  t.same(await send(twenty, 10), { witnessedSize: 30 }, '20 entries, from 10: told the witness holds 30 (409 with the size)')
  t.same(conflicts, [], 'no alarm for an honest ledger')
  t.equal((await witnessStore.witnessState(ledgerOrigin('CA')))?.size, 30, 'the witness stays at 30')
  // A retry of the one of 10 entries from its own size, late: the witness cosigned it, and 30 was proven to extend it.
  t.same(await send(ten, 10), { witnessedSize: 30 }, '10 entries, cosigned before, sent again from 10: told the size')
  t.same(conflicts, [], 'no alarm: it contradicts nothing the witness cosigned')
  // What a sender whose ledger no longer reaches 30 sends: its checkpoint from its own size.
  t.same(await send(twenty, 20), { witnessedSize: 30 }, 'a ledger that does not reach 30 is told the size, as any old size the witness is not at')
  t.match(conflicts, [{ size: 20, witnessedSize: 30, why: /cut short/ }], 'and that is the alarm')
})

t.test('a consistency proof that fails is answered 422, as tlog-witness says, and is the alarm', async (t) => {
  const conflicts: CheckpointConflict[] = []
  const { witness } = await partnerWitness(t, async (c) => {
    conflicts.push(c)
  })
  // Two ledgers of the same origin and key, apart from their fifth entry on.
  const ledgers = [openSqlite(t).store, openSqlite(t).store]
  const heads: Checkpoint[][] = [[], []]
  for (const [n, store] of ledgers.entries()) {
    const checkpointer = new Checkpointer({ store, key: ca.signingKey, country: 'CA', schedule: { everyEntries: 10, everyMs: 60_000 } })
    for (let i = 1; i <= 20; i++) {
      await store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: i < 5 ? `m-${i}` : `m-${n}-${i}` }))
      if (i % 10 === 0) heads[n]!.push((await checkpointer.checkpointNow())!)
    }
  }
  const cosign = async (n: number, cp: Checkpoint, oldSize: number) => {
    const proof = oldSize === 0 ? [] : (await consistencyProof(ledgers[n]!, oldSize, cp.size)).map((h) => Buffer.from(h, 'base64'))
    return witness.addCheckpoint({ oldSize, proof, note: cp.note })
  }
  t.ok('cosigned' in (await cosign(0, heads[0]![0]!, 0)), 'the first ledger at 10 entries, cosigned')
  await t.rejects(cosign(1, heads[1]![1]!, 10), { code: 'CHECKPOINT_PROOF_INVALID', statusCode: 422 }, 'the other at 20, proven from its own 10: 422')
  t.match(conflicts, [{ size: 20, witnessedSize: 10, why: /consistency proof does not show it extends/ }], 'the alarm')
  t.ok('cosigned' in (await cosign(0, heads[0]![1]!, 10)), 'the first ledger goes on from 10')
})

t.test('the checkpointer signs the tree head on its schedule, once per head', async (t) => {
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
  t.equal((await store.latestCheckpoint())?.size, 6, 'the head moved by everyEntries: signed')
  t.same(
    sent.map((cp) => cp.size),
    [6],
    'and handed to the witness exchange'
  )
  await byCount.stop()

  const byTime = new Checkpointer({ store, key: ca.signingKey, country: 'CA', schedule: { everyEntries: 1000, everyMs: 40, pollMs: 10 }, onTick })
  byTime.start()
  const signedAt = Date.parse((await store.latestCheckpoint())!.at)
  await lookedAt(Math.max(Date.now(), signedAt + 40))
  t.equal((await store.checkpoints(0, 10)).length, 1, 'time passed but the head did not move: nothing new to sign')
  await append(1)
  await lookedAt(Date.now())
  t.equal((await store.latestCheckpoint())?.size, 7, 'time passed and the head moved: signed')
  await byTime.stop()
  t.equal(await byTime.checkpointNow(), undefined, 'the head is signed already')

  const latest = (await store.latestCheckpoint())!
  const claims = openCheckpoint(latest.note, ledgerOrigin('CA'), ledgerKeys('CA', ca.ownKeys))
  t.same(claims, { origin: ledgerOrigin('CA'), size: 7, root: latest.root }, 'a C2SP checkpoint of the tree of 7 entries')
  t.match(latest.note, /^btb-gateway\/CA\/ledger\n7\n[A-Za-z0-9+/]{43}=\n\n\u2014 btb-gateway\/CA\/ledger [A-Za-z0-9+/]+=*\n$/, 'in signed-note form')
  t.throws(() => openCheckpoint(latest.note, ledgerOrigin('CA'), ledgerKeys('CA', us.ownKeys)), { code: 'NOTE_UNVERIFIED' }, "not the partner's")
  t.match(await verifyLedger(store, ca.ownKeys), { ok: true, entries: 7, checkpoints: 2, countersignatures: 0, checkpointedTo: 7 })
})
