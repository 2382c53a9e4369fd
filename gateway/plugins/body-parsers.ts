// Messages are read only as what is signed and verified: compact JWS as text.
// JSON is for the privacy officer's queries (parsed safely); every other
// media type is refused with UNSUPPORTED_MEDIA_TYPE (the witness's routes
// add plain text for themselves alone: routes/witness.ts).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import secureJson from 'secure-json-parse'
import { BodyInvalidError, UnsupportedMediaTypeError } from '../errors.ts'

export const bodyParsers = fp(
  async function bodyParsers(app: FastifyInstance) {
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('application/jose', { parseAs: 'string' }, function parseJose(_request, body, done) {
      const text = (body as string).trim()
      if (text.length === 0) return done(new BodyInvalidError('the body is empty'), undefined)
      done(null, text)
    })
    app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJson(_request, body, done) {
      let value: unknown
      try {
        value = secureJson.parse(body as string, undefined, { protoAction: 'error', constructorAction: 'error' })
      } catch (err) {
        return done(new BodyInvalidError((err as Error).message), undefined)
      }
      // No route takes a JSON string. Those that take a JWS tell it by its
      // being a string: one sent as `"eyJ…"` in JSON would pass for one, read
      // through JSON's escapes, and not be the bytes its receipt's digest names.
      if (typeof value === 'string')
        return done(new UnsupportedMediaTypeError('a JSON string: a JWS is sent as application/jose, and JSON bodies are objects'), undefined)
      done(null, value)
    })
    // POST /v1/token takes an optional RFC 6749 form (grant_type=client_credentials).
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, function parseForm(_request, body, done) {
      const form: Record<string, string> = {}
      for (const [name, value] of new URLSearchParams(body as string)) {
        // RFC 6749 §3.2: a parameter sent twice is an error, not "the last one wins".
        if (Object.hasOwn(form, name)) return done(new BodyInvalidError(`form parameter sent more than once`), undefined)
        form[name] = value
      }
      done(null, form)
    })
  },
  { name: 'body-parsers', fastify: '5.x' }
)
