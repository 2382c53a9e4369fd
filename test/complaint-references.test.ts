// Complaint references (P9), on SQLite and PostgreSQL: a privacy officer
// attaches a complaint reference to a message or to a traveller's entries by
// placing a legal hold that carries it (docs/privacy-officers.md, "Complaint
// references"); placing it is audited, it keeps what it covers from the
// retention purge until released, and the traveller's disclosure report lists
// every hold, with its complaint reference, that covers the traveller or one
// of their messages. Input that is ambiguous or names nothing is refused and
// changes nothing.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import { purgeExpired } from '../gateway/queue/retention.ts'
import type { LegalHold } from '../gateway/store/records.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'
import { GATEWAY_LEDGERS } from './lib/scratch-schema.ts'

const OFFICER = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
const COMPLAINT = 'OPC-2026-0042'

for (const backend of GATEWAY_LEDGERS) {
  t.test(
    `${backend.name}: a complaint reference on a message or a traveller is audited, holds back the purge and shows in the disclosure report`,
    async (t) => {
      const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, ...(await backend.config(t)) }))
      const store = gw.app.store
      const officer = async (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, body?: unknown) => {
        const headers: Record<string, string> = { ...OFFICER }
        if (token !== undefined) headers.authorization = `Bearer ${token}`
        if (body !== undefined) headers['content-type'] = 'application/json'
        const res = await gw.app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) })
        return { status: res.statusCode, body: res.body, json: <T = any>() => JSON.parse(res.body) as T }
      }
      const token = (await officer('POST', '/v1/token')).json<{ access_token: string }>().access_token

      // Four crossings: traveller A twice, B and C once each.
      const cbsa = client(t, 'CBSA', gw.url)
      const sent: Record<'a1' | 'a2' | 'b' | 'c', { id: string; number: string; issuingCountry: string }> = {} as never
      for (const [name, number] of [
        ['a1', 'TA1000001'],
        ['a2', 'TA1000001'],
        ['b', 'TB2000002'],
        ['c', 'TC3000003']
      ] as const) {
        const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
        const document = (envelope.payload as { document: { number: string; issuingCountry: string } }).document
        document.number = number
        t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202, `${name} accepted`)
        sent[name] = { id: String(envelope.id), number, issuingCountry: document.issuingCountry }
      }
      const travellerA = { documentNumber: sent.a1.number, issuingCountry: sent.a1.issuingCountry }
      const report = async (doc: { number: string; issuingCountry: string }) =>
        (await officer('POST', '/v1/audit/disclosures', token, { documentNumber: doc.number, issuingCountry: doc.issuingCountry })).json<{
          disclosures: Array<{ event: string; reference?: string; complaintRef?: string }>
          holds: LegalHold[]
        }>()

      await t.test('attached to a message, or to a traveller: each hold names the complaint; a hold for another reason names none', async (t) => {
        const onMessage = await officer('POST', '/v1/audit/legal-holds', token, {
          ref: 'HOLD-B',
          complaintRef: COMPLAINT,
          reason: 'complaint received',
          messageId: sent.b.id
        })
        t.equal(onMessage.status, 201, onMessage.body)
        t.match(onMessage.json(), { ref: 'HOLD-B', complaintRef: COMPLAINT, messageId: sent.b.id, subject: null, releasedAt: null })
        const onTraveller = await officer('POST', '/v1/audit/legal-holds', token, {
          ref: 'HOLD-A',
          complaintRef: COMPLAINT,
          reason: 'complaint received',
          ...travellerA
        })
        t.equal(onTraveller.status, 201, onTraveller.body)
        t.match(onTraveller.json(), { ref: 'HOLD-A', complaintRef: COMPLAINT, messageId: null, subject: String })
        t.notOk(onTraveller.body.includes(sent.a1.number), 'the answer names the traveller by digest only')
        const litigation = await officer('POST', '/v1/audit/legal-holds', token, { ref: 'LIT-A1', reason: 'litigation', messageId: sent.a1.id })
        t.equal(litigation.status, 201)
        t.equal(litigation.json().complaintRef, null, 'no complaint: none named')
        const listed = (await officer('GET', '/v1/audit/legal-holds', token)).json<{ holds: LegalHold[] }>().holds
        t.same(
          listed.map((h) => [h.ref, h.complaintRef]).sort(),
          [
            ['HOLD-A', COMPLAINT],
            ['HOLD-B', COMPLAINT],
            ['LIT-A1', null]
          ],
          'one complaint, two holds; and the other hold'
        )
      })

      await t.test('placing each is audited with its reference and complaint reference, and no personal value', async (t) => {
        const entries = (await store.auditEntries(0, 10_000)).map((e) => e.entry)
        t.same(
          entries.filter((e) => e.event === 'legal-hold-placed').map((e) => [e.reference, e.complaintRef ?? null, e.messageId]),
          [
            ['HOLD-B', COMPLAINT, sent.b.id],
            ['HOLD-A', COMPLAINT, null],
            ['LIT-A1', null, sent.a1.id]
          ]
        )
        t.notOk(JSON.stringify(entries).includes(sent.a1.number), 'the ledger never holds the document number')
      })

      await t.test('the disclosure report lists the holds covering the traveller or their messages, with their complaint references', async (t) => {
        const a = await report(sent.a1)
        t.same(
          a.holds.map((h) => [h.ref, h.complaintRef, h.messageId]),
          [
            ['HOLD-A', COMPLAINT, null],
            ['LIT-A1', null, sent.a1.id]
          ],
          "A: the hold on the traveller and the one on A's message, not B's"
        )
        t.match(
          a.disclosures.filter((d) => d.event === 'legal-hold-placed'),
          [{ reference: 'HOLD-A', complaintRef: COMPLAINT }],
          'the placing of the hold on A shows, with its references'
        )
        t.same(
          (await report(sent.b)).holds.map((h) => [h.ref, h.complaintRef]),
          [['HOLD-B', COMPLAINT]],
          "B: the complaint on B's message"
        )
        t.same((await report(sent.c)).holds, [], 'C: none')
      })

      await t.test('ambiguous input, a message no entry names, or a reference or reason holding the identifier is refused and changes nothing', async (t) => {
        const travellerC = { documentNumber: sent.c.number, issuingCountry: sent.c.issuingCountry }
        const identity = { surname: 'Trémblay', dateOfBirth: '1984-03-07' }
        const holdsBefore = await store.legalHolds()
        const ledgerBefore = (await store.auditEntries(0, 10_000)).length
        const cases: Array<[string, unknown, number, string]> = [
          [
            'a message and a traveller at once',
            { ref: 'BAD-1', complaintRef: COMPLAINT, reason: 'r', messageId: sent.c.id, ...travellerA },
            400,
            'REQUEST_INVALID'
          ],
          [
            'a document and a membership at once',
            { ref: 'BAD-2', complaintRef: COMPLAINT, reason: 'r', ...travellerA, membershipId: '100200300' },
            400,
            'REQUEST_INVALID'
          ],
          [
            'a document without its issuing country',
            { ref: 'BAD-3', complaintRef: COMPLAINT, reason: 'r', documentNumber: 'TC3000003' },
            400,
            'REQUEST_INVALID'
          ],
          ['a message no entry names', { ref: 'BAD-4', complaintRef: COMPLAINT, reason: 'r', messageId: crypto.randomUUID() }, 404, 'NOT_FOUND'],
          ['a complaint reference that is not one', { ref: 'BAD-5', complaintRef: 'x y', reason: 'r', messageId: sent.c.id }, 400, 'REQUEST_INVALID'],
          ['a hold reference already used', { ref: 'HOLD-A', complaintRef: COMPLAINT, reason: 'r', messageId: sent.c.id }, 400, 'REQUEST_INVALID'],
          // The ledger never holds the identifier but as its digest: not in a reference, nor in the reason kept with the hold.
          ['a reference that holds the document number', { ref: `HOLD-${sent.c.number}`, reason: 'r', ...travellerC }, 400, 'REQUEST_INVALID'],
          [
            'a complaint reference that holds it, spaced out and in small letters',
            { ref: 'BAD-6', complaintRef: `opc-${sent.c.number.slice(0, 4).toLowerCase()}.${sent.c.number.slice(4)}`, reason: 'r', ...travellerC },
            400,
            'REQUEST_INVALID'
          ],
          [
            'a reason that holds the membership id',
            { ref: 'BAD-7', reason: 'NEXUS 100 200 300 complained', membershipId: '100200300' },
            400,
            'REQUEST_INVALID'
          ],
          ['a reason that names the surname', { ref: 'BAD-8', reason: 'complaint by Mr Tremblay', ...identity }, 400, 'REQUEST_INVALID'],
          ['a reference that holds the date of birth', { ref: 'HOLD-19840307', reason: 'complaint', ...identity }, 400, 'REQUEST_INVALID']
        ]
        for (const [what, body, status, code] of cases) {
          const res = await officer('POST', '/v1/audit/legal-holds', token, body)
          t.same([res.status, res.json().code], [status, code], `${what}: ${status} ${code}`)
          t.type(res.json().detail, 'string')
        }
        t.same(await store.legalHolds(), holdsBefore, 'no hold placed')
        t.equal((await store.auditEntries(0, 10_000)).length, ledgerBefore, 'nothing audited as placed')
      })

      await t.test('a reference or reason that only looks like part of the identifier is taken', async (t) => {
        const placed = await officer('POST', '/v1/audit/legal-holds', token, {
          ref: 'LIT-2026-7',
          complaintRef: 'OPC-2026-0043',
          reason: 'litigation, as filed 2026-11-02',
          surname: 'Li',
          dateOfBirth: '1990-01-02'
        })
        t.equal(placed.status, 201, `a surname inside another word is not the surname: ${placed.body}`)
      })

      await t.test('the purge keeps what a complaint covers until its hold is released; the report keeps the released hold', async (t) => {
        for (const { id } of Object.values(sent)) {
          t.ok(
            await store.markDelivered('outbound', id, 'receipt', auditEntry({ event: 'delivered', direction: 'outbound', messageId: id })),
            `${id} delivered`
          )
        }
        const later = Date.now() + 10 * 86_400_000
        t.same(await purgeExpired(store, 1, later), { messages: 1, outbox: 0 }, "only C's message goes")
        t.equal(await store.findMessage('outbound', sent.c.id), undefined)
        for (const name of ['a1', 'a2', 'b'] as const) t.ok(await store.findMessage('outbound', sent[name].id), `${name} is held`)

        t.equal((await officer('DELETE', '/v1/audit/legal-holds/HOLD-A', token)).status, 204)
        t.same(await purgeExpired(store, 1, later), { messages: 1, outbox: 0 }, "released: A's second crossing goes")
        t.equal(await store.findMessage('outbound', sent.a2.id), undefined)
        t.ok(await store.findMessage('outbound', sent.a1.id), "A's first is still held for the litigation")
        t.ok(await store.findMessage('outbound', sent.b.id), "B's still for the complaint")

        const a = await report(sent.a1)
        t.match(
          a.holds.map((h) => [h.ref, h.complaintRef, h.releasedAt]),
          [
            ['HOLD-A', COMPLAINT, String],
            ['LIT-A1', null, null]
          ],
          'the released hold stays in the report, with when it was released'
        )
        const released = (await store.auditEntries(0, 10_000)).map((e) => e.entry).filter((e) => e.event === 'legal-hold-released')
        t.same(
          released.map((e) => [e.reference, e.complaintRef]),
          [['HOLD-A', COMPLAINT]],
          'releasing is audited with the complaint reference too'
        )
      })
    }
  )
}
