// One traveller (issue 13, point 4): the disclosure report for a document
// number and issuing country, a membership id, or a surname and date of birth, sent in a POST body only
// (docs/privacy-officers.md, "The audit API"). The identifier is cleared from
// the form once sent and never shown: the report names the traveller by the
// ledger's keyed digest. Every entry's inclusion proof is checked here.
import { postJson } from './api.js'
import { alertBox, facts, h, saveFile, short, show, table, when } from './dom.js'
import { holdForm, holdsTable } from './holds.js'
import { verifyInclusion } from './merkle.js'

function field(id, label, attrs = {}) {
  // autocomplete off: the browser keeps no history of identifiers typed here.
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, autocomplete: 'off', spellcheck: 'false', ...attrs }))
}

export async function travellerView() {
  const report = h('div', { id: 'report', 'aria-live': 'polite' })
  const form = h(
    'form',
    { id: 'traveller-form', class: 'filters', 'aria-label': 'Traveller' },
    h(
      'fieldset',
      {},
      h('legend', {}, 'A travel document'),
      field('documentNumber', 'Document number', { maxlength: 20 }),
      field('issuingCountry', 'Issuing country (ICAO code, e.g. CAN)', { maxlength: 3, pattern: '[A-Z<]{1,3}' })
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
    const value = (id) => form.querySelector(`#${id}`).value.trim()
    const identifier =
      value('membershipId') !== ''
        ? { membershipId: value('membershipId') }
        : value('documentNumber') === '' && value('surname') !== ''
          ? { surname: value('surname'), dateOfBirth: value('dateOfBirth') }
          : { documentNumber: value('documentNumber'), issuingCountry: value('issuingCountry').toUpperCase() }
    form.reset()
    // The report comes in pages, oldest entries first: the cursor of each page shown, to go back.
    const cursors = [undefined]
    const load = async () => {
      report.replaceChildren(h('p', {}, 'Reading the ledger…'))
      try {
        const cursor = cursors[cursors.length - 1]
        const body = await postJson('/v1/audit/disclosures', cursor === undefined ? identifier : { ...identifier, cursor })
        const pages = {
          number: cursors.length,
          previous:
            cursors.length > 1
              ? () => {
                  cursors.pop()
                  load()
                }
              : null,
          next:
            body.nextCursor !== null
              ? () => {
                  cursors.push(body.nextCursor)
                  load()
                }
              : null
        }
        await render(report, body, identifier, pages)
      } catch (err) {
        report.replaceChildren(alertBox(`${err.code ?? ''} ${err.message}`))
      }
    }
    await load()
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
    report
  )
}

function crossing(d) {
  if (d.direction === 'outbound') return `left for ${d.to ?? '—'}`
  if (d.direction === 'inbound') return `came from ${d.from ?? '—'}`
  return '—'
}

/** The question the console is for: was this person's record shared with the other country lately, and how often (over every page). */
function lastMonth(totals) {
  const to = totals.lastMonth.to.join(', ')
  return `${totals.lastMonth.sent} message(s) sent to the other country${to ? ` (${to})` : ''}, ${totals.lastMonth.received} received from it`
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

async function render(report, body, identifier, pages) {
  const cp = body.checkpoint
  const checks = await Promise.all(
    body.disclosures.map((d) =>
      d.inclusionProof && cp ? verifyInclusion(d.ledgerEntry, d.seq - 1, d.inclusionProof.treeSize, d.inclusionProof.hashes, cp.root) : null
    )
  )
  const proven = checks.filter((c) => c?.ok).length
  const rows = body.disclosures.map((d, i) => [
    String(d.seq),
    when(d.at),
    d.event,
    crossing(d),
    d.kind ?? '—',
    // Why each field went: the policy's published rules, with the reason for each.
    d.policy ? [d.purpose ?? '', ' (', h('a', { href: `#/policies/${encodeURIComponent(d.policy.id)}` }, 'the rules'), ')'] : (d.purpose ?? '—'),
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
          d.supersededBy.withdrawn
            ? d.supersededBy.mayHaveArrived
              ? ', stopped, though a failed attempt before may have reached the other side'
              : ', stopped before it left'
            : ''
        ]
      : d.supersedes
        ? [
            `${d.supersedes.action === 'correct' ? 'corrects' : 'retracts'} `,
            h('a', { href: `#/message/${d.supersedes.messageId}` }, d.supersedes.messageId.slice(0, 8))
          ]
        : 'no',
    d.messageId ? h('a', { href: `#/message/${d.messageId}` }, d.messageId.slice(0, 8)) : '—',
    checks[i] === null ? 'not yet witnessed' : checks[i].ok ? 'verified' : h('strong', { class: 'error' }, 'NOT verified')
  ])
  const download = h(
    'button',
    {
      type: 'button',
      class: 'no-print',
      onclick: () => saveFile(new Blob([JSON.stringify(body, null, 2)], { type: 'application/json' }), `disclosure-report-${body.subject.slice(0, 8)}.json`)
    },
    'Save the report (JSON, for tools/verify-disclosure.mjs)'
  )
  const holds = h('div', { id: 'report-holds' }, body.holds.length === 0 ? h('p', {}, 'No legal hold or complaint on this traveller.') : holdsTable(body.holds))
  report.replaceChildren(
    h('h2', {}, 'Disclosure report'),
    facts(
      [
        ['Traveller', ['known to the ledger by the keyed digest ', short(body.subject, 16)]],
        ['Messages', `${body.totals.sent + body.totals.received} (${body.totals.sent} left the country, ${body.totals.received} came in)`],
        ['In the last 30 days', lastMonth(body.totals)],
        [
          'Ledger entries',
          body.totals.entries === body.disclosures.length
            ? String(body.totals.entries)
            : `${body.totals.entries}; this page ${body.disclosures.length}, from entry ${body.disclosures[0]?.seq ?? '—'}`
        ],
        [
          'Proofs',
          cp
            ? `${proven} of ${body.disclosures.length} entries verified in this page against the checkpoint of ${cp.size} entries the partner cosigned at ${cp.cosignedAt}`
            : 'no checkpoint the partner cosigned yet'
        ],
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
      holdForm('traveller', () => identifier)
    )
  )
}
