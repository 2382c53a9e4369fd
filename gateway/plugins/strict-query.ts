// Query strings are held to their route's schema before Ajv sees them.
// Fastify's Ajv coerces query values to the declared types, and its coercion
// is lenient: `Infinity`, `1e309`, `0x10`, ` 5` and `1.0` all become numbers,
// a parameter given twice becomes an array, and (with its default
// removeAdditional) an unknown parameter is dropped without a word. A refused
// query must say so (docs/integrators.md, "Error codes": REQUEST_INVALID), and what reaches
// a handler, or the ledger's SQL, must be what the schema promises.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import { RequestInvalidError } from '../errors.ts'
import { echo } from '../lib/echo.ts'

interface PropertySchema {
  readonly type?: string | readonly string[]
}

/** The text forms accepted for each JSON type: one canonical spelling, decimal, bounded. */
const TEXT_FORMS: Readonly<Record<string, RegExp>> = {
  integer: /^-?(?:0|[1-9][0-9]{0,14})$/,
  number: /^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?$/,
  boolean: /^(?:true|false)$/
}

type QueryValue = string | string[] | undefined

/**
 * Checks each parameter's text and reads it as its schema's type: Ajv, which
 * coerces nothing (app.ts), then validates the value read here.
 */
function checker(schema: { properties?: Record<string, PropertySchema> } | undefined): (query: Record<string, unknown>) => void {
  const properties = schema?.properties ?? {}
  return function checkQuery(query) {
    for (const [name, value] of Object.entries(query) as Array<[string, QueryValue]>) {
      const property = Object.hasOwn(properties, name) ? properties[name] : undefined
      if (property === undefined) throw new RequestInvalidError(`unknown query parameter ${echo(name)}`)
      const types = property.type === undefined ? [] : [property.type].flat()
      if (Array.isArray(value) && !types.includes('array')) throw new RequestInvalidError(`query parameter ${echo(name)} given more than once`)
      const text = value as string
      const type = types.find((t) => TEXT_FORMS[t] !== undefined)
      if (type === undefined) continue
      if (!TEXT_FORMS[type]!.test(text)) {
        throw new RequestInvalidError(`query parameter ${echo(name)} must be written as a plain decimal ${types.join(' or ')}, not ${echo(text)}`)
      }
      query[name] = type === 'boolean' ? text === 'true' : Number(text)
    }
  }
}

/**
 * Every route of the gateway: its query string matches its schema exactly, and
 * one without a schema takes none. The API browser's static pages under /docs
 * are @fastify/swagger-ui's, and read no input of ours.
 */
export const strictQuery = fp(
  async function strictQuery(app: FastifyInstance) {
    app.addHook('onRoute', (route: RouteOptions) => {
      if (route.url === '/docs' || route.url.startsWith('/docs/')) return
      const check = checker(route.schema?.querystring as { properties?: Record<string, PropertySchema> } | undefined)
      const own = async (request: FastifyRequest): Promise<void> => check(request.query as Record<string, unknown>)
      // preValidation: after the caller is authenticated (onRequest), before Ajv coerces.
      route.preValidation = [own, ...[route.preValidation ?? []].flat()] as RouteOptions['preValidation']
    })
  },
  { name: 'strict-query', fastify: '5.x' }
)
