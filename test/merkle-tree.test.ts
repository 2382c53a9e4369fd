// The Merkle tree against RFC 9162 as published: the test vectors of the
// transparency-dev/merkle project (the reference the RFC's authors keep), and
// a second, naive reading of the RFC's recursive definitions for every size
// up to 70.
import { createHash } from 'node:crypto'
import t from 'tap'
import {
  EMPTY_ROOT,
  TreeEdge,
  consistencyRanges,
  inclusionRanges,
  leafHash,
  nodeHash,
  rangeHash,
  rangeNodes,
  verifyConsistency,
  verifyInclusion
} from '../gateway/store/merkle-tree.ts'

const hex = (h: string): Buffer => Buffer.from(h, 'hex')
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex)
// Roots of the trees of the first 1..8 of LEAVES.
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'
].map(hex)
// Inclusion proofs: leaf numbered from 1, tree size, proof.
const INCLUSION: Array<[number, number, string[]]> = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'
    ]
  ],
  [
    6,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'
    ]
  ],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    2,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'
    ]
  ]
]
const CONSISTENCY: Array<[number, number, string[]]> = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'
    ]
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'
    ]
  ],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'
    ]
  ]
]

/** MTH(D[n]) read straight from RFC 9162 §2.1.1: the independent oracle. */
function naiveRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT
  if (leaves.length === 1) return leafHash(leaves[0]!)
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  return nodeHash(naiveRoot(leaves.slice(0, k)), naiveRoot(leaves.slice(k)))
}

/** A proof's hashes, each range's MTH computed by the oracle. */
const hashesOf = (leaves: readonly Buffer[], ranges: ReadonlyArray<{ start: number; end: number }>): Buffer[] =>
  ranges.map((r) => naiveRoot(leaves.slice(r.start, r.end)))

/** The same hashes as a store gives them: each range from its perfect subtrees. */
const hashesFromNodes = (leaves: readonly Buffer[], ranges: ReadonlyArray<{ start: number; end: number }>): Buffer[] =>
  ranges.map((r) => rangeHash(rangeNodes(r.start, r.end).map((n) => naiveRoot(leaves.slice(n.index * 2 ** n.level, (n.index + 1) * 2 ** n.level)))))

t.test('roots of the published vectors, built leaf by leaf on the tree edge', async (t) => {
  const edge = new TreeEdge()
  t.same(edge.root(), EMPTY_ROOT, 'the empty tree')
  LEAVES.forEach((leaf, i) => {
    edge.append(leafHash(leaf))
    t.equal(edge.root().toString('hex'), ROOTS[i]!.toString('hex'), `size ${i + 1}`)
    t.equal(naiveRoot(LEAVES.slice(0, i + 1)).toString('hex'), ROOTS[i]!.toString('hex'), `size ${i + 1}, the oracle`)
  })
})

t.test('inclusion proofs are the published ones and verify; altered ones do not', async (t) => {
  for (const [leaf, size, expected] of INCLUSION) {
    const proof = hashesFromNodes(LEAVES, inclusionRanges(leaf - 1, size))
    t.same(
      proof.map((h) => h.toString('hex')),
      expected,
      `leaf ${leaf} of ${size}`
    )
    const lh = leafHash(LEAVES[leaf - 1]!)
    const root = ROOTS[size - 1]!
    t.ok(verifyInclusion(leaf - 1, size, lh, proof, root), `leaf ${leaf} of ${size} verifies`)
    t.notOk(verifyInclusion(leaf, size, lh, proof, root), 'not as another leaf')
    t.notOk(verifyInclusion(leaf - 1, size * 2, lh, proof, root), 'not in a tree of another size')
    t.notOk(verifyInclusion(leaf - 1, size, lh, proof.slice(0, -1), root), 'not with a hash left out')
    t.notOk(verifyInclusion(leaf - 1, size, lh, [...proof, root], root), 'not with a hash added')
    const flipped = proof.map((h) => Buffer.from(h))
    flipped[0]![0]! ^= 8
    t.notOk(verifyInclusion(leaf - 1, size, lh, flipped, root), 'not with a bit flipped')
  }
})

t.test('consistency proofs are the published ones and verify; altered ones do not', async (t) => {
  for (const [from, to, expected] of CONSISTENCY) {
    const proof = hashesFromNodes(LEAVES, consistencyRanges(from, to))
    t.same(
      proof.map((h) => h.toString('hex')),
      expected,
      `${from} to ${to}`
    )
    const [a, b] = [ROOTS[from - 1]!, ROOTS[to - 1]!]
    t.ok(verifyConsistency(from, to, a, b, proof), `${from} to ${to} verifies`)
    t.notOk(verifyConsistency(from, to, b, a, proof), 'not with the roots swapped')
    t.notOk(verifyConsistency(from - 1, to, a, b, proof), 'not from another size')
    t.notOk(verifyConsistency(from, to, a, b, []), 'not with no proof')
    t.notOk(verifyConsistency(from, to, a, b, proof.slice(0, -1)), 'not truncated')
    t.notOk(verifyConsistency(from, to, a, b, [...proof, a]), 'not with a hash added')
  }
  t.ok(verifyConsistency(0, 5, EMPTY_ROOT, ROOTS[4]!, []), 'the empty tree is a prefix of any')
  t.ok(verifyConsistency(4, 4, ROOTS[3]!, ROOTS[3]!, []), 'a tree is consistent with itself')
  t.notOk(verifyConsistency(4, 4, ROOTS[3]!, ROOTS[4]!, []), 'but not with another root of the same size')
  t.notOk(verifyConsistency(5, 4, ROOTS[4]!, ROOTS[3]!, []), 'nor with a smaller tree')
  t.notOk(verifyConsistency(0, 0, EMPTY_ROOT, ROOTS[0]!, []), 'two empty trees with different roots are not one')
  t.notOk(verifyConsistency(0, 5, ROOTS[0]!, ROOTS[4]!, []), 'a tree of no entries has the empty root')
})

t.test('every proof for every size up to 70 verifies, and is what the oracle computes', async (t) => {
  const leaves = Array.from({ length: 70 }, (_, i) => Buffer.from(`entry ${i}`))
  const edge = new TreeEdge()
  const roots: Buffer[] = []
  let failures = 0
  for (let n = 1; n <= leaves.length; n++) {
    edge.append(leafHash(leaves[n - 1]!))
    roots.push(edge.root())
    if (!roots[n - 1]!.equals(naiveRoot(leaves.slice(0, n)))) failures++
    for (let m = 0; m < n; m++) {
      const proof = hashesFromNodes(leaves, inclusionRanges(m, n))
      if (!proof.every((h, i) => h.equals(hashesOf(leaves, inclusionRanges(m, n))[i]!))) failures++
      if (!verifyInclusion(m, n, leafHash(leaves[m]!), proof, roots[n - 1]!)) failures++
      // The same proof does not pass for a neighbouring leaf's hash.
      if (n > 1 && verifyInclusion(m, n, leafHash(leaves[(m + 1) % n]!), proof, roots[n - 1]!)) failures++
    }
    for (let m = 1; m <= n; m++) {
      const proof = hashesFromNodes(leaves, consistencyRanges(m, n))
      if (!verifyConsistency(m, n, roots[m - 1]!, roots[n - 1]!, proof)) failures++
      // A first tree with one leaf changed is not a prefix of the second.
      const forged = naiveRoot([...leaves.slice(0, m - 1), Buffer.from('forged')])
      if (verifyConsistency(m, n, forged, roots[n - 1]!, proof)) failures++
    }
  }
  t.equal(failures, 0, 'no proof failed, and no forged one passed')
})

t.test('a tree edge reports the nodes each leaf completes', async (t) => {
  const edge = new TreeEdge()
  const completed = LEAVES.map((leaf) => edge.append(leafHash(leaf)).length)
  // Leaf 1 completes only itself; leaf 2 a pair; leaf 4 a pair and a four; leaf 8 up to the eight.
  t.same(completed, [1, 2, 1, 3, 1, 2, 1, 4])
  t.same(TreeEdge.nodes(7), [
    { level: 2, index: 0 },
    { level: 1, index: 2 },
    { level: 0, index: 6 }
  ])
  t.throws(() => new TreeEdge(3, [ROOTS[0]!]), RangeError, 'an edge must have as many hashes as its size has bits')
})

t.test('a node hash is SHA-256(0x01 || left || right) for any inputs, and each is a Buffer of its own', async (t) => {
  const sha = (...parts: Uint8Array[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest()
  const a = Buffer.alloc(32, 0xaa)
  const b = Buffer.alloc(32, 0xbb)
  const first = nodeHash(a, b)
  const second = nodeHash(b, a)
  // The input is built in one buffer kept for it: a result must not be a view of it.
  t.same(first, sha(Buffer.from([1]), a, b), 'two 32-byte children')
  t.same(second, sha(Buffer.from([1]), b, a), 'and the next, built in the same place, leaves the first as it was')
  t.same(nodeHash(Buffer.from('ab'), Buffer.alloc(40, 1)), sha(Buffer.from([1]), Buffer.from('ab'), Buffer.alloc(40, 1)), 'children of other lengths')
  t.same(leafHash(Buffer.from('x')), sha(Buffer.from([0]), Buffer.from('x')), 'a leaf')
  t.equal(first.length, 32)
})
