// No personal data in the logs (P3): a debug-level run of every kind, both
// ways, plus refusals and failed deliveries, and no value of any sample
// message appears in any log line.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { SAMPLE_ROUTES } from '../sandbox/sample-messages.ts'
import {
  eventually,
  injectGateway,
  KEYS_DIR,
  presenting,
  sampleOnRoute,
  type SentSample,
  startExchange,
  SYSTEMS,
  testConfig,
  type SystemName
} from './helper.ts'

/**
 * Every string leaf of a payload that could identify a person: names,
 * numbers, dates, references. Code-list values (`refused`, `land`) are the
 * gateway's own vocabulary, not personal data, and are left out.
 */
function personalValues(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string' && value.length >= 4 && !/^\d{4}$/.test(value) && !/^[a-z0-9-]+$/.test(value)) out.add(value)
  else if (Array.isArray(value)) for (const v of value) personalValues(v, out)
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) personalValues(v, out)
  return out
}

t.test('no value of any message reaches the logs, even at debug level', async (t) => {
  const lines: string[] = []
  const ex = await startExchange(
    t,
    { logLevel: 'debug' },
    { CA: 0, US: 1 },
    {
      logStream: {
        write: (line) => {
          lines.push(line)
        }
      }
    }
  )
  const values = new Set<string>()
  const name = (country: string, agency: string) =>
    (Object.keys(SYSTEMS) as SystemName[]).find((n) => SYSTEMS[n].country === country && SYSTEMS[n].agency === agency)!
  const ids: string[] = []
  const sent: SentSample[] = []
  for (const route of SAMPLE_ROUTES) {
    const client = ex.clients[name(route.from.country, route.from.agency)]
    const envelope = client.envelope(await sampleOnRoute(ex, route, sent))
    sent.push({ route, id: String(envelope.id), envelope })
    personalValues(envelope.payload, values)
    const jws = await client.sign(envelope)
    t.equal((await client.submit(jws)).status, 202)
    // And a refusal carrying the same values.
    t.equal((await client.submit(await client.sign({ ...envelope, extra: true }))).status, 409)
    ids.push(String(envelope.id))
  }
  await eventually(() => (ids.every((id) => Object.values(ex.mocks).some((m) => m.received.some((r) => r.id === id))) ? true : undefined), 20_000, 'every push')
  t.ok(values.size > 30, `${values.size} distinct values to look for`)
  t.ok(lines.length > 20, `${lines.length} log lines written`)
  const log = lines.join('')
  const leaked = [...values].filter((v) => log.includes(v))
  t.same(leaked, [], 'no personal value appears in the logs')
})

t.test('an identifier put in a URL, in its path or its query, reaches no log line; the route it reached does', async (t) => {
  const lines: string[] = []
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false, logLevel: 'debug' }), {
    logStream: {
      write: (line) => {
        lines.push(line)
      }
    }
  })
  const officer = presenting(readFileSync(join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1', 'client.crt.pem'), 'utf8'))
  const operator = presenting(readFileSync(join(KEYS_DIR, 'CA', 'operators', 'ops-1', 'client.crt.pem'), 'utf8'))
  const token = async (who: Record<string, string>) =>
    (await gw.app.inject({ method: 'POST', url: '/v1/token', headers: who })).json<{ access_token: string }>().access_token
  const asOfficer = { ...officer, authorization: `Bearer ${await token(officer)}` }
  const asOperator = { ...operator, authorization: `Bearer ${await token(operator)}` }
  const probes: Array<[Record<string, string>, string]> = [
    [asOfficer, '/v1/audit/entries?subject=ZX9876543&surname=Tremblayxx'],
    [asOfficer, '/v1/audit/export?documentNumber=ZX9876543'],
    [asOperator, '/v1/operations/dead-letters/ZX9876543'],
    [asOperator, '/v1/operations/dead-letters?cursor=ZX9876543'],
    [{}, '/v1/messages/ZX9876543?surname=Tremblayxx'],
    [{}, '/no/such/route/ZX9876543']
  ]
  for (const [headers, url] of probes)
    t.ok((await gw.app.inject({ method: 'GET', url, headers })).statusCode >= 400, `${url.replace(/ZX9876543|Tremblayxx/g, '…')}: refused`)
  const log = lines.join('')
  t.notOk(/ZX9876543|Tremblayxx/.test(log), 'no log line holds either value')
  t.match(log, /"url":"\/v1\/operations\/dead-letters\/:id"/, 'a request is logged by the route it reached')
  // Every refusal is logged once with its code, a request that reached no route too.
  const refusals = lines.map((line) => JSON.parse(line)).filter((l) => l.msg === 'request refused')
  t.equal(refusals.length, probes.length, 'each refusal logged once as refused')
  t.equal(refusals.filter((l) => l.code === 'NOT_FOUND').length, 1, 'the request to no route with its code')
})
