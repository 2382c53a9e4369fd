// No personal data in the logs (P3): a debug-level run of every kind, both
// ways, plus refusals and failed deliveries, and no value of any sample
// message appears in any log line.
import t from 'tap'
import { SAMPLE_ROUTES, sampleEnvelope } from '../sandbox/sample-messages.ts'
import { eventually, startExchange, SYSTEMS, type SystemName } from './helper.ts'

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
  for (const route of SAMPLE_ROUTES) {
    const client = ex.clients[name(route.from.country, route.from.agency)]
    const envelope = client.envelope(sampleEnvelope(route.kind, route.from.country, route.to))
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
