// One message (issue 13, point 3): every ledger entry about it, the decision
// for every field (path, action, rule, principle) read from the entry's exact
// ledger text after its inclusion proof is checked in this page, the policy
// version linked to its published rules, the signatures, the partner's
// receipt, and any correction or retraction (docs/privacy-officers.md).
// The page is about the entry that took the message (`accepted` to send,
// `received` from the partner), not an attempt refused under the same id
// before it: a refusal stores no message, so the sender may send the fixed
// envelope again under that id (docs/privacy-officers.md, "The console").
import { getJson, policies, publishedKeys } from './api.js'
import { alertBox, facts, h, short, show, table, when } from './dom.js'
import { holdForm } from './holds.js'
import { verifyInCheckpoint } from './merkle.js'
import { verifyCheckpoint } from './notes.js'

/** The entry that takes a message, by direction: an id is taken at most once each way (`ID_CONFLICT`, docs/integrators.md). */
const TAKEN_BY = { outbound: 'accepted', inbound: 'received' }

/** The other direction's message under the same id, in words. */
const OTHER_IN_WORDS = { outbound: 'a message accepted to send to the partner', inbound: 'a message received from the partner' }

/**
 * Entries read per request, and at most how many requests: the list is paged
 * through with the API's cursor, so refusals before the message hide none of
 * the entries after them, and an id refused without end still gives a page.
 */
const ENTRIES_PAGE = 1000
const ENTRY_PAGES = 5

/** Every ledger entry about the id, oldest first, up to ENTRY_PAGES pages; `more` when the ledger holds others after them. */
async function entriesAbout(id) {
  const entries = []
  let cursor = null
  for (let n = 0; n < ENTRY_PAGES; n++) {
    const page = await getJson(`/v1/audit/entries?messageId=${id}&limit=${ENTRIES_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    entries.push(...page.entries)
    cursor = page.nextCursor
    if (!cursor) return { entries, more: false }
  }
  return { entries, more: true }
}

/** The entry that took the message each way, if any, asked for by event: wherever it is among the entries about the id. */
async function takenEntries(id) {
  const [outbound, inbound] = await Promise.all(
    Object.values(TAKEN_BY).map(async (event) => (await getJson(`/v1/audit/entries?messageId=${id}&event=${event}&limit=1`)).entries[0])
  )
  return { outbound, inbound }
}

/** How many attempts `direction`'s way were refused before the message was taken, in words; "at least" when the entries read stop short of it. */
function refusedBefore(entries, more, taken) {
  const direction = taken.entry.direction ?? 'outbound'
  const n = entries.filter((x) => x.seq < taken.seq && x.entry.event === 'refused' && (x.entry.direction ?? 'outbound') === direction).length
  if (n === 0) return undefined
  const cutShort = more && entries.at(-1).seq < taken.seq
  return `${cutShort ? 'at least ' : ''}${n} attempt${n === 1 ? '' : 's'} under this id, listed below`
}

function supersession(label, link) {
  if (!link) return null
  return [
    label,
    [h('a', { href: `#/message/${link.id}` }, link.id), ` (${link.action === 'correct' ? 'correction' : 'retraction'}${link.reason ? `, ${link.reason}` : ''})`]
  ]
}

/**
 * What stopping a withdrawn message did (docs/privacy-officers.md,
 * "Corrections and retractions in the report"): the guide's words, on this page and in a
 * traveller's report alike.
 */
export function stoppedInWords(mayHaveArrived) {
  return mayHaveArrived ? 'stopped, though a failed attempt before may have reached the other side' : 'stopped before it left'
}

/**
 * A message taken (accepted or received) whose record the gateway no longer
 * holds: only the retention purge removes one (docs/privacy-officers.md,
 * "More of the API"), with its receipt and status; the ledger's entries stay.
 */
const PURGED = "purged by retention: the message and its record are no longer held; the ledger's entries about it stay"

function statusInWords(record) {
  if (record.status === 'withdrawn') return `withdrawn by a correction or retraction: ${stoppedInWords(record.mayHaveArrived)}`
  return record.status
}

/** Why there is no receipt: "not delivered" is not said of a message that may have arrived all the same, nor of one whose record was purged. */
function noReceipt(record, purged) {
  if (purged) return "no longer held: purged by retention with the message's record"
  if (record?.status !== 'withdrawn') return 'none (not delivered)'
  return record.mayHaveArrived ? 'none: no receipt came back, though a failed attempt may have reached the other side' : 'none (withdrawn before delivery)'
}

/** The failed delivery attempts the message's status keeps (docs/privacy-officers.md, "The ledger"), when it had any. */
function attemptsTable(record) {
  if (!record?.attempts?.length) return null
  return table(
    `Failed delivery attempts (${record.attempts.length})`,
    ['At', 'What failed'],
    record.attempts.map((a) => [when(a.at), a.error]),
    { id: 'attempts' }
  )
}

function decodeJws(jws) {
  const part = (s) => JSON.parse(atob(s.replace(/-/g, '+').replace(/_/g, '/')))
  const [header, payload] = jws.split('.')
  return { header: part(header), claims: part(payload) }
}

/**
 * The proof's verdict: verified only when the entry leads to the root of the
 * checkpoint's signed note and that note is signed by this gateway and
 * cosigned by the partner (docs/privacy-officers.md, "The console").
 */
function proofResult(seq, checked, witness) {
  if (checked === null) {
    return h(
      'p',
      { class: 'warn', id: 'proof-result' },
      `Entry ${seq} follows the latest checkpoint the partner cosigned: no proof until the next one is witnessed.`
    )
  }
  const failure = witness.witnessed ? checked.why : `${witness.why} (below)`
  if (failure !== null) return h('p', { class: 'error', role: 'alert', id: 'proof-result' }, `NOT verified: entry ${seq}: ${failure}.`)
  return h(
    'p',
    { class: 'ok', id: 'proof-result' },
    `Verified: entry ${seq} is in the ledger of ${witness.checkpoint.size} entries signed by this gateway and cosigned at ${cosignedAt(witness)} by the key this gateway names as the partner's (see the signatures below).`
  )
}

/**
 * The partner's keys are this gateway's account of them (GET
 * /.well-known/ledger-keys.json): the page cannot reach the partner's own,
 * so it never says the partner cosigned, only that the key this gateway
 * names as the partner's did (docs/privacy-officers.md, "The console").
 */
function signaturesResult({ witnessed, cosignedAt: at, why }) {
  return h(
    'p',
    { class: witnessed ? 'ok' : 'error', id: 'signatures-result' },
    witnessed
      ? `Signatures verified here: the checkpoint is signed by this gateway's key and cosigned at ${new Date(at * 1000).toISOString()} by the key this gateway names as the partner's, in the ledger keys it publishes. That this key is the partner's is this gateway's word: tools/verify-disclosure.mjs, given the partner's own ledger keys (--witness-keys), checks it.`
      : `NOT verified: ${why}.`
  )
}

/** When the partner cosigned, as its verified cosignature says (POSIX seconds), not as a field beside it does. */
function cosignedAt(witness) {
  return new Date(witness.cosignedAt * 1000).toISOString()
}

/** `#/message/<id>`, or `#/message/<id>/inbound` (or `/outbound`) for the message that way when the id names one each way. */
export async function messageView(address) {
  const [id, asked, ...rest] = address.split('/')
  if (!/^[0-9a-f-]{36}$/.test(id) || rest.length > 0) {
    show('Message', alertBox('No message id in the address.'))
    return
  }
  if (asked !== undefined && !(asked in TAKEN_BY)) {
    show('Message', alertBox(`No direction "${asked}": the address is #/message/<id>, or #/message/<id>/inbound or /outbound.`))
    return
  }
  const [{ entries, more }, taken, catalogue] = await Promise.all([entriesAbout(id), takenEntries(id), policies()])
  let records = { outbound: null, inbound: null }
  try {
    records = await getJson(`/v1/audit/messages/${id}`)
  } catch (err) {
    if (err.status !== 404) throw err
  }
  // The message sent, unless the address asks for the one received; one taken neither way is shown by its latest refusal.
  const direction = asked ?? (taken.outbound ? 'outbound' : taken.inbound ? 'inbound' : undefined)
  const deciding = taken[direction] ?? entries.findLast((x) => x.entry.event === 'refused') ?? entries[0]
  if (deciding === undefined) {
    show(`Message ${id}`, alertBox('The ledger names no such message.'))
    return
  }
  const otherDirection = direction === 'inbound' ? 'outbound' : 'inbound'
  const other = taken[direction] ? taken[otherDirection] : undefined
  const proof = await getJson(`/v1/audit/entries/${deciding.seq}/proof`)
  // What is shown below is read from the text the proof is about, not from the search answer.
  const e = JSON.parse(proof.ledgerEntry)
  // Size, root and signatures are all the signed note's: the JSON's `root` and `size` beside it are never trusted.
  const witness = proof.checkpoint ? await verifyCheckpoint(proof.checkpoint.note, await publishedKeys()) : null
  const proven = proof.inclusionProof && witness ? await verifyInCheckpoint(proof.ledgerEntry, deciding.seq, proof.inclusionProof, witness.checkpoint) : null
  // The proof proves a text; the page is about this message only if that text is (the search's answer that led here is a database column).
  // So is the entry's event and direction: the one asked for as the message taken that way must be that.
  const ofThisMessage = e.messageId === id && (!taken[direction] || (e.event === TAKEN_BY[direction] && (e.direction ?? 'outbound') === direction))
  const checked = proven?.ok && !ofThisMessage ? { ...proven, ok: false, why: 'the proven entry is of another message, not this one' } : proven
  const published = catalogue.kinds.find((k) => k.kind === e.kind)
  // The record of the message shown, never the other direction's under the same id: that one's status and receipt are not this one's.
  const shownDirection = direction ?? e.direction ?? 'outbound'
  const record = records[shownDirection] ?? null
  const purged = taken[direction] !== undefined && record === null
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
        ['Refused before it', taken[direction] ? refusedBefore(entries, more, deciding) : undefined],
        [
          'Also under this id',
          other ? [h('a', { href: `#/message/${id}/${otherDirection}` }, OTHER_IN_WORDS[otherDirection]), ` (entry ${other.seq})`] : undefined
        ],
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
        ['Status', record ? statusInWords(record) : purged ? PURGED : undefined],
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
      proofResult(deciding.seq, checked, witness),
      witness === null ? null : signaturesResult(witness),
      checked
        ? facts([
            ['Checkpoint root, as signed', short(witness.checkpoint?.root, 20)],
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
            shownDirection === 'inbound' ? 'The receipt this gateway signed' : "The partner's signed receipt",
            receipt
              ? [
                  `${receipt.claims.receiver ?? ''} signed with ${receipt.header.alg} key `,
                  h('code', {}, receipt.header.kid ?? '—'),
                  ', received ',
                  when(receipt.claims.receivedAt),
                  ', for the digest ',
                  short(receipt.claims.digest, 16)
                ]
              : noReceipt(record, purged)
          ],
          // Only the lines that verified here: a line is a name any text can carry.
          ['Checkpoint signed by', witness === null ? '—' : witness.signers.length > 0 ? witness.signers.join(', ') : 'no key this gateway publishes or trusts']
        ],
        { id: 'signatures' }
      )
    ),
    attemptsTable(record),
    table(
      'Every ledger entry about this message',
      ['Seq', 'At', 'Outcome', 'Direction', 'Caller'],
      entries.map(({ seq, entry: x }) => [String(seq), when(x.at), `${x.event}${x.code ? ` (${x.code})` : ''}`, x.direction ?? '—', x.caller ?? '—']),
      { id: 'message-entries' }
    ),
    more
      ? h(
          'p',
          { class: 'warn', id: 'entries-bounded' },
          `Showing the first ${entries.length} entries about this id; the ledger holds more: GET /v1/audit/entries?messageId=${id} lists them all.`
        )
      : null,
    holdForm('message', () => ({ messageId: id }))
  )
}
