// One message (issue 13, point 3): every ledger entry about it, the decision
// for every field (path, action, rule, principle) read from the entry's exact
// ledger text after its inclusion proof is checked in this page, the policy
// version linked to its published rules, the signatures, the partner's
// receipt, and any correction or retraction (docs/privacy-officers.md).
import { getJson, policies, publishedKeys } from './api.js'
import { alertBox, facts, h, short, show, table, when } from './dom.js'
import { holdForm } from './holds.js'
import { noteSigners, verifyInclusion } from './merkle.js'
import { verifyCheckpointSignatures } from './notes.js'

const DECIDING = new Set(['accepted', 'received', 'refused'])

function supersession(label, link) {
  if (!link) return null
  return [
    label,
    [h('a', { href: `#/message/${link.id}` }, link.id), ` (${link.action === 'correct' ? 'correction' : 'retraction'}${link.reason ? `, ${link.reason}` : ''})`]
  ]
}

function decodeJws(jws) {
  const part = (s) => JSON.parse(atob(s.replace(/-/g, '+').replace(/_/g, '/')))
  const [header, payload] = jws.split('.')
  return { header: part(header), claims: part(payload) }
}

export async function messageView(id) {
  if (!/^[0-9a-f-]{36}$/.test(id)) {
    show('Message', alertBox('No message id in the address.'))
    return
  }
  const [{ entries }, catalogue] = await Promise.all([getJson(`/v1/audit/entries?messageId=${id}&limit=100`), policies()])
  let records = { outbound: null, inbound: null }
  try {
    records = await getJson(`/v1/audit/messages/${id}`)
  } catch (err) {
    if (err.status !== 404) throw err
  }
  const deciding = entries.find((e) => DECIDING.has(e.entry.event)) ?? entries[0]
  if (deciding === undefined) {
    show(`Message ${id}`, alertBox('The ledger names no such message.'))
    return
  }
  const proof = await getJson(`/v1/audit/entries/${deciding.seq}/proof`)
  // What is shown below is read from the text the proof is about, not from the search answer.
  const e = JSON.parse(proof.ledgerEntry)
  const checked = proof.inclusionProof
    ? await verifyInclusion(proof.ledgerEntry, deciding.seq - 1, proof.inclusionProof.treeSize, proof.inclusionProof.hashes, proof.checkpoint.root)
    : null
  const keys = proof.checkpoint ? await publishedKeys() : null
  const signatures = proof.checkpoint ? await verifyCheckpointSignatures(proof.checkpoint.note, keys.own, keys.partner) : null
  const published = catalogue.kinds.find((k) => k.kind === e.kind)
  const record = records[e.direction ?? 'outbound'] ?? records.outbound ?? records.inbound
  const receipt = record?.receipt ? decodeJws(record.receipt.jws) : null
  const principle = (id) => catalogue.principles.find((p) => p.id === id)?.title ?? ''

  show(
    `Message ${id}`,
    facts(
      [
        ['Kind', e.kind],
        ['Purpose', e.purpose],
        ['Legal authority', e.legalAuthority],
        ['From', e.from ?? e.caller],
        ['To', e.to],
        ['Direction', e.direction],
        ['Outcome', `${e.event}${e.code ? ` (${e.code})` : ''}`],
        ['At', when(e.at)],
        [
          'Policy',
          e.policy
            ? [
                h('a', { href: `#/policies/${encodeURIComponent(e.policy.id)}`, id: 'policy-link' }, e.policy.id),
                ', version ',
                short(e.policy.version, 20),
                published?.policyVersion === e.policy.version ? ' (the rules published now)' : ' (not the version published now)'
              ]
            : undefined
        ],
        ['Status', record ? record.status : undefined],
        supersession('Corrects or retracts', record?.supersedes) ??
          supersession('Corrects or retracts', e.supersedes && { id: e.supersedes.id, ...e.supersedes }),
        supersession('Superseded by', record?.supersededBy)
      ].filter(Boolean),
      { id: 'message-facts' }
    ),
    h(
      'section',
      { 'aria-labelledby': 'proof-h', id: 'proof' },
      h('h2', { id: 'proof-h' }, 'Inclusion proof, checked in this page'),
      checked === null
        ? h(
            'p',
            { class: 'warn', id: 'proof-result' },
            `Entry ${deciding.seq} follows the latest checkpoint the partner cosigned: no proof until the next one is witnessed.`
          )
        : h(
            'p',
            { class: checked.ok ? 'ok' : 'error', role: checked.ok ? null : 'alert', id: 'proof-result' },
            checked.ok
              ? `Verified: entry ${deciding.seq} is in the ledger of ${proof.checkpoint.size} entries that the partner cosigned at ${proof.checkpoint.cosignedAt}.`
              : `NOT verified: entry ${deciding.seq} does not lead to the checkpoint's root.`
          ),
      signatures === null
        ? null
        : h(
            'p',
            { class: signatures.signed && signatures.cosignedAt !== null ? 'ok' : 'error', id: 'signatures-result' },
            signatures.signed && signatures.cosignedAt !== null
              ? `Signatures verified here: the checkpoint is signed by this gateway's key and cosigned by the partner's, at ${new Date(signatures.cosignedAt * 1000).toISOString()}, with the keys each publishes.`
              : `NOT verified: the checkpoint is ${signatures.signed ? '' : 'not signed by this gateway’s key and '}${signatures.cosignedAt === null ? 'not cosigned by the partner’s key' : 'cosigned'}.`
          ),
      checked
        ? facts([
            ['Checkpoint root', short(proof.checkpoint.root, 20)],
            ['Root computed here', short(checked.computed, 20)],
            ['Proof', `${proof.inclusionProof.hashes.length} hashes (RFC 9162)`]
          ])
        : null
    ),
    table(
      `Decision for every field (${e.fields.length})`,
      ['Field', 'Action', 'Rule', 'Principle'],
      e.fields.map((f) => [
        h('code', {}, f.path),
        h('span', { class: `action ${f.action}` }, f.action),
        h('code', {}, f.rule),
        `${f.principle} ${principle(f.principle)}`
      ]),
      { id: 'decisions' }
    ),
    h(
      'section',
      { 'aria-labelledby': 'sig-h' },
      h('h2', { id: 'sig-h' }, 'Signatures'),
      facts(
        [
          ["The sender's signed message", ['verified on intake; the ledger keeps a keyed digest of it, ', short(e.digest, 16)]],
          [
            record?.direction === 'inbound' ? 'The receipt this gateway signed' : "The partner's signed receipt",
            receipt
              ? [
                  `${receipt.claims.receiver ?? ''} signed with ${receipt.header.alg} key `,
                  h('code', {}, receipt.header.kid ?? '—'),
                  ', received ',
                  when(receipt.claims.receivedAt),
                  ', for the digest ',
                  short(receipt.claims.digest, 16)
                ]
              : 'none (not delivered)'
          ],
          ['Checkpoint signed by', proof.checkpoint ? noteSigners(proof.checkpoint.note).join(', ') : '—']
        ],
        { id: 'signatures' }
      )
    ),
    table(
      'Every ledger entry about this message',
      ['Seq', 'At', 'Outcome', 'Direction', 'Caller'],
      entries.map(({ seq, entry: x }) => [String(seq), when(x.at), `${x.event}${x.code ? ` (${x.code})` : ''}`, x.direction ?? '—', x.caller ?? '—']),
      { id: 'message-entries' }
    ),
    holdForm('message', () => ({ messageId: id }))
  )
}
