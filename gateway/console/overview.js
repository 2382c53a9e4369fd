// The ledger at a glance (issue 13, point 1): is it intact (the witness's
// summary, a full verification on demand, conflict alerts), what it records
// over time by kind, purpose and partner, as charts with their figures in
// tables, and the biometric match rates in each direction.
import { getJson } from './api.js'
import { age, alertBox, facts, h, short, show, table, when } from './dom.js'

/** How many entries the charts are counted from, at most: the page never loads the ledger whole. */
export const CHART_ENTRY_CAP = 5000
const PAGE = 1000
/** COSIGNATURE_MAX_AGE_MS's default (docs/privacy-officers.md): an older cosignature is warned of. */
const COSIGNATURE_STALE_MS = 3600_000
const ACTIONS = ['share', 'generalise', 'pseudonymise', 'withhold']
const COLOURS = ['#1b5e20', '#0d47a1', '#6a1b9a', '#b71c1c', '#e65100', '#37474f']

const RANGES = { day: 86400_000, week: 7 * 86400_000, month: 30 * 86400_000 }

export async function overviewView() {
  const integrity = h('section', { 'aria-labelledby': 'integrity-h' }, h('h2', { id: 'integrity-h' }, 'Is the ledger intact?'))
  const activity = h('section', { 'aria-labelledby': 'activity-h' }, h('h2', { id: 'activity-h' }, 'What the ledger records'))
  show('Overview', integrity, activity)
  await Promise.all([renderIntegrity(integrity), renderActivity(activity, 'month')])
}

async function renderIntegrity(section) {
  const w = await getJson('/v1/audit/witness')
  const cosigned = w.latestCosigned
  const stale = cosigned?.cosignedAt && Date.now() - Date.parse(cosigned.cosignedAt) > COSIGNATURE_STALE_MS
  section.append(
    w.conflicts.length > 0
      ? h(
          'div',
          { role: 'alert', class: 'error', id: 'conflicts' },
          h('p', {}, `${w.conflicts.length} checkpoint conflict alert(s): a ledger was cut short or rewritten.`),
          h(
            'ul',
            {},
            w.conflicts.map((c) => h('li', {}, `Entry ${c.seq} at `, when(c.at), `: ${c.reason}`))
          )
        )
      : h('p', { class: 'ok', id: 'conflicts' }, 'No checkpoint conflict alert.'),
    facts(
      [
        ['Latest checkpoint', w.latestCheckpoint ? [`${w.latestCheckpoint.size} entries, signed `, when(w.latestCheckpoint.at)] : 'none yet'],
        [
          'Latest the partner cosigned',
          cosigned ? [`${cosigned.size} entries, cosigned `, when(cosigned.cosignedAt), ` (${age(cosigned.cosignedAt)} ago)`] : 'none yet'
        ],
        ['Root of that tree', cosigned ? short(cosigned.root, 16) : '—'],
        ["Partner's ledger, witnessed here", w.partnerLedger ? [`${w.partnerLedger.size} entries, cosigned `, when(w.partnerLedger.cosignedAt)] : 'none yet']
      ],
      { id: 'witness' }
    ),
    ...(stale ? [h('p', { class: 'warn' }, 'The latest cosignature is older than an hour: entries since are held by this gateway’s word alone.')] : [])
  )
  const result = h('div', { id: 'verification', 'aria-live': 'polite' })
  const button = h(
    'button',
    {
      type: 'button',
      onclick: async () => {
        button.disabled = true
        result.replaceChildren(h('p', {}, 'Verifying every entry, checkpoint and cosignature…'))
        const started = performance.now()
        try {
          const v = await getJson('/v1/audit/verification')
          const seconds = ((performance.now() - started) / 1000).toFixed(1)
          result.replaceChildren(
            h('p', { class: v.ok ? 'ok' : 'error', role: v.ok ? null : 'alert' }, v.ok ? 'Verified: the ledger is intact.' : 'NOT intact.'),
            facts([
              ['Verified at', when(new Date().toISOString())],
              ['Entries checked', String(v.entries)],
              ['Checkpoints', `${v.checkpoints} (${v.countersignatures} cosigned by the partner)`],
              ['Witnessed up to', v.cosigned ? `entry ${v.cosigned.size}${v.cosigned.fromPartner ? ", as the partner's own copy says" : ''}` : 'nothing yet'],
              ['First bad entry', v.firstBad ? `${v.firstBad.seq}: ${v.firstBad.reason}` : undefined],
              ['Time', `${seconds} s`]
            ]),
            v.warnings.length > 0
              ? h(
                  'ul',
                  { class: 'warn' },
                  v.warnings.map((m) => h('li', {}, m))
                )
              : null
          )
        } catch (err) {
          result.replaceChildren(alertBox(err.message))
        } finally {
          button.disabled = false
        }
      }
    },
    'Verify the whole ledger now'
  )
  section.append(h('p', {}, button, ' re-checks the chain, the Merkle tree, every checkpoint and cosignature, against the partner’s copy.'), result)
}

/** Up to CHART_ENTRY_CAP entries since `from`, page by page with the API's cursor. */
async function entriesSince(from) {
  const found = []
  let cursor
  do {
    const q = new URLSearchParams({ from, limit: String(PAGE) })
    if (cursor) q.set('cursor', cursor)
    const page = await getJson(`/v1/audit/entries?${q}`)
    found.push(...page.entries)
    cursor = page.nextCursor
  } while (cursor && found.length < CHART_ENTRY_CAP)
  return { entries: found.slice(0, CHART_ENTRY_CAP), capped: Boolean(cursor) || found.length > CHART_ENTRY_CAP }
}

/** The country/agency of the other side of a message. */
function partyOf(e) {
  const other = e.direction === 'inbound' ? e.from : e.to
  return (other ?? '—').split('/').slice(0, 2).join('/')
}

function count(map, key, by = 1) {
  map.set(key, (map.get(key) ?? 0) + by)
}

/** The figures the charts show, from the entries: messages are `accepted` (outbound) and `received` (inbound) entries, one per message. */
export function tally(entries, bucketMs) {
  const messages = entries.filter((e) => e.entry.event === 'accepted' || e.entry.event === 'received').map((e) => e.entry)
  const overTime = new Map()
  const fieldsByKind = new Map()
  const byPurpose = new Map()
  const byPartner = new Map()
  const matches = { US: { matched: 0, answered: 0 }, CA: { matched: 0, answered: 0 } }
  for (const e of messages) {
    const bucket = new Date(Math.floor(Date.parse(e.at) / bucketMs) * bucketMs).toISOString()
    const slot = overTime.get(bucket) ?? { outbound: 0, inbound: 0 }
    slot[e.direction] += 1
    overTime.set(bucket, slot)
    const kind = fieldsByKind.get(e.kind) ?? Object.fromEntries(ACTIONS.map((a) => [a, 0]))
    for (const f of e.fields) kind[f.action] = (kind[f.action] ?? 0) + 1
    fieldsByKind.set(e.kind, kind)
    count(byPurpose, e.purpose)
    count(byPartner, `${e.direction === 'inbound' ? 'from' : 'to'} ${partyOf(e)}`)
    // A match response carries a subject on MATCH and only then (schemas/kinds/biometric.match-response.schema.json):
    // the ledger holds no value, but it holds a decision for each field present.
    if (e.kind === 'biometric.match-response') {
      const answering = (e.from ?? '').slice(0, 2)
      if (answering in matches) {
        matches[answering].answered += 1
        if (e.fields.some((f) => f.path.startsWith('subject.'))) matches[answering].matched += 1
      }
    }
  }
  return { messages: messages.length, overTime, fieldsByKind, byPurpose, byPartner, matches }
}

function chart(id, label, config) {
  const canvas = h('canvas', { id, role: 'img', 'aria-label': label, width: 640, height: 260 })
  const figure = h('figure', { class: 'chart' }, canvas, h('figcaption', {}, label))
  queueMicrotask(() => {
    if (typeof window.Chart !== 'function') return
    new window.Chart(canvas, {
      ...config,
      options: { animation: false, responsive: false, plugins: { legend: { position: 'bottom' } }, ...config.options }
    })
  })
  return figure
}

function pct(m) {
  return m.answered === 0 ? 'no answers yet' : `${((100 * m.matched) / m.answered).toFixed(1)} % (${m.matched} of ${m.answered})`
}

async function renderActivity(section, range) {
  const from = new Date(Date.now() - RANGES[range]).toISOString()
  const { entries, capped } = await entriesSince(from)
  const bucketMs = range === 'day' ? 3600_000 : 86400_000
  const t = tally(entries, bucketMs)
  const picker = h(
    'select',
    {
      id: 'range',
      onchange: async () => {
        body.replaceChildren(h('p', {}, 'Counting…'))
        section.replaceChildren(section.firstChild)
        await renderActivity(section, picker.value)
      }
    },
    Object.keys(RANGES).map((r) =>
      h('option', { value: r, selected: r === range }, { day: 'the last 24 hours', week: 'the last 7 days', month: 'the last 30 days' }[r])
    )
  )
  const body = h('div', {})
  const times = [...t.overTime.keys()].sort()
  const kinds = [...t.fieldsByKind.keys()].sort()
  body.append(
    h(
      'p',
      { id: 'counted' },
      `${t.messages} messages in ${entries.length} ledger entries since `,
      when(from),
      capped ? ` (the first ${CHART_ENTRY_CAP} entries of the range only: narrow it, or search, for the rest).` : '.'
    ),
    chart('chart-time', 'Messages over time, sent and received', {
      type: 'bar',
      data: {
        labels: times.map((k) => (bucketMs === 3600_000 ? k.slice(11, 16) : k.slice(0, 10))),
        datasets: [
          { label: 'sent (outbound)', data: times.map((k) => t.overTime.get(k).outbound), backgroundColor: COLOURS[1] },
          { label: 'received (inbound)', data: times.map((k) => t.overTime.get(k).inbound), backgroundColor: COLOURS[4] }
        ]
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
    }),
    table(
      'Messages over time',
      ['From', 'Sent', 'Received'],
      times.map((k) => [k, String(t.overTime.get(k).outbound), String(t.overTime.get(k).inbound)]),
      { id: 'table-time' }
    ),
    chart('chart-fields', 'Field decisions by kind: shared, generalised, pseudonymised, withheld', {
      type: 'bar',
      data: {
        labels: kinds,
        datasets: ACTIONS.map((a, i) => ({ label: a, data: kinds.map((k) => t.fieldsByKind.get(k)[a]), backgroundColor: COLOURS[i] }))
      },
      options: { indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } } }
    }),
    table(
      'Field decisions by kind',
      ['Kind', ...ACTIONS],
      kinds.map((k) => [k, ...ACTIONS.map((a) => String(t.fieldsByKind.get(k)[a]))]),
      { id: 'table-fields' }
    ),
    h(
      'div',
      { class: 'pair' },
      h(
        'div',
        {},
        chart('chart-purpose', 'Messages by purpose', {
          type: 'bar',
          data: { labels: [...t.byPurpose.keys()], datasets: [{ label: 'messages', data: [...t.byPurpose.values()], backgroundColor: COLOURS[0] }] },
          options: { indexAxis: 'y', scales: { x: { beginAtZero: true } } }
        }),
        table(
          'Messages by purpose',
          ['Purpose', 'Messages'],
          [...t.byPurpose].map(([k, v]) => [k, String(v)]),
          { id: 'table-purpose' }
        )
      ),
      h(
        'div',
        {},
        chart('chart-partner', 'Messages by partner agency', {
          type: 'bar',
          data: { labels: [...t.byPartner.keys()], datasets: [{ label: 'messages', data: [...t.byPartner.values()], backgroundColor: COLOURS[5] }] },
          options: { indexAxis: 'y', scales: { x: { beginAtZero: true } } }
        }),
        table(
          'Messages by partner agency',
          ['Partner', 'Messages'],
          [...t.byPartner].map(([k, v]) => [k, String(v)]),
          { id: 'table-partner' }
        )
      )
    ),
    h('h3', {}, 'Biometric match rates'),
    chart('chart-matches', 'Share of fingerprint queries that matched, each direction', {
      type: 'bar',
      data: {
        labels: ['Canadian prints, checked in the U.S.', 'U.S. prints, checked in Canada'],
        datasets: [
          {
            label: '% matched',
            data: [t.matches.US, t.matches.CA].map((m) => (m.answered === 0 ? 0 : (100 * m.matched) / m.answered)),
            backgroundColor: [COLOURS[1], COLOURS[4]]
          }
        ]
      },
      options: { indexAxis: 'y', scales: { x: { min: 0, max: 100 } }, plugins: { legend: { display: false } } }
    }),
    table(
      'Biometric match rates (a match response names a subject on a match only)',
      ['Direction', 'Matched'],
      [
        ['Canada to the U.S. (answered by the U.S.)', pct(t.matches.US)],
        ['U.S. to Canada (answered by Canada)', pct(t.matches.CA)]
      ],
      { id: 'table-matches' }
    )
  )
  section.append(h('p', {}, h('label', { for: 'range' }, 'Count over '), picker), body)
}
