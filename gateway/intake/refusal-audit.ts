// Refusals from an identified caller are written to the audit ledger
// (docs/integrators.md, "Error codes"), like acceptances: the onError hook of a route that takes
// messages in, in one direction or the other.
import type { FastifyRequest, onErrorAsyncHookHandler } from 'fastify'
import { auditEntry } from '../pipeline/audit-entry.ts'
import type { PolicyBook } from '../pipeline/apply-policy.ts'
import type { Caller } from '../pipeline/authenticate-client.ts'
import { problemFor } from '../plugins/problem-details.ts'
import type { Direction, GatewayStore } from '../store/records.ts'

export interface RefusalAuditOptions {
  readonly direction: Direction
  /** Only refusals of callers in this role are audited; those of any identified caller when absent. */
  readonly role?: Caller['role']
  /** Only refusals of requests with this method are audited (a submission, not a status read); any when absent. */
  readonly method?: string
  readonly store: Pick<GatewayStore, 'appendAudit'>
  readonly policyBook: Pick<PolicyBook, 'digest'>
}

export function refusalAuditHook(opts: RefusalAuditOptions): onErrorAsyncHookHandler {
  const { direction, role, method, store, policyBook } = opts
  return async function auditRefusal(request: FastifyRequest, _reply, error): Promise<void> {
    const caller = request.caller
    if (caller === null || (role !== undefined && caller.role !== role) || (method !== undefined && request.method !== method)) return
    try {
      await store.appendAudit(
        auditEntry({
          event: 'refused',
          direction,
          caller: caller.id,
          envelope: request.auditEnvelope,
          code: problemFor(error as never).code,
          digest: typeof request.body === 'string' ? policyBook.digest(request.body) : null
        })
      )
    } catch (err) {
      // The refusal itself stands: a ledger that cannot take its entry is logged, not answered.
      request.log.error({ err }, 'could not audit a refusal')
    }
  }
}
