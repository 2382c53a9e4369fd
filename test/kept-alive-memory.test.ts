// A kept-alive connection holds nothing of the requests it has finished. The
// partner gateway keeps up to 32 connections open, each of whose last request
// may be a batch of megabytes: held until the next request on that connection,
// they were tens of megabytes of a gateway's heap, idle (docs/operators.md,
// "Sizing"). Real TLS sockets, a real submission; the server-side requests
// are watched through Node's http diagnostics channel, and must be collected
// while their connection stays open.
import t from 'tap'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { IncomingMessage } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { AgencyClient, loadAgencyCredentials } from '../sandbox/agency-client.ts'
import { KEYS_DIR, startGateway, testConfig } from './helper.ts'

const CONNECTIONS = 8

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Collects until the requests are gone or `rounds` full collections have run; the ones still alive. */
async function alive(refs: Array<WeakRef<IncomingMessage>>, rounds = 20): Promise<number> {
  for (let i = 0; i < rounds; i++) {
    // WeakRefs made in this turn hold their target until it ends.
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    if (refs.every((r) => r.deref() === undefined)) return 0
  }
  return refs.filter((r) => r.deref() !== undefined).length
}

t.test('kept-alive connections do not keep their finished requests (or their bodies) alive', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const refs: Array<WeakRef<IncomingMessage>> = []
  const watch = ({ request }: { request: IncomingMessage }): void => {
    refs.push(new WeakRef(request))
  }
  subscribe('http.server.request.start', watch as (message: unknown) => void)
  t.teardown(() => unsubscribe('http.server.request.start', watch as (message: unknown) => void))

  // One connection each, used one after another: each ends with a submission
  // (a batch) and stays open.
  for (let i = 0; i < CONNECTIONS; i++) {
    const cbsa = new AgencyClient(loadAgencyCredentials(KEYS_DIR, 'CA', 'CBSA', 'pik-primary'), gw.url, { connections: 1 })
    t.teardown(() => cbsa.close())
    const res = await cbsa.submit(await cbsa.sign(cbsa.envelope(sampleEnvelope('entry-exit.batch', 'CA', { country: 'US', agency: 'CBP' }))))
    t.equal(res.status, 202, `connection ${i + 1}: accepted`)
  }
  const open = await new Promise<number>((resolve, reject) => gw.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
  t.equal(open, CONNECTIONS, `${open} connections still open`)
  // @fastify/jwt's pool of callback holders (steed's waterfall, a reusify
  // queue) keeps the last two requests it verified, in its head and tail
  // holders: two, however many connections.
  const held = await alive(refs)
  t.ok(held <= 2, `${held} of ${refs.length} finished requests still held (one a connection before the fix)`)
})
