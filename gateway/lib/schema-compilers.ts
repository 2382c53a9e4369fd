// The schema compilers of every app built in this process (Fastify's
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
//
// And once per machine where Node's compile cache is on: the code Ajv and
// fast-json-stringify generate for a route is kept as lib/code-cache.ts keeps
// generated code, and the next process loads it instead of generating it
// again (about 0.14 s of a gateway's 0.66 s start).
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { AjvCompiler } from '@fastify/ajv-compiler'
import type { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import { fastifyAjvCompilerModule, fastifySerializerCompilerModule } from './lazy-packages.ts'
import { codeCacheDir, codeDigest, evaluateModule, keepModule, keptCode, packageVersions } from './code-cache.ts'

type ValidatorFactory = ReturnType<typeof AjvCompiler>
type ValidatorCompiler = ReturnType<ValidatorFactory>
type Validator = ReturnType<ValidatorCompiler>
type SerializerFactory = ReturnType<typeof SerializerSelector>
type SerializerCompiler = ReturnType<SerializerFactory>
type Serializer = ReturnType<SerializerCompiler>

/** Resolves the generated code's `require`s as the package that generated it would. */
const requireFrom = (pkg: string): NodeJS.Require => createRequire(createRequire(import.meta.url).resolve(pkg))
const requireForValidators = requireFrom('@fastify/ajv-compiler')
const requireForSerializers = requireFrom('@fastify/fast-json-stringify-compiler')

/** What generated code depends on besides its schema and options: the generators' versions. */
const GENERATORS = [
  ...packageVersions(requireForValidators, ['@fastify/ajv-compiler', 'ajv', 'ajv-formats']),
  ...packageVersions(requireForSerializers, ['@fastify/fast-json-stringify-compiler', 'fast-json-stringify'])
]

/** Kept modules loaded in this process, by file: each read and evaluated once, however many apps use it. */
const loaded = new Map<string, unknown>()

/** The function kept code exports, or undefined when it exports none or cannot be evaluated (it is damaged). */
function keptFunction(code: string, require: NodeJS.Require): unknown {
  try {
    const exports = evaluateModule(code, require)
    return typeof exports === 'function' ? exports : undefined
  } catch {
    return undefined
  }
}

/** The function the kept module `file` exports, or undefined when there is none yet (or it is damaged). */
function loadKept(file: string, require: NodeJS.Require): unknown {
  if (loaded.has(file)) return loaded.get(file)
  const code = keptCode(file)
  const exports = code === undefined ? undefined : keptFunction(code, require)
  if (exports !== undefined) loaded.set(file, exports)
  return exports
}

/** What `make` returns, made on the first call. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined
  return () => (made ??= { value: make() }).value
}

/** Fastify's own factories, made when first needed (the validator factory pools one Ajv per set of shared schemas and options). */
const validatorsCompiled = once(() => fastifyAjvCompilerModule().AjvCompiler())
const serializersCompiled = once(() => fastifySerializerCompilerModule().SerializerSelector())

export const buildValidator: ValidatorFactory = (externalSchemas, options) => {
  const dir = codeCacheDir('route-validators')
  // Ajv plugins and onCreate hooks are functions, which a digest of the options cannot tell apart: such apps compile in memory.
  const opaque = (options?.plugins?.length ?? 0) > 0 || typeof (options as { onCreate?: unknown } | undefined)?.onCreate === 'function'
  if (dir === undefined || opaque) return validatorsCompiled()(externalSchemas, options)
  // The shared schemas are digested once per factory, not again for each route.
  const context = codeDigest([GENERATORS, externalSchemas ?? null, options ?? null])
  // Made on the first route not kept yet: Ajv with its generated code kept.
  let generate: ValidatorCompiler | undefined
  const fileFor = (route: { httpPart?: string; schema: unknown }): string => join(dir, `${codeDigest([context, route.httpPart ?? null, route.schema])}.cjs`)
  return (route) => {
    const file = fileFor(route)
    const kept = loadKept(file, requireForValidators)
    if (typeof kept === 'function') return kept as Validator
    if (generate === undefined) {
      // Ajv's standalone mode needs the generated code's source kept; this Ajv is used for nothing else.
      const withSource = { ...options, customOptions: { ...options?.customOptions, code: { source: true } } } as Parameters<ValidatorFactory>[1]
      generate = fastifyAjvCompilerModule().StandaloneValidator({ readMode: false, storeFunction: (generated, code) => keepModule(fileFor(generated), code) })(
        externalSchemas,
        withSource
      )
    }
    // The next app of this process gets this same function, as it would from Ajv's own cache.
    const validator = generate(route)
    loaded.set(file, validator)
    return validator
  }
}

/** Serializers by route schema object, then by the app's shared schemas and options. */
const serializers = new WeakMap<object, Map<string, Serializer>>()

export const buildSerializer: SerializerFactory = (externalSchemas, options) => {
  const key = JSON.stringify([externalSchemas ?? null, options ?? null])
  const compile = keptOrCompiled(externalSchemas, options, key)
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

/**
 * A serializer compiler that loads kept code where it can, and keeps what it
 * generates. Kept code is evaluated when its route first answers, not when
 * the route is added: the code of a response with an `anyOf` restores
 * fast-json-stringify's validator, and that loads Ajv whole
 * (lib/lazy-packages.ts), in every process, for routes most never call.
 */
function keptOrCompiled(externalSchemas: Parameters<SerializerFactory>[0], options: Parameters<SerializerFactory>[1], key: string): SerializerCompiler {
  const dir = codeCacheDir('route-serializers')
  if (dir === undefined) return serializersCompiled()(externalSchemas, options)
  const context = JSON.stringify([GENERATORS, key])
  // fast-json-stringify's standalone mode gives the serializer as a module's code.
  let generate: SerializerCompiler | undefined
  const generated = (route: Parameters<SerializerCompiler>[0], file: string): Serializer => {
    generate ??= serializersCompiled()(externalSchemas, { ...options, mode: 'standalone' })
    const code = generate(route) as unknown as string
    keepModule(file, code)
    // The code just kept is the serializer: evaluated here, not read back.
    const serializer = evaluateModule(code, requireForSerializers) as Serializer
    loaded.set(file, serializer)
    return serializer
  }
  return (route) => {
    const file = join(dir, `${codeDigest([context, route.schema])}.cjs`)
    if (loaded.has(file)) return loaded.get(file) as Serializer
    const code = keptCode(file)
    if (code === undefined) return generated(route, file)
    // Damaged code is generated again, at that first answer.
    const serializer = onFirstUse(() => (keptFunction(code, requireForSerializers) as Serializer | undefined) ?? generated(route, file))
    loaded.set(file, serializer)
    return serializer
  }
}

/** A serializer made by `make` when it is first called. */
function onFirstUse(make: () => Serializer): Serializer {
  const serializer = once(make)
  return ((data: unknown) => serializer()(data)) as Serializer
}
