// Messages are read only as what is signed and verified: compact JWS as text.
// JSON is for the privacy officer's queries (parsed safely); every other
// media type is refused with UNSUPPORTED_MEDIA_TYPE (the witness's routes
// add plain text for themselves alone: routes/witness.ts).
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { BodyInvalidError, UnsupportedMediaTypeError } from '../errors.ts'
import { IJsonError, parseIJson } from '../lib/i-json.ts'

/** The media type of a compact JWS (RFC 7515 §9.2.1): how messages are sent. */
export const JOSE = 'application/jose'

/**
 * A route's hooks for a body of `mediaType` only, read as text. The onRequest
 * hook (after the caller's) refuses any other label before the body is read:
 * a JWS labelled JSON is not parsed as JSON, to fail there and be quoted
 * back, but refused for what it is labelled. The preValidation hook refuses a
 * request with no such body at all (no body, or no label): the route's body
 * is text, and its handler takes it as such (`app.post<{ Body: string }>`).
 */
export function takesOnly(mediaType: string, route: string) {
  const refusal = (): Error => new UnsupportedMediaTypeError(`${route} takes ${mediaType}`)
  // Callbacks, not async functions: every submission passes both, and goes on in the same tick.
  return {
    onRequest: function refuseOtherMediaTypes(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
      // Fastify reads the body after every onRequest hook: nothing of it is read yet.
      const { 'content-type': label, 'content-length': length, 'transfer-encoding': chunked } = request.headers
      // A body with no label at all is refused here too: Fastify's own refusal
      // of it says only "Unsupported Media Type", not what to send.
      const unlabelled = label === undefined && (chunked !== undefined || (length ?? '0') !== '0')
      done(unlabelled || (label !== undefined && label.split(';', 1)[0]!.trim().toLowerCase() !== mediaType) ? refusal() : undefined)
    },
    preValidation: function requireTextBody(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
      done(typeof request.body !== 'string' ? refusal() : undefined)
    }
  }
}

export const bodyParsers = fp(
  async function bodyParsers(app: FastifyInstance) {
    app.removeAllContentTypeParsers()
    app.addContentTypeParser(JOSE, { parseAs: 'string' }, function parseJose(_request, body, done) {
      // Whitespace around a compact JWS is no part of it (a file saved with a
      // newline, sent with curl --data-binary): what is verified, digested
      // for a repeat and named by a receipt is the JWS alone
      // (docs/integrators.md, "Step by step").
      const text = (body as string).trim()
      if (text.length === 0) return done(new BodyInvalidError('the body is empty'), undefined)
      done(null, text)
    })
    app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJson(_request, body, done) {
      let value: unknown
      try {
        // I-JSON, as a signed payload is read (lib/i-json.ts): a member given
        // twice is refused, not "the last one wins", so that an officer's
        // request is for what it says (a disclosure report on one document,
        // a hold on one traveller), and no reader takes it another way.
        value = parseIJson(body as string)
      } catch (err) {
        return done(new BodyInvalidError(bodyDetail(err)), undefined)
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
      // No prototype: on a plain object `form.__proto__ = 'x'` is dropped
      // without a trace, and the parameter would escape the token route's
      // refusal of anything but grant_type (docs/integrators.md, step 1).
      const form: Record<string, string> = Object.create(null)
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

/**
 * Why a JSON body could not be read, quoting none of it: not a value, and
 * not a member's name either (an officer's body may hold a traveller's name
 * where a member's name should be).
 */
function bodyDetail(err: unknown): string {
  if (!(err instanceof IJsonError)) return 'not JSON'
  if (err.code === 'DUPLICATE_MEMBER') return `a member name given twice in one object, at position ${err.offset} (RFC 7493 §2.3)`
  if (err.code === 'PROTOTYPE_KEY') return `a member name that is not allowed, at position ${err.offset} (prototype pollution)`
  return err.message
}
