// What an oversight body needs to check this gateway's ledger offline
// (docs/privacy-officers.md, "Checking a disclosure report offline"): the
// ledger's origin and every key its checkpoints may be signed with, and the
// partner gateway's name as its witness and every key its cosignatures may be
// signed with, as this gateway trusts them. Retired keys are in it, each with
// the time it was retired: a checkpoint signed or cosigned before a rotation
// is still proven by them, though the JWKS (routes/jwks.ts) no longer lists a
// key that verifies no token or message. Revoked keys are not: one may have
// leaked. Public keys only, so no certificate or token is needed.
import type { FastifyInstance } from 'fastify'
import type { VerificationKey } from '../jws/signing-key.ts'
import { ledgerOrigin, witnessName } from '../audit/checkpoint.ts'
import { PUBLIC_JWK_SCHEMA, publicJwk } from './jwks.ts'

const LEDGER_JWK_SCHEMA = {
  ...PUBLIC_JWK_SCHEMA,
  properties: {
    ...PUBLIC_JWK_SCHEMA.properties,
    retiredAt: {
      type: 'integer',
      minimum: 0,
      description: 'When the key was retired, in POSIX seconds: a cosignature it dates later is refused. Absent for a key in use.'
    }
  }
} as const

const LEDGER_KEYS_SCHEMA = {
  type: 'object',
  required: ['origin', 'keys', 'witness'],
  properties: {
    origin: { type: 'string', description: "The ledger's origin, the first line of its checkpoints: btb-gateway/<country>/ledger." },
    keys: { type: 'array', items: LEDGER_JWK_SCHEMA, description: "The keys the ledger's checkpoints may be signed with, current and retired." },
    witness: {
      type: 'object',
      required: ['name', 'keys'],
      properties: {
        name: { type: 'string', description: "The partner gateway's name as the ledger's witness: btb-gateway/<country>/witness." },
        keys: { type: 'array', items: LEDGER_JWK_SCHEMA, description: "The keys the witness's cosignatures may be signed with, current and retired." }
      }
    }
  }
} as const

function ledgerJwk(key: VerificationKey): Record<string, unknown> {
  return key.retiredAt === undefined ? publicJwk(key) : { ...publicJwk(key), retiredAt: key.retiredAt }
}

export async function ledgerKeysRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/.well-known/ledger-keys.json',
    {
      schema: {
        summary: "The keys to check this gateway's ledger with, offline",
        description:
          "The ledger's origin and the keys its checkpoints may be signed with, and the partner's witness name and the keys its cosignatures may be signed with, as this gateway trusts them: current and retired (each with retiredAt), never revoked. What tools/verify-disclosure.mjs takes (--ledger-keys).",
        tags: ['keys'],
        response: { 200: LEDGER_KEYS_SCHEMA }
      }
    },
    async (_request, reply) => {
      const trust = app.trust
      return reply.headers({ 'cache-control': 'public, max-age=300' }).send({
        origin: ledgerOrigin(trust.country),
        keys: [...trust.publishedLedgerKeys.values()].map(ledgerJwk),
        witness: { name: witnessName(trust.partner.country), keys: [...trust.partner.ledgerKeys.values()].map(ledgerJwk) }
      })
    }
  )
}
