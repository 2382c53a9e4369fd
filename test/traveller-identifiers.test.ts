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
import { client, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'

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

  // Nothing at all once read so names no one, as `<<<` does.
  const nothing = await officer('/v1/audit/disclosures', token, { documentNumber: '\u2010\u200b', issuingCountry: document.issuingCountry })
  t.same([nothing.status, nothing.json().code], [400, 'REQUEST_INVALID'], 'a hyphen and an invisible character alone: REQUEST_INVALID')
})
