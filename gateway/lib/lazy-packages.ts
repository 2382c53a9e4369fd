// Packages loaded when they are first needed, not when a module that might
// need them is imported. `require` keeps the first use synchronous, as Fastify
// calls its schema compilers and as a client is constructed.
//
// Ajv, its formats, its standalone code generator and Fastify's two schema
// compilers (137 modules) are needed only to compile. Where Node's compile
// cache is on and holds every validator and serializer already
// (lib/validator-cache.ts, lib/schema-compilers.ts), a process needs only the
// few runtime modules the kept code requires. undici (110 modules) is needed
// for a first request to a peer (delivery/tls-client.ts). Each is about
// 0.06–0.15 s of CPU in every process that builds an app
// (docs/architecture.md, "The test suite").
import { createRequire } from 'node:module'

const requireHere = createRequire(import.meta.url)

export const ajvModule = (): typeof import('ajv') => requireHere('ajv')
export const ajv2020Module = (): typeof import('ajv/dist/2020.js') => requireHere('ajv/dist/2020.js')
export const ajvFormatsModule = (): typeof import('ajv-formats') => requireHere('ajv-formats')
export const ajvStandaloneModule = (): typeof import('ajv/dist/standalone/index.js') => requireHere('ajv/dist/standalone/index.js')
export const fastifyAjvCompilerModule = (): typeof import('@fastify/ajv-compiler') => requireHere('@fastify/ajv-compiler')
export const fastifySerializerCompilerModule = (): typeof import('@fastify/fast-json-stringify-compiler') =>
  requireHere('@fastify/fast-json-stringify-compiler')
export const undiciModule = (): typeof import('undici') => requireHere('undici')
