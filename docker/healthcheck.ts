// The container health probe (the image has no curl): run by the Dockerfile's
// HEALTHCHECK and by the compose file.
//
//   node docker/healthcheck.ts                  GET https://127.0.0.1:$PORT/healthz
//   node docker/healthcheck.ts listening 9441…  something accepts TCP on each port
//
// The gateway's server certificate is issued by the country's root CA, which
// the trust file names as `agencyCa` (path relative to the trust file): the
// probe trusts exactly that CA, and takes a certificate made out to the names
// of the gateway's own (`gateway.tlsCert`) in place of checking one: it
// connects to 127.0.0.1, which a production certificate, made out to the
// gateway's DNS name, does not list. The names, not the fingerprint: while a
// renewed certificate is activated, the file names the new one before the
// gateway has reloaded it (docs/operators.md, "Containers"). /healthz needs
// no client certificate.
// Exit 0 = healthy, 1 = not.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { connect } from 'node:net'
import { dirname, resolve } from 'node:path'

const TIMEOUT_MS = 4000

function fail(why: string): never {
  process.stderr.write(`unhealthy: ${why}\n`)
  process.exit(1)
}

/** The CA the gateway's certificate chains to, and the names that certificate is made out to, from the trust file. */
function gatewayTls(trustFile: string): { readonly ca: string; readonly names: string | undefined } {
  const trust = JSON.parse(readFileSync(trustFile, 'utf8')) as { agencyCa?: unknown; gateway?: { tlsCert?: unknown } }
  if (typeof trust.agencyCa !== 'string') fail(`${trustFile} names no agencyCa`)
  if (typeof trust.gateway?.tlsCert !== 'string') fail(`${trustFile} names no gateway.tlsCert`)
  const read = (path: string): string => readFileSync(resolve(dirname(trustFile), path), 'utf8')
  return { ca: read(trust.agencyCa), names: new X509Certificate(read(trust.gateway.tlsCert)).subjectAltName }
}

function probeGateway(): void {
  const trustFile = process.env.GATEWAY_TRUST_FILE
  if (trustFile === undefined || trustFile === '') fail('GATEWAY_TRUST_FILE is not set')
  const port = Number(process.env.PORT ?? 8441)
  const { ca, names } = gatewayTls(resolve(trustFile))
  const req = request(
    {
      host: '127.0.0.1',
      port,
      path: '/healthz',
      method: 'GET',
      ca,
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) =>
        cert.subjectaltname === names ? undefined : new Error("the certificate presented is not made out to the gateway's names (gateway.tlsCert)"),
      agent: false,
      timeout: TIMEOUT_MS
    },
    (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode === 200) process.exit(0)
        fail(`/healthz answered ${res.statusCode}`)
      })
    }
  )
  req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)))
  req.on('error', (err) => fail(err.message))
  req.end()
}

function probeListening(ports: number[]): void {
  if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) fail('usage: healthcheck.ts listening <port>…')
  let waiting = ports.length
  for (const port of ports) {
    const socket = connect({ host: '127.0.0.1', port, timeout: TIMEOUT_MS }, () => {
      socket.destroy()
      if (--waiting === 0) process.exit(0)
    })
    socket.on('timeout', () => socket.destroy(new Error(`port ${port}: no answer in ${TIMEOUT_MS} ms`)))
    socket.on('error', (err) => fail(`port ${port}: ${err.message}`))
  }
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === undefined) probeGateway()
else if (mode === 'listening') probeListening(rest.map(Number))
else fail(`unknown mode ${mode}`)
