// The schema compilers every app built in this process shares (Fastify's
// `schemaController.compilersFactory`).
//
// By default each Fastify instance makes its own Ajv, compiles Ajv's
// meta-schema into it, and compiles every route's validator and response
// serializer again. A gateway process builds one app, so that is paid once;
// but the tests build an app more than a hundred times in a few dozen
// processes, and the second build of the same routes cost 0.4–0.8 s of CPU,
// most of it compiling what the first had compiled (docs/architecture.md,
// "The test suite"). Shared here, a route's schema object is compiled once per
// process: Ajv keeps what it compiled by schema object, and the serializers
// are kept the same way below. Both are keyed by the app's shared schemas
// and options as well, so two apps configured differently never share.
import { AjvCompiler } from '@fastify/ajv-compiler'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'

type SerializerFactory = ReturnType<typeof SerializerSelector>
type SerializerCompiler = ReturnType<SerializerFactory>
type Serializer = ReturnType<SerializerCompiler>

/** Fastify's own validator factory: it pools one Ajv per set of shared schemas and options. */
export const buildValidator = AjvCompiler()

const compileSerializer = SerializerSelector()
/** Serializers by route schema object, then by the app's shared schemas and options. */
const serializers = new WeakMap<object, Map<string, Serializer>>()

export const buildSerializer: SerializerFactory = (externalSchemas, options) => {
  const compile = compileSerializer(externalSchemas, options)
  const key = JSON.stringify([externalSchemas ?? null, options ?? null])
  return (route) => {
    const schema = route.schema
    if (typeof schema !== 'object' || schema === null) return compile(route)
    let byKey = serializers.get(schema)
    if (byKey === undefined) serializers.set(schema, (byKey = new Map()))
    let serializer = byKey.get(key)
    if (serializer === undefined) byKey.set(key, (serializer = compile(route)))
    return serializer
  }
}
