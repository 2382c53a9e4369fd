// HTTP/1.1 below the routes, over raw TLS sockets: every answer is an RFC 9457
// problem document (never Node's or Fastify's own body, never an empty one),
// requests that could be framed two ways are refused and never reach the
// ledger, slow clients are cut off with a 408, and what a client was promised
// (a 202, a 413) is readable before the connection closes.
import t, { type Test } from 'tap'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { IncomingMessage, ServerResponse } from 'node:http'
import { once } from 'node:events'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { connect } from 'node:tls'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { HTTP_TIMEOUTS, MAX_HEADER_BYTES } from '../gateway/plugins/http-hardening.ts'
import { client, KEYS_DIR, startGateway, testConfig } from './helper.ts'

const AGENCY_DIR = join(KEYS_DIR, 'CA', 'agencies', 'CBSA-pik-primary')
const CLIENT_CERT = readFileSync(join(AGENCY_DIR, 'client.crt.pem'), 'utf8')
const CLIENT_KEY = readFileSync(join(AGENCY_DIR, 'client.key.pem'), 'utf8')
const CA_CERT = readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem'), 'utf8')

/** A header value no log line may ever hold: it travels only inside requests that are refused. */
const MARKER = 'smuggled-7f3a9c'

interface RawResponse {
  readonly statusLine: string
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

interface RawExchange {
  /** Every response read, interim (1xx) ones included, in order. */
  readonly responses: RawResponse[]
  /** The server closed the connection (rather than the test, after the responses it waited for). */
  readonly closedByServer: boolean
  /** A socket error the client met (EPIPE, ECONNRESET: a reset that can swallow the answer). */
  readonly error: string | undefined
  readonly ms: number
}

/** Parses the complete HTTP/1.1 responses at the start of `data`. */
function parseResponses(data: Buffer, ended: boolean): RawResponse[] {
  const responses: RawResponse[] = []
  let at = 0
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', at)
    if (headEnd < 0) return responses
    const [statusLine, ...lines] = data.subarray(at, headEnd).toString('latin1').split('\r\n')
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const status = Number(statusLine.split(' ')[1])
    let bodyStart = headEnd + 4
    let body: Buffer
    if (status < 200) {
      body = Buffer.alloc(0)
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length'])
      if (data.length < bodyStart + length) return responses
      body = data.subarray(bodyStart, bodyStart + length)
      bodyStart += length
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = []
      for (;;) {
        const lineEnd = data.indexOf('\r\n', bodyStart)
        if (lineEnd < 0) return responses
        const size = parseInt(data.subarray(bodyStart, lineEnd).toString('latin1'), 16)
        if (data.length < lineEnd + 2 + size + 2) return responses
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
        bodyStart = lineEnd + 2 + size + 2
        if (size === 0) break
      }
      body = Buffer.concat(parts)
    } else {
      if (!ended) return responses
      body = data.subarray(bodyStart)
      bodyStart = data.length
    }
    responses.push({ statusLine, status, headers, body: body.toString('utf8') })
    at = bodyStart
  }
}

/**
 * One TLS connection to the gateway with the CBSA agency certificate: writes
 * `request` in one write (if any), then reads until the server closes the
 * connection, or until `finalResponses` non-interim responses have been read.
 */
function exchange(
  url: string,
  request: string | Buffer | undefined,
  opts: { finalResponses?: number; onConnect?: (write: (data: string | Buffer) => void) => void; anonymous?: boolean } = {}
): Promise<RawExchange> {
  const { port } = new URL(url)
  const started = Date.now()
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let error: string | undefined
    let settled = false
    const identity = opts.anonymous === true ? {} : { cert: CLIENT_CERT, key: CLIENT_KEY }
    const socket = connect({ host: '127.0.0.1', port: Number(port), ...identity, ca: CA_CERT }, () => {
      if (request !== undefined) socket.write(request)
      opts.onConnect?.((data) => socket.write(data))
    })
    const finish = (closedByServer: boolean): void => {
      if (settled) return
      settled = true
      socket.destroy()
      resolve({ responses: parseResponses(Buffer.concat(chunks), true), closedByServer, error, ms: Date.now() - started })
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (opts.finalResponses === undefined) return
      const finals = parseResponses(Buffer.concat(chunks), false).filter((r) => r.status >= 200)
      if (finals.length >= opts.finalResponses) finish(false)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message
    })
    socket.on('close', () => finish(true))
    // A safety net for a test that fails by hanging, not a wait for a condition.
    socket.setTimeout(20_000, () => {
      error = 'client timeout'
      finish(false)
    })
  })
}

function expectProblem(t: Test, res: RawResponse | undefined, status: number, code: string, what: string): Record<string, unknown> {
  if (res === undefined) {
    t.fail(`${what}: no response at all`)
    return {}
  }
  t.match(res.statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: status ${status}`)
  t.match(res.headers['content-type'] ?? '', /^application\/problem\+json/, `${what}: a problem document`)
  let problem: Record<string, unknown> = {}
  try {
    problem = JSON.parse(res.body) as Record<string, unknown>
  } catch {
    t.fail(`${what}: the body is not JSON: ${JSON.stringify(res.body.slice(0, 200))}`)
  }
  t.same(Object.keys(problem).sort(), ['code', 'detail', 'instance', 'status', 'title', 'type'], `${what}: RFC 9457 members, and only those`)
  t.equal(problem.code, code, `${what}: code ${code}`)
  t.equal(problem.status, status, `${what}: status member`)
  t.type(problem.detail, 'string')
  t.type(problem.instance, 'string')
  return problem
}

t.test('HTTP hardening of the gateway listener', async (t) => {
  const logs: string[] = []
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false, logLevel: 'debug' }), {
    logStream: {
      write: (line) => {
        logs.push(line)
      }
    }
  })
  const cbsa = client(t, 'CBSA', gw.url)
  const token = await cbsa.token()
  const auditCount = async (): Promise<number> => (await gw.app.store.auditEntries(0, 100_000)).length
  const errorLogs = (): string[] => logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50)

  await t.test('a body sent to no route, by a client with no certificate, is refused before it is read: it takes none of the intake budget', async (t) => {
    for (const [method, path] of [
      ['POST', '/anything'],
      ['POST', '/healthz'],
      ['PUT', '/v1/messages']
    ]) {
      // 8 MiB declared, none of it sent: only an answer given before the body is read comes back.
      const res = await exchange(gw.url, `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/jose\r\nContent-Length: 8388608\r\n\r\n`, {
        finalResponses: 1,
        anonymous: true,
        onConnect: () => t.equal(gw.app.intakeBudget.inHand, 0, `${method} ${path}: nothing of the budget taken`)
      })
      expectProblem(t, res.responses[0], 404, 'NOT_FOUND', `${method} ${path} with no certificate`)
    }
    t.equal(gw.app.intakeBudget.inHand, 0, 'nor after')
  })

  await t.test('the listener is given the limits and timeouts', async (t) => {
    const server = gw.app.server as unknown as Record<string, unknown>
    t.equal(server.requireHostHeader, false, 'Host is checked by the gateway, not by Node')
    t.equal(server.maxHeaderSize, MAX_HEADER_BYTES)
    t.equal(server.headersTimeout, HTTP_TIMEOUTS.headersMs)
    t.equal(server.requestTimeout, HTTP_TIMEOUTS.requestMs)
    t.equal(server.timeout, HTTP_TIMEOUTS.idleMs)
    t.equal(server.connectionsCheckingInterval, HTTP_TIMEOUTS.checkEveryMs)
  })

  // Each is a request a front proxy could frame otherwise than Node does; the
  // bytes after the first message are a second, smuggled request.
  const SMUGGLED = `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nContent-Length: 3\r\n\r\nx.y`
  const parserRefusals: Array<[string, string, number, string]> = [
    ['obs-fold (RFC 9112 §5.2)', `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: a\r\n ${MARKER}\r\nContent-Length: 0\r\n\r\n`, 400, 'HTTP_INVALID'],
    ['bare LF line endings', `POST /v1/messages HTTP/1.1\nHost: gw\nX-Note: ${MARKER}\nContent-Length: 0\n\n`, 400, 'HTTP_INVALID'],
    [
      'Content-Length with Transfer-Encoding (CL.TE)',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nContent-Length: ${6 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      400,
      'HTTP_INVALID'
    ],
    [
      'Transfer-Encoding with Content-Length (TE.CL)',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
      400,
      'HTTP_INVALID'
    ],
    [
      'two different Content-Length',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
      400,
      'HTTP_INVALID'
    ],
    [
      'two equal Content-Length',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nx.y`,
      400,
      'HTTP_INVALID'
    ],
    ['a signed Content-Length', `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nContent-Length: +3\r\n\r\nx.y`, 400, 'HTTP_INVALID'],
    ['a NUL in a header value', `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\0\r\nContent-Length: 0\r\n\r\n`, 400, 'HTTP_INVALID'],
    [
      'a chunk size that is not hex',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nContent-Type: application/jose\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx.y\r\n0\r\n\r\n`,
      400,
      'HTTP_INVALID'
    ],
    [
      'a chunk size past 2^64',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nContent-Type: application/jose\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nx.y\r\n0\r\n\r\n`,
      400,
      'HTTP_INVALID'
    ],
    [
      'a chunk without its CRLF',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nContent-Type: application/jose\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nx.yZZ0\r\n\r\n`,
      400,
      'HTTP_INVALID'
    ],
    [
      'Transfer-Encoding with chunked not last',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
      400,
      'HTTP_INVALID'
    ],
    ['an unknown method', `SMUGGLE /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\n\r\n`, 400, 'HTTP_INVALID'],
    [
      'a space before the header colon',
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding : chunked\r\nX-Note: ${MARKER}\r\n\r\n0\r\n\r\n`,
      400,
      'HTTP_INVALID'
    ],
    ['headers over 16 KiB', `GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}${'a'.repeat(MAX_HEADER_BYTES)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE']
  ]
  for (const [what, request, status, code] of parserRefusals) {
    await t.test(`Node's parser refuses ${what}: ${status} ${code}`, async (t) => {
      const before = await auditCount()
      const res = await exchange(gw.url, request)
      expectProblem(t, res.responses[0], status, code, what)
      t.equal(res.responses[0]?.headers.connection, 'close', 'the connection is closed: nothing after it can be framed')
      t.equal(res.responses.length, 1, 'one answer: the smuggled request, if any, is never read')
      t.ok(res.closedByServer)
      t.equal(await auditCount(), before, 'nothing reached the ledger')
    })
  }

  await t.test('Transfer-Encoding other than chunked alone: HTTP_INVALID, and the connection closes', async (t) => {
    const shapes: Array<[string, string]> = [
      [
        'gzip, chunked',
        `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nx.y\r\n0\r\n\r\n`
      ],
      [
        'chunked twice',
        `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nx.y\r\n0\r\n\r\n`
      ],
      [
        'gzip then chunked as two fields',
        `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nx.y\r\n0\r\n\r\n`
      ]
    ]
    for (const [what, request] of shapes) {
      const before = await auditCount()
      const logsBefore = logs.length
      const res = await exchange(gw.url, `${request}${SMUGGLED}`)
      expectProblem(t, res.responses[0], 400, 'HTTP_INVALID', `Transfer-Encoding: ${what}`)
      t.equal(res.responses[0]?.headers.connection, 'close', `${what}: the connection is closed`)
      t.equal(res.responses.length, 1, `${what}: the request after it is not answered`)
      // Node may or may not have parsed the smuggled request before the connection closed; if it did, it was not acted on.
      const during = logs.slice(logsBefore)
      const read = during.filter((line) => line.includes('"incoming request"')).length
      const ignored = during.filter((line) => line.includes('request after Connection: close ignored')).length
      t.ok(read - ignored <= 1, `${what}: only the refused request was acted on`)
      t.equal(await auditCount(), before, `${what}: nothing reached the ledger`)
    }
  })

  await t.test('TLS 1.2 with forward secrecy and AEAD only: static RSA and CBC suites are refused at the handshake', async (t) => {
    const { port } = new URL(gw.url)
    const handshake = (ciphers: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(
          { host: '127.0.0.1', port: Number(port), cert: CLIENT_CERT, key: CLIENT_KEY, ca: CA_CERT, maxVersion: 'TLSv1.2', ciphers },
          () => {
            resolve(socket.getCipher().name)
            socket.destroy()
          }
        )
        socket.on('error', (err) => resolve(`refused: ${err.message}`))
      })
    for (const weak of ['AES256-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES256-SHA']) t.match(await handshake(weak), /^refused/, `${weak}: refused`)
    t.notMatch(await handshake('ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256'), /^refused/, 'ECDHE with AES-GCM: taken')
  })

  await t.test('a Content-Encoding other than identity: 415 UNSUPPORTED_MEDIA_TYPE', async (t) => {
    const before = await auditCount()
    for (const coding of ['gzip', 'deflate', 'br', 'identity, gzip']) {
      const res = await exchange(
        gw.url,
        `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nContent-Encoding: ${coding}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nx.y`
      )
      expectProblem(t, res.responses[0], 415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Encoding: ${coding}`)
    }
    t.equal(await auditCount(), before, 'nothing reached the ledger')
    const identity = await exchange(
      gw.url,
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/jose\r\nContent-Encoding: identity\r\nContent-Length: 3\r\nConnection: close\r\n\r\nx.y`
    )
    t.not(JSON.parse(identity.responses[0]?.body ?? '{}').code, 'UNSUPPORTED_MEDIA_TYPE', 'identity is no coding at all')
  })

  await t.test('Expect: an unknown expectation is 417 EXPECTATION_FAILED; 100-continue still works', async (t) => {
    const before = await auditCount()
    const bogus = await exchange(gw.url, 'GET /healthz HTTP/1.1\r\nHost: gw\r\nExpect: bogus\r\n\r\n', { finalResponses: 1 })
    expectProblem(t, bogus.responses[0], 417, 'EXPECTATION_FAILED', 'Expect: bogus')
    t.equal(await auditCount(), before, 'nothing reached the ledger')

    const form = 'grant_type=client_credentials'
    const continued = await exchange(gw.url, undefined, {
      finalResponses: 1,
      onConnect: (write) =>
        write(
          `POST /v1/token HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}`
        )
    })
    t.equal(continued.responses[0]?.status, 100, '100 Continue first')
    t.equal(continued.responses[1]?.status, 200, 'then the token')
    t.type(JSON.parse(continued.responses[1]?.body ?? '{}').access_token, 'string')
  })

  // RFC 9110 §10.1.1: a client that waits for 100 Continue sends its body
  // only when told to. One the gateway would refuse is refused first, and
  // never told to send megabytes for nothing.
  await t.test('Expect: 100-continue is answered only once the caller passed the checks before the body', async (t) => {
    const head = (auth: string) =>
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\n${auth}Expect: 100-continue\r\nContent-Type: application/jose\r\nContent-Length: 8000000\r\n\r\n`
    const noToken = await exchange(gw.url, head(''), { finalResponses: 1 })
    t.same(
      noToken.responses.map((r) => r.status),
      [401],
      'no token: the refusal, and no 100 Continue before it'
    )
    const anonymous = await exchange(gw.url, head(''), { finalResponses: 1, anonymous: true })
    t.same(
      anonymous.responses.map((r) => r.status),
      [401],
      'no certificate: the same'
    )
    const wrongType = await exchange(gw.url, head(`Authorization: Bearer ${token}\r\n`).replace('application/jose', 'application/json'), {
      finalResponses: 1
    })
    t.same(
      wrongType.responses.map((r) => r.status),
      [415],
      'a media type the route does not take: the same'
    )
    // docs/integrators.md, "Error codes": a body declared over BODY_LIMIT_BYTES
    // is 413 whatever it holds, so its client is not told to send it either.
    const tooLarge = await exchange(gw.url, head(`Authorization: Bearer ${token}\r\n`).replace('8000000', String(gw.app.initialConfig.bodyLimit! + 1)), {
      finalResponses: 1
    })
    t.same(
      tooLarge.responses.map((r) => r.status),
      [413],
      'a body declared over the limit: the refusal, and no 100 Continue before it'
    )
    expectProblem(t, tooLarge.responses.at(-1), 413, 'PAYLOAD_TOO_LARGE', 'a body declared over the limit')
    t.ok(tooLarge.ms < 2_000, `answered at once, not after waiting for a body never asked for (${tooLarge.ms} ms)`)
    const jws = 'x.y.z'
    const passed = await exchange(gw.url, `${head(`Authorization: Bearer ${token}\r\n`).replace('8000000', String(jws.length))}${jws}`, {
      finalResponses: 1
    })
    t.same(
      passed.responses.map((r) => r.status),
      [100, 400],
      'a caller that passed them is told to send the body, which is then read and answered'
    )
  })

  await t.test('Host: missing or repeated is 400 HTTP_INVALID (RFC 9112 §3.2)', async (t) => {
    const before = await auditCount()
    const missing = await exchange(gw.url, 'GET /healthz HTTP/1.1\r\n\r\n')
    expectProblem(t, missing.responses[0], 400, 'HTTP_INVALID', 'no Host')
    t.ok(missing.closedByServer, 'no Host: the connection is closed')
    const twice = await exchange(gw.url, 'GET /healthz HTTP/1.1\r\nHost: gw\r\nHost: elsewhere\r\n\r\n')
    expectProblem(t, twice.responses[0], 400, 'HTTP_INVALID', 'two Host fields')
    t.ok(twice.closedByServer, 'two Host fields: the connection is closed')
    const submission = await exchange(
      gw.url,
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nHost: elsewhere\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nContent-Length: 3\r\n\r\nx.y`
    )
    expectProblem(t, submission.responses[0], 400, 'HTTP_INVALID', 'a submission with two Host fields')
    t.equal(await auditCount(), before, 'nothing reached the ledger')
    const http10 = await exchange(gw.url, 'GET /healthz HTTP/1.0\r\n\r\n')
    t.equal(http10.responses[0]?.status, 200, 'HTTP/1.0 needs no Host')
  })

  await t.test("the router's own refusals: a path parameter over 100 characters, a bad percent-encoding: 400 REQUEST_INVALID", async (t) => {
    const res = await exchange(
      gw.url,
      `GET /v1/messages/${'a'.repeat(101)} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`
    )
    const problem = expectProblem(t, res.responses[0], 400, 'REQUEST_INVALID', '101-character id')
    t.match(String(problem.detail), /longer than 100 characters/)
    t.notMatch(String(problem.detail), /a{50}/, 'the detail does not echo the parameter')
    const within = await exchange(
      gw.url,
      `GET /v1/messages/${'a'.repeat(100)} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`
    )
    t.match(within.responses[0]?.headers['content-type'] ?? '', /^application\/problem\+json/, '100 characters reach the route')
    t.notMatch(within.responses[0]?.body ?? '', /longer than 100 characters/)
    for (const id of ['%zz', '%C0%AF']) {
      const bad = await exchange(gw.url, `GET /v1/messages/${id} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`)
      expectProblem(t, bad.responses[0], 400, 'REQUEST_INVALID', `a path parameter of bad percent-encoding (${id}, FST_ERR_BAD_URL)`)
    }
  })

  await t.test('a 9 MiB upload written at once reads its 413 PAYLOAD_TOO_LARGE, without a reset', async (t) => {
    const before = await gw.app.store.auditEntries(0, 100_000)
    const body = Buffer.alloc(9 * 1024 * 1024, 'a')
    const res = await exchange(
      gw.url,
      Buffer.concat([
        Buffer.from(
          `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nContent-Length: ${body.length}\r\n\r\n`
        ),
        body
      ])
    )
    t.equal(res.error, undefined, 'the client met no EPIPE or ECONNRESET: the server read the body before closing')
    expectProblem(t, res.responses[0], 413, 'PAYLOAD_TOO_LARGE', '9 MiB body')
    t.ok(res.closedByServer, 'then the connection closed')
    const after = await gw.app.store.auditEntries(0, 100_000)
    t.same(
      after.slice(before.length).map((e) => [e.entry.event, e.entry.code]),
      [['refused', 'PAYLOAD_TOO_LARGE']],
      'only the refusal of an authenticated caller was audited'
    )
  })

  await t.test('a client certificate read from a connection already gone: no TypeError from the metrics hook', async (t) => {
    // A destroyed TLS socket answers getPeerCertificate with null. Here the
    // certificate is there when the caller is identified (first onRequest
    // hook), and gone for any later read: the metrics hook must not read it
    // again (its expiry is read with the thumbprint, once per connection).
    const der = new X509Certificate(CLIENT_CERT).raw
    let calls = 0
    const socket = Object.assign(new PassThrough(), {
      authorized: true,
      encrypted: true,
      remoteAddress: '127.0.0.1',
      getPeerCertificate: () => (calls++ === 0 ? { raw: der } : null)
    })
    const req = new IncomingMessage(socket as never)
    Object.assign(req, {
      method: 'GET',
      url: '/healthz',
      httpVersion: '1.1',
      httpVersionMajor: 1,
      httpVersionMinor: 1,
      headers: { host: 'gw' },
      rawHeaders: ['Host', 'gw'],
      complete: true
    })
    req.push(null)
    const res = new ServerResponse(req)
    res.assignSocket(socket as never)
    const written: Buffer[] = []
    socket.on('data', (chunk: Buffer) => written.push(chunk))
    const before = errorLogs().length
    await new Promise<void>((resolve) => {
      res.on('finish', () => resolve())
      gw.app.routing(req, res)
    })
    t.equal(calls, 1, 'the certificate was read once, when the caller was identified; not again once gone')
    t.match(Buffer.concat(written).toString('latin1'), /^HTTP\/1\.1 200 /, 'the request is answered as usual')
    t.equal(errorLogs().length, before, 'nothing logged at error level')
  })

  await t.test('a valid submission followed by garbage on the same connection: its 202 first, then the 400', async (t) => {
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    const jws = await cbsa.sign(envelope)
    const res = await exchange(
      gw.url,
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nContent-Length: ${Buffer.byteLength(jws)}\r\n\r\n${jws}` +
        `GARBAGE / HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}\r\n\r\n`
    )
    t.equal(res.responses.length, 2, 'two answers')
    t.match(res.responses[0]?.statusLine ?? '', /^HTTP\/1\.1 202 /, 'the accepted message is answered 202 first')
    t.equal(JSON.parse(res.responses[0]?.body ?? '{}').id, envelope.id)
    expectProblem(t, res.responses[1], 400, 'HTTP_INVALID', 'the garbage after it')
    t.equal(res.responses[1]?.headers.connection, 'close')
    t.ok(res.closedByServer)
    const status = await cbsa.status(String(envelope.id))
    t.equal(status.status, 200, 'the message was accepted, as its 202 said')
  })

  // The target a client wrote may hold a traveller's name or document number, in its path or its query:
  // a request refused before routing is logged by its route's pattern, as any other request is.
  await t.test('a request whose framing breaks after its headers is logged without the target it named', async (t) => {
    const targets = [`/v1/audit/disclosures?documentNumber=${MARKER}`, `/v1/messages?surname=${MARKER}`]
    for (const target of targets) {
      const logsBefore = logs.length
      const res = await exchange(gw.url, `POST ${target} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nZZZZ\r\n\r\n`)
      expectProblem(t, res.responses[0], 400, 'HTTP_INVALID', `a bad chunk size after ${target}`)
      const line = logs.slice(logsBefore).find((l) => l.includes('request refused before routing'))
      t.ok(line, `${target}: the refusal is logged`)
      t.notOk(line?.includes(MARKER), `${target}: without the target (${line})`)
    }
  })

  // Every problem's `instance` is the request's path, as the route it
  // reached names it (plugins/problem-details.ts, requestInstance), those
  // answered on the socket included (docs/integrators.md, "Error codes").
  await t.test("a refusal answered on the socket has the request's path as its instance, as every other refusal has", async (t) => {
    const id = `${MARKER}-0000-4000-8000-000000000000`
    const broken = await exchange(gw.url, `GET /v1/messages/${id}?surname=${MARKER} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nZZZZ\r\n\r\n`)
    const problem = expectProblem(t, broken.responses[0], 400, 'HTTP_INVALID', 'a bad chunk after a routed target')
    const routed = await exchange(gw.url, `GET /v1/messages/${id} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`)
    const answered = expectProblem(t, routed.responses[0], 401, 'UNAUTHENTICATED', 'the same target, read whole')
    t.equal(answered.instance, '/v1/messages/{id}', 'a refusal by a route names its pattern')
    t.equal(problem.instance, answered.instance, 'and so does one whose framing broke: not the path written')

    // Headers over the limit, or a request line that does not parse: no path
    // was read. The instance is the empty reference, which resolves to the
    // request's own URI (RFC 3986 §4.4, RFC 9457 §3.1): not a made-up URN
    // that names no request and no log line.
    for (const [what, request, status, code] of [
      ['headers over 16 KiB', `GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Note: ${MARKER}${'a'.repeat(MAX_HEADER_BYTES)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      ['a request line that does not parse', `GET /v1/messages HTTP/1.1 extra\r\nHost: gw\r\n\r\n`, 400, 'HTTP_INVALID']
    ] as const) {
      const res = await exchange(gw.url, request)
      t.equal(expectProblem(t, res.responses[0], status, code, what).instance, '', `${what}: the instance is the request itself`)
    }
  })

  await t.test('the logs: no refusal is an error of the gateway, and no request bytes', async (t) => {
    t.same(errorLogs(), [], 'no error-level log line')
    t.notOk(
      logs.some((line) => line.includes(MARKER)),
      'nothing of the refused requests is logged'
    )
    t.ok(
      logs.some((line) => line.includes('request refused before routing')),
      'the refusals are logged, at info'
    )
  })
})

t.test('slow clients are cut off with 408 REQUEST_TIMEOUT', async (t) => {
  const timeouts = { headersMs: 300, requestMs: 600, checkEveryMs: 50 }
  const logs: string[] = []
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false, logLevel: 'info' }), {
    httpTimeouts: timeouts,
    logStream: {
      write: (line) => {
        logs.push(line)
      }
    }
  })
  const cbsa = client(t, 'CBSA', gw.url)
  const token = await cbsa.token()

  await t.test('headers never finished', async (t) => {
    const res = await exchange(gw.url, 'GET /healthz HTTP/1.1\r\nHost: gw\r\n')
    expectProblem(t, res.responses[0], 408, 'REQUEST_TIMEOUT', 'slow headers')
    t.ok(res.closedByServer, 'and the connection is closed')
    t.ok(res.ms >= timeouts.headersMs && res.ms < 5_000, `after the headers timeout (${res.ms} ms)`)
  })

  await t.test('a body never finished', async (t) => {
    const before = await gw.app.store.auditEntries(0, 100_000)
    const res = await exchange(
      gw.url,
      `POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/jose\r\nContent-Length: 1000\r\n\r\nx.y`
    )
    expectProblem(t, res.responses[0], 408, 'REQUEST_TIMEOUT', 'slow body')
    t.ok(res.closedByServer, 'and the connection is closed')
    t.ok(res.ms >= timeouts.requestMs && res.ms < 5_000, `after the request timeout (${res.ms} ms)`)
    const after = await gw.app.store.auditEntries(0, 100_000)
    t.same(
      after.slice(before.length).map((e) => [e.entry.event, e.entry.code]),
      [['refused', 'REQUEST_TIMEOUT']],
      'only the refusal of an authenticated caller was audited'
    )
  })

  await t.test('a request after an answered one on the same connection, never finished', async (t) => {
    const res = await exchange(gw.url, 'GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\nGET /healthz HTTP/1.1\r\nHost: g')
    t.equal(res.responses[0]?.status, 200, 'the first request is answered')
    expectProblem(t, res.responses[1], 408, 'REQUEST_TIMEOUT', 'the second, slow')
    t.ok(res.closedByServer)
  })

  await t.test('no error-level log line', async (t) => {
    t.same(
      logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50),
      []
    )
  })
})

/** A TCP connection to the gateway's port that sends part of a TLS ClientHello, then nothing: a peer stopped mid-handshake. */
async function stalledHandshake(url: string): Promise<{ closed: Promise<number> }> {
  const { port } = new URL(url)
  const socket = netConnect(Number(port), '127.0.0.1')
  await once(socket, 'connect')
  // A TLS record header announcing a handshake message that never arrives.
  socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
  socket.on('error', () => {})
  const opened = performance.now()
  return { closed: once(socket, 'close').then(() => performance.now() - opened) }
}

t.test('a connection whose TLS handshake never finishes is closed after the handshake timeout', async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }), { httpTimeouts: { handshakeMs: 300 } })
  const stalled = await stalledHandshake(gw.url)
  const ms = await stalled.closed
  t.ok(ms >= 250 && ms < 5_000, `closed by the gateway after its handshake timeout (${Math.round(ms)} ms)`)
})

t.test('closing the gateway ends the connections still in their TLS handshake, and does not wait for them', async (t) => {
  // The default handshake timeout: without this, the close would wait for it.
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  t.equal(HTTP_TIMEOUTS.handshakeMs, 10_000, 'a handshake has 10 s by default')
  const stalled = await stalledHandshake(gw.url)
  // Accepted and being read by the gateway's TLS: an answer to a request on another connection proves the accept loop ran.
  t.equal((await exchange(gw.url, 'GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n')).responses[0]?.status, 200)
  const begin = performance.now()
  await gw.app.close()
  const ms = performance.now() - begin
  t.ok(ms < 3_000, `the close did not wait for the stalled handshake (${Math.round(ms)} ms)`)
  t.ok((await stalled.closed) < 5_000, 'and the stalled connection was closed')
})
