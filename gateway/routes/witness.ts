// The partner's ledger, witnessed (docs/architecture.md, "The verifiable
// ledger"): C2SP tlog-witness's add-checkpoint, for the partner gateway's
// certificate only, and the latest checkpoint cosigned, which the partner's
// audit:verify reads to check its own ledger against what this side holds.
import type { FastifyInstance } from 'fastify'
import { NotFoundError } from '../errors.ts'
import { requireRole } from '../pipeline/authenticate-client.ts'
import { auditEntry } from '../pipeline/audit-entry.ts'
import { ledgerKeys, ledgerOrigin, witnessName } from '../audit/checkpoint.ts'
import { checkpointConflictEntry } from '../audit/checkpoint-conflict.ts'
import { gatewayOwner } from '../trust/trust-store.ts'
import { ADD_CHECKPOINT_PATH, TLOG_SIZE_TYPE, WITNESSED_CHECKPOINT_PATH } from '../audit/witness-client.ts'
import { Witness, readAddCheckpoint } from '../audit/witness.ts'
import { BODY_REFUSALS, problemResponses, SECURITY } from '../plugins/openapi.ts'
import { takesOnly } from '../plugins/body-parsers.ts'

const TEXT = 'text/plain'

const ADD_CHECKPOINT_SCHEMA = {
  summary: "Witness a checkpoint of the partner's ledger",
  description:
    'For the partner gateway only (its pinned certificate; no token). C2SP tlog-witness `add-checkpoint`: the body is `old <size>`, ' +
    'the consistency proof (one base64 hash per line) from that size, a blank line, then the checkpoint, a C2SP signed note whose ' +
    "text is the partner ledger's origin, tree size and root (a checkpoint of any other origin is `404 CHECKPOINT_ORIGIN_UNKNOWN`, " +
    'before its signature is looked at; a root not in canonical base64 is unreadable, `400`). It is cosigned only if the proof shows the new tree extends the last ' +
    "one cosigned. In tlog-witness's order: an old size other than the one last cosigned is answered `409` with that size " +
    '(`text/x.tlog.size`), so that the sender can prove from it (a shorter tree sent from its own size is, and is alerted on); a proof that fails, ' +
    'or is not empty from size 0 or to the same size, is refused with `422 CHECKPOINT_PROOF_INVALID`; another root at the same size ' +
    'with `409 CHECKPOINT_CONFLICT`; each conflict alerted on, the first with each checkpoint cosigned audited (the others counted).',
  tags: ['gateway-to-gateway'],
  security: SECURITY.certificate,
  body: { content: { [TEXT]: { schema: { type: 'string' } } } },
  response: addCheckpointResponses()
}

function addCheckpointResponses(): Record<string, { description: string; content: Record<string, unknown> }> {
  const responses: Record<string, { description: string; content: Record<string, unknown> }> = {
    200: { description: "The cosignature: one signed-note signature line by this gateway's witness key.", content: { [TEXT]: { schema: { type: 'string' } } } },
    ...problemResponses(
      'UNAUTHENTICATED',
      'FORBIDDEN',
      ...BODY_REFUSALS,
      'CHECKPOINT_INVALID',
      'CHECKPOINT_UNSIGNED',
      'CHECKPOINT_ORIGIN_UNKNOWN',
      'CHECKPOINT_CONFLICT',
      'CHECKPOINT_PROOF_INVALID'
    )
  }
  // A 409 is also the protocol's "prove from this size" (tlog-witness), in its own media type.
  responses['409']!.content[TLOG_SIZE_TYPE] = {
    schema: { type: 'string', description: 'The size of the last checkpoint cosigned, in decimal, and a newline.' }
  }
  return responses
}

const WITNESSED_SCHEMA = {
  summary: "The latest checkpoint of the partner's ledger this gateway cosigned",
  description:
    "For the partner gateway only. The checkpoint as the partner signed it, with this gateway's cosignature line: what the " +
    "partner's `audit:verify` checks its own ledger against.",
  tags: ['gateway-to-gateway'],
  security: SECURITY.certificate,
  response: {
    200: { description: 'A signed note.', content: { [TEXT]: { schema: { type: 'string' } } } },
    ...problemResponses('UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND')
  }
}

export async function witnessRoutes(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', requireRole('partner'))
  // Signed notes, read exactly as sent. Here only (this plugin is encapsulated):
  // anywhere else plain text stays an unsupported media type.
  app.addContentTypeParser(TEXT, { parseAs: 'string' }, (_request, body, done) => done(null, body))
  const partner = (): typeof app.trust.partner => app.trust.partner
  const log = app.log.child({ component: 'witness' })

  const witness = new Witness({
    store: app.store,
    origin: ledgerOrigin(partner().country),
    // Its current keys only: a key it retired signs no new checkpoint (trust-store.ts).
    logKeys: () => ledgerKeys(partner().country, partner().keys),
    key: () => ({ name: witnessName(app.trust.country), alg: app.trust.signingKey.alg, key: app.trust.signingKey.key }),
    onConflict: async (conflict) => {
      // The ledger, never purged, records the first conflict with each
      // checkpoint cosigned, not every request: a partner sending conflicting
      // checkpoints again and again (the same, or others signed with its own
      // key) would grow it by one entry a request. The alarm stays raised: each
      // further one is refused, logged and counted
      // (btb_checkpoint_conflicts_repeated_total; docs/operators.md).
      let recorded: boolean
      try {
        recorded = await app.store.recordWitnessConflict(
          conflict.origin,
          conflict.witnessedSize,
          checkpointConflictEntry(
            gatewayOwner(partner().country),
            `${conflict.why}: checkpoint of ${conflict.size} entries, root ${conflict.root}; last cosigned ${conflict.witnessedSize}, root ${conflict.witnessedRoot}`
          )
        )
      } catch (err) {
        log.error({ alert: 'CHECKPOINT_CONFLICT', ...conflict, err }, "the partner's ledger contradicts a checkpoint this gateway cosigned")
        throw err
      }
      if (recorded) log.error({ alert: 'CHECKPOINT_CONFLICT', ...conflict }, "the partner's ledger contradicts a checkpoint this gateway cosigned")
      else {
        app.metrics.checkpointConflictRepeated()
        log.warn(
          { repeated: 'CHECKPOINT_CONFLICT', ...conflict },
          'the partner sent another checkpoint contradicting one cosigned: its conflict is recorded already'
        )
      }
    }
  })

  app.post<{ Body: string }>(
    ADD_CHECKPOINT_PATH,
    { schema: ADD_CHECKPOINT_SCHEMA, ...takesOnly(TEXT, `POST ${ADD_CHECKPOINT_PATH}`) },
    async (request, reply) => {
      // The ledger records each cosignature once, in the write that keeps it:
      // a retry answered with an earlier one cosigned nothing.
      const answer = await witness.addCheckpoint(readAddCheckpoint(request.body), auditEntry({ event: 'checkpoint-countersigned', caller: request.caller!.id }))
      if ('witnessedSize' in answer) return reply.code(409).type(TLOG_SIZE_TYPE).send(`${answer.witnessedSize}\n`)
      return reply.type(TEXT).send(answer.cosigned)
    }
  )

  app.get(WITNESSED_CHECKPOINT_PATH, { schema: WITNESSED_SCHEMA }, async (_request, reply) => {
    const latest = await app.store.latestWitnessedCheckpoint(ledgerOrigin(partner().country))
    if (latest === undefined) throw new NotFoundError('no checkpoint of your ledger has been cosigned yet')
    return reply.type(TEXT).send(latest.note)
  })
}
