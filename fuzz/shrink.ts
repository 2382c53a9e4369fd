// A minimal counterexample for a kind of violation. fast-check replays the
// first input that showed it (same per-input seed, so the same value) against
// the running gateways and shrinks it: second defects, benign variations and
// indices go away while the input still falls in the same group (same
// invariant, endpoint and cause). The result is re-sent once more, so the
// report shows the exact request and answer, not a reconstruction.
import fc from 'fast-check'
import type { FuzzCase } from './case.ts'
import { groupKey, type ViolationGroup } from './groups.ts'
import type { Harness } from './harness.ts'
import type { WireRequest } from './materialize.ts'
import type { Violation } from './oracle.ts'
import { inputSeed } from './seeds.ts'
import { NoAnswer, type WireResponse } from './transport.ts'

export interface Counterexample {
  readonly input: FuzzCase
  /** Whether shrinking kept the input failing (a flaky first failure is reported unshrunk). */
  readonly reproduced: boolean
  readonly request: string
  readonly answer: string
  readonly violations: Violation[]
}

function preview(text: string, max: number): string {
  const shown = text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text
  return JSON.stringify(shown).slice(1, -1)
}

function decodePart(part: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return `(not base64url) ${preview(part, 80)}`
  return preview(Buffer.from(part, 'base64url').toString('utf8'), 500)
}

/** The request as a reader needs it: the JWS parts decoded, tokens shortened. */
export function describeRequest(req: WireRequest): string {
  if (req.raw !== undefined) return `raw TLS as ${req.identity}:\n      ${preview(req.raw, 400)}`
  const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${k === 'authorization' ? preview(v, 40) : preview(v, 100)}`)
  const lines = [`${req.method} ${preview(req.path, 200)} as ${req.identity}`, ...headers.map((h) => `  ${h}`)]
  const body = typeof req.body === 'string' ? req.body : req.body?.toString('utf8')
  if (body !== undefined) {
    const parts = body.trim().split('.')
    if (parts.length >= 2 && parts.length <= 6 && (req.path.startsWith('/v1/messages') || req.path.startsWith('/v1/exchange'))) {
      lines.push(`  body: compact JWS, ${parts.length} parts, ${body.length} chars${body === body.trim() ? '' : ' (with surrounding whitespace)'}`)
      lines.push(`    header:  ${decodePart(parts[0]!)}`)
      lines.push(`    payload: ${decodePart(parts[1]!)}`)
      lines.push(`    signature: ${preview(parts.slice(2).join('.'), 100)}`)
    } else lines.push(`  body: ${preview(body, 500)}`)
  }
  return lines.join('\n      ')
}

export function describeAnswer(answer: WireResponse | NoAnswer): string {
  if (answer instanceof NoAnswer) return `no answer: ${answer.message}`
  return `${answer.status} ${answer.headers['content-type'] ?? '(no content-type)'} ${preview(answer.body.toString('utf8'), 300)}`
}

export async function shrinkGroup(
  harness: Harness,
  arbitrary: fc.Arbitrary<FuzzCase>,
  seed: number,
  group: ViolationGroup,
  timeMs: number
): Promise<Counterexample | undefined> {
  if (group.input === undefined || group.index < 0) return undefined
  const stillFails = (c: FuzzCase, violations: Violation[]) => violations.some((v) => groupKey(v.invariant, c, v.detail).key === group.key)
  const property = fc.asyncProperty(arbitrary, async (c) => {
    let outcome
    try {
      outcome = await harness.run(c)
    } catch {
      return true
    }
    return !stillFails(c, outcome.violations)
  })
  const result = await fc.check(property, { seed: inputSeed(seed, group.index), numRuns: 1, interruptAfterTimeLimit: timeMs, markInterruptAsFailure: false })
  const reproduced = result.failed && result.counterexample !== null
  const input = reproduced ? result.counterexample![0] : group.input
  try {
    const outcome = await harness.run(input)
    return { input, reproduced, request: describeRequest(outcome.req), answer: describeAnswer(outcome.answer), violations: outcome.violations }
  } catch (err) {
    return { input, reproduced, request: `(could not be made again: ${(err as Error).message})`, answer: '', violations: [] }
  }
}
