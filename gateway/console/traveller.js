// One traveller (issue 13, point 4): the disclosure report for a document
// number and issuing country, a membership id, or a surname and date of birth, sent in a POST body only
// (docs/privacy-officers.md, "The audit API"). The identifier is cleared from
// the form once the report is shown and never shown itself: the report names
// the traveller by the ledger's keyed digest. Every entry's inclusion proof,
// and the checkpoint's signatures, are checked here, and what each row shows
// against the entry its proof proves.
import { policies, postJson, publishedKeys } from './api.js'
import { notALedgerPosition, notSupersededAsSaid, notTheTravellers, repeatedRows, rowNotAsItsEntry } from './disclosures.mjs'
import { facts, focusableAlert, h, saveFile, short, show, table, when } from './dom.js'
import { holdForm, holdsTable } from './holds.js'
import { verifyInCheckpoint } from './merkle.js'
import { stoppedInWords } from './message.js'
import { verifyCheckpoint } from './notes.js'

function upperCase(event) {
  event.target.value = event.target.value.toUpperCase()
}

function field(id, label, attrs = {}) {
  // autocomplete off: the browser keeps no history of identifiers typed here.
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, autocomplete: 'off', spellcheck: 'false', ...attrs }))
}

/** What the form is told when it holds no whole identifier (docs/privacy-officers.md, "The audit API"). */
const INCOMPLETE =
  'Give one complete identifier, and only one: a document number with its issuing country, a membership id, or a surname with a date of birth. Nothing was sent.'

/**
 * The one identifier the form holds, whole, as the API takes it; null when
 * none is complete, or when more than one is begun (the API refuses both). A
 * second identifier is never set aside without a word: a report by one of
 * them alone would look complete and leave out what the other finds.
 */
function identifierOf(form) {
  const value = (id) => form.querySelector(`#${id}`).value.trim()
  const groups = [['membershipId'], ['documentNumber', 'issuingCountry'], ['surname', 'dateOfBirth']].filter((ids) => ids.some((id) => value(id) !== ''))
  if (groups.length !== 1 || groups[0].some((id) => value(id) === '')) return null
  const [first, second] = groups[0]
  if (second === undefined) return { [first]: value(first) }
  return first === 'documentNumber'
    ? { documentNumber: value('documentNumber'), issuingCountry: value('issuingCountry').toUpperCase() }
    : { surname: value('surname'), dateOfBirth: value('dateOfBirth') }
}

/** An alert in place of the report, with the focus: the keyboard is left on what went wrong. */
function showAlert(report, message) {
  document.getElementById('report-status').textContent = ''
  const alert = focusableAlert(message)
  report.replaceChildren(alert)
  alert.focus()
}

/** The report's page buttons: `load(true)` after moving the cursor back or on. */
function pageTurns(cursors, nextCursor, load) {
  return {
    number: cursors.length,
    previous:
      cursors.length > 1
        ? () => {
            cursors.pop()
            load(true)
          }
        : null,
    next:
      nextCursor !== null
        ? () => {
            cursors.push(nextCursor)
            load(true)
          }
        : null
  }
}

export async function travellerView() {
  // The report is announced in a line (the status), not read out whole: a live region holding its table has every row read.
  const report = h('div', { id: 'report' })
  const status = h('p', { id: 'report-status', role: 'status', class: 'no-print' })
  const form = h(
    'form',
    { id: 'traveller-form', class: 'filters', 'aria-label': 'Traveller' },
    h(
      'fieldset',
      {},
      h('legend', {}, 'A travel document'),
      field('documentNumber', 'Document number', { maxlength: 20 }),
      // Upper-cased as typed: the ICAO code is upper-case, and a code typed in lower case is the same country.
      field('issuingCountry', 'Issuing country (ICAO code, e.g. CAN)', { maxlength: 3, pattern: '[A-Za-z<]{1,3}', oninput: upperCase })
    ),
    h('fieldset', {}, h('legend', {}, 'Or a trusted-traveller membership'), field('membershipId', 'Membership id (NEXUS PASSID)', { maxlength: 20 })),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Or, for one named by neither (a protected person matched by prints)'),
      field('surname', 'Surname', { maxlength: 100 }),
      field('dateOfBirth', 'Date of birth', { type: 'date' })
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show the disclosure report'))
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const identifier = identifierOf(form)
    if (identifier === null) {
      showAlert(report, INCOMPLETE)
      return
    }
    // The report comes in pages, oldest entries first: the cursor of each page shown, to go back.
    const cursors = [undefined]
    const load = async (turned) => {
      report.replaceChildren()
      status.textContent = 'Reading the ledger…'
      try {
        const cursor = cursors[cursors.length - 1]
        const body = await postJson('/v1/audit/disclosures', cursor === undefined ? identifier : { ...identifier, cursor })
        await render(report, body, identifier, pageTurns(cursors, body.nextCursor, load))
        status.textContent = `Disclosure report shown: ${body.disclosures.length} of ${body.totals.entries} entries${cursors.length > 1 || body.nextCursor !== null ? `, page ${cursors.length}` : ''}.`
        // Cleared once the report is shown, not before: a refused request leaves what was typed, to correct (docs/privacy-officers.md, "The console").
        form.reset()
        // The page button pressed is gone with the page it was on: the keyboard goes to the new page's heading.
        if (turned) report.querySelector('h2').focus()
      } catch (err) {
        showAlert(report, `The report could not be made: ${err.code ? `${err.code}: ` : ''}${err.message}`)
      }
    }
    await load(false)
  })
  show(
    "A traveller's disclosure report",
    h(
      'p',
      { class: 'no-print' },
      'Every time a field about this person left or entered the country: to whom, for what, under which authority, and whether it was corrected. ' +
        'The identifier is sent in the body of a request, matched by its keyed digest, and cleared from this form; the request itself is audited.'
    ),
    form,
    status,
    report
  )
}

/**
 * Whether the record left or came in, and to or from whom. A message this
 * gateway accepted to send and then withdrew, on a correction or retraction,
 * before it was delivered did not leave (or may have, after a failed
 * attempt): its row says so, in the words the page uses for a withdrawn
 * message (docs/privacy-officers.md, "Corrections and retractions in the
 * report").
 */
/**
 * A surname and date of birth name everyone who shares them: the report then
 * holds anyone else's entries of that surname (accents, case and spaces
 * aside) and date of birth, and the officer is told so before disclosing it
 * (docs/privacy-officers.md, "The audit API").
 */
function foundBy(identifier) {
  if (identifier.surname === undefined) return []
  return [
    [
      'Found by',
      h(
        'strong',
        { id: 'found-by-identity' },
        'surname and date of birth: anyone else of that surname and date of birth is in this report too. Check each message is about this person before disclosing it.'
      )
    ]
  ]
}

function crossing(d) {
  if (d.direction === 'outbound' && d.event === 'accepted' && d.supersededBy?.withdrawn === true) {
    return `accepted to send to ${d.to ?? '—'}; ${stoppedInWords(d.supersededBy.mayHaveArrived)}`
  }
  if (d.direction === 'outbound') return `left for ${d.to ?? '—'}`
  if (d.direction === 'inbound') return `came from ${d.from ?? '—'}`
  return '—'
}

/**
 * The question the console is for: was this person's record shared with the
 * other country lately, and how often (over every page). `sent` counts the
 * messages this gateway accepted to send, a message withdrawn before it was
 * delivered included (docs/privacy-officers.md, "The console"): the words
 * say that, not that they all left the country.
 */
function lastMonth(totals) {
  const to = totals.lastMonth.to.join(', ')
  return `${totals.lastMonth.sent} message(s) accepted to send to the other country${to ? ` (${to})` : ''}, ${totals.lastMonth.received} received from it`
}

function messageTotals(totals) {
  return `${totals.sent + totals.received} (${totals.sent} accepted to send to the other country, ${totals.received} received from it)`
}

function pageNavigation(pages) {
  if (pages.previous === null && pages.next === null) return []
  return h(
    'p',
    { class: 'no-print', id: 'report-pages' },
    h('button', { type: 'button', disabled: pages.previous === null, onclick: pages.previous ?? undefined }, 'Previous entries'),
    ` page ${pages.number} `,
    h('button', { type: 'button', disabled: pages.next === null, onclick: pages.next ?? undefined }, 'Next entries')
  )
}

/**
 * Each entry's proof, checked against the size and root of the checkpoint's
 * signed note, and that note's signature and cosignature checked with the
 * keys the gateway publishes, as the message page does: an entry is proven
 * only in a checkpoint signed by this gateway and cosigned by the partner
 * (docs/privacy-officers.md, "The ledger"). A proof proves the entry's text,
 * and the row shows the fields of the answer beside it: a row is verified
 * only when they are what that text says, the check
 * tools/verify-disclosure.mjs makes offline (disclosures.mjs;
 * docs/privacy-officers.md, "Checking a disclosure report offline").
 * `checks[i]` is null for an entry after the checkpoint.
 */
async function checkProofs(body) {
  const note = body.checkpoint?.note
  const witness = note ? await verifyCheckpoint(note, await publishedKeys()) : null
  const repeated = repeatedRows(body.disclosures)
  const checks = await Promise.all(
    body.disclosures.map(async (d) => {
      const notAt = notALedgerPosition(d.seq)
      if (notAt !== null) return { ok: false, computed: null, why: notAt }
      if (repeated.has(d.seq)) return { ok: false, computed: null, why: 'the page shows this entry more than once' }
      if (!d.inclusionProof || witness === null) return null
      if (!witness.witnessed) return { ok: false, computed: null, why: witness.why }
      const proof = await verifyInCheckpoint(d.ledgerEntry, d.seq, d.inclusionProof, witness.checkpoint)
      if (!proof.ok) return proof
      const why = rowNotAsItsEntry(d, body.subject)
      return why === null ? proof : { ...proof, ok: false, why }
    })
  )
  // Whose each proven row is: the traveller's own, or an original a correction of theirs here supersedes.
  const notTheirs = notTheTravellers(body.disclosures, new Set(body.disclosures.filter((_d, i) => checks[i]?.ok).map((d) => d.seq)), body.subject)
  body.disclosures.forEach((d, i) => {
    const why = notTheirs.get(d.seq)
    if (why !== undefined) checks[i] = { ...checks[i], ok: false, why }
  })
  // A row's "corrected by entry N" is checked against entry N when this page
  // holds it, as the offline verifier does: N must be proven, and be the
  // correction or retraction of this message. One on another page is checked
  // with that page.
  const rows = new Map(body.disclosures.map((d, i) => [d.seq, i]))
  body.disclosures.forEach((d, i) => {
    const at = d.supersededBy ? rows.get(d.supersededBy.seq) : undefined
    if (at === undefined || !checks[i]?.ok) return
    const why = checks[at]?.ok ? notSupersededAsSaid(d, body.disclosures[at]) : `the entry that superseded it (${d.supersededBy.seq}) is not proven`
    if (why !== null) checks[i] = { ...checks[i], ok: false, why }
  })
  return { witness, checks }
}

function proofsInWords(witness, proven, entries) {
  if (witness === null) return 'no checkpoint the partner cosigned yet'
  if (!witness.witnessed) {
    return h(
      'strong',
      { class: 'error' },
      `NOT verified: ${witness.why}, checked here with the ledger keys this gateway publishes, its own and those it names as the partner's; 0 of ${entries} entries verified`
    )
  }
  const at = new Date(witness.cosignedAt * 1000).toISOString()
  // The witness's key is this gateway's account of the partner's (as on a message's page): the page says so, not that the partner cosigned.
  return `${proven} of ${entries} entries verified in this page against the checkpoint of ${witness.checkpoint.size} entries, signed by this gateway and cosigned at ${at} by the key this gateway names as the partner's (tools/verify-disclosure.mjs, given the partner's own ledger keys, checks that it is)`
}

function holdsOnTraveller(holds) {
  return holds.length === 0 ? h('p', {}, 'No legal hold or complaint on this traveller.') : holdsTable(holds)
}

/**
 * The published rules of a row's policy. Only the version published now is
 * published: a row decided under another does not offer today's rules as
 * why its fields went, and says so, as a message's page does
 * (docs/privacy-officers.md, "The console").
 */
function rulesLink(d, catalogue) {
  const now = catalogue.kinds.find((k) => k.kind === d.kind)?.policyVersion
  const href = `#/policies/${encodeURIComponent(d.policy.id)}`
  if (now === d.policy.version) return h('a', { href }, 'the rules')
  return [h('a', { href }, 'the rules published now'), ', not the version it was decided under']
}

async function render(report, body, identifier, pages) {
  const [{ witness, checks }, catalogue] = await Promise.all([checkProofs(body), policies()])
  const proven = checks.filter((c) => c?.ok).length
  const rows = body.disclosures.map((d, i) => [
    String(d.seq),
    when(d.at),
    d.event,
    crossing(d),
    d.kind ?? '—',
    // Why each field went: the policy's published rules, with the reason for each.
    d.policy ? [d.purpose ?? '', ' (', rulesLink(d, catalogue), ')'] : (d.purpose ?? '—'),
    d.legalAuthority ?? '—',
    d.shared.length === 0
      ? d.reference
        ? `hold ${d.reference}${d.complaintRef ? `, complaint ${d.complaintRef}` : ''}`
        : 'none'
      : h(
          'ul',
          { class: 'fields' },
          d.shared.map((f) => h('li', {}, h('code', {}, f.path), ` ${f.action} (${f.principle})`))
        ),
    String(d.withheld),
    d.supersededBy
      ? [
          `${d.supersededBy.action === 'correct' ? 'corrected' : 'retracted'} by entry ${d.supersededBy.seq}`,
          d.supersededBy.withdrawn ? `, ${stoppedInWords(d.supersededBy.mayHaveArrived)}` : ''
        ]
      : d.supersedes
        ? [
            `${d.supersedes.action === 'correct' ? 'corrects' : 'retracts'} `,
            h('a', { href: `#/message/${d.supersedes.messageId}` }, d.supersedes.messageId.slice(0, 8))
          ]
        : 'no',
    d.messageId ? h('a', { href: `#/message/${d.messageId}${d.direction === 'inbound' ? '/inbound' : ''}` }, d.messageId.slice(0, 8)) : '—',
    // Why, in the cell's text: a tooltip is reached by a pointer only, never by the keyboard, a screen reader or the printed report.
    checks[i] === null ? 'not yet witnessed' : checks[i].ok ? 'verified' : [h('strong', { class: 'error' }, 'NOT verified'), `: ${checks[i].why}`]
  ])
  // A report of several pages is saved a page at a time, each with its own checkpoint and proofs (docs/privacy-officers.md,
  // "The audit API"): the button and the file name say which page, so that one is not taken for the whole report, nor saved over another.
  const paged = pages.previous !== null || pages.next !== null
  const download = h(
    'button',
    {
      type: 'button',
      class: 'no-print',
      onclick: () =>
        saveFile(
          new Blob([JSON.stringify(body, null, 2)], { type: 'application/json' }),
          `disclosure-report-${body.subject.slice(0, 8)}${paged ? `-page-${pages.number}` : ''}.json`
        )
    },
    paged
      ? `Save page ${pages.number} of the report (JSON, for tools/verify-disclosure.mjs; save and check each page)`
      : 'Save the report (JSON, for tools/verify-disclosure.mjs)'
  )
  const holds = h('div', { id: 'report-holds' }, holdsOnTraveller(body.holds))
  // A hold placed below is listed here at once (the saved report stays the API's answer, as tools/verify-disclosure.mjs reads it).
  const placed = []
  const onPlaced = (hold) => {
    placed.push(hold)
    holds.replaceChildren(holdsOnTraveller([...body.holds, ...placed]))
  }
  report.replaceChildren(
    h('h2', { tabindex: '-1' }, 'Disclosure report'),
    facts(
      [
        ['Traveller', ['known to the ledger by the keyed digest ', short(body.subject, 16)]],
        ...foundBy(identifier),
        ['Messages', messageTotals(body.totals)],
        ['In the last 30 days', lastMonth(body.totals)],
        [
          'Ledger entries',
          body.totals.entries === body.disclosures.length
            ? String(body.totals.entries)
            : `${body.totals.entries}; this page ${body.disclosures.length}, from entry ${body.disclosures[0]?.seq ?? '—'}`
        ],
        ['Proofs', proofsInWords(witness, proven, body.disclosures.length)],
        ['Made', when(new Date().toISOString())]
      ],
      { id: 'report-facts' }
    ),
    h('p', { class: 'no-print' }, h('button', { type: 'button', onclick: () => window.print() }, 'Print'), ' ', download),
    table(
      'Every entry naming this traveller',
      ['Seq', 'At', 'Event', 'Crossing', 'Kind', 'Purpose', 'Authority', 'Fields that went', 'Withheld', 'Corrected', 'Message', 'Proof'],
      rows,
      { id: 'report-table' }
    ),
    pageNavigation(pages),
    h('h3', {}, 'Legal holds and complaints'),
    holds,
    h(
      'div',
      { class: 'no-print' },
      holdForm('traveller', () => identifier, onPlaced)
    )
  )
}
