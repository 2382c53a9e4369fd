// A client's TLS context (its certificate, key and roots) is built once and
// shared by every connection it opens (gateway/delivery/tls-client.ts,
// sandbox/agency-client.ts): built from the PEM texts on each connection, a
// gateway whose partner was down made one for every attempt to reconnect, 377
// in one 5 s outage of the faults test. Real mutual TLS, with a server that
// closes each connection after its answer, so that every request is a new
// handshake. A client whose material cannot make a context fails its
// requests, as a request that fails does, rather than throwing.
import t from 'tap'
import { X509Certificate, generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { createServer as createNetServer, type Socket } from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import { RequestAbandonedError, RESPONSE_MAX_BYTES, TlsClient, TrustBoundClient } from '../gateway/delivery/tls-client.ts'
import { AgencyClient } from '../sandbox/agency-client.ts'
import { sha256 } from '../gateway/lib/digest.ts'
import { partnerClientOptions } from '../gateway/trust/tls-options.ts'
import { loadTrustStore } from '../gateway/trust/trust-store.ts'
import { eventually, KEYS_DIR } from './helper.ts'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const REQUESTS = 5
const pem = (...path: string[]): string => readFileSync(join(KEYS_DIR, ...path), 'utf8')

/** The US gateway's certificate, asking for a client certificate from CA's roots; each answer closes its connection. */
async function closingServer(t: Test): Promise<{ url: string; connections: () => number; clientsVerified: () => number }> {
  let connections = 0
  let clientsVerified = 0
  const server: Server = createServer(
    {
      cert: pem('US', 'gateway.crt.pem'),
      key: pem('US', 'gateway.key.pem'),
      ca: pem('US', 'partner', 'ca.crt.pem'),
      requestCert: true,
      rejectUnauthorized: true
    },
    (req, res) => {
      if ((req.socket as tls.TLSSocket).authorized) clientsVerified++
      req.resume()
      req.on('end', () => res.writeHead(200, { connection: 'close', 'content-type': 'text/plain' }).end('ok'))
    }
  )
  server.on('secureConnection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as { port: number }
  return { url: `https://127.0.0.1:${port}`, connections: () => connections, clientsVerified: () => clientsVerified }
}

/** Counts the TLS contexts built from here on through node:tls, as a connection given PEM texts builds its own. */
function countContexts(t: Test): () => number {
  const original = tls.createSecureContext
  let built = 0
  tls.createSecureContext = (...args) => {
    built++
    return original(...args)
  }
  t.teardown(() => {
    tls.createSecureContext = original
  })
  return () => built
}

t.test("the gateway's mTLS client builds its TLS context once for all its connections", async (t) => {
  const server = await closingServer(t)
  const client = new TlsClient({
    cert: pem('CA', 'gateway.crt.pem'),
    key: pem('CA', 'gateway.key.pem'),
    ca: pem('CA', 'partner', 'ca.crt.pem'),
    timeoutMs: 5000
  })
  t.teardown(() => client.close())
  const contexts = countContexts(t)
  for (let i = 0; i < REQUESTS; i++) {
    const res = await client.post(`${server.url}/v1/exchange`, 'x', 'text/plain')
    t.equal(res.status, 200)
  }
  t.equal(server.connections(), REQUESTS, 'each request came on a new connection')
  t.equal(server.clientsVerified(), REQUESTS, 'each presented the client certificate, and the server verified it')
  t.equal(contexts(), 0, 'no TLS context built for any of them: the one built with the client serves all')
})

t.test("an agency system's client (the sandbox's, the faults', the bulk loader's) does the same", async (t) => {
  const server = await closingServer(t)
  const client = new AgencyClient(
    {
      country: 'CA',
      agency: 'CBSA',
      system: 'pik-primary',
      // A certificate the server's roots accept; the server is the US gateway's, whose root is in CA's partner folder.
      cert: pem('CA', 'gateway.crt.pem'),
      key: pem('CA', 'gateway.key.pem'),
      ca: pem('CA', 'partner', 'ca.crt.pem'),
      signingKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      kid: 'unused',
      alg: 'ES256'
    },
    server.url
  )
  t.teardown(() => client.close())
  const contexts = countContexts(t)
  for (let i = 0; i < REQUESTS; i++) t.equal((await client.call('GET', '/healthz')).status, 200)
  t.equal(server.connections(), REQUESTS, 'each request came on a new connection')
  t.equal(contexts(), 0, 'no TLS context built for any of them: the one built with the client serves all')
})

t.test('a client that the trust material cannot make fails its request, as any failed request does, rather than throwing', async (t) => {
  const client = new TrustBoundClient(
    () => ({}),
    () => ({ cert: 'not a certificate', key: 'not a key', ca: 'not a root', timeoutMs: 1000 })
  )
  t.teardown(() => client.close())
  let request: Promise<unknown> | undefined
  t.doesNotThrow(() => {
    request = client.post('https://127.0.0.1:1/v1/exchange', 'x', 'text/plain')
  }, 'the call itself does not throw')
  await t.rejects(request!, 'its promise is rejected')
})

t.test('abandonAfter ends the requests in flight, on the client in force and on one a reload replaced, and refuses new ones', async (t) => {
  // The US gateway's certificate; it reads each request and never answers.
  const held: string[] = []
  const server: Server = createServer(
    { cert: pem('US', 'gateway.crt.pem'), key: pem('US', 'gateway.key.pem'), ca: pem('US', 'partner', 'ca.crt.pem'), requestCert: true },
    (req) => {
      req.resume()
      req.on('end', () => held.push(req.url ?? ''))
    }
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`
  // Two trust stores whose material differs (the pin): a reload from one to the other makes a new client.
  const material = (pin: string | undefined) => ({
    cert: pem('CA', 'gateway.crt.pem'),
    key: pem('CA', 'gateway.key.pem'),
    ca: pem('CA', 'partner', 'ca.crt.pem'),
    ...(pin === undefined ? {} : { pinsSha256: [pin] }),
    timeoutMs: 60_000
  })
  const before = { pin: undefined as string | undefined }
  let trust = before
  const client = new TrustBoundClient(
    () => trust,
    (tr) => material(tr.pin)
  )
  t.teardown(() => client.close())
  const first = client.post(`${url}/first`, 'x', 'text/plain')
  await eventually(() => (held.includes('/first') ? true : undefined), 10_000, 'the first request to be held')
  trust = { pin: sha256(new X509Certificate(pem('US', 'gateway.crt.pem')).raw) }
  const second = client.post(`${url}/second`, 'x', 'text/plain')
  await eventually(() => (held.includes('/second') ? true : undefined), 10_000, 'the second request, on the new client, to be held')

  const abandoned: number[] = []
  client.abandonAfter(50, (requests) => abandoned.push(requests))
  // Both rejections are awaited together: they come in the same turn.
  await Promise.all([
    t.rejects(first, RequestAbandonedError, 'the request on the client the reload replaced is abandoned'),
    t.rejects(second, RequestAbandonedError, 'so is the one on the client in force')
  ])
  t.same(abandoned, [2], 'and it said how many requests it abandoned')
  await t.rejects(client.post(`${url}/third`, 'x', 'text/plain'), RequestAbandonedError, 'a request asked for after it is refused at once')
  await client.close()
  t.same(held, ['/first', '/second'], 'the third never reached the server')
})

t.test('closed after abandoning, it does not wait for a connection a silent peer never lets finish', async (t) => {
  // Takes the TCP connection and never answers the TLS handshake, as a paused container does.
  const sockets = new Set<Socket>()
  const server = createNetServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`
  const client = new TrustBoundClient(
    () => ({}),
    () => ({ cert: pem('CA', 'gateway.crt.pem'), key: pem('CA', 'gateway.key.pem'), ca: pem('CA', 'partner', 'ca.crt.pem'), timeoutMs: 60_000 })
  )
  const request = client.post(`${url}/v1/exchange`, 'x', 'text/plain')
  await eventually(() => (sockets.size === 1 ? true : undefined), 10_000, 'the connection to be taken')
  client.abandonAfter(10)
  await t.rejects(request, RequestAbandonedError, 'the request, still connecting, is abandoned')
  // Without destroying, close() waits for the handshake until undici's connect timeout (10 s).
  const closed = await Promise.race([client.close().then(() => 'closed'), new Promise((resolve) => setTimeout(resolve, 5000, 'still closing').unref())])
  t.equal(closed, 'closed', 'and the client closes at once')
})

/** A server with the US gateway's certificate that answers 200 and then sends its body as `send` says. */
async function answeringServer(t: Test, send: (res: import('node:http').ServerResponse) => void): Promise<string> {
  const server: Server = createServer(
    {
      cert: pem('US', 'gateway.crt.pem'),
      key: pem('US', 'gateway.key.pem'),
      ca: pem('US', 'partner', 'ca.crt.pem'),
      requestCert: true,
      rejectUnauthorized: true
    },
    (req, res) => {
      req.resume()
      req.on('end', () => send(res))
    }
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return `https://127.0.0.1:${(server.address() as { port: number }).port}`
}

const partnerClient = (timeoutMs: number): TlsClient =>
  new TlsClient({ cert: pem('CA', 'gateway.crt.pem'), key: pem('CA', 'gateway.key.pem'), ca: pem('CA', 'partner', 'ca.crt.pem'), timeoutMs })

// Cut off, the answer's status still stands when it is a 2xx: an agency's
// 2xx is its answer whatever follows it (delivery/push-to-agency.ts), and a
// partner's 200 whose receipt is unread is a failed attempt, said plainly
// (delivery/deliver-to-partner.ts). Any other status is a failed request.
t.test('an answer larger than any receipt is cut off, not read into memory', async (t) => {
  for (const status of [200, 503]) {
    const url = await answeringServer(t, (res) => {
      res.writeHead(status, { 'content-type': 'application/jose' })
      // Two chunks over the limit, written as the client reads.
      const chunk = Buffer.alloc(RESPONSE_MAX_BYTES, 0x61)
      res.write(chunk)
      res.end(chunk)
    })
    const client = partnerClient(5000)
    t.teardown(() => client.close())
    const post = client.post(`${url}/v1/exchange`, 'x', 'application/jose')
    if (status === 503) {
      await t.rejects(post, { code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' }, `${status}: a failed request`)
      continue
    }
    const res = await post
    t.same([res.status, res.body], [200, ''], `${status}: the status, and no body held`)
    t.match(res.unread, /max size/, `${status}: said unread, and why`)
  }
})

t.test('an answer sent a little at a time, never ending, is given up at twice the timeout', async (t) => {
  let timer: NodeJS.Timeout | undefined
  t.teardown(() => clearInterval(timer))
  const url = await answeringServer(t, (res) => {
    res.writeHead(200, { 'content-type': 'application/jose' })
    // A byte every 50 ms: never a pause as long as the timeout.
    timer = setInterval(() => res.write('a'), 50)
  })
  const client = partnerClient(400)
  t.teardown(() => client.close())
  const started = Date.now()
  const res = await client.post(`${url}/v1/exchange`, 'x', 'application/jose')
  t.ok(Date.now() - started < 10_000, `given up (${Date.now() - started} ms)`)
  t.same([res.status, res.body], [200, ''], 'its 2xx status stands, and no body is held')
  t.match(res.unread, /timeout/, 'said unread, for the time it took')
})

// A revocation wins over every registration, the partner gateway's pin
// included (gateway/trust/trust-file.ts): its revoked certificate is refused
// as a server, as it is as a caller, so nothing is sent to whoever holds its key.
t.test("the partner's certificate, once revoked, is refused as a server though it is the pinned one", async (t) => {
  const { url } = await closingServer(t)
  const trust = loadTrustStore(join(KEYS_DIR, 'CA', 'trust.json'))
  const pinned = new TlsClient(partnerClientOptions(trust, 5000))
  t.teardown(() => pinned.close())
  t.equal((await pinned.post(`${url}/v1/exchange`, 'x', 'application/jose')).status, 200, 'pinned and in force: taken')
  const revoked = new TlsClient(partnerClientOptions({ ...trust, revokedCerts: new Set([trust.partner.gatewayCertSha256]) }, 5000))
  t.teardown(() => revoked.close())
  await t.rejects(revoked.post(`${url}/v1/exchange`, 'x', 'application/jose'), { message: /revoked/ }, 'revoked: refused')
})
