// Input i of a run is generated from its own seed, derived from the run's seed
// and i: any input can be regenerated on its own (to replay or shrink it)
// without regenerating the ones before it, and the run does not depend on the
// order in which concurrent requests complete.
import fc from 'fast-check'
import type { FuzzCase } from './case.ts'

/** Per-input seed: a 32-bit mix of the run's seed and the input's index. */
export function inputSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)
  h ^= h >>> 16
  h = Math.imul(h, 0x7feb352d)
  h ^= h >>> 15
  return h | 0
}

export function sampleCase(arbitrary: fc.Arbitrary<FuzzCase>, seed: number, index: number): FuzzCase {
  return fc.sample(arbitrary, { seed: inputSeed(seed, index), numRuns: 1 })[0]!
}
