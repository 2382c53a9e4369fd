// Roots and proofs of the ledger's Merkle tree, read from the store
// (docs/architecture.md, "The verifiable ledger"). Each is a handful of
// perfect subtrees, all read in one call: O(log n) hashes, whatever the
// ledger's length.
import { EMPTY_ROOT, type ProofRange, consistencyRanges, inclusionRanges, rangeHash, rangeNodes } from '../store/merkle-tree.ts'
import type { LedgerRepository } from '../store/records.ts'
import type { TreeHead } from './checkpoint.ts'

type TreeReader = Pick<LedgerRepository, 'treeNodes' | 'auditHead'>

/** The hashes of `ranges`, each from its perfect subtrees, in one read. */
async function rangeHashes(store: TreeReader, ranges: readonly ProofRange[]): Promise<Buffer[]> {
  const perRange = ranges.map((r) => rangeNodes(r.start, r.end))
  const hashes = (await store.treeNodes(perRange.flat())).map((h) => Buffer.from(h, 'base64'))
  let at = 0
  return perRange.map((nodes) => {
    const of = hashes.slice(at, at + nodes.length)
    at += nodes.length
    return rangeHash(of)
  })
}

/** The tree's size and root at `size` entries, or at the ledger's head when not given. */
export async function treeHead(store: TreeReader, size?: number): Promise<TreeHead> {
  const n = size ?? (await store.auditHead())?.seq ?? 0
  if (n === 0) return { size: 0, root: EMPTY_ROOT.toString('base64') }
  const [root] = await rangeHashes(store, [{ start: 0, end: n }])
  return { size: n, root: root!.toString('base64') }
}

/** The inclusion proof (base64 hashes) of entry `seq` in the tree of `size` entries: RFC 9162 §2.1.3. */
export async function inclusionProof(store: TreeReader, seq: number, size: number): Promise<string[]> {
  return (await rangeHashes(store, inclusionRanges(seq - 1, size))).map((h) => h.toString('base64'))
}

/** The consistency proof (base64 hashes) from the tree of `from` entries to that of `to`: RFC 9162 §2.1.4. */
export async function consistencyProof(store: TreeReader, from: number, to: number): Promise<string[]> {
  return (await rangeHashes(store, consistencyRanges(from, to))).map((h) => h.toString('base64'))
}
