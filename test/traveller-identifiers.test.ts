// A traveller's disclosure report by the document they show, in the spellings
// a person or a form may give it: the ledger keeps a keyed digest of the
// document number (docs/privacy-officers.md, "The audit API"), and a number
// typed in full-width characters (an East Asian keyboard or form), or with a
// hyphen or an invisible character other than ASCII's, is the same document.
// A report that came back empty for it would tell the officer, and the
// traveller, that nothing was shared (P8).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { listExamples } from '../schemas/index.ts'
import { client, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'
import { requestReceived } from './lib/partner-delivery.ts'

const OFFICER = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))

t.test('a document number in another spelling of the same characters finds its disclosures', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const officer = async (url: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = { ...OFFICER }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await gw.app.inject({ method: 'POST', url, headers, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) })
    return { status: res.statusCode, json: <T = any>() => JSON.parse(res.body) as T }
  }
  const token = (await officer('/v1/token')).json().access_token as string
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
  const document = (envelope.payload as { document: { number: string; issuingCountry: string } }).document
  document.number = 'C4471862'
  t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202, 'accepted')

  const spellings: Array<[string, string]> = [
    ['as in the MRZ', 'C4471862'],
    ['full-width letters and digits', '\uff23\uff14\uff14\uff17\uff11\uff18\uff16\uff12'],
    ['with a Unicode hyphen (U+2010)', 'C\u20104471862'],
    ['with a non-breaking hyphen (U+2011)', 'C447\u20111862'],
    ['with a zero-width space pasted in', 'C4471862\u200b']
  ]
  for (const [what, documentNumber] of spellings) {
    const res = await officer('/v1/audit/disclosures', token, { documentNumber, issuingCountry: document.issuingCountry })
    t.equal(res.status, 200, `${what}: 200`)
    t.ok(
      res.json<{ disclosures: Array<{ messageId: string; event: string }> }>().disclosures.some((d) => d.messageId === envelope.id && d.event === 'accepted'),
      `${what}: the disclosure is found`
    )
  }

  // The issuing state, typed in any case, in full-width letters or with a space around it.
  const fullWidth = [...document.issuingCountry].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('')
  for (const issuingCountry of [document.issuingCountry.toLowerCase(), ` ${document.issuingCountry} `, fullWidth]) {
    const res = await officer('/v1/audit/disclosures', token, { documentNumber: 'C4471862', issuingCountry })
    t.equal(res.status, 200, `issuing state ${JSON.stringify(issuingCountry)}: 200`)
    t.ok(
      res.json<{ disclosures: Array<{ messageId: string }> }>().disclosures?.some((d) => d.messageId === envelope.id),
      `issuing state ${JSON.stringify(issuingCountry)}: the disclosure is found`
    )
  }
  // What reads as no issuing state at all is refused, saying what one is.
  const country = await officer('/v1/audit/disclosures', token, { documentNumber: 'C4471862', issuingCountry: 'Canada' })
  t.same([country.status, country.json().code], [400, 'REQUEST_INVALID'], 'an issuing state written out: REQUEST_INVALID')
  t.match(country.json().detail, /ICAO/, 'naming the code it takes')

  // Nothing at all once read so names no one, as `<<<` does.
  const nothing = await officer('/v1/audit/disclosures', token, { documentNumber: '\u2010\u200b', issuingCountry: document.issuingCountry })
  t.same([nothing.status, nothing.json().code], [400, 'REQUEST_INVALID'], 'a hyphen and an invisible character alone: REQUEST_INVALID')
})

// A protected person matched by prints is named in the ledger by her surname
// and date of birth (docs/privacy-officers.md, "The audit API"): "case, accents
// and spaces aside", and hyphens. A surname as a source system holds it may
// carry a soft hyphen, a typographic hyphen or an invisible character (a
// zero-width space pasted from a document, a bidirectional mark); her
// report, asked for as she spells it out, must still find what was shared.
t.test('a surname holding a hyphen other than ASCII or an invisible character is found as it is spelt out', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const ircc = client(t, 'IRCC', gw.url)
  const example = listExamples('biometric.match-response').find((e) => e.name === 'valid-asylum-match-protected-person')!.envelope
  const { id: _id, createdAt: _createdAt, from: _from, ...rest } = structuredClone(example) as Record<string, unknown>
  const token = (await gw.app.inject({ method: 'POST', url: '/v1/token', headers: OFFICER })).json<{ access_token: string }>().access_token
  const report = async (body: Record<string, unknown>) =>
    gw.app.inject({
      method: 'POST',
      url: '/v1/audit/disclosures',
      headers: { ...OFFICER, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body)
    })

  const held: Array<[string, string, string, string]> = [
    ['a soft hyphen (U+00AD)', 'HABI\u00adBI', 'Habibi', '1995-01-23'],
    ['a Unicode hyphen (U+2010)', 'AL\u2010HABIBI', 'Al-Habibi', '1995-01-24'],
    ['a zero-width space (U+200B)', 'HABIBI\u200b', 'Habibi', '1995-01-25'],
    ['a right-to-left mark (U+200F)', '\u200fHABIBI', 'HABIBI', '1995-01-26']
  ]
  for (const [what, surname, spelt, dateOfBirth] of held) {
    const payload = structuredClone(rest.payload) as { subject: { identity: Record<string, unknown> } }
    Object.assign(payload.subject.identity, { surname, dateOfBirth })
    const request = await requestReceived(gw.app, 'CA', String(rest.purpose))
    const envelope = ircc.envelope({ ...rest, payload, correlationId: request.id })
    t.equal((await ircc.submit(await ircc.sign(envelope))).status, 202, `${what}: shared`)
    const res = await report({ surname: spelt, dateOfBirth })
    t.equal(res.statusCode, 200, res.body)
    t.ok(
      res.json<{ disclosures: Array<{ event: string; messageId: string }> }>().disclosures.some((d) => d.event === 'accepted' && d.messageId === envelope.id),
      `${what}: her report, asked for as ${spelt}, finds the match response`
    )
  }
})

// schemas/common.schema.json takes Germany as an issuing state in two codes:
// DEU (ISO 3166-1) and D, as the MRZ writes it. One passport, sent by one
// system as D and by another as DEU, is one traveller's: her report, asked
// for in either code, finds both.
t.test("a German document is one document whether its issuing state is written D (the MRZ's) or DEU", async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const token = (await gw.app.inject({ method: 'POST', url: '/v1/token', headers: OFFICER })).json<{ access_token: string }>().access_token
  const sent: string[] = []
  for (const issuingCountry of ['D', 'DEU']) {
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    Object.assign((envelope.payload as { document: Record<string, unknown> }).document, { issuingCountry, number: 'C01X00T47' })
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202, `sent with ${issuingCountry}`)
    sent.push(String(envelope.id))
  }
  for (const issuingCountry of ['D', 'D<<', 'DEU']) {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/audit/disclosures',
      headers: { ...OFFICER, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ documentNumber: 'C01X00T47', issuingCountry })
    })
    const found = res.json<{ disclosures: Array<{ event: string; messageId: string }> }>().disclosures.filter((d) => d.event === 'accepted')
    t.same(found.map((d) => d.messageId).sort(), [...sent].sort(), `asked for with ${issuingCountry}: both messages`)
  }
})

// "Case aside" (docs/privacy-officers.md): ß has a capital, ẞ (U+1E9E), that
// German names written in capitals use; upper-casing ß gives SS, and ẞ stays
// itself. A surname a system holds in capitals is the same surname spelt out
// in lower case.
t.test('a surname written with the capital sharp s (ẞ) is found as it is spelt in lower case, and as SS', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const ircc = client(t, 'IRCC', gw.url)
  const example = listExamples('biometric.match-response').find((e) => e.name === 'valid-asylum-match-protected-person')!.envelope
  const { id: _id, createdAt: _createdAt, from: _from, ...rest } = structuredClone(example) as Record<string, unknown>
  const token = (await gw.app.inject({ method: 'POST', url: '/v1/token', headers: OFFICER })).json<{ access_token: string }>().access_token
  const payload = structuredClone(rest.payload) as { subject: { identity: Record<string, unknown> } }
  Object.assign(payload.subject.identity, { surname: 'STRAẞER', dateOfBirth: '1990-06-15' })
  const request = await requestReceived(gw.app, 'CA', String(rest.purpose))
  const envelope = ircc.envelope({ ...rest, payload, correlationId: request.id })
  t.equal((await ircc.submit(await ircc.sign(envelope))).status, 202, 'shared')
  for (const surname of ['Straßer', 'STRASSER', 'STRAẞER']) {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/audit/disclosures',
      headers: { ...OFFICER, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ surname, dateOfBirth: '1990-06-15' })
    })
    t.ok(
      res.json<{ disclosures: Array<{ event: string; messageId: string }> }>().disclosures.some((d) => d.event === 'accepted' && d.messageId === envelope.id),
      `asked for as ${surname}: found`
    )
  }
})

// A traveller a message names by an identity alone is found by surname and
// date of birth; a surname that is nothing once case, spaces, fillers and
// hyphens are set aside (`-`, `<<<`, a soft hyphen) is one no privacy
// officer can ask for (400 REQUEST_INVALID). Such a message could be shared
// but never accounted for (P8), as a designation with neither a document nor
// a membership could: it is refused, audited, and nothing is kept or queued.
t.test('a match response naming its traveller by a surname that is nothing once read is refused, and nothing is kept', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const ircc = client(t, 'IRCC', gw.url)
  const example = listExamples('biometric.match-response').find((e) => e.name === 'valid-asylum-match-protected-person')!.envelope
  const { id: _id, createdAt: _createdAt, from: _from, ...rest } = structuredClone(example) as Record<string, unknown>
  for (const surname of ['-', '<<<', '\u00ad', '- -']) {
    const payload = structuredClone(rest.payload) as { subject: { identity: Record<string, unknown> } }
    payload.subject.identity.surname = surname
    const request = await requestReceived(gw.app, 'CA', String(rest.purpose))
    const envelope = ircc.envelope({ ...rest, payload, correlationId: request.id })
    const res = await ircc.submit(await ircc.sign(envelope))
    t.same(
      [res.status, res.status === 202 ? 'accepted' : res.json<{ code: string }>().code],
      [422, 'SCHEMA_INVALID'],
      `surname ${JSON.stringify(surname)}: refused`
    )
    t.equal(await gw.app.store.findMessage('outbound', String(envelope.id)), undefined, `surname ${JSON.stringify(surname)}: nothing kept`)
    const entries = await gw.app.store.searchAudit({ messageId: String(envelope.id) }, 0, 10)
    t.same(
      entries.map((e) => [e.entry.event, e.entry.code]),
      [['refused', 'SCHEMA_INVALID']],
      `surname ${JSON.stringify(surname)}: the refusal alone is audited`
    )
  }
  const pending = await gw.app.store.pendingOutbox(new Date(Date.now() + 60_000).toISOString(), 100)
  t.same(
    pending.filter((p) => p.direction === 'outbound'),
    [],
    'nothing queued for the partner'
  )
})
