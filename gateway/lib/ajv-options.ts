// The one Ajv configuration of what the gateway is sent: the app's validator
// compiler (app.ts), the message validator (pipeline/validate-message.ts) and
// the trust file's schema (trust/trust-schema.ts) are all built from it. The
// environment's, below, is the only other.
//
// Nothing a caller sends is dropped or changed without a word: an unknown
// member is refused (no removeAdditional), no value is coerced to the type its
// schema names (`1` for a document number, `["x"]` for a string), no default is
// filled in, and a schema with a keyword Ajv does not know is an error at
// start-up, not a check silently skipped. Query strings, which are text by
// nature, are read by plugins/strict-query.ts before Ajv sees them.
export const AJV_OPTIONS = {
  strict: true,
  // Except this one rule: `oneOf: [{ required: [a, b] }, { required: [c] }]`,
  // "give these members or those", names members defined beside the oneOf,
  // not inside it (the audit disclosure and legal-hold bodies, routes/audit.ts).
  strictRequired: false,
  // One error is enough to refuse, and all of them would let a crafted body
  // make Ajv work for every member (Fastify's own default, for that reason).
  allErrors: false,
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false
} as const

/**
 * The environment's (config.ts), the one exception, as the environment is
 * text by nature: each variable is turned into the type its setting names
 * ("8441" a port, "false" a boolean), a setting not given takes its default,
 * and the rest of the environment is dropped, not refused. Every problem is
 * named at once, so that an operator fixes them in one go.
 */
export const ENVIRONMENT_AJV_OPTIONS = {
  strict: true,
  allErrors: true,
  coerceTypes: true,
  useDefaults: true,
  removeAdditional: true
} as const
