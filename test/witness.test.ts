// The partner gateway as the witness of this gateway's ledger, end to end
// over mutual TLS (docs/architecture.md, "The verifiable ledger"): each
// checkpoint is cosigned only with a consistency proof from the last one; a
// ledger cut short, or rewritten at the same length or longer, re-signed with
// the gateway's own key, is refused with CHECKPOINT_CONFLICT, on SQLite and
// on PostgreSQL, and the refusal is an alert on both sides: in /metrics and
// in the privacy officer's API.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import pg from 'pg'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { ledgerKeys, ledgerOrigin, openCheckpoint, witnessName } from '../gateway/audit/checkpoint.ts'
import { cosignNote, noteKeyId, parseNote } from '../gateway/audit/signed-note.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import type { GatewayConfig } from '../gateway/config.ts'
import { type Exchange, identityAgent, injectGateway, KEYS_DIR, PG_URL, standInPartner, startExchange, testConfig } from './helper.ts'
import { postgresTamper, rewriteLedger, sqliteTamper, type Tamper } from './lib/ledger-tamper.ts'

const { request } = undiciModule()
/** The partner's trust material, as keys-example holds it: its witness key signs what a stand-in partner answers. */
const us = loadTrustStore(join(KEYS_DIR, 'US', 'trust.json'))

type Test = Parameters<Parameters<typeof t.test>[0]>[0]
type Country = 'CA' | 'US'

/** An mTLS client with one of the example identities of `country`. */
function as(
  t: Test,
  country: Country,
  identity: string
): (url: string, init?: { method?: 'GET' | 'POST'; token?: string }) => Promise<{ status: number; text: string }> {
  const agent = identityAgent(t, country, identity)
  return async (url, init = {}) => {
    const headers = init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }
    const res = await request(url, { method: init.method ?? 'GET', headers, dispatcher: agent })
    return { status: res.statusCode, text: await res.body.text() }
  }
}

/** What each side shows of checkpoint conflicts: the metric an operator scrapes, the list a privacy officer reads. */
async function alerts(t: Test, ex: Exchange, country: Country): Promise<{ metric: number; conflicts: Array<{ reason: string }> }> {
  const url = (country === 'CA' ? ex.ca : ex.us).url
  const metrics = await as(t, country, 'operators/ops-1')(`${url}/metrics`)
  const metric = Number(/^btb_checkpoint_conflicts_total (\S+)$/m.exec(metrics.text)?.[1])
  const officer = as(t, country, `privacy-officers/po-1`)
  const token = JSON.parse((await officer(`${url}/v1/token`, { method: 'POST' })).text).access_token as string
  const witness = JSON.parse((await officer(`${url}/v1/audit/witness`, { token })).text) as { conflicts: Array<{ reason: string }> }
  return { metric, conflicts: witness.conflicts }
}

interface Ledger {
  readonly overrides: (country: Country) => Partial<GatewayConfig>
  tamper(ex: Exchange): Tamper
}

const sqlite = (): Ledger => ({
  overrides: () => ({}),
  tamper: (ex) => sqliteTamper(ex.ca.config.ledgerPath)
})

function postgres(t: Test): Ledger {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
  const schemas = { CA: `t_ca_${randomBytes(4).toString('hex')}`, US: `t_us_${randomBytes(4).toString('hex')}` }
  t.teardown(async () => {
    for (const s of Object.values(schemas)) await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`)
    await pool.end()
  })
  return {
    overrides: (country) => ({ ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schemas[country] }),
    tamper: () => postgresTamper(pool, schemas.CA)
  }
}

async function appendEntries(ex: Exchange, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) await ex.ca.app.store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: `${tag}-${i}` }))
}

for (const [name, ledger] of [
  ['SQLite', (_t: Test) => sqlite()],
  ['PostgreSQL', postgres]
] as const) {
  t.test(`${name}: the partner witnesses each checkpoint, and refuses every rewrite`, async (t) => {
    t.test('cosigned with a consistency proof from the last one, then a rewrite re-signed with the own key is refused', async (t) => {
      const l = ledger(t)
      const ex = await startExchange(t, l.overrides)
      const witnessed = async () => ex.us.app.store.witnessState(ledgerOrigin('CA'))

      await appendEntries(ex, 5, 'a')
      const first = (await ex.ca.app.checkpointer.checkpointNow())!
      t.ok((await ex.ca.app.store.latestCheckpoint())?.cosignature, 'the first checkpoint is cosigned')
      t.same(await witnessed(), { size: first.size, root: first.root }, 'and the partner holds it')

      await appendEntries(ex, 4, 'b')
      const second = (await ex.ca.app.checkpointer.checkpointNow())!
      t.ok((await ex.ca.app.store.latestCheckpoint())?.cosignature, 'the next is cosigned, proven to extend the first')
      t.same(await witnessed(), { size: second.size, root: second.root })

      // The rewrite: entry 3 edited; chain, tree and the gateway's own checkpoints redone; then the ledger carries on.
      const x = l.tamper(ex)
      t.teardown(() => x.close())
      const trust = ex.ca.app.trust
      await rewriteLedger(x, {
        from: 3,
        edit: (seq, entry) => (seq === 3 ? entry.replace('"a-2"', '"a-9"') : entry),
        checkpoints: 're-sign',
        key: { name: ledgerOrigin('CA'), alg: trust.signingKey.alg, key: trust.signingKey.key }
      })
      await appendEntries(ex, 3, 'c')
      const third = (await ex.ca.app.checkpointer.checkpointNow())!
      t.equal((await ex.ca.app.store.latestCheckpoint())?.cosignature, null, 'the checkpoint of the rewritten ledger is not cosigned')
      t.same(await witnessed(), { size: second.size, root: second.root }, 'the partner still holds the genuine one')
      t.ok(third.size > second.size)

      for (const country of ['US', 'CA'] as const) {
        const seen = await alerts(t, ex, country)
        t.equal(seen.metric, 1, `${country}: btb_checkpoint_conflicts_total counts it`)
        t.equal(seen.conflicts.length, 1, `${country}: the privacy officer sees it`)
        t.match(seen.conflicts[0]?.reason, /rewritten/, `${country}: and why`)
      }
    })

    t.test('a ledger cut short, with its checkpoints deleted, is refused', async (t) => {
      const l = ledger(t)
      const ex = await startExchange(t, l.overrides)
      await appendEntries(ex, 10, 'a')
      const cosigned = (await ex.ca.app.checkpointer.checkpointNow())!
      const x = l.tamper(ex)
      t.teardown(() => x.close())
      await rewriteLedger(x, { from: 7, cut: true, checkpoints: 'delete' })
      await appendEntries(ex, 1, 'b')
      const cut = (await ex.ca.app.checkpointer.checkpointNow())!
      t.equal(cut.size, 7, 'the gateway, fooled, signs a ledger of 7 entries')
      t.equal((await ex.ca.app.store.latestCheckpoint())?.cosignature, null, 'which the partner does not cosign')
      t.same(await ex.us.app.store.witnessState(ledgerOrigin('CA')), { size: cosigned.size, root: cosigned.root })
      t.match((await alerts(t, ex, 'US')).conflicts[0]?.reason, /shorter than one already cosigned/)
    })

    t.test('a rewrite of the same length, with no new entry, is refused', async (t) => {
      const l = ledger(t)
      const ex = await startExchange(t, l.overrides)
      await appendEntries(ex, 10, 'a')
      const cosigned = (await ex.ca.app.checkpointer.checkpointNow())!
      const x = l.tamper(ex)
      t.teardown(() => x.close())
      await rewriteLedger(x, { from: 4, edit: (seq, entry) => (seq === 4 ? entry.replace('"a-3"', '"a-8"') : entry), checkpoints: 'delete' })
      const again = (await ex.ca.app.checkpointer.checkpointNow())!
      t.equal(again.size, cosigned.size)
      t.not(again.root, cosigned.root)
      t.equal((await ex.ca.app.store.latestCheckpoint())?.cosignature, null)
      t.match((await alerts(t, ex, 'US')).conflicts[0]?.reason, /same size with another root/)
    })
  })
}

// C2SP tlog-witness: a witness never goes back. One that says it holds fewer
// entries of this ledger than it cosigned lost its state, or was rolled back;
// fed this ledger again from there, it would cosign whatever it was sent,
// a fork included. The log does not feed it: it raises the alarm.
t.test('a witness that says it holds fewer entries than it cosigned is not sent the ledger from there: the alarm is raised', async (t) => {
  const ex = await startExchange(t, () => ({}))
  await appendEntries(ex, 5, 'a')
  const cosigned = (await ex.ca.app.checkpointer.checkpointNow())!
  t.ok((await ex.ca.app.store.latestCheckpoint())?.cosignature, 'cosigned at 5')
  // The partner's witness loses its state of this ledger (a restore from an old backup, a disk lost).
  const witness = sqliteTamper(ex.us.config.ledgerPath)
  t.teardown(() => witness.close())
  await witness.run('DELETE FROM witness_state WHERE origin = ?', ledgerOrigin('CA'))
  await appendEntries(ex, 3, 'b')
  const next = (await ex.ca.app.checkpointer.checkpointNow())!
  t.equal(next.size, cosigned.size + 3)
  t.equal((await ex.ca.app.store.latestCheckpoint())?.cosignature, null, 'not cosigned')
  t.equal(await ex.us.app.store.witnessState(ledgerOrigin('CA')), undefined, 'nothing was sent from size 0 for the witness to take')
  const seen = await alerts(t, ex, 'CA')
  t.equal(seen.metric, 1, 'btb_checkpoint_conflicts_total counts it')
  t.match(seen.conflicts[0]?.reason, /holds 0 entries of this ledger, fewer than the 5 it cosigned/, 'and the privacy officer sees why')
})

// What the partner's witness writes in its refusal is its own text. The
// refusal's entry goes into this ledger, which nothing can be purged from: it
// names the answer by its status and code, never by what the partner wrote.
t.test("a witness's refusal is recorded by its status and code, not the partner's words", async (t) => {
  const partner = await standInPartner(t, (_req, res) => {
    res.writeHead(409, { 'content-type': 'application/problem+json' })
    res.end(JSON.stringify({ code: 'CHECKPOINT_CONFLICT', status: 409, detail: 'Jean TREMBLAY, passport C4471862, born 1984-03-07' }))
  })
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: partner.url }))
  await gw.app.store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: 'a-0' }))
  await gw.app.checkpointer.checkpointNow()
  const [refusal] = (await gw.app.store.searchAudit({ event: 'refused', code: 'CHECKPOINT_CONFLICT' }, 0, 10)).map((e) => e.entry)
  t.match(refusal?.reason, /the witness answered 409 CHECKPOINT_CONFLICT/, 'the refusal is recorded, by its status and code')
  for (const word of ['TREMBLAY', 'C4471862', '1984-03-07']) t.notOk(JSON.stringify(refusal).includes(word), `the ledger holds no "${word}"`)
})

/** A partner whose witness answers each checkpoint sent to it with `answer(note)`: the note as the request carries it. */
function answeringWitness(t: Test, answer: (note: string) => string) {
  return standInPartner(t, (req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      body += chunk
    })
    req.on('end', () => {
      // The request is the old size, the proof lines, a blank line, then the checkpoint.
      const note = body.slice(body.indexOf('\n\n') + 2)
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(answer(note))
    })
  })
}

// C2SP tlog-witness: the witness answers its cosignature as signature lines,
// nothing else. An answer starting with a blank line, appended to the note,
// moved the note's split: what the partner's key signed was the checkpoint's
// text and this gateway's own signature line, and it was kept as the
// checkpoint's cosignature, though no report made on it could be proven.
t.test("a witness's answer that is not signature lines over the checkpoint's text is no cosignature", async (t) => {
  const partnerKey = { name: witnessName('US'), alg: us.signingKey.alg, key: us.signingKey.key }
  const partner = await answeringWitness(t, (note) => {
    const split = note.lastIndexOf('\n\n')
    const shifted = `${note.slice(0, split + 1)}\n${note.slice(split + 2)}`
    return `\n${cosignNote(shifted, partnerKey, Math.floor(Date.now() / 1000))}`
  })
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: partner.url }))
  await gw.app.store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: 'a-0' }))
  const cp = (await gw.app.checkpointer.checkpointNow())!
  t.equal((await gw.app.store.latestCheckpoint())?.size, cp.size)
  t.equal((await gw.app.store.latestCheckpoint())?.cosignature, null, 'not kept as a cosignature')
  t.equal(await gw.app.store.latestCosignedCheckpoint(), undefined, 'and the checkpoint is not counted as cosigned')
})

// C2SP tlog-witness: the witness answers with its own cosignature lines. A
// line under another name in its answer (this ledger's own origin, with the
// key ID of this gateway's key and a signature that is none), or lines
// enough to take the note past the 16 a verifier reads, was kept with the
// cosignature: every disclosure report and entry proof made on that
// checkpoint then carried a note that tools/verify-disclosure.mjs, the
// console and the gateway itself refuse, though the ledger was intact.
t.test("a witness's answer with lines other than its own cosignature is no cosignature: kept, no proof on it would verify", async (t) => {
  const partnerKey = { name: witnessName('US'), alg: us.signingKey.alg, key: us.signingKey.key }
  const ca = loadTrustStore(join(KEYS_DIR, 'CA', 'trust.json'))
  const ownKeyId = Buffer.alloc(4)
  ownKeyId.writeUInt32BE(noteKeyId('log', { name: ledgerOrigin('CA'), alg: ca.signingKey.alg, key: ca.signingKey.key }))
  const extras: Record<string, string> = {
    "a line under this ledger's name, with its key's ID": `\u2014 ${ledgerOrigin('CA')} ${Buffer.concat([ownKeyId, Buffer.alloc(64, 1)]).toString('base64')}\n`,
    'lines enough to take the note past 16': `\u2014 example.org/other-witness ${Buffer.alloc(72, 2).toString('base64')}\n`.repeat(15)
  }
  for (const [what, extra] of Object.entries(extras)) {
    t.test(what, async (t) => {
      const partner = await answeringWitness(t, (note) => `${cosignNote(parseNote(note).text, partnerKey, Math.floor(Date.now() / 1000))}${extra}`)
      const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: partner.url }))
      await gw.app.store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: 'a-0' }))
      await gw.app.checkpointer.checkpointNow()
      const kept = await gw.app.store.latestCosignedCheckpoint()
      if (kept !== undefined) {
        const asReported = kept.note + kept.cosignature!
        t.throws(() => openCheckpoint(asReported, ledgerOrigin('CA'), ledgerKeys('CA', ca.ownLedgerKeys)), 'the note as reports carry it is refused')
      }
      t.equal(kept, undefined, 'not kept as a cosignature: the checkpoint is sent again for one')
    })
  }
})

// The witness's ledger records each cosignature it gives (routes/witness.ts,
// `checkpoint-countersigned`). Its state moved in one write and the entry
// followed in another: a ledger write that failed between the two (a full
// disk) left the cosignature given with no entry, and the partner's retry,
// answered with that same cosignature, recorded none either.
t.test("a cosignature the witness's ledger could not record is not given: the retry cosigns and records it, once", async (t) => {
  const ex = await startExchange(t, () => ({}))
  await appendEntries(ex, 3, 'a')
  const usLedger = sqliteTamper(ex.us.config.ledgerPath)
  t.teardown(() => usLedger.close())
  // The witness's ledger refuses the entry of a cosignature, as a full disk would any write.
  await usLedger.run(
    "CREATE TRIGGER no_room BEFORE INSERT ON audit WHEN NEW.event = 'checkpoint-countersigned' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
  )
  const cp = (await ex.ca.app.checkpointer.checkpointNow())!
  t.equal((await ex.ca.app.store.latestCheckpoint())?.cosignature, null, 'the partner is not answered a cosignature')
  await usLedger.run('DROP TRIGGER no_room')
  t.equal((await ex.ca.app.checkpointer.checkpointNow())?.size, cp.size, 'the checkpoint is sent again')
  t.ok((await ex.ca.app.store.latestCheckpoint())?.cosignature, 'and cosigned')
  const recorded = await ex.us.app.store.searchAudit({ event: 'checkpoint-countersigned' }, 0, 10)
  t.equal(recorded.length, 1, "the witness's ledger records the cosignature it gave, once")
})

// C2SP tlog-cosignature: a cosignature's timestamp is when it was made, and
// a verifier may refuse one dated in the future. The log kept whatever time
// the witness's answer stated. Dated a year ahead, the cosignature was the
// ledger's latest for a year (the staleness warning, COSIGNATURE_MAX_AGE_MS,
// never fired however long the partner witnessed nothing), and once the
// partner retired that key, dated after its retirement: audit:verify, the
// console and tools/verify-disclosure.mjs refuse such a cosignature, so an
// intact ledger failed its verification and every report on that checkpoint
// was NOT OK. Dated before the checkpoint existed, it vouched for a head the
// partner cannot have seen then.
t.test("a cosignature dated ahead of this gateway's clock, or before its checkpoint was made, is no cosignature", async (t) => {
  const partnerKey = { name: witnessName('US'), alg: us.signingKey.alg, key: us.signingKey.key }
  const now = () => Math.floor(Date.now() / 1000)
  for (const [what, time] of [
    ['a year ahead', () => now() + 365 * 86_400],
    ['before the checkpoint was made', () => now() - 86_400]
  ] as const) {
    t.test(what, async (t) => {
      let dated = time
      const partner = await answeringWitness(t, (note) => cosignNote(parseNote(note).text, partnerKey, dated()))
      const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: partner.url }))
      await gw.app.store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: 'a-0' }))
      const cp = (await gw.app.checkpointer.checkpointNow())!
      t.equal(await gw.app.store.latestCosignedCheckpoint(), undefined, 'not kept as a cosignature')
      dated = now
      t.equal((await gw.app.checkpointer.checkpointNow())?.size, cp.size, 'the checkpoint is sent again')
      t.ok((await gw.app.store.latestCosignedCheckpoint())?.cosignature, 'and a cosignature dated now is kept')
    })
  }
})
