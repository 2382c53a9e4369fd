// The privacy officer's console (docs/privacy-officers.md, "The console"): a
// web page over the privacy officer's API, served on the same mTLS listener.
// Only a privacy officer's certificate gets the page or its scripts; the page
// then asks POST /v1/token for its own certificate-bound token over the same
// connection and keeps it in memory, so it reads nothing the API would not
// give that officer. The files are a fixed list read once at start: no path
// from a request ever reaches the file system.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { NotFoundError } from '../errors.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { SECURITY, problemResponses } from '../plugins/openapi.ts'

const HERE = join(import.meta.dirname, '..', 'console')
/** Chart.js's self-contained build (no imports), served as a classic script. */
const CHART_JS = join(dirname(fileURLToPath(import.meta.resolve('chart.js'))), 'chart.umd.min.js')

const JS = 'text/javascript; charset=utf-8'
/** The console's own modules, served from gateway/console/ as they are. */
const MODULES = [
  'console.js',
  'api.js',
  'dom.js',
  'merkle.js',
  'notes.js',
  'overview.js',
  'search.js',
  'message.js',
  'traveller.js',
  'disclosures.mjs',
  'policies.js',
  'holds.js'
] as const
/** Every file the console is made of, by the name the page asks for. */
const ASSET_FILES: Readonly<Record<string, { readonly path: string; readonly type: string }>> = {
  'console.css': { path: join(HERE, 'console.css'), type: 'text/css; charset=utf-8' },
  ...Object.fromEntries(MODULES.map((name) => [name, { path: join(HERE, name), type: JS }])),
  'icon.svg': { path: join(HERE, 'icon.svg'), type: 'image/svg+xml' },
  'chart.umd.min.js': { path: CHART_JS, type: JS }
}

/**
 * Strict headers for every answer under /console, refusals included: scripts
 * and styles from this origin only (no inline code, no eval), requests to
 * this origin only, never framed, and nothing kept in a cache (the page
 * itself holds no data, but what it shows must not outlive the session).
 */
export const CONSOLE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()'
} as const

const OFFICER_REFUSALS = ['UNAUTHENTICATED', 'FORBIDDEN'] as const

const SCHEMAS = {
  page: {
    summary: "The privacy officer's console",
    description:
      "For privacy officers' certificates only. A web page over this API: the ledger at a glance, search, one message, a traveller's report, " +
      'the published policies, exports and legal holds (docs/privacy-officers.md, "The console"). It gets its own token from `POST /v1/token`.',
    tags: ['audit'],
    security: SECURITY.certificate,
    response: {
      200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } },
      ...problemResponses(...OFFICER_REFUSALS)
    }
  },
  asset: {
    summary: "A script or style sheet of the privacy officer's console",
    description: "For privacy officers' certificates only. A fixed list of files; any other name is `NOT_FOUND`.",
    tags: ['audit'],
    security: SECURITY.certificate,
    params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z0-9.]{1,40}$' } } },
    response: {
      200: { description: 'The file.', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } },
      ...problemResponses(...OFFICER_REFUSALS, 'REQUEST_INVALID', 'NOT_FOUND')
    }
  }
}

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  const page = readFileSync(join(HERE, 'index.html'))
  const assets = new Map(Object.entries(ASSET_FILES).map(([name, { path, type }]) => [name, { body: readFileSync(path), type }]))

  // Encapsulated: these hooks apply to the console's routes only.
  app.addHook('onRequest', requireRole('privacy-officer'))
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.headers(CONSOLE_HEADERS)
    return payload
  })

  app.get('/console', { schema: SCHEMAS.page }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))

  app.get<{ Params: { name: string } }>('/console/assets/:name', { schema: SCHEMAS.asset }, async (request, reply) => {
    const asset = assets.get(request.params.name)
    if (asset === undefined) throw new NotFoundError(`console file ${request.params.name}`)
    return reply.type(asset.type).send(asset.body)
  })
}
