// The ledger at a glance (issue 13, point 1): is it intact (the witness's
// summary, a full verification on demand, conflict alerts), what it records
// over time by kind, purpose and partner, as charts with their figures in
// tables, and the biometric match rates in each direction.
import { getJson } from './api.js'
import { age, facts, focusableAlert, h, short, show, table, when } from './dom.js'

/** COSIGNATURE_MAX_AGE_MS's default (docs/privacy-officers.md): an older cosignature is warned of. */
const COSIGNATURE_STALE_MS = 3600_000
const ACTIONS = ['share', 'generalise', 'pseudonymise', 'withhold']
const COLOURS = ['#1b5e20', '#0d47a1', '#6a1b9a', '#b71c1c', '#e65100', '#37474f']

const RANGES = { day: 86400_000, week: 7 * 86400_000, month: 30 * 86400_000 }

/**
 * Nothing on this page is checked in it: every figure is the gateway's
 * report of its own ledger, where a message's page and a traveller's report
 * check each entry's proof and the checkpoint's signatures themselves
 * (docs/privacy-officers.md, "The console"). Each section says so under its
 * heading, and is described by it, so that a screen reader hears it with
 * the section.
 */
const GATEWAYS_WORD = {
  integrity:
    'As this gateway reports them (GET /v1/audit/witness), not verified in this page: its checkpoints, the cosignatures and the last verification below are its own account. ' +
    "A message's page and a traveller's report check their entries' proofs and the checkpoint's signatures here.",
  activity:
    'Counted by this gateway (GET /v1/audit/statistics), not verified in this page: these figures are its report of its ledger. ' +
    "An entry's proof is checked here on its message's page, from the search, or in a traveller's report."
}

function reportedSection(name, title) {
  return h(
    'section',
    { 'aria-labelledby': `${name}-h`, 'aria-describedby': `${name}-note` },
    h('h2', { id: `${name}-h` }, title),
    h('p', { id: `${name}-note`, class: 'reported' }, GATEWAYS_WORD[name])
  )
}

export async function overviewView() {
  const integrity = reportedSection('integrity', 'Is the ledger intact?')
  const activity = reportedSection('activity', 'What the ledger records')
  show('Overview', integrity, activity)
  await Promise.all([renderIntegrity(integrity), renderActivity(activity, 'month')])
}

/** The last whole-ledger verification, as its ledger entry tells it. */
function lastVerification(v) {
  if (v === null) return 'none yet: use the button below'
  const verdict = v.ok ? `intact, ${v.entries} entries checked` : `NOT intact (${v.firstBad})`
  return [when(v.at), ` by ${v.by ?? 'someone'} (${age(v.at)} ago): ${verdict}`, v.witnessedTo > 0 ? `, witnessed up to entry ${v.witnessedTo}` : '']
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
        ["Partner's ledger, witnessed here", w.partnerLedger ? [`${w.partnerLedger.size} entries, cosigned `, when(w.partnerLedger.cosignedAt)] : 'none yet'],
        ['Last verification', lastVerification(w.lastVerification)]
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
            // The gateway's verdict, not the page's: "Verified" alone reads as the message page's own check.
            h(
              'p',
              { class: v.ok ? 'ok' : 'error', role: v.ok ? null : 'alert' },
              v.ok ? 'Verified by this gateway (not in this page): the ledger is intact.' : 'NOT intact, by this gateway’s own verification.'
            ),
            facts([
              ['Verified at', when(new Date().toISOString())],
              ['Entries checked', String(v.entries)],
              ['Checkpoints', `${v.checkpoints} (${v.countersignatures} cosigned by the partner)`],
              ['Witnessed up to', v.cosigned ? `entry ${v.cosigned.size}${v.cosigned.fromPartner ? ", as the partner's own copy says" : ''}` : 'nothing yet'],
              ['First bad entry', v.firstBad ? `${v.firstBad.seq}: ${v.firstBad.reason}` : undefined],
              ['Time', `${seconds} s`]
            ]),
            ...(v.warnings.length > 0
              ? [
                  h(
                    'ul',
                    { class: 'warn' },
                    v.warnings.map((m) => h('li', {}, m))
                  )
                ]
              : [])
          )
        } catch (err) {
          // On a failure the focus goes to the alert, as everywhere in the console.
          const alert = focusableAlert(err.message)
          result.replaceChildren(alert)
          alert.focus()
          return
        } finally {
          button.disabled = false
        }
        // Disabled while it ran, the button lost the focus to the page: a keyboard or screen-reader user is put back on it.
        button.focus()
      }
    },
    'Verify the whole ledger now'
  )
  section.append(h('p', {}, button, ' re-checks the chain, the Merkle tree, every checkpoint and cosignature, against the partner’s copy.'), result)
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
  const bucket = range === 'day' ? 'hour' : 'day'
  // Counted by the gateway (GET /v1/audit/statistics): the page never loads the ledger's entries for this.
  const t = await getJson(`/v1/audit/statistics?from=${encodeURIComponent(from)}&bucket=${bucket}`)
  const picker = h(
    'select',
    {
      id: 'range',
      onchange: async () => {
        body.replaceChildren(h('p', {}, 'Counting…'))
        // The heading and what the figures are (GATEWAYS_WORD) stay; the figures are counted anew.
        section.replaceChildren(...[...section.children].slice(0, 2))
        await renderActivity(section, picker.value)
        // The picker is drawn anew with the counts: the focus goes back to it, not to the document, so the arrow keys go on choosing.
        section.querySelector('#range').focus()
      }
    },
    Object.keys(RANGES).map((r) =>
      h('option', { value: r, selected: r === range }, { day: 'the last 24 hours', week: 'the last 7 days', month: 'the last 30 days' }[r])
    )
  )
  const body = h('div', {})
  const [us, ca] = ['US', 'CA'].map((c) => t.matchRates.find((m) => m.answeredBy === c))
  const partnerLabel = (p) => `${p.direction === 'inbound' ? 'from' : 'to'} ${p.partner}`
  body.append(
    h('p', { id: 'counted' }, `${t.messages} messages since `, when(t.from), ', as this gateway counted them.'),
    chart('chart-time', 'Messages over time, sent and received', {
      type: 'bar',
      data: {
        labels: t.overTime.map((b) => (bucket === 'hour' ? b.at.slice(11, 16) : b.at.slice(0, 10))),
        datasets: [
          { label: 'sent (outbound)', data: t.overTime.map((b) => b.outbound), backgroundColor: COLOURS[1] },
          { label: 'received (inbound)', data: t.overTime.map((b) => b.inbound), backgroundColor: COLOURS[4] }
        ]
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
    }),
    table(
      'Messages over time',
      ['From', 'Sent', 'Received'],
      t.overTime.map((b) => [b.at, String(b.outbound), String(b.inbound)]),
      { id: 'table-time' }
    ),
    chart('chart-fields', 'Field decisions by kind: shared, generalised, pseudonymised, withheld', {
      type: 'bar',
      data: {
        labels: t.byKind.map((k) => k.kind),
        datasets: ACTIONS.map((a, i) => ({ label: a, data: t.byKind.map((k) => k[a]), backgroundColor: COLOURS[i] }))
      },
      options: { indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } } }
    }),
    table(
      'Field decisions by kind',
      ['Kind', ...ACTIONS],
      t.byKind.map((k) => [k.kind, ...ACTIONS.map((a) => String(k[a]))]),
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
          data: {
            labels: t.byPurpose.map((p) => p.purpose),
            datasets: [{ label: 'messages', data: t.byPurpose.map((p) => p.messages), backgroundColor: COLOURS[0] }]
          },
          options: { indexAxis: 'y', scales: { x: { beginAtZero: true } } }
        }),
        table(
          'Messages by purpose',
          ['Purpose', 'Messages'],
          t.byPurpose.map((p) => [p.purpose, String(p.messages)]),
          { id: 'table-purpose' }
        )
      ),
      h(
        'div',
        {},
        chart('chart-partner', 'Messages by partner agency', {
          type: 'bar',
          data: {
            labels: t.byPartner.map(partnerLabel),
            datasets: [{ label: 'messages', data: t.byPartner.map((p) => p.messages), backgroundColor: COLOURS[5] }]
          },
          options: { indexAxis: 'y', scales: { x: { beginAtZero: true } } }
        }),
        table(
          'Messages by partner agency',
          ['Partner', 'Messages'],
          t.byPartner.map((p) => [partnerLabel(p), String(p.messages)]),
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
            data: [us, ca].map((m) => (m.answered === 0 ? 0 : (100 * m.matched) / m.answered)),
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
        ['Canada to the U.S. (answered by the U.S.)', pct(us)],
        ['U.S. to Canada (answered by Canada)', pct(ca)]
      ],
      { id: 'table-matches' }
    )
  )
  section.append(h('p', {}, h('label', { for: 'range' }, 'Count over '), picker), body)
}
