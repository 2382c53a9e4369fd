// The fuzzer's side of one running gateway pair: the transport (identities,
// tokens), the pools of accepted known-valid messages that repeats and status
// reads refer to, and the allow-list of message ids the ledger may name.
// Making, sending and checking one input happens here, for the campaign and
// for shrinking alike.
import { verdictOf, type FuzzCase } from './case.ts'
import { loadIdentities, type Identities } from './identities.ts'
import { materialize, type MaterializeContext, type Pools, type WireRequest } from './materialize.ts'
import { checkAnswer, type Violation } from './oracle.ts'
import { startTargets, type Targets } from './targets.ts'
import { NoAnswer, Transport, type WireResponse } from './transport.ts'

export interface Outcome {
  readonly req: WireRequest
  readonly answer: WireResponse | NoAnswer
  readonly violations: Violation[]
}

/** Everything one input needs: where it goes, how it is made, what the pools and the allow-list learn from it. */
export class Harness {
  readonly identities: Identities
  readonly targets: Targets
  readonly transport: Transport
  readonly pools: Pools = { submissions: [], exchanges: [] }
  /** Message ids the ledger may name in non-refusal entries: the known-valid stream's, and those of inputs the contract does not rule on. */
  readonly allowed = new Set<string>()
  /** Every message id sent, with the input that carried it: a ledger entry the oracle cannot explain is traced back to it. */
  readonly sent = new Map<string, { readonly index: number; readonly input: FuzzCase; status: string }>()
  readonly context: MaterializeContext

  constructor(identities: Identities, targets: Targets, transport: Transport) {
    this.identities = identities
    this.targets = targets
    this.transport = transport
    this.context = { identities, pools: this.pools, token: (n) => transport.token(n), now: () => Date.now(), host: transport.host }
  }

  static async start(concurrency: number): Promise<Harness> {
    const identities = loadIdentities()
    const targets = await startTargets()
    const transport = new Transport(identities, targets.ca.url, Math.max(2, Math.ceil(concurrency / 2)))
    try {
      await transport.refreshTokens()
    } catch (err) {
      await transport.close()
      await targets.close()
      throw err
    }
    return new Harness(identities, targets, transport)
  }

  /** Makes, sends and checks one input. Throws only when the input cannot be made (a pool it needs is empty). */
  async run(c: FuzzCase, index = -1): Promise<Outcome> {
    const req = materialize(c, this.context)
    const verdict = verdictOf(c)
    if (verdict !== 'invalid' && req.messageId !== undefined) this.allowed.add(req.messageId)
    const trace = req.messageId === undefined ? undefined : { index, input: c, status: 'sent' }
    if (trace !== undefined && !this.sent.has(req.messageId!)) this.sent.set(req.messageId!, trace)
    let answer: WireResponse | NoAnswer
    try {
      answer = await this.transport.send(req)
    } catch (err) {
      answer = err instanceof NoAnswer ? err : new NoAnswer((err as Error).message, false)
    }
    if (trace !== undefined) trace.status = answer instanceof NoAnswer ? `no answer (${answer.message.slice(0, 60)})` : String(answer.status)
    const violations = checkAnswer(c, req, answer)
    if (
      verdict === 'valid' &&
      !(answer instanceof NoAnswer) &&
      answer.status >= 200 &&
      answer.status < 300 &&
      req.remember !== undefined &&
      !(c.kind === 'submit' || c.kind === 'exchange' ? c.repeat !== undefined : false)
    ) {
      const { into, message } = req.remember()
      this.pools[into].push(message)
    }
    return { req, answer, violations }
  }

  async close(): Promise<void> {
    await this.transport.close()
    await this.targets.close()
  }
}
