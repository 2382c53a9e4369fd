// The OpenAPI document at /docs: readable without a client certificate, it
// names every route the gateway serves, it holds the contract's schemas as
// the very objects the validator compiles, its examples and its $refs hold
// up, and the gateway's answers match what it documents.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import ajvFormats from 'ajv-formats'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { parse as parseYaml } from 'yaml'
import type { FastifyInstance } from 'fastify'
import pkg from '../package.json' with { type: 'json' }
import { KINDS, commonSchema, envelopeSchema, kindSchemas, listExamples } from '../schemas/index.ts'
import { ERROR_CODES } from '../gateway/errors.ts'
import { chainHash } from '../gateway/store/audit-chain.ts'
import { auditEntry } from '../gateway/pipeline/audit-entry.ts'
import type { AuditEntry } from '../gateway/store/records.ts'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { eventually, KEYS_DIR, startExchange, startGateway, testConfig } from './helper.ts'

const { Agent, request } = undiciModule()
type Agent = InstanceType<typeof Agent>

type Doc = Record<string, any>
type Teardown = { teardown(fn: () => unknown): void }
type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const CA_ROOT = readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem'), 'utf8')
const credentials = (...path: string[]) => ({
  cert: readFileSync(join(KEYS_DIR, ...path, 'client.crt.pem'), 'utf8'),
  key: readFileSync(join(KEYS_DIR, ...path, 'client.key.pem'), 'utf8')
})

function agent(t: Teardown, cert?: { cert: string; key: string }): Agent {
  const a = new Agent({ connect: { ca: CA_ROOT, ...cert } })
  t.teardown(() => a.close())
  return a
}

interface Answer {
  readonly status: number
  readonly type: string
  readonly headers: Record<string, unknown>
  readonly text: string
}

async function call(dispatcher: Agent, url: string, method = 'GET', headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const res = await request(url, { method: method as 'GET', headers, body, dispatcher })
  return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), headers: res.headers, text: await res.body.text() }
}

/**
 * Every route the app serves, read from Fastify's own route tree (not from
 * the OpenAPI plugin's list): `printRoutes` prints one node per line, each
 * child indented four columns under its parent, its methods in brackets.
 */
function registeredRoutes(app: FastifyInstance): Array<{ method: string; url: string }> {
  const routes: Array<{ method: string; url: string }> = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([^)]*)\))?$/.exec(line)
    if (m === null) continue
    stack.length = m[1]!.length / 4
    stack.push(m[2]!)
    for (const method of m[3]?.split(', ') ?? []) routes.push({ method, url: stack.join('') })
  }
  return routes
}

const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
const unescapePointer = (token: string) => token.replaceAll('~1', '/').replaceAll('~0', '~')
const DOC_URI = 'urn:openapi-document'
// Values, not schemas: a `$ref` or `$id` in them would be data.
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'example', 'value'])

/** Every `$ref` in the document, with the base URI it is resolved against (JSON Schema 2020-12 §8.2: the nearest `$id`). */
function refsOf(doc: Doc): { refs: Array<{ at: string; ref: string; base: string }>; resources: Map<string, unknown> } {
  const refs: Array<{ at: string; ref: string; base: string }> = []
  const resources = new Map<string, unknown>([[DOC_URI, doc]])
  const walk = (node: unknown, at: string, base: string): void => {
    if (node === null || typeof node !== 'object') return
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${at}/${i}`, base))
      return
    }
    const object = node as Record<string, unknown>
    if (typeof object.$id === 'string') {
      base = new URL(object.$id, base).href.replace(/#$/, '')
      resources.set(base, object)
    }
    if (typeof object.$ref === 'string') refs.push({ at, ref: object.$ref, base })
    for (const [key, value] of Object.entries(object)) if (!DATA_KEYWORDS.has(key)) walk(value, `${at}/${key}`, base)
  }
  walk(doc, '#', DOC_URI)
  return { refs, resources }
}

function resolveRef(resources: Map<string, unknown>, ref: string, base: string): unknown {
  const url = new URL(ref, base)
  const fragment = decodeURIComponent(url.hash.slice(1))
  url.hash = ''
  let node = resources.get(url.href)
  if (node === undefined || (fragment !== '' && !fragment.startsWith('/'))) return undefined
  for (const token of fragment.split('/').slice(1).map(unescapePointer)) {
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[token] : undefined
  }
  return node
}

/**
 * An Ajv for the document's schemas: strict JSON Schema 2020-12 (the OpenAPI
 * 3.1 dialect), with the few keywords OpenAPI adds to it. Component schemas
 * without an $id are registered under a URN their references are rewritten to.
 */
function documentAjv(doc: Doc): { ajv: Ajv2020; compile(schema: unknown): ValidateFunction } {
  // strictRequired is a lint (a `required` in a oneOf branch is valid JSON Schema), not a validity rule.
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true })
  ajvFormats.default(ajv)
  for (const keyword of ['discriminator', 'xml', 'externalDocs', 'example']) ajv.addKeyword(keyword)
  const components = doc.components.schemas as Record<string, Record<string, unknown>>
  const target = (name: string) => (typeof components[name]?.$id === 'string' ? String(components[name]!.$id) : `urn:component:${name}`)
  const rewrite = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object') return node
    if (Array.isArray(node)) return node.map(rewrite)
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => {
        if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/'))
          return [key, target(value.slice('#/components/schemas/'.length))]
        return [key, DATA_KEYWORDS.has(key) ? value : rewrite(value)]
      })
    )
  }
  for (const [name, schema] of Object.entries(components)) {
    ajv.addSchema(typeof schema.$id === 'string' ? schema : { ...(rewrite(schema) as object), $id: target(name) })
  }
  return { ajv, compile: (schema) => ajv.compile(rewrite(schema) as object) }
}

/** The Schema Objects of the operations: parameters, bodies, responses and their headers. */
function operationSchemas(doc: Doc): Array<{ at: string; schema: unknown }> {
  const found: Array<{ at: string; schema: unknown }> = []
  for (const [path, item] of Object.entries(doc.paths as Doc)) {
    for (const [method, op] of Object.entries(item as Doc)) {
      const at = `${method.toUpperCase()} ${path}`
      for (const p of op.parameters ?? []) found.push({ at: `${at} parameter ${p.name}`, schema: p.schema })
      for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Doc)) found.push({ at: `${at} body ${type}`, schema: media.schema })
      for (const [status, response] of Object.entries(op.responses as Doc)) {
        for (const [type, media] of Object.entries((response.content ?? {}) as Doc)) found.push({ at: `${at} ${status} ${type}`, schema: media.schema })
        for (const [name, header] of Object.entries((response.headers ?? {}) as Doc))
          found.push({ at: `${at} ${status} header ${name}`, schema: header.schema })
      }
    }
  }
  return found
}

t.test("the OpenAPI document describes every route, with the contract's own schemas", async (t) => {
  const gw = await startGateway(t, testConfig('CA', { runWorkers: false }))
  const browser = agent(t) // no client certificate, no token: the pages carry no data

  const json = await call(browser, `${gw.url}/docs/json`)
  t.equal(json.status, 200, '/docs/json needs no client certificate')
  t.match(json.type, /^application\/json/)
  const doc = JSON.parse(json.text) as Doc
  const yaml = await call(browser, `${gw.url}/docs/yaml`)
  t.equal(yaml.status, 200)
  t.strictSame(parseYaml(yaml.text), doc, '/docs/yaml is the same document')
  const ui = await call(browser, `${gw.url}/docs`)
  t.equal(ui.status, 200, '/docs serves the UI')
  t.match(ui.type, /^text\/html/)
  t.match(ui.text, /swagger-ui/)
  t.match(String(ui.headers['content-security-policy']), /script-src 'self'/, 'under a content security policy')
  t.equal((await call(browser, `${gw.url}/v1/policies`)).status, 401, 'while the API itself still wants a certificate')

  t.match(doc.openapi, /^3\.1\.\d+$/, 'OpenAPI 3.1')
  t.equal(doc.info.version, pkg.version, 'versioned as the package')
  t.match(doc.info.description, /docs\/integrators\.md/, "points at the integrator's guide")
  const named = [...String(doc.info.description).matchAll(/`(\/v1\/[^`\s]+)`/g)].map((m) => m[1]!)
  t.ok(named.length > 0, 'its description names routes')
  for (const path of named) t.ok(path in (doc.paths as Doc), `the description's ${path} is a route of the document`)
  t.equal(doc.components.securitySchemes.mutualTLS.type, 'mutualTLS')
  t.match(doc.components.securitySchemes.bearerToken, { type: 'http', scheme: 'bearer' })

  await t.test('every registered route is documented, and nothing else', async (t) => {
    const routes = registeredRoutes(gw.app).filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/docs'))
    t.ok(routes.length >= 15, `${routes.length} routes read from the route tree`)
    for (const route of routes) {
      t.ok(gw.app.hasRoute({ method: route.method as 'GET', url: route.url }), `${route.method} ${route.url} is a route (the tree was read right)`)
      const op = doc.paths[openapiPath(route.url)]?.[route.method.toLowerCase()]
      if (!t.ok(op, `${route.method} ${route.url} is documented`)) continue
      t.ok(typeof op.summary === 'string' && op.summary.length > 0, `${route.method} ${route.url} has a summary`)
      t.ok(Object.keys(op.responses ?? {}).length > 0, `${route.method} ${route.url} documents its responses`)
      for (const [status, response] of Object.entries(op.responses as Doc)) {
        t.ok(typeof response.description === 'string' && response.description.length > 0, `${route.method} ${route.url} ${status} is described`)
      }
    }
    const documented = Object.entries(doc.paths as Doc).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    t.strictSame(documented.sort(), routes.map((r) => `${r.method} ${openapiPath(r.url)}`).sort(), 'the document names only routes that exist')
  })

  await t.test("the contract's schemas are the objects the gateway validates with", async (t) => {
    const schemas = doc.components.schemas as Doc
    t.strictSame(schemas.envelope, envelopeSchema)
    t.strictSame(schemas.common, commonSchema)
    for (const kind of KINDS) t.strictSame(schemas[kind], kindSchemas[kind], `${kind}`)
    t.strictSame(schemas.problem.properties.code.enum, [...ERROR_CODES], 'the problem codes are ERROR_CODES')
    for (const path of ['/v1/messages', '/v1/policies/dry-run']) {
      const payload = doc.paths[path].post.requestBody.content['application/jose']['x-jws-payload']
      t.strictSame(payload.schema, { $ref: '#/components/schemas/envelope' }, `${path}: the JWS payload is the envelope`)
      t.strictSame(Object.keys(payload.kindSchemas), [...KINDS], `${path}: a payload schema for every kind`)
    }
    t.strictSame(doc.paths['/v1/exchange'].post.requestBody.content['application/jose']['x-jws-payload'].schema, {
      $ref: '#/components/schemas/forwarded-envelope'
    })
  })

  await t.test('every $ref resolves within the document', async (t) => {
    const { refs, resources } = refsOf(doc)
    t.ok(refs.length > 100, `${refs.length} references`)
    const broken = refs.filter((r) => resolveRef(resources, r.ref, r.base) === undefined)
    t.strictSame(broken, [], 'none is broken')
    t.ok(
      refs.some((r) => r.ref.startsWith('https://schemas.btb-gateway.example/common/1.0#/$defs/')),
      "the contract's absolute references are among them"
    )
  })

  await t.test('every schema in the document is valid JSON Schema 2020-12, and the document is well formed', async (t) => {
    const { compile } = documentAjv(doc)
    for (const [name, schema] of Object.entries(doc.components.schemas as Doc)) {
      t.doesNotThrow(() => compile(typeof schema.$id === 'string' ? { $ref: schema.$id } : schema), `components.schemas.${name} compiles`)
    }
    for (const { at, schema } of operationSchemas(doc)) t.doesNotThrow(() => compile(schema), `${at} compiles`)
    const operationIds = new Set<string>()
    for (const [path, item] of Object.entries(doc.paths as Doc)) {
      t.ok(path.startsWith('/'), `${path} is a path`)
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort()
      for (const [method, op] of Object.entries(item as Doc)) {
        t.ok(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'].includes(method), `${method} is an HTTP method`)
        const inPath = (op.parameters ?? []).filter((p: Doc) => p.in === 'path')
        t.strictSame(inPath.map((p: Doc) => p.name).sort(), templated, `${method} ${path}: every path parameter declared`)
        t.ok(
          inPath.every((p: Doc) => p.required === true),
          `${method} ${path}: path parameters are required`
        )
        for (const requirement of op.security ?? []) {
          for (const scheme of Object.keys(requirement)) t.ok(doc.components.securitySchemes[scheme], `${method} ${path}: scheme ${scheme} is declared`)
        }
        if (op.operationId !== undefined) {
          t.notOk(operationIds.has(op.operationId), `operationId ${op.operationId} is unique`)
          operationIds.add(op.operationId)
        }
        for (const [status, response] of Object.entries(op.responses as Doc)) {
          t.match(status, /^([1-5]\d\d|[1-5]XX|default)$/, `${method} ${path}: ${status} is a status`)
          // Every refusal of the API is a problem document (readiness answers its own 503 body).
          if (!/^4/.test(status) && !(/^5/.test(status) && path.startsWith('/v1/'))) continue
          // The witness's 409 may also be C2SP tlog-witness's "prove from this size", in its own media type.
          const { 'text/x.tlog.size': sizeAnswer, ...content } = response.content as Doc
          t.equal(
            sizeAnswer !== undefined,
            path === '/v1/witness/add-checkpoint' && status === '409',
            `${method} ${path}: ${status} has a tlog size answer only where the witness gives one`
          )
          t.strictSame(
            content,
            { 'application/problem+json': { schema: { $ref: '#/components/schemas/problem' } } },
            `${method} ${path}: ${status} is the RFC 9457 problem document`
          )
        }
      }
    }
    for (const name of Object.keys(doc.components.schemas)) t.match(name, /^[A-Za-z0-9._-]+$/, `component name ${name}`)
  })

  await t.test('every documented example validates against the documented schema', async (t) => {
    // As pipeline/validate-message.ts does: the envelope, then its payload against its kind.
    const { ajv } = documentAjv(doc)
    const { resources } = refsOf(doc)
    const payload = doc.paths['/v1/messages'].post.requestBody.content['application/jose']['x-jws-payload']
    const envelope = ajv.getSchema(String((resolveRef(resources, payload.schema.$ref, DOC_URI) as Doc).$id))!
    const names = Object.keys(payload.examples)
    t.strictSame(names.sort(), Object.keys(doc.components.examples).sort(), 'every example in the document is offered for submissions')
    const onDisk = (['envelope', ...KINDS] as const).flatMap((group) =>
      listExamples(group)
        .filter((e) => e.valid)
        .map((e) => `${group}.${e.name}`)
    )
    t.strictSame(names.sort(), onDisk.sort(), 'every valid example of schemas/examples/ is documented')
    for (const name of names) {
      const example = resolveRef(resources, payload.examples[name].$ref, DOC_URI) as {
        value: { kind: string; payload: unknown; supersedes?: { action: string } }
      }
      t.ok(envelope(example.value), `${name}: a valid envelope ${JSON.stringify(envelope.errors)}`)
      // A retraction carries no record of its kind (its payload is {}, as the envelope schema says).
      if (example.value.supersedes?.action === 'retract') continue
      const kindRef = payload.kindSchemas[example.value.kind]?.$ref as string
      const kind = ajv.getSchema(String((resolveRef(resources, kindRef, DOC_URI) as Doc).$id))!
      t.ok(kind(example.value.payload), `${name}: a valid ${example.value.kind} payload ${JSON.stringify(kind.errors)}`)
    }
  })
})

t.test('the gateway answers as its document says', async (t) => {
  const ex = await startExchange(t)
  const doc = JSON.parse((await call(agent(t), `${ex.ca.url}/docs/json`)).text) as Doc
  const { compile } = documentAjv(doc)
  const cbsa = ex.clients.CBSA

  /** Finds the documented response for what came back, and validates the body against its schema. */
  function conforms(t: Test, method: string, template: string, res: { status: number; headers: Record<string, unknown>; body: string }): void {
    const what = `${method} ${template} ${res.status}`
    const response = doc.paths[template]?.[method.toLowerCase()]?.responses?.[String(res.status)]
    if (!t.ok(response, `${what} is documented`)) return
    if (response.content === undefined) {
      t.equal(res.body, '', `${what} has no body, as documented`)
      return
    }
    const type = String(res.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
    const media = response.content[type]
    if (!t.ok(media, `${what} is documented as ${type}`)) return
    if (!/^application\/(.+\+)?json$/.test(type)) return
    const validate = compile(media.schema)
    t.ok(validate(JSON.parse(res.body)), `${what} matches its schema ${JSON.stringify(validate.errors)}`)
    if (res.status >= 400) t.match(response.description, `\`${JSON.parse(res.body).code}\``, `${what}: the code is among those documented`)
  }

  await t.test("an agency system's token, messages, status and dry run", async (t) => {
    conforms(
      t,
      'POST',
      '/v1/token',
      await cbsa.call('POST', '/v1/token', 'grant_type=client_credentials', { 'content-type': 'application/x-www-form-urlencoded' })
    )
    const auth = { authorization: `Bearer ${await cbsa.token()}` }
    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    const jws = await cbsa.sign(envelope)
    conforms(t, 'POST', '/v1/policies/dry-run', await cbsa.call('POST', '/v1/policies/dry-run', jws, { 'content-type': 'application/jose', ...auth }))
    const accepted = await cbsa.submit(jws)
    t.equal(accepted.status, 202)
    conforms(t, 'POST', '/v1/messages', accepted)
    const repeat = await cbsa.submit(jws)
    t.equal(repeat.status, 200)
    conforms(t, 'POST', '/v1/messages', repeat)
    const delivered = await eventually(
      async () => {
        const res = await cbsa.status(String(envelope.id))
        return res.json<{ status: string }>().status === 'delivered' ? res : undefined
      },
      15_000,
      'delivery'
    )
    t.type(delivered.json<{ receipt: { jws: string; digest: string } }>().receipt.digest, 'string', "the receipt's claims are served")
    conforms(t, 'GET', '/v1/messages/{id}', delivered)
    // A correction, a second one of the same original (refused), and the original's status naming its correction.
    const correction = cbsa.envelope({
      ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }),
      supersedes: { id: envelope.id, action: 'correct' }
    })
    const corrected = await cbsa.submit(await cbsa.sign(correction))
    t.equal(corrected.status, 202)
    conforms(t, 'POST', '/v1/messages', corrected)
    const twice = await cbsa.submit(await cbsa.sign({ ...correction, id: crypto.randomUUID() }))
    t.equal(twice.json<{ code: string }>().code, 'SUPERSEDES_CONFLICT')
    conforms(t, 'POST', '/v1/messages', twice)
    const original = await cbsa.status(String(envelope.id))
    t.equal(original.json<{ supersededBy: { id: string } }>().supersededBy.id, correction.id)
    conforms(t, 'GET', '/v1/messages/{id}', original)
    conforms(t, 'GET', '/v1/messages/{id}', await cbsa.status('00000000-0000-4000-8000-000000000000'))
    conforms(t, 'POST', '/v1/messages', await cbsa.submit('not-a-jws'))
    conforms(t, 'POST', '/v1/messages', await cbsa.submit(await cbsa.sign({ ...envelope, id: crypto.randomUUID(), purpose: 'asylum-claim' })))
    conforms(t, 'POST', '/v1/messages', await cbsa.submit(await cbsa.sign({ ...envelope, kind: 'entry-exit.nothing' })))
    conforms(t, 'POST', '/v1/messages', await cbsa.submit(jws, 'text/plain'))
    // A query the route takes none of is refused as the route documents.
    conforms(t, 'POST', '/v1/messages', await cbsa.call('POST', '/v1/messages?x=1', jws, { 'content-type': 'application/jose', ...auth }))
  })

  await t.test('the published policies, and a conditional GET', async (t) => {
    const all = await cbsa.call('GET', '/v1/policies')
    conforms(t, 'GET', '/v1/policies', all)
    conforms(t, 'GET', '/v1/policies', await cbsa.call('GET', '/v1/policies', undefined, { 'if-none-match': String(all.headers.etag) }))
    conforms(t, 'GET', '/v1/policies/{kind}', await cbsa.call('GET', '/v1/policies/traveller.designation'))
    conforms(t, 'GET', '/v1/policies/{kind}', await cbsa.call('GET', '/v1/policies/no.such-kind'))
    conforms(t, 'GET', '/v1/policies', await cbsa.call('GET', '/v1/policies?x=1'))
    conforms(t, 'GET', '/v1/policies/{kind}', await cbsa.call('GET', '/v1/policies/traveller.designation?x=1'))
  })

  await t.test("the partner gateway's routes refuse as documented", async (t) => {
    const partner = agent(t, {
      cert: readFileSync(join(KEYS_DIR, 'US', 'gateway.crt.pem'), 'utf8'),
      key: readFileSync(join(KEYS_DIR, 'US', 'gateway.key.pem'), 'utf8')
    })
    const refused: Array<[string, string, string, number]> = [
      ['/v1/exchange', 'application/jose', 'not-a-jws', 400],
      ['/v1/witness/add-checkpoint', 'text/plain', 'not a checkpoint', 400],
      // A checkpoint that reads as one, of the partner's ledger, that no key of the partner's signed.
      ['/v1/witness/add-checkpoint', 'text/plain', `old 0\n\nbtb-gateway/US/ledger\n1\n${'A'.repeat(43)}=\n\n\u2014 x AAAAAAA=\n`, 403],
      // One of a log this gateway does not witness, before any signature is looked at (C2SP tlog-witness).
      ['/v1/witness/add-checkpoint', 'text/plain', `old 0\n\nbtb-gateway/MX/ledger\n1\n${'A'.repeat(43)}=\n\n\u2014 x AAAAAAA=\n`, 404]
    ]
    for (const [path, type, body, status] of refused) {
      const res = await call(partner, `${ex.ca.url}${path}`, 'POST', { 'content-type': type }, body)
      t.equal(res.status, status)
      conforms(t, 'POST', path, { status: res.status, headers: res.headers, body: res.text })
    }
    const none = await call(partner, `${ex.ca.url}/v1/witness/checkpoint`, 'GET', {})
    t.equal(none.status, 404, 'no checkpoint of the partner witnessed yet')
    conforms(t, 'GET', '/v1/witness/checkpoint', { status: none.status, headers: none.headers, body: none.text })
  })

  await t.test("the privacy officer's ledger, served as stored", async (t) => {
    const officer = agent(t, credentials('CA', 'privacy-officers', 'po-1'))
    const as = async (method: string, path: string, token?: string, body?: unknown) => {
      const headers: Record<string, string> = {}
      if (token !== undefined) headers.authorization = `Bearer ${token}`
      if (body !== undefined) headers['content-type'] = 'application/json'
      const res = await call(officer, `${ex.ca.url}${path}`, method, headers, body === undefined ? undefined : JSON.stringify(body))
      return { status: res.status, headers: res.headers, body: res.text }
    }
    const tokenRes = await as('POST', '/v1/token')
    conforms(t, 'POST', '/v1/token', tokenRes)
    const token = JSON.parse(tokenRes.body).access_token as string

    // An entry whose keys come in another order than the schema lists them: it is served as stored all the same.
    const reordered = Object.fromEntries(
      Object.entries(auditEntry({ event: 'refused', direction: 'inbound', caller: 'gateway:US', code: 'JWS_INVALID' })).reverse()
    )
    await ex.ca.app.store.appendAudit(reordered as unknown as AuditEntry)
    const page = await as('GET', '/v1/audit/entries?limit=1000', token)
    conforms(t, 'GET', '/v1/audit/entries', page)
    const served = JSON.parse(page.body).entries as Array<{ seq: number; hash: string; prevHash: string; entry: unknown }>
    t.strictSame(served, await ex.ca.app.store.auditEntries(0, 1000), 'every entry as the ledger holds it, nothing dropped')
    t.ok(served.some((e) => (e.entry as { event: string }).event === 'refused') && served.some((e) => (e.entry as { event: string }).event === 'delivered'))
    for (const e of served) t.equal(chainHash(e.prevHash, JSON.stringify(e.entry)), e.hash, `entry ${e.seq}: its hash recomputes from what was served`)
    conforms(t, 'GET', '/v1/audit/entries', await as('GET', '/v1/audit/entries?limit=0', token))
    conforms(t, 'GET', '/v1/audit/entries/{seq}', await as('GET', `/v1/audit/entries/${served[0]!.seq}`, token))
    conforms(t, 'GET', '/v1/audit/entries/{seq}', await as('GET', '/v1/audit/entries/999999', token))
    conforms(t, 'GET', '/v1/audit/entries/{seq}', await as('GET', '/v1/audit/entries/1', undefined))

    const envelope = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    const doc0 = (envelope.payload as { document: { number: string; issuingCountry: string } }).document
    t.equal((await cbsa.submit(await cbsa.sign(envelope))).status, 202)
    const retraction = cbsa.envelope({
      ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }),
      payload: {},
      supersedes: { id: envelope.id, action: 'retract', reason: 'sent-in-error' }
    })
    t.equal((await cbsa.submit(await cbsa.sign(retraction))).status, 202)
    const report = await as('POST', '/v1/audit/disclosures', token, { documentNumber: doc0.number, issuingCountry: doc0.issuingCountry })
    conforms(t, 'POST', '/v1/audit/disclosures', report)
    const disclosed = JSON.parse(report.body).disclosures as Array<{ messageId: string; supersedes?: unknown; supersededBy?: unknown }>
    t.ok(disclosed.length >= 1, 'the report names the disclosure')
    t.ok(
      disclosed.some((d) => d.messageId === envelope.id && d.supersededBy !== undefined) && disclosed.some((d) => d.supersedes !== undefined),
      'and its retraction, as documented'
    )
    conforms(t, 'POST', '/v1/audit/disclosures', await as('POST', '/v1/audit/disclosures', token, { documentNumber: doc0.number }))

    const exported = await as('GET', '/v1/audit/export?format=ndjson', token)
    conforms(t, 'GET', '/v1/audit/export', exported)
    conforms(t, 'GET', '/v1/audit/export', await as('GET', '/v1/audit/export?format=csv', token))
    conforms(t, 'GET', '/v1/audit/verification', await as('GET', '/v1/audit/verification', token))

    const placed = await as('POST', '/v1/audit/legal-holds', token, { ref: 'OPENAPI-1', reason: 'documented', messageId: envelope.id })
    t.equal(placed.status, 201)
    conforms(t, 'POST', '/v1/audit/legal-holds', placed)
    conforms(
      t,
      'POST',
      '/v1/audit/legal-holds',
      await as('POST', '/v1/audit/legal-holds', token, { ref: 'OPENAPI-1', reason: 'again', messageId: envelope.id })
    )
    conforms(t, 'GET', '/v1/audit/legal-holds', await as('GET', '/v1/audit/legal-holds', token))
    conforms(t, 'DELETE', '/v1/audit/legal-holds/{ref}', await as('DELETE', '/v1/audit/legal-holds/OPENAPI-1', token))
    conforms(t, 'DELETE', '/v1/audit/legal-holds/{ref}', await as('DELETE', '/v1/audit/legal-holds/OPENAPI-1', token))
    const holds = JSON.parse((await as('GET', '/v1/audit/legal-holds', token)).body).holds
    t.type(holds[0].releasedAt, 'string', 'a released hold keeps its release time')
    conforms(t, 'GET', '/v1/audit/legal-holds', await as('GET', '/v1/audit/legal-holds', token))
  })
})
