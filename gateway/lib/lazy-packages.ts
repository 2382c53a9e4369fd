// Packages loaded when they are first needed, not when a module that might
// need them is imported. `require` keeps the first use synchronous, as Fastify
// calls its schema compilers and as a client is constructed.
//
// Ajv, its formats, its standalone code generator and Fastify's two schema
// compilers (137 modules) are needed only to compile. Where Node's compile
// cache is on and holds every validator and serializer already
// (lib/validator-cache.ts, lib/schema-compilers.ts), a process needs only the
// few runtime modules the kept code requires. undici is needed for a first
// request to a peer (delivery/tls-client.ts). Each is about 0.06–0.15 s of
// CPU in every process that builds an app (docs/architecture.md, "The test
// suite").
import { createRequire } from 'node:module'
import type { Dispatcher } from 'undici'

const requireHere = createRequire(import.meta.url)

export const ajvModule = (): typeof import('ajv') => requireHere('ajv')
export const ajv2020Module = (): typeof import('ajv/dist/2020.js') => requireHere('ajv/dist/2020.js')
export const ajvFormatsModule = (): typeof import('ajv-formats') => requireHere('ajv-formats')
export const ajvStandaloneModule = (): typeof import('ajv/dist/standalone/index.js') => requireHere('ajv/dist/standalone/index.js')
export const fastifyAjvCompilerModule = (): typeof import('@fastify/ajv-compiler') => requireHere('@fastify/ajv-compiler')
export const fastifySerializerCompilerModule = (): typeof import('@fastify/fast-json-stringify-compiler') =>
  requireHere('@fastify/fast-json-stringify-compiler')

/** What a client takes from undici: its Agent, and `request` as undici's index exports it. */
export interface UndiciClient {
  readonly Agent: typeof import('undici').Agent
  readonly request: typeof import('undici').request
}

type ApiRequest = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>
type RequestOptions = Partial<Dispatcher.RequestOptions> & { readonly dispatcher?: Dispatcher }

let undiciClient: UndiciClient | undefined

/**
 * undici's Agent and `request`, each from its own module rather than from
 * undici's index. The index loads all of undici (fetch, WebSocket, caches,
 * mocks), and its cookies module reads `globalThis.Headers`, which loads the
 * copy of undici bundled in Node as well: 63 ms of CPU and 30 MB resident in
 * a fresh process, against 26 ms and 16 MB for these two (docs/architecture.md,
 * "The test suite"). `request` here does what the index's does with a URL
 * (its origin, and its path with the query), but needs a dispatcher: nothing
 * here sets a global one.
 */
export function undiciModule(): UndiciClient {
  if (undiciClient === undefined) {
    const Agent = requireHere('undici/lib/dispatcher/agent.js') as UndiciClient['Agent']
    const apiRequest = requireHere('undici/lib/api/api-request.js') as ApiRequest
    const request = (url: string | URL, options: RequestOptions = {}): Promise<Dispatcher.ResponseData> => {
      const { dispatcher, ...rest } = options
      if (dispatcher === undefined) throw new TypeError('undici request: a dispatcher is required')
      const { origin, pathname, search } = new URL(url)
      return apiRequest.call(dispatcher, { ...rest, origin, path: `${pathname}${search}`, method: rest.method ?? (rest.body == null ? 'GET' : 'PUT') })
    }
    undiciClient = { Agent, request: request as UndiciClient['request'] }
  }
  return undiciClient
}
