// Roots and proofs of the ledger's Merkle tree, read from the store
// (docs/architecture.md, "The verifiable ledger"). Each is a handful of
// perfect subtrees, all read in one call: O(log n) hashes, whatever the
// ledger's length.
import { EMPTY_ROOT, type ProofRange, type TreeNode, consistencyRanges, inclusionRanges, rangeHash, rangeNodes } from '../store/merkle-tree.ts'
import type { LedgerRepository } from '../store/records.ts'
import type { TreeHead } from './checkpoint.ts'

type TreeReader = Pick<LedgerRepository, 'treeNodes' | 'auditHead'>

/** At most this many nodes in one read. */
const NODES_PER_READ = 500

/** The hashes of `ranges`, each from its perfect subtrees: each node read once, in as few reads as fit. */
async function rangeHashes(store: TreeReader, ranges: readonly ProofRange[]): Promise<Buffer[]> {
  const perRange = ranges.map((r) => rangeNodes(r.start, r.end))
  const key = (n: TreeNode): string => `${n.level}/${n.index}`
  const wanted = [...new Map(perRange.flat().map((n) => [key(n), n])).values()]
  const hashes = new Map<string, Buffer>()
  for (let at = 0; at < wanted.length; at += NODES_PER_READ) {
    const chunk = wanted.slice(at, at + NODES_PER_READ)
    const read = await store.treeNodes(chunk)
    chunk.forEach((n, i) => hashes.set(key(n), Buffer.from(read[i]!, 'base64')))
  }
  return perRange.map((nodes) => rangeHash(nodes.map((n) => hashes.get(key(n))!)))
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

/** The inclusion proofs of several entries in the tree of `size` entries, from one batch of reads: a disclosure report's. */
export async function inclusionProofs(store: TreeReader, seqs: readonly number[], size: number): Promise<Map<number, string[]>> {
  const perSeq = seqs.map((seq) => inclusionRanges(seq - 1, size))
  const hashes = (await rangeHashes(store, perSeq.flat())).map((h) => h.toString('base64'))
  const proofs = new Map<number, string[]>()
  let at = 0
  seqs.forEach((seq, i) => {
    proofs.set(seq, hashes.slice(at, at + perSeq[i]!.length))
    at += perSeq[i]!.length
  })
  return proofs
}

/** The consistency proof (base64 hashes) from the tree of `from` entries to that of `to`: RFC 9162 §2.1.4. */
export async function consistencyProof(store: TreeReader, from: number, to: number): Promise<string[]> {
  return (await rangeHashes(store, consistencyRanges(from, to))).map((h) => h.toString('base64'))
}
