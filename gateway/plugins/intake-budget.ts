// The bytes of request bodies the gateway reads and checks at once
// (INTAKE_BUDGET_BYTES; docs/operators.md, "Sizing"). The body limit bounds
// one request, not how many arrive together: a partner whose deliveries are
// not bounded as this gateway's are (lib/byte-budget.ts), or agencies
// loading rosters side by side, could send more 8 MiB bodies at once than a
// gateway's heap holds. A request that does not fit waits before its body is
// read: its bytes stay in the sender's socket (TCP pushes back), so a request
// waiting holds next to nothing. Each body counts from the moment it is
// admitted until its answer is sent, as its text, its JWS and its records are
// held while it is checked and committed.
//
// The partner gateway's deliveries have room of their own, as large: an
// agency that sends a body slowly holds its room for as long as Node lets a
// request take (30 s), and the partner's delivery waiting behind it would
// time out at the partner (DELIVERY_TIMEOUT_MS, 10 s), be sent again, and at
// last be dead-lettered there (docs/operators.md, "Sizing"). The partner
// sends at most its own delivery budget at once (lib/byte-budget.ts), so its
// room is rarely full.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RequestTimeoutError } from '../errors.ts'
import { ByteBudget } from '../lib/byte-budget.ts'
import { continueIfAwaited } from './http-hardening.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The request bodies of agencies, officers and operators being read and checked, against INTAKE_BUDGET_BYTES. */
    intakeBudget: ByteBudget
    /** The partner gateway's deliveries being read and checked, against INTAKE_BUDGET_BYTES of their own. */
    partnerIntakeBudget: ByteBudget
  }
}

export interface IntakeBudgetOptions {
  /** Bytes of request bodies read and checked at once; one body larger than this still goes, alone. */
  readonly limitBytes: number
  /** How long a request may wait for room before it is answered 408 (HttpTimeouts.roomWaitMs). */
  readonly waitMs: number
}

/**
 * What a request's body counts for: its declared length, or, sent in chunks
 * with no length declared, the most the route takes. A declared length over
 * the route's limit counts for nothing: Fastify refuses it (413) unread.
 */
export function bodyBytes(request: FastifyRequest, bodyLimit: number): number {
  const length = request.headers['content-length']
  if (length !== undefined) {
    const bytes = Number(length)
    return Number.isSafeInteger(bytes) && bytes <= bodyLimit ? bytes : 0
  }
  return request.headers['transfer-encoding'] === undefined ? 0 : bodyLimit
}

export const intakeBudget = fp(
  async function intakeBudget(app: FastifyInstance, opts: IntakeBudgetOptions) {
    const budget = new ByteBudget(opts.limitBytes)
    const partnerBudget = new ByteBudget(opts.limitBytes)
    app.decorate('intakeBudget', budget)
    app.decorate('partnerIntakeBudget', partnerBudget)

    // preParsing: after every onRequest hook (the caller is known, refusals
    // of the headers are answered), before a byte of the body is read.
    app.addHook('preParsing', async function waitForIntakeRoom(request: FastifyRequest, reply: FastifyReply, payload) {
      await roomFor(request, reply)
      // The body is wanted now: a client that waits to be asked for it is.
      continueIfAwaited(request, reply)
      return payload
    })

    /** Waits until the body's bytes fit in the budget, if they count against it. */
    async function roomFor(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      // Only an identified caller's body counts against the room every
      // submission shares: every route that reads a body identifies its
      // caller first, and a request to no route is answered unread
      // (plugins/problem-details.ts). Here as a second guard.
      if (request.caller === null || request.is404) return
      // The route's limit, else the server's: Fastify fills in the one that applies.
      const bytes = bodyBytes(request, request.routeOptions.bodyLimit)
      if (bytes === 0) return
      const room = request.caller.role === 'partner' ? partnerBudget : budget
      // Room at once (nearly always): the bytes go back when the answer is
      // sent or the connection goes.
      const admitted = room.tryTake(bytes)
      if (admitted !== undefined) {
        reply.raw.once('close', admitted)
        return
      }
      // The answer sent, or the connection gone: the bytes go back, and a
      // request still waiting leaves the queue. So does one that waited its
      // limit: its body may be in the socket already, where Node's request
      // timeout no longer watches it.
      const gone = new AbortController()
      reply.raw.once('close', () => gone.abort(new RequestTimeoutError('the connection closed while the body waited to be read')))
      const waited = setTimeout(
        () => gone.abort(new RequestTimeoutError(`the gateway was busy: the body waited ${opts.waitMs} ms for room to be read; send it again`)),
        opts.waitMs
      )
      try {
        const release = await room.take(bytes, { signal: gone.signal })
        if (gone.signal.aborted) release()
        else gone.signal.addEventListener('abort', release, { once: true })
      } finally {
        clearTimeout(waited)
      }
    }
  },
  { name: 'intake-budget', fastify: '5.x' }
)
