// A checkpoint whose request for cosigning never reached the partner (the
// partner down at that moment, or the instance that made it killed before it
// sent it) is sent again, and the entries it covers are witnessed, without
// waiting for new traffic to make another checkpoint: at most
// CHECKPOINT_EVERY_MS while the partner answers (docs/architecture.md, "The
// verifiable ledger"). A privacy officer's proof that finds the head
// checkpointed but not cosigned has that checkpoint witnessed then and there.
import t, { type Test } from 'tap'
import type { Checkpoint } from '../gateway/store/records.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { ledgerOrigin, signCheckpoint, witnessKeys } from '../gateway/audit/checkpoint.ts'
import { treeHead } from '../gateway/audit/ledger-proofs.ts'
import { Checkpointer } from '../gateway/audit/checkpointer.ts'
import { ADD_CHECKPOINT_PATH, requestCosignature, type WitnessClientOptions } from '../gateway/audit/witness-client.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { sqliteTamper } from './lib/ledger-tamper.ts'
import { eventually, freePort, injectGateway, KEYS_DIR, PG_URL, presenting, startGateway, testConfig } from './helper.ts'
import { scratchSchema } from './lib/scratch-schema.ts'

const EVERY_MS = 500

/**
 * The CA gateway, whose partner (the US gateway, its witness) is not yet
 * listening, with `entries` entries in its ledger and their checkpoint made
 * while the partner could not be reached; then the partner, started.
 */
async function checkpointMadeWhilePartnerDown(t: Test, entries: number): Promise<FastifyInstance> {
  const usPort = await freePort()
  const ca = await injectGateway(
    t,
    testConfig('CA', { runWorkers: false, partnerUrl: `https://127.0.0.1:${usPort}`, checkpointEveryEntries: 1000, checkpointEveryMs: EVERY_MS })
  )
  // The schedule held while the checkpoint is made, so that this test makes it, and only it.
  await ca.app.checkpointer.stop()
  for (let i = 0; i < entries; i++) await ca.app.store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: `m-${i}` }))
  const made = await ca.app.checkpointer.checkpointNow()
  t.equal(made?.size, entries, 'the checkpoint of the head is made while the partner is down')
  t.equal((await ca.app.store.latestCheckpoint())?.cosignature, null, 'and kept without a cosignature')
  await startGateway(t, testConfig('US', { port: usPort, runWorkers: false }))
  return ca.app
}

t.test('a checkpoint the partner could not be sent is sent again on schedule, with no new entry to make another', async (t) => {
  const ca = await checkpointMadeWhilePartnerDown(t, 4)
  ca.checkpointer.start()
  // A few CHECKPOINT_EVERY_MS: the checkpoint is sent again one interval after it was made; the rest is room for a loaded machine.
  const cosigned = await eventually(
    async () => {
      const cp = await ca.store.latestCosignedCheckpoint()
      return cp?.size === 4 ? cp : undefined
    },
    20 * EVERY_MS,
    'the checkpoint of 4 entries to be cosigned within a few CHECKPOINT_EVERY_MS'
  )
  t.ok(cosigned.cosignature, 'the head is witnessed within a few CHECKPOINT_EVERY_MS')
  t.equal((await ca.store.latestCheckpoint())?.size, 4, 'by sending the checkpoint there was, not by making another')
  t.equal((await ca.store.auditHead())?.seq, 4, 'and nothing was appended to the ledger for it')
})

t.test("a privacy officer's proof of an entry checkpointed but not cosigned has that checkpoint witnessed first", async (t) => {
  const ca = await checkpointMadeWhilePartnerDown(t, 3)
  const officer = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const token = JSON.parse((await ca.inject({ method: 'POST', url: '/v1/token', headers: officer })).body).access_token as string
  const res = await ca.inject({ method: 'GET', url: '/v1/audit/entries/3/proof', headers: { ...officer, authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200, 'the proof is answered')
  const proof = res.json<{ inclusionProof: { treeSize: number } | null; checkpoint: { size: number; cosignedAt: string } | null }>()
  t.equal(proof.inclusionProof?.treeSize, 3, 'the entry has its inclusion proof')
  t.equal(proof.checkpoint?.size, 3, 'against the checkpoint made while the partner was down, now cosigned')
  t.ok(proof.checkpoint?.cosignedAt, 'with the time it was cosigned')
  t.equal((await ca.store.latestCheckpoint())?.size, 3, 'no other checkpoint was made for it')
})

// The instance that sent the checkpoint died after the partner cosigned it
// and before it kept the cosignature: the witness is at the checkpoint's size
// already, and answers the request sent again from the size this ledger
// last knew cosigned with its own (tlog-witness's 409); sent from there, the
// checkpoint gets the cosignature the witness gave it, nothing new cosigned.
t.test('a checkpoint the partner cosigned but whose cosignature was never kept is sent again and gets it', async (t) => {
  const us = await startGateway(t, testConfig('US', { runWorkers: false }))
  const ca = await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: us.url }))
  await ca.app.checkpointer.stop()
  for (let i = 0; i < 5; i++) await ca.app.store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: `m-${i}` }))
  const made = (await ca.app.checkpointer.checkpointNow())!
  const given = (await ca.app.store.latestCheckpoint())?.cosignature
  t.ok(given, 'the partner cosigned the checkpoint')
  const ledger = sqliteTamper(ca.config.ledgerPath)
  t.teardown(() => ledger.close())
  await ledger.run('UPDATE log_checkpoints SET cosignature = NULL, cosigned_at = NULL')
  t.equal(await ca.app.store.latestCosignedCheckpoint(), undefined, 'its cosignature lost on this side')

  t.equal((await ca.app.checkpointer.checkpointNow())?.size, made.size, 'the head checkpointed but not cosigned: that checkpoint is sent again')
  t.equal((await ca.app.store.latestCheckpoint())?.cosignature, given, 'and kept with the cosignature the partner gave it')
  t.equal((await us.app.store.witnessState(ledgerOrigin('CA')))?.size, made.size, 'the witness did not move')
  t.equal((await ca.app.store.searchAudit({ code: 'CHECKPOINT_CONFLICT' }, 0, 10)).length, 0, 'no alarm on this side')
  t.equal((await us.app.store.searchAudit({ code: 'CHECKPOINT_CONFLICT' }, 0, 10)).length, 0, "nor on the partner's")
})

/**
 * How a second instance sharing the CA gateway's ledger asks the witness to
 * cosign, its requests going through `between` first: what the other
 * instance gets done while each is on its way.
 */
function secondInstanceWitnessing(ca: FastifyInstance, between: (request: number) => Promise<void>): WitnessClientOptions {
  let requests = 0
  return {
    client: {
      post: async (...args) => {
        await between(requests++)
        return ca.partner.client.post(...args)
      }
    },
    url: () => ca.partner.endpoint(ADD_CHECKPOINT_PATH),
    store: ca.store,
    witnesses: () => witnessKeys('US', ca.trust.partner.ledgerKeys),
    clockSkewSeconds: 300
  }
}

/** The second instance's checkpointer, on the same ledger. */
function secondInstance(ca: FastifyInstance, witnessing?: WitnessClientOptions): Checkpointer {
  return new Checkpointer({
    store: ca.store,
    key: () => ca.trust.signingKey,
    country: 'CA',
    schedule: { everyEntries: 1000, everyMs: 60_000 },
    ...(witnessing === undefined ? {} : { onCheckpoint: async (cp) => void (await requestCosignature(cp, witnessing)) })
  })
}

const appendEntries = async (ca: FastifyInstance, from: number, to: number): Promise<void> => {
  for (let i = from; i < to; i++) await ca.store.appendAudit(auditEntry({ event: 'accepted', direction: 'outbound', messageId: `m-${i}` }))
}

// Two instances send the same checkpoint: the first's is cosigned, the
// second is told the witness's size (the same) and asks again from it, a
// plain retry; meanwhile the first has a larger checkpoint cosigned. The
// retry, late, is of a checkpoint the witness cosigned, which the larger one
// was proven to extend: no contradiction, and no alarm on either side.
t.test('a retry of a checkpoint, overtaken by a larger one of the same ledger, raises no alarm', async (t) => {
  const us = await startGateway(t, testConfig('US', { runWorkers: false }))
  const ca = (await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: us.url }))).app
  await ca.checkpointer.stop()
  await appendEntries(ca, 0, 3)
  const other = secondInstance(
    ca,
    secondInstanceWitnessing(ca, async (request) => {
      // Its first request on its way: the first instance sends the same checkpoint, cosigned.
      if (request === 0) t.equal((await ca.checkpointer.checkpointNow())?.size, 3, 'the first instance has the checkpoint of 3 cosigned')
      // Its retry from the witness's size on its way: the first instance has the next one cosigned.
      if (request === 1) {
        await appendEntries(ca, 3, 5)
        t.equal((await ca.checkpointer.checkpointNow())?.size, 5, 'and then the checkpoint of 5')
      }
    })
  )
  await t.resolves(other.checkpointNow(), 'the second instance is not told its ledger was cut short')
  t.equal((await ca.store.latestCosignedCheckpoint())?.size, 5, 'the ledger is witnessed to its head')
  t.equal((await ca.store.searchAudit({ code: 'CHECKPOINT_CONFLICT' }, 0, 10)).length, 0, 'no alarm on this side')
  t.equal((await us.app.store.searchAudit({ code: 'CHECKPOINT_CONFLICT' }, 0, 10)).length, 0, "nor on the partner's")
})

// The same, when the second instance sends a checkpoint its store shows
// cosigned already (the first instance had it cosigned as the second read
// it): it sends it from its own size.
t.test('a checkpoint sent again once cosigned, overtaken by a larger one, raises no alarm', async (t) => {
  const us = await startGateway(t, testConfig('US', { runWorkers: false }))
  const ca = (await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: us.url }))).app
  await ca.checkpointer.stop()
  await appendEntries(ca, 0, 3)
  // Made by the second instance, its request lost: kept uncosigned.
  const made = (await secondInstance(ca).checkpointNow())!
  t.equal((await ca.checkpointer.checkpointNow())?.size, 3, 'the first instance has the checkpoint of 3 cosigned')
  const witnessing = secondInstanceWitnessing(ca, async (request) => {
    if (request === 0) {
      await appendEntries(ca, 3, 5)
      t.equal((await ca.checkpointer.checkpointNow())?.size, 5, 'the first instance has the checkpoint of 5 cosigned meanwhile')
    }
  })
  await t.resolves(requestCosignature(made, witnessing), 'the second instance is not told its ledger was cut short')
  t.equal((await ca.store.searchAudit({ code: 'CHECKPOINT_CONFLICT' }, 0, 10)).length, 0, 'no alarm on this side')
  t.equal((await us.app.store.searchAudit({ code: 'CHECKPOINT_CONFLICT' }, 0, 10)).length, 0, "nor on the partner's")
})

/** The CA gateway, one of two instances sharing its ledger in PostgreSQL, and its partner; a pool of the test's own on that ledger. */
async function twoInstancesOnPostgres(t: Test) {
  const { pool, schema } = scratchSchema(t, 't_race', 3)
  const us = await startGateway(t, testConfig('US', { runWorkers: false }))
  const ca = (await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: us.url, ledgerPostgresUrl: PG_URL, ledgerPostgresSchema: schema }))).app
  await ca.checkpointer.stop()
  // The other instance's checkpoint of its head, as its checkpointer makes it, kept in a transaction the test holds open.
  const other = await pool.connect()
  t.teardown(() => other.release())
  const otherCheckpoints = async (size: number): Promise<Checkpoint> => {
    const key = ca.trust.signingKey
    const tree = await treeHead(ca.store, size)
    const cp = { ...tree, at: new Date().toISOString(), note: signCheckpoint(tree, { name: ledgerOrigin('CA'), alg: key.alg, key: key.key }) }
    await other.query(`INSERT INTO ${schema}.log_checkpoints (size, root, at, note) VALUES ($1, $2, $3, $4)`, [cp.size, cp.root, cp.at, cp.note])
    return { ...cp, cosignature: null, cosignedAt: null }
  }
  const officer = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const token = JSON.parse((await ca.inject({ method: 'POST', url: '/v1/token', headers: officer })).body).access_token as string
  return {
    us,
    ca,
    schema,
    other,
    otherCheckpoints,
    /** A privacy officer asks this instance for an entry's proof. */
    proof: (seq: number) => ca.inject({ method: 'GET', url: `/v1/audit/entries/${seq}/proof`, headers: { ...officer, authorization: `Bearer ${token}` } }),
    /** Until this instance waits on the test's transaction to read or write a checkpoint. */
    waiting: (what: string) =>
      eventually(
        async () =>
          (
            await pool.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE '%log_checkpoints%'", [
              `btb-ledger ${schema}`
            ])
          ).rowCount === 1 || undefined,
        10_000,
        what
      )
  }
}

type EntryProof = { inclusionProof: { treeSize: number } | null; checkpoint: { size: number; cosignedAt: string } | null }

// Two instances share one ledger in PostgreSQL. A privacy officer asks one
// for an entry's proof just as the other's schedule signs the same head: the
// other's checkpoint is committed after this one read that none covers the
// entry, so this one's own attempt to sign the head finds it signed already.
// The proof must still come with the checkpoint witnessed
// (docs/privacy-officers.md: made and witnessed first if none covers it
// yet), not without one because the other instance's request for cosigning
// has yet to arrive.
t.test("a proof asked for as another instance signs the same head waits for no one's cosignature: it has the checkpoint witnessed", async (t) => {
  const { us, ca, other, otherCheckpoints, proof, waiting } = await twoInstancesOnPostgres(t)
  await appendEntries(ca, 0, 3)
  await other.query('BEGIN')
  const theirs = await otherCheckpoints(3)
  const asked = proof(3)
  await waiting("the proof's own checkpoint of the head to wait on the other instance's")
  await other.query('COMMIT')
  const res = await asked
  t.equal(res.statusCode, 200, 'the proof is answered')
  const answer = res.json<EntryProof>()
  t.equal(answer.checkpoint?.size, 3, "against the other instance's checkpoint of the head")
  t.ok(answer.checkpoint?.cosignedAt, 'witnessed')
  t.equal(answer.inclusionProof?.treeSize, 3, 'the entry has its inclusion proof')
  t.equal((await ca.store.latestCheckpoint())?.size, 3, 'no other checkpoint was made for it')
  // The other instance's request for cosigning, arriving late, finds it cosigned: no alarm.
  t.equal(
    await requestCosignature(
      theirs,
      secondInstanceWitnessing(ca, async () => {})
    ),
    'cosigned',
    'the same cosignature'
  )
  t.equal((await ca.store.searchAudit({ code: 'CHECKPOINT_CONFLICT' }, 0, 10)).length, 0, 'no alarm on this side')
  t.equal((await us.app.store.searchAudit({ code: 'CHECKPOINT_CONFLICT' }, 0, 10)).length, 0, "nor on the partner's")
})

// The same, when the other instance appended an entry and signed that longer
// head between this one's reading the head and its reading the latest
// checkpoint: that checkpoint covers the head read, and is the one
// witnessed. This instance's checkpointer, driven through its own options,
// reads the head through `store`, where the other instance does its part.
t.test('a checkpoint asked for as another instance signs a longer head has that checkpoint witnessed', async (t) => {
  const us = await startGateway(t, testConfig('US', { runWorkers: false }))
  const ca = (await injectGateway(t, testConfig('CA', { runWorkers: false, partnerUrl: us.url }))).app
  await ca.checkpointer.stop()
  await appendEntries(ca, 0, 3)
  let theirs: Checkpoint | undefined
  const store = new Proxy(ca.store, {
    get(target, name) {
      if (name === 'auditHead')
        return async () => {
          const head = await target.auditHead()
          if (theirs === undefined) {
            // The other instance: an entry, and its checkpoint of its head, its request for cosigning still on its way.
            await appendEntries(ca, 3, 4)
            theirs = await secondInstance(ca).checkpointNow()
          }
          return head
        }
      const value = Reflect.get(target, name)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const checkpointer = new Checkpointer({
    store,
    key: () => ca.trust.signingKey,
    country: 'CA',
    schedule: { everyEntries: 1000, everyMs: 60_000 },
    onCheckpoint: async (cp) =>
      void (await requestCosignature(
        cp,
        secondInstanceWitnessing(ca, async () => {})
      ))
  })
  const made = await checkpointer.checkpointNow()
  t.equal(theirs?.size, 4, 'the other instance signed the head of 4 entries as this one read 3')
  t.equal(made?.size, 4, 'the checkpoint of 4 entries is the one sent')
  t.equal((await ca.store.latestCosignedCheckpoint())?.size, 4, 'and it is witnessed, covering the head read')
})
