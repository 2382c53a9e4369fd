// Violations are reported by kind, not one by one: an invariant, an endpoint
// and the mutation that caused it (its first tag), plus the status for the
// invariants about the answer's form. One group is one line of the report and
// one shrunk counterexample; shrinking keeps an input only while it still
// falls in the same group, so it cannot drift to another cause.
import { tagsOf, type FuzzCase } from './case.ts'
import type { Invariant } from './oracle.ts'
import type { Counterexample } from './shrink.ts'

/** Violations of one invariant, on one endpoint, from one kind of input: one line of the report, one shrunk counterexample. */
export interface ViolationGroup {
  readonly key: string
  readonly invariant: Invariant
  /** The endpoint, with the route for /v1/audit (`audit:export`), or `run` for what the run as a whole showed. */
  readonly endpoint: string
  readonly tag: string
  readonly detail: string
  count: number
  /** The first input that showed it (its index, so --seed and the index replay it). */
  readonly index: number
  readonly input?: FuzzCase
  shrunk?: Counterexample
}

export function endpointLabel(c: FuzzCase): string {
  return c.kind === 'audit' ? `audit:${c.route}` : c.endpoint
}

export function groupKey(invariant: Invariant, c: FuzzCase | undefined, detail: string): { key: string; tag: string } {
  if (c === undefined) return { key: `${invariant}|run|${detail}`, tag: detail }
  const tags = tagsOf(c).filter((t) => !t.startsWith('route:') || c.kind === 'audit')
  const tag = tags.find((t) => !t.startsWith('route:')) ?? tags[0] ?? c.family
  // One group per cause: a 5xx or a missing problem document is about the status it came with.
  const status =
    invariant === 'problem-document' || invariant === 'no-5xx' || invariant === 'valid-refused'
      ? `|${detail.split(/[ :]/)[0]}`
      : invariant === 'ledger-write'
        ? `|${detail}`
        : ''
  return { key: `${invariant}|${endpointLabel(c)}|${tag}${status}`, tag }
}
