// Search (issue 13, point 2) and export (point 6): the API's filters, one page
// at a time with its cursor, so a ledger of a million entries is never loaded
// whole; the current search exported as CSV by GET /v1/audit/export, streamed
// by the gateway and saved by the browser.
import { download, getJson, policies, query } from './api.js'
import { alertBox, h, saveFile, short, show, table, when } from './dom.js'

const PAGE_SIZE = 25
/**
 * Every event the ledger records (gateway/store/records.ts, AuditEvent), in
 * words, as the Outcome filter offers them. This plain-JS page cannot import the
 * gateway's type, so test/console.test.ts compares the filter's options with
 * it, and fails when the ledger gains an event this list lacks.
 */
const EVENTS = {
  accepted: 'accepted, to send',
  refused: 'refused',
  received: 'received from the partner',
  delivered: 'delivered',
  'delivery-failed': 'a delivery attempt failed',
  'dead-lettered': 'dead-lettered: attempts exhausted',
  withdrawn: 'withdrawn by a correction or retraction',
  purged: 'purged by retention',
  'checkpoint-countersigned': "partner's checkpoint cosigned",
  'disclosure-report': "a traveller's report made",
  'ledger-verified': 'ledger verified',
  'legal-hold-placed': 'legal hold placed',
  'legal-hold-released': 'legal hold released',
  'dead-letter-resent': 'dead letter resent by an operator',
  'dead-letter-discarded': 'dead letter discarded by an operator'
}

/** The search of this page load: kept when the officer opens a message and comes back. */
let last = { filters: {}, cursors: [undefined] }

function field(label, control) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control)
}

/** A select of `values`, an array of values or an object of values to the words shown for them. */
function select(id, values, current, any = 'any') {
  const options = Array.isArray(values) ? values.map((v) => [v, v]) : Object.entries(values)
  return h(
    'select',
    { id, name: id },
    h('option', { value: '' }, any),
    options.map(([v, words]) => h('option', { value: v, selected: v === current }, words))
  )
}

function input(id, current, attrs = {}) {
  return h('input', { id, name: id, value: current ?? '', autocomplete: 'off', ...attrs })
}

/** datetime-local (the officer's clock) to the API's UTC instant. */
function instant(local) {
  return local === '' ? undefined : new Date(local).toISOString()
}

export async function searchView() {
  const catalogue = await policies()
  const kinds = catalogue.kinds.map((k) => k.kind)
  const purposes = [...new Set(catalogue.kinds.flatMap((k) => k.purposes.map((p) => p.purpose)))].sort()
  const f = last.filters
  const form = h(
    'form',
    { id: 'search-form', class: 'filters', 'aria-label': 'Filters' },
    field('From', input('from', f.fromLocal, { type: 'datetime-local', step: 1 })),
    field('To', input('to', f.toLocal, { type: 'datetime-local', step: 1 })),
    field('Kind', select('kind', kinds, f.kind)),
    field('Purpose', select('purpose', purposes, f.purpose)),
    field('Partner country', select('partner', ['CA', 'US'], f.partner)),
    field('Agency', input('agency', f.agency, { placeholder: 'e.g. CBSA', maxlength: 32 })),
    field('Outcome', select('event', EVENTS, f.event)),
    field('Refusal code', input('code', f.code, { maxlength: 64 })),
    field('Direction', select('direction', ['outbound', 'inbound'], f.direction)),
    field('Field path', input('fieldPath', f.fieldPath, { placeholder: 'e.g. traveller.surname', maxlength: 200 })),
    field('Policy version', input('policyVersion', f.policyVersion, { placeholder: 'sha256:…', maxlength: 80 })),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, 'Search'),
      h('button', { type: 'button', id: 'export', onclick: () => exportCsv(exported) }, 'Export these results as CSV')
    )
  )
  // What a search found is announced in a line (the status), not as the table: a live region holding 25 rows has them all read out.
  const results = h('div', { id: 'results' })
  // What an export did is said in a place of its own, above the results: a failed export leaves the results it was of on screen.
  const exported = h('div', { id: 'export-result' })
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const v = (id) => form.elements.namedItem(id).value.trim()
    last = {
      filters: {
        fromLocal: v('from'),
        toLocal: v('to'),
        kind: v('kind'),
        purpose: v('purpose'),
        partner: v('partner'),
        // Agencies are upper-case codes (CBSA): as typed, `cbsa` is refused by the API.
        agency: v('agency').toUpperCase(),
        event: v('event'),
        code: v('code'),
        direction: v('direction'),
        fieldPath: v('fieldPath'),
        policyVersion: v('policyVersion')
      },
      cursors: [undefined]
    }
    await page(results)
  })
  show('Search the ledger', form, h('p', { id: 'results-status', role: 'status' }), exported, results)
  await page(results)
}

/** The API's filters from the form's. */
function apiFilters() {
  const { fromLocal, toLocal, ...rest } = last.filters
  return { ...rest, from: instant(fromLocal ?? ''), to: instant(toLocal ?? '') }
}

/**
 * Shows the page of results the cursor is at. `turned`: after Previous or
 * Next page, whose button is gone with the page it was on, the focus goes to
 * the new page's caption, not to the document (docs/privacy-officers.md,
 * "The console": usable from the keyboard).
 */
async function page(results, turned = false) {
  const cursor = last.cursors[last.cursors.length - 1]
  const search = query({ ...apiFilters(), limit: PAGE_SIZE, cursor })
  // A failed export was of the search shown before: it is not said beside another one's results.
  document.getElementById('export-result').replaceChildren()
  let answer
  try {
    answer = await getJson(`/v1/audit/entries${search}`)
  } catch (err) {
    document.getElementById('results-status').textContent = ''
    results.replaceChildren(alertBox(`The search was refused: ${err.code ? `${err.code}: ` : ''}${err.message}`))
    return
  }
  const n = last.cursors.length
  document.getElementById('results-status').textContent =
    `Page ${n}: ${answer.entries.length === 0 ? 'no entries' : `${answer.entries.length} entries, ${answer.entries[0].seq} to ${answer.entries.at(-1).seq}`}${answer.nextCursor ? ', more on the next page' : ''}.`
  const rows = answer.entries.map(({ seq, entry: e }) => [
    String(seq),
    when(e.at),
    e.event,
    e.direction ?? '—',
    e.kind ?? '—',
    e.purpose ?? '—',
    e.from ?? e.caller ?? '—',
    e.to ?? '—',
    e.policy ? short(e.policy.version, 16) : '—',
    // An entry about a message from the partner leads to that one, should the id name a message sent too.
    e.messageId ? h('a', { href: `#/message/${e.messageId}${e.direction === 'inbound' ? '/inbound' : ''}` }, e.messageId.slice(0, 8)) : (e.code ?? '—')
  ])
  results.replaceChildren(
    table(
      `Page ${n}: entries ${answer.entries.length === 0 ? 'none' : `${answer.entries[0].seq} to ${answer.entries.at(-1).seq}`}`,
      ['Seq', 'At', 'Outcome', 'Direction', 'Kind', 'Purpose', 'From', 'To', 'Policy version', 'Message'],
      rows,
      {
        id: 'results-table',
        // Which search the table answers: what is shown is never taken for another search's answer.
        'data-search': search
      }
    ),
    h(
      'nav',
      { 'aria-label': 'Result pages', class: 'pager' },
      h(
        'button',
        {
          type: 'button',
          disabled: n === 1,
          onclick: async () => {
            last.cursors.pop()
            await page(results, true)
          }
        },
        'Previous page'
      ),
      h(
        'button',
        {
          type: 'button',
          id: 'next-page',
          disabled: !answer.nextCursor,
          onclick: async () => {
            last.cursors.push(answer.nextCursor)
            await page(results, true)
          }
        },
        'Next page'
      )
    )
  )
  if (turned) focusCaption(results)
}

function focusCaption(results) {
  const caption = results.querySelector('caption')
  caption.tabIndex = -1
  caption.focus()
}

/**
 * The export of the search as the form has it; a refusal or a failure is
 * said in `exported`, beside the results, which stay: the officer does not
 * lose the page of results the export was of.
 */
async function exportCsv(exported) {
  exported.replaceChildren()
  try {
    const res = await download(`/v1/audit/export${query({ ...apiFilters(), format: 'csv' })}`)
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'audit.csv'
    saveFile(await res.blob(), name)
  } catch (err) {
    exported.replaceChildren(alertBox(`The export failed: ${err.message}${err.code ? ` (${err.code})` : ''}`))
  }
}
