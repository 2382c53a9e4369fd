// The ledger's Merkle tree, as RFC 9162 §2.1 defines it (docs/architecture.md,
// "The verifiable ledger"): one leaf per entry, SHA-256, leaf and interior
// hashes domain-separated by a 0x00 or 0x01 prefix. Pure functions: where the
// hashes are kept is the store's concern, which proofs to serve the audit's.
//
// A node is named by its level (0: a leaf) and its index within the level: the
// perfect subtree over leaves [index·2^level, (index+1)·2^level). Every range
// the proofs of §2.1.3 and §2.1.4 need is a run of such nodes, so a store that
// keeps each perfect subtree's hash answers any proof in O(log n) reads.
import { hash } from 'node:crypto'

export const HASH_BYTES = 32

export interface TreeNode {
  readonly level: number
  readonly index: number
}

/**
 * SHA-256 of `data`, as a Buffer taken from Buffer's pool. node:crypto's
 * 'buffer' output gives every digest an ArrayBuffer of its own, about 1 µs a
 * call on Node 24: four times the hash of a short input. The digest as a
 * latin1 ('binary') string, copied into the pool, costs about 0.1 µs (docs/measurements.md,
 * "Speed and memory"); a ledger hashes two or three times an entry.
 */
function sha256Bytes(data: string | Uint8Array): Buffer {
  return Buffer.from(hash('sha256', data, 'binary'), 'latin1')
}

/** MTH({d(0)}) = SHA-256(0x00 || d(0)). */
export function leafHash(data: string | Uint8Array): Buffer {
  // A text is hashed as one string, NUL first (UTF-8 encodes it as the byte 0x00): no copy of the entry into a Buffer and another into a concatenation.
  if (typeof data === 'string') return sha256Bytes(`\u0000${data}`)
  return sha256Bytes(Buffer.concat([LEAF_PREFIX, data]))
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_BYTES || right.length !== HASH_BYTES) return sha256Bytes(Buffer.concat([NODE_PREFIX, left, right]))
  // Two hashes: the input is built in one buffer kept for it, not a new concatenation a node (hashing is synchronous).
  NODE_INPUT.set(left, 1)
  NODE_INPUT.set(right, 1 + HASH_BYTES)
  return sha256Bytes(NODE_INPUT)
}

const LEAF_PREFIX = Buffer.from([0x00])
const NODE_PREFIX = Buffer.from([0x01])
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_BYTES, 0x01)

/** The root of the empty tree: SHA-256 of nothing (RFC 9162 §2.1.1). */
export const EMPTY_ROOT = sha256Bytes(Buffer.alloc(0))

/** The largest power of two smaller than n (n > 1): the split point k of RFC 9162 §2.1.1. */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** Which leaf completes a node: its last, numbered from 1 (the ledger's seq). */
export function completedBy(node: TreeNode): number {
  return (node.index + 1) * 2 ** node.level
}

/**
 * The nodes whose hashes make up the range [start, end) of leaves, left to
 * right. Every range a proof asks for starts where a subtree of its size
 * would, so the range is its binary decomposition: perfect subtrees of
 * decreasing size.
 */
export function rangeNodes(start: number, end: number): TreeNode[] {
  const nodes: TreeNode[] = []
  let at = start
  while (at < end) {
    let size = 1
    let level = 0
    // The largest aligned perfect subtree starting at `at` that fits.
    while (at % (size * 2) === 0 && at + size * 2 <= end) {
      size *= 2
      level++
    }
    nodes.push({ level, index: at / size })
    at += size
  }
  return nodes
}

/** The hash of a range from the hashes of its rangeNodes, in order: the right edge folds in first. */
export function rangeHash(hashes: readonly Uint8Array[]): Buffer {
  if (hashes.length === 0) return EMPTY_ROOT
  let acc: Buffer = Buffer.from(hashes[hashes.length - 1]!)
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i]!, acc)
  return acc
}

/** A range of leaves [start, end) whose hash is one element of a proof. */
export interface ProofRange {
  readonly start: number
  readonly end: number
}

/**
 * The ranges whose hashes are the inclusion proof of leaf `index` in a tree
 * of `size` leaves, in proof order: RFC 9162 §2.1.3.1, PATH(m, D[n]).
 */
export function inclusionRanges(index: number, size: number): ProofRange[] {
  checkSize(size)
  if (!(Number.isSafeInteger(index) && index >= 0 && index < size)) throw new RangeError(`leaf ${index} is not in a tree of ${size}`)
  const path: ProofRange[] = []
  let start = 0
  let end = size
  let m = index
  // Walks down from the root; each sibling is found before the one below it,
  // and the proof lists them from the leaf up.
  while (end - start > 1) {
    const k = split(end - start)
    if (m < k) {
      path.push({ start: start + k, end })
      end = start + k
    } else {
      path.push({ start, end: start + k })
      start += k
      m -= k
    }
  }
  return path.reverse()
}

/**
 * The ranges whose hashes are the consistency proof from a tree of `from`
 * leaves to one of `to`, in proof order: RFC 9162 §2.1.4.1, PROOF(m, D[n]).
 * Empty when from is 0 or equals to.
 */
export function consistencyRanges(from: number, to: number): ProofRange[] {
  checkSize(to)
  if (!(Number.isSafeInteger(from) && from >= 0 && from <= to)) throw new RangeError(`no consistency proof from ${from} to ${to}`)
  if (from === 0 || from === to) return []
  const proof: ProofRange[] = []
  let start = 0
  let end = to
  let m = from
  let whole = true
  // SUBPROOF(m, D[start:end], whole), unrolled: each level adds the sibling
  // range it did not descend into; the recursion's results come out reversed.
  for (;;) {
    if (m === end - start) {
      if (!whole) proof.push({ start, end })
      break
    }
    const k = split(end - start)
    if (m <= k) {
      proof.push({ start: start + k, end })
      end = start + k
    } else {
      proof.push({ start, end: start + k })
      start += k
      m -= k
      whole = false
    }
  }
  return proof.reverse()
}

function checkSize(size: number): void {
  if (!(Number.isSafeInteger(size) && size >= 1)) throw new RangeError(`not a tree size: ${size}`)
}

/** Why a proof does not verify. */
export class ProofError extends Error {
  readonly code = 'PROOF_INVALID'

  constructor(message: string) {
    super(message)
    this.name = 'ProofError'
  }
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === HASH_BYTES && Buffer.compare(a, b) === 0
}

/**
 * The root an inclusion proof leads to: RFC 9162 §2.1.3.2. Throws ProofError
 * when the proof cannot be one for that leaf and size (wrong length).
 */
export function rootFromInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Buffer {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size))
    throw new ProofError(`leaf ${index} is not in a tree of ${size}`)
  if (leaf.length !== HASH_BYTES) throw new ProofError('the leaf hash is not 32 bytes')
  let fn = index
  let sn = size - 1
  let r: Buffer = Buffer.from(leaf)
  for (const p of proof) {
    if (p.length !== HASH_BYTES) throw new ProofError('a proof hash is not 32 bytes')
    if (sn === 0) throw new ProofError('the proof is longer than the tree is deep')
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  if (sn !== 0) throw new ProofError('the proof is shorter than the tree is deep')
  return r
}

/** Whether leaf hash `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  try {
    return sameHash(rootFromInclusion(index, size, leaf, proof), root)
  } catch (err) {
    if (err instanceof ProofError) return false
    throw err
  }
}

/**
 * Whether the tree of `to` leaves with root `toRoot` extends the tree of
 * `from` leaves with root `fromRoot`: RFC 9162 §2.1.4.2.
 */
export function verifyConsistency(from: number, to: number, fromRoot: Uint8Array, toRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 0 && from <= to)) return false
  if (proof.some((p) => p.length !== HASH_BYTES)) return false
  // The cases the algorithm leaves to its caller: an empty tree is a prefix
  // of every tree, and a tree is consistent with itself only if the roots agree.
  if (from === to) return proof.length === 0 && sameHash(fromRoot, toRoot)
  if (from === 0) return proof.length === 0 && sameHash(fromRoot, EMPTY_ROOT)
  if (proof.length === 0) return false
  // Step 2: a first tree of a power-of-two size is a node of the second, and the proof leaves it out.
  const path = isPowerOfTwo(from) ? [fromRoot, ...proof] : proof
  let fn = from - 1
  let sn = to - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr: Buffer = Buffer.from(path[0]!)
  let sr: Buffer = Buffer.from(path[0]!)
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && sameHash(fr, fromRoot) && sameHash(sr, toRoot)
}

function isPowerOfTwo(n: number): boolean {
  let p = 1
  while (p < n) p *= 2
  return p === n
}

/**
 * The right edge of a tree: the hashes of the perfect subtrees its size
 * decomposes into, largest first. Enough to append leaves and to compute the
 * root, without the rest of the tree (a "compact range").
 */
export class TreeEdge {
  #size: number
  /** Hashes of the perfect subtrees, largest (leftmost) first. */
  readonly #hashes: Buffer[]

  constructor(size = 0, hashes: readonly Uint8Array[] = []) {
    if (rangeNodes(0, size).length !== hashes.length)
      throw new RangeError(`a tree of ${size} leaves has ${rangeNodes(0, size).length} edge hashes, not ${hashes.length}`)
    this.#size = size
    this.#hashes = hashes.map((h) => Buffer.from(h))
  }

  /** The nodes whose hashes an edge of a tree of `size` leaves holds, largest first. */
  static nodes(size: number): TreeNode[] {
    return rangeNodes(0, size)
  }

  get size(): number {
    return this.#size
  }

  /**
   * Appends a leaf hash. Returns the hashes of the nodes this leaf completes,
   * from the leaf itself (level 0) up: the leaf completes one node per level
   * while the subtree to its left is the same size as the one it finishes.
   */
  append(leaf: Uint8Array): Buffer[] {
    const completed: Buffer[] = [Buffer.from(leaf)]
    let h = completed[0]!
    let index = this.#size
    while (index % 2 === 1) {
      h = nodeHash(this.#hashes.pop()!, h)
      completed.push(h)
      index = (index - 1) / 2
    }
    this.#hashes.push(h)
    this.#size++
    return completed
  }

  root(): Buffer {
    return rangeHash(this.#hashes)
  }

  copy(): TreeEdge {
    return new TreeEdge(this.#size, this.#hashes)
  }
}
