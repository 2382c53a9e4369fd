// A gateway whose ledger and outbox live in PostgreSQL (LEDGER_POSTGRES_URL):
// the exchange works end to end and the entries are in the database, where
// the audit CLI verifies them.
import t from 'tap'
import { execFile, fork } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { SAMPLE_ROUTES, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, eventually, injectGateway, KEYS_DIR, PG_URL, startExchange, testConfig } from './helper.ts'
import { scratchSchema } from './lib/scratch-schema.ts'
import { messageRecord } from './lib/store-fixtures.ts'
import { holdLedgerChain } from './lib/ledger-chain-holder.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { chainLockKey, PostgresStore } from '../gateway/store/ledger-postgres.ts'
import { asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'

const run = promisify(execFile)

t.test('both gateways keep their ledgers in PostgreSQL', async (t) => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 })
  const schemas = { CA: `t_ca_${randomBytes(4).toString('hex')}`, US: `t_us_${randomBytes(4).toString('hex')}` }
  t.teardown(async () => {
    for (const s of Object.values(schemas)) await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`)
    await pool.end()
  })
  const ex = await startExchange(t, (country) => ({ ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schemas[country] }))
  const route = SAMPLE_ROUTES.find((r) => r.kind === 'entry-exit.record' && r.from.country === 'CA')!
  const envelope = ex.clients.CBSA.envelope(sampleEnvelope(route.kind, 'CA', route.to))
  t.equal((await ex.clients.CBSA.submit(await ex.clients.CBSA.sign(envelope))).status, 202)
  await eventually(() => ex.mocks.CBP.received.find((m) => m.id === envelope.id), 15_000, 'the push at CBP')
  const count = async (schema: string, event: string): Promise<number> =>
    (await pool.query(`SELECT count(*)::int AS n FROM ${schema}.audit WHERE event = $1`, [event])).rows[0].n
  t.equal(
    await eventually(async () => (await count(schemas.CA, 'delivered')) || undefined, 5000, 'the delivered entry'),
    1,
    'the CA ledger in PostgreSQL holds the delivery'
  )
  t.equal(await count(schemas.CA, 'accepted'), 1, 'and the acceptance')
  t.equal(await count(schemas.US, 'received'), 1, 'the US ledger in PostgreSQL holds the receipt of it')
  const { stdout } = await run(
    process.execPath,
    ['gateway/cli/audit-verify.ts', '--postgres', PG_URL, '--schema', schemas.CA, '--trust', join(KEYS_DIR, 'CA', 'trust.json')],
    { cwd: join(import.meta.dirname, '..') }
  )
  t.match(stdout, /Result: OK\. Every entry chains/, 'and the audit CLI verifies it there')
})

/** Eight submissions at a time, as an instance under load commits them: rows of messages and outbox, then the chain. */
async function writersOn(store: import('../gateway/store/ledger-postgres.ts').PostgresStore) {
  const { auditEntry } = await import('../gateway/pipeline/audit-entry.ts')
  const at = new Date().toISOString()
  let n = 0
  let stop = false
  const failures: string[] = []
  const writers = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const id = `m-${n++}`
      await store
        .accept(
          messageRecord(id, at, 'sha256:x'),
          { direction: 'outbound', id, target: 'https://partner/v1/exchange', sealed: 'sealed', createdAt: at },
          auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at })
        )
        .catch((err: Error) => failures.push(`a running instance's write: ${err.message}`))
    }
  })
  /** Resolves once the writers have made `more` more attempts. */
  const goOn = async (more: number, what: string) => {
    const from = n
    await eventually(() => (n >= from + more ? true : undefined), 30_000, what)
  }
  return {
    failures,
    goOn,
    stop: async () => {
      stop = true
      await Promise.all(writers)
    }
  }
}

/** A PostgreSQL ledger of the test's own, created, with writersOn's eight writers under way on it. */
async function ledgerUnderLoad(t: { teardown(fn: () => unknown): void }, prefix: string) {
  const { PostgresStore } = await import('../gateway/store/ledger-postgres.ts')
  const { pool, schema } = scratchSchema(t, prefix, 12)
  const running = new PostgresStore(pool, { schema })
  await running.create()
  const load = await writersOn(running)
  t.teardown(load.stop)
  await load.goOn(40, 'the writers under way')
  return { PostgresStore, pool, schema, load }
}

t.test('an instance that starts while another writes the same PostgreSQL ledger neither waits on it nor deadlocks with it', async (t) => {
  const { PostgresStore, pool, schema, load } = await ledgerUnderLoad(t, 't_start')
  for (let start = 0; start < 5; start++) {
    const starting = new PostgresStore(pool, { schema })
    await starting.create().catch((err: Error) => load.failures.push(`a starting instance: ${err.message}`))
  }
  await load.goOn(40, 'the writers to go on')
  await load.stop()
  t.same(load.failures, [], 'five starts beside eight writers: no failure on either side')
})

t.test('instances that upgrade the schema while another writes the same PostgreSQL ledger finish, and deadlock with nothing', async (t) => {
  const { PostgresStore, pool, schema, load } = await ledgerUnderLoad(t, 't_upgrade')
  for (let round = 0; round < 3; round++) {
    // As a ledger of an older version is: an index it lacks, and no mark of this code's schema.
    await pool.query(`DROP INDEX IF EXISTS ${schema}.supersessions_by; COMMENT ON SCHEMA ${schema} IS NULL`)
    // Two new instances at once, as a rolling upgrade may start them.
    await Promise.all(
      [1, 2].map((i) => new PostgresStore(pool, { schema }).create().catch((err: Error) => load.failures.push(`upgrading instance ${i}: ${err.message}`)))
    )
    const index = await pool.query('SELECT to_regclass($1) AS found', [`${schema}.supersessions_by`])
    t.not(index.rows[0].found, null, `round ${round + 1}: the upgrade made the index`)
    await load.goOn(20, 'the writers to go on')
  }
  await load.stop()
  t.same(load.failures, [], 'three upgrades by two instances each, beside eight writers: no failure on either side')
})

t.test("PostgreSQL ends the gateway's idle connections (a restart, an administrator): the gateway goes on, and takes the next message", async (t) => {
  const { pool, schema } = scratchSchema(t, 't_lost')
  const gw = await injectGateway(t, testConfig('CA', { ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schema }))
  const cbsa = client(t, 'CBSA', gw.url)
  const submit = async () =>
    (await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))).status
  t.equal(await submit(), 202)
  // Its connections are named after the ledger's schema (pg_stat_activity's application_name). Idle in
  // the pool or checked out, node-postgres emits each one's loss on its client, which would have been
  // thrown out of the process, and ended it, with no listener there.
  const ours = await pool.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`btb-ledger ${schema}`])
  const pids = ours.rows.map((r) => r.pid as number)
  await pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids])
  t.ok(pids.length > 0, `${pids.length} connection(s) ended`)
  await eventually(
    async () => ((await pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [pids])).rowCount === 0 ? true : undefined),
    10_000,
    'the ended connections to be gone'
  )
  t.equal(await submit(), 202, 'the next message is accepted, on a new connection')
  t.equal((await gw.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
})

t.test('PostgreSQL does not answer a ledger write: the submission is refused 503 within the timeout, not held, and nothing of it is written', async (t) => {
  const { pool, schema } = scratchSchema(t, 't_still', 2)
  const timeoutMs = 500
  const gw = await injectGateway(t, testConfig('CA', { ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schema, ledgerPostgresTimeoutMs: timeoutMs }))
  const cbsa = client(t, 'CBSA', gw.url)
  const submit = async () => {
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    const res = await cbsa.submit(await cbsa.sign(envelope))
    return { id: envelope.id, status: res.status, body: res.json() }
  }
  t.equal((await submit()).status, 202)
  // Every append of the gateway's waits on the chain's lock, held here.
  const release = await holdLedgerChain(pool, schema)
  // Without the timeout the submission waits for the lock: it is let go after 10 s so that the test ends, and fails.
  const letGo = setTimeout(() => void release(), 10_000)
  try {
    const started = performance.now()
    const refused = await submit()
    const tookMs = performance.now() - started
    t.equal(refused.status, 503, 'refused as any failed write is')
    t.match(refused.body, { code: 'SERVICE_UNAVAILABLE' })
    // The gateway's own writes in the batches ahead of it (the relay's, a checkpoint's) wait out their timeouts too: about 1.5 s here.
    t.ok(tookMs < 6_000, `answered in ${Math.round(tookMs)} ms, not held until PostgreSQL answers`)
    await release()
    t.equal((await submit()).status, 202, 'once it answers again, the next message is accepted')
    t.equal((await gw.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
    const accepted = await pool.query(`SELECT count(*)::int AS n FROM ${schema}.audit WHERE event = 'accepted'`)
    t.equal(accepted.rows[0].n, 2, 'the two accepted messages in the ledger, and nothing of the refused one')
    t.equal((await pool.query(`SELECT count(*)::int AS n FROM ${schema}.messages WHERE id = $1`, [refused.id])).rows[0].n, 0)
  } finally {
    clearTimeout(letGo)
    await release()
  }
})

t.test(
  'an instance frozen while it holds the chain (a paused VM, a machine cut off) holds it no longer than the ledger timeout: another instance goes on writing',
  async (t) => {
    const { pool, schema } = scratchSchema(t, 't_frozen', 2)
    const timeoutMs = 1000
    const frozen = fork(join(import.meta.dirname, 'lib', 'ledger-appender.ts'), [PG_URL, schema, String(timeoutMs)])
    t.teardown(() => void frozen.kill('SIGKILL'))
    await once(frozen, 'message')
    // pg_locks shows an advisory lock's 64-bit key as two 32-bit halves.
    const key = BigInt.asUintN(64, BigInt(chainLockKey(schema)))
    const held = async (): Promise<boolean> =>
      (
        await pool.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::oid AND objid = $2::oid", [
          String(key >> 32n),
          String(key & 0xffffffffn)
        ])
      ).rows[0].n > 0
    await eventually(
      async () => {
        frozen.kill('SIGSTOP')
        if (await held()) return true
        frozen.kill('SIGCONT')
        return undefined
      },
      15_000,
      'the instance frozen while it holds the chain'
    )
    const other = PostgresStore.open(PG_URL, { schema, timeoutMs })
    t.teardown(() => other.close())
    const started = performance.now()
    // Without a limit on the frozen session, every append here waits out its timeout for as long as the instance stays frozen.
    await eventually(
      () =>
        other.appendAudit(auditEntry({ event: 'purged', counts: { retentionDays: 2 } })).then(
          () => true,
          () => undefined
        ),
      15_000,
      'an append by another instance'
    )
    t.ok(performance.now() - started < 12_000, `another instance appended ${Math.round(performance.now() - started)} ms after the freeze`)
    t.notOk(await held(), 'the frozen session no longer holds the chain')
  }
)

t.test("a ledger that cannot write (PostgreSQL's disk full): /readyz says the ledger is not ok, though it reads, until a write succeeds", async (t) => {
  const { pool, schema } = scratchSchema(t, 't_full')
  const gw = await injectGateway(t, testConfig('CA', { ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schema, runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const submit = async () =>
    (await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))))).status
  const ledgerCheck = async () => (await gw.app.inject({ method: 'GET', url: '/readyz' })).json<{ checks: { ledger: string } }>().checks.ledger
  t.equal(await submit(), 202)
  t.equal(await ledgerCheck(), 'ok')
  // Every write to this ledger now fails as a full disk fails it (SQLSTATE 53100); reads go on.
  await pool.query(
    `CREATE FUNCTION ${schema}.full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$`
  )
  await pool.query(`CREATE TRIGGER full_disk BEFORE INSERT ON ${schema}.messages FOR EACH ROW EXECUTE FUNCTION ${schema}.full_disk()`)
  t.equal(await submit(), 503, 'a message is refused: nothing accepted')
  t.match(await ledgerCheck(), /could not write/, '/readyz says the ledger cannot take messages, where its read alone said ok')
  await pool.query(`DROP TRIGGER full_disk ON ${schema}.messages`)
  t.equal(await submit(), 202, 'room again: the next message is accepted')
  t.equal(await ledgerCheck(), 'ok', 'and the ledger is ready again')
})

// Delivered is delivered: the partner has the message (its receipt verified)
// when the ledger cannot record it. That is not a failed attempt: the job
// notes the receipt and is given back without spending one, and its next run
// records the delivery without sending again. Dead-lettering it would let an
// operator discard a message the partner already acted on; a correction
// arriving meanwhile must not withdraw it, as if it had never arrived.
t.test('a delivery the partner received, which the ledger could not record at once, is recorded later: never failed, dead-lettered or withdrawn', async (t) => {
  const ca = scratchSchema(t, 't_dca', 2)
  const us = scratchSchema(t, 't_dus', 2)
  const ex = await startExchange(t, (country) => ({
    ledgerPostgresUrl: PG_URL,
    ledgerPostgresSchema: country === 'CA' ? ca.schema : us.schema,
    // One attempt: a failure recorded would dead-letter the message.
    deliveryAttempts: 1,
    ledgerPostgresTimeoutMs: country === 'CA' ? 500 : 30_000,
    // Time, between the record that failed and the next try, for the correction below.
    ...(country === 'CA' ? { deliveryBackoffMs: 5_000 } : {})
  }))
  // The ledger's connections waiting for a lock (the chain's): they carry the schema's name (application_name).
  const waitingOn = async (schema: string): Promise<number[]> =>
    (await ca.pool.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [`btb-ledger ${schema}`])).rows.map(
      (r) => r.pid as number
    )
  // The partner's ledger held: the delivery's POST waits there, in flight.
  const releaseUs = await holdLedgerChain(us.pool, us.schema)
  t.teardown(releaseUs)
  const cbsa = ex.clients.CBSA
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const id = String(envelope.id)
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
  await eventually(async () => ((await waitingOn(us.schema)).length > 0 ? true : undefined), 15_000, 'the delivery to wait at the partner')
  // This ledger held, then the partner let go: it answers with its receipt, which this side cannot record for now.
  const releaseCa = await holdLedgerChain(ca.pool, ca.schema)
  t.teardown(releaseCa)
  await releaseUs()
  const job = async () => ex.ca.app.queues.queue('outbound').getJob(id)
  await eventually(async () => ((await (await job())?.getState()) === 'delayed' ? true : undefined), 15_000, 'the job given back')
  t.match((await job())?.data.delivered, { receipt: String }, "the job notes the partner's receipt")
  await releaseCa()
  // The agency corrects the message before the job's next try: the original is in the partner's hands already.
  const { id: _id, createdAt: _at, from: _from, ...record } = envelope
  const correction = cbsa.envelope({ ...record, supersedes: { id, action: 'correct', reason: 'data-error' } })
  t.equal((await cbsa.submit(await cbsa.sign(correction))).status, 202, 'the correction is accepted')
  const outcome = await eventually(
    async () => {
      const status = (await ex.ca.app.store.findMessage('outbound', id))?.status
      return status === 'accepted' ? undefined : status
    },
    15_000,
    'an outcome'
  )
  t.equal(outcome, 'delivered', 'delivered: not failed, dead-lettered or withdrawn')
  const delivered = await ex.ca.app.store.findMessage('outbound', id)
  t.same(delivered?.attempts, [], 'no attempt counted as failed')
  t.ok(delivered?.receipt, "with the partner's receipt")
  const events = (await ex.ca.app.store.searchAudit({ messageId: id }, 0, 100)).map((e) => e.entry.event)
  t.same(events, ['accepted', 'delivered'], 'the ledger says accepted, then delivered: nothing failed, nothing withdrawn')
  const pushed = await eventually(
    () => {
      const ids = ex.mocks.CBP.received.map((m) => m.id)
      return ids.includes(String(correction.id)) ? ids : undefined
    },
    15_000,
    'the correction at CBP'
  )
  t.same(
    pushed.filter((m) => m === id || m === correction.id),
    [id, correction.id],
    'CBP received the original once, then its correction'
  )
})

// A refused envelope's id is looked up for a repeat as it was sent; PostgreSQL
// refuses text holding a NUL, so that lookup failed the request with a 500
// (SQLite took it). An id not in the contract's form was never stored.
t.test('an envelope whose id holds a NUL is refused 422 from an agency and from the partner, not a 500', async (t) => {
  const { schema } = scratchSchema(t, 't_nul')
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schema }))
  const cbsa = client(t, 'CBSA', gw.url)
  const submitted = { ...cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' })), id: 'abc\u0000def' }
  const res = await cbsa.submit(await cbsa.sign(submitted))
  t.same([res.status, res.json().code], [422, 'SCHEMA_INVALID'], 'from an agency')
  const delivered = await forwardedTo('CA', { envelope: { id: 'x\u0000y' } })
  const exchanged = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: delivered.jws, headers: asPartnerOf('CA') })
  t.same([exchanged.statusCode, exchanged.json().code], [422, 'SCHEMA_INVALID'], 'from the partner')
  t.same(
    (await gw.app.store.auditEntries(0, 10)).map((e) => [e.entry.event, e.entry.code]),
    [
      ['refused', 'SCHEMA_INVALID'],
      ['refused', 'SCHEMA_INVALID']
    ],
    'each refusal audited'
  )
})

// C2SP tlog-witness: a witness persists its new state before it answers, and
// the operator's guide promises it whatever the ledger's durability setting
// (docs/operators.md, LEDGER_SYNCHRONOUS), which with PostgreSQL is its
// `synchronous_commit`. An operator who turns that off for the ledger's
// throughput had the witness answer before its state was on disk: a crash of
// the server then forgot a cosignature given, and the witness would cosign a
// fork of the partner's ledger from the size before it.
t.test("a witness's state is committed with synchronous_commit on, whatever the database's own setting", async (t) => {
  const { pool, schema } = scratchSchema(t, 't_witness')
  const store = PostgresStore.open(`${PG_URL}?options=${encodeURIComponent('-c synchronous_commit=off')}`, { schema }, 1)
  t.teardown(() => store.close())
  await store.create()
  // What the commit of each write waits for, as the server has it at that write.
  await pool.query(`CREATE TABLE ${schema}.commit_settings (tbl text, setting text)`)
  await pool.query(
    `CREATE FUNCTION ${schema}.note_setting() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
      `INSERT INTO ${schema}.commit_settings VALUES (TG_TABLE_NAME, current_setting('synchronous_commit')); RETURN NEW; END $$`
  )
  for (const table of ['witness_state', 'audit']) {
    await pool.query(`CREATE TRIGGER note_setting AFTER INSERT OR UPDATE ON ${schema}.${table} FOR EACH ROW EXECUTE FUNCTION ${schema}.note_setting()`)
  }
  const cp = { origin: 'btb-gateway/US/ledger', size: 8, root: 'r'.repeat(44), note: 'note', cosignedAt: new Date().toISOString() }
  t.equal(await store.witnessCheckpoint(0, cp), true)
  await store.appendAudit(auditEntry({ event: 'purged', counts: { retentionDays: 2 } }))
  const settings = (await pool.query(`SELECT tbl, setting FROM ${schema}.commit_settings`)).rows
  t.same(
    settings,
    [
      { tbl: 'witness_state', setting: 'on' },
      { tbl: 'audit', setting: 'off' }
    ],
    "the witness's commit waits for its WAL to be flushed; an entry is committed as the database is configured"
  )
})

// Instances of one gateway share the ledger (docs/operators.md, "Every
// core"): one's retention purge runs while another's batch of writes holds
// an expired message's row (an operator discarding an old dead letter) and
// then places a legal hold. The purge held the legal holds (so that a hold
// placed meanwhile waits for it) and waited for that row; the batch's hold
// waited for the purge: a deadlock, which PostgreSQL broke by failing one
// of them.
t.test("a purge on one instance while another's batch holds an expired message's row and places a hold: both finish", async (t) => {
  const { pool, schema } = scratchSchema(t, 't_purge', 3)
  const store = new PostgresStore(pool, { schema })
  await store.create()
  const old = '2026-01-01T00:00:00.000Z'
  for (const id of ['busy', 'idle']) {
    await store.accept(
      { ...messageRecord(id, old), status: 'delivered' },
      { direction: 'outbound', id, target: 'partner', sealed: 'sealed', createdAt: old },
      auditEntry({ event: 'accepted', direction: 'outbound', messageId: id, at: old })
    )
  }
  await pool.query(`UPDATE ${schema}.messages SET status = 'delivered', updated_at = $1`, [old])
  // The other instance's batch, as its statements run: the expired message's row first.
  const other = await pool.connect()
  t.teardown(() => other.release())
  await other.query('BEGIN')
  await other.query(`UPDATE ${schema}.messages SET updated_at = updated_at WHERE id = 'busy'`)
  const purged = store.purge(new Date().toISOString(), auditEntry({ event: 'purged' })).then(
    (counts) => counts,
    (err: Error) => err
  )
  await eventually(
    async () =>
      (await pool.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'`)).rowCount! > 0 ||
      (await isSettled(purged))
        ? true
        : undefined,
    10_000,
    'the purge to reach the row or finish'
  )
  const hold = other
    .query(`INSERT INTO ${schema}.legal_holds (ref, message_id, reason, placed_at) VALUES ('h1', 'idle', 'complaint', $1)`, [new Date().toISOString()])
    .then(
      () => other.query('COMMIT').then(() => 'placed'),
      (err: Error) => other.query('ROLLBACK').then(() => err)
    )
  t.equal(await hold, 'placed', "the other instance's hold is placed")
  t.same(await purged, { messages: 1, outbox: 1 }, 'the purge finished, with the message no one was writing')
  t.ok(await store.findMessage('outbound', 'busy'), 'the message being written is left to the next run')
  t.same(await store.purge(new Date().toISOString(), auditEntry({ event: 'purged' })), { messages: 1, outbox: 1 }, 'which purges it')
})

async function isSettled(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([p.then(() => true), new Promise<boolean>((resolve) => setImmediate(resolve, false))])
}
