// Legal holds and the complaint references they carry (issue 13, point 6;
// docs/privacy-officers.md, "Complaint references"): placed and released from
// the page through the API, which audits each. A hold on a traveller is sent
// with the identifier in the POST body, never in a URL.
import { del, getJson, postJson } from './api.js'
import { alertBox, focusableAlert, h, show, table, when } from './dom.js'

const REFERENCE = '[A-Za-z0-9._:\\-]{3,64}'

/** A form that places a hold on `target()` (a message id or a traveller identifier, as the API takes them). */
export function holdForm(idPrefix, target, onPlaced) {
  const status = h('div', { 'aria-live': 'polite' })
  const form = h(
    'form',
    { class: 'hold', id: `${idPrefix}-hold` },
    h('h3', {}, 'Place a legal hold, or attach a complaint'),
    h(
      'div',
      { class: 'field' },
      h('label', { for: `${idPrefix}-ref` }, 'Hold reference'),
      h('input', { id: `${idPrefix}-ref`, required: true, pattern: REFERENCE, autocomplete: 'off' })
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: `${idPrefix}-complaint` }, 'Complaint reference (optional)'),
      h('input', { id: `${idPrefix}-complaint`, pattern: REFERENCE, autocomplete: 'off' })
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: `${idPrefix}-reason` }, 'Reason (never personal data)'),
      h('input', { id: `${idPrefix}-reason`, required: true, maxlength: 500, autocomplete: 'off' })
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Place the hold')),
    status
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const value = (s) => form.querySelector(`#${idPrefix}-${s}`).value.trim()
    const complaintRef = value('complaint')
    try {
      const hold = await postJson('/v1/audit/legal-holds', {
        ...target(),
        ref: value('ref'),
        reason: value('reason'),
        ...(complaintRef === '' ? {} : { complaintRef })
      })
      status.replaceChildren(h('p', { class: 'ok' }, `Hold ${hold.ref} placed${hold.complaintRef ? ` for complaint ${hold.complaintRef}` : ''}, and audited.`))
      form.reset()
      onPlaced?.(hold)
    } catch (err) {
      status.replaceChildren(alertBox(`${err.code ?? ''} ${err.message}`))
    }
  })
  return form
}

export function holdsTable(holds, onRelease) {
  return table(
    'Legal holds',
    ['Reference', 'Complaint', 'Reason', 'Covers', 'Placed', 'Released'],
    holds.map((x) => [
      x.ref,
      x.complaintRef ?? '—',
      x.reason,
      x.messageId ? h('a', { href: `#/message/${x.messageId}` }, `message ${x.messageId.slice(0, 8)}`) : 'a traveller (by keyed digest)',
      when(x.placedAt),
      x.releasedAt
        ? when(x.releasedAt)
        : onRelease
          ? h('button', { type: 'button', onclick: () => onRelease(x.ref), 'aria-label': `Release hold ${x.ref}` }, 'Release')
          : 'active'
    ]),
    { id: 'holds-table' }
  )
}

export async function holdsView() {
  const list = h('div', { id: 'holds' })
  // What the last release did, said where the keyboard is left (the button it came from is gone once the list is redrawn).
  const status = h('div', { id: 'holds-status' })
  const refresh = async () => {
    const { holds } = await getJson('/v1/audit/legal-holds')
    list.replaceChildren(holds.length === 0 ? h('p', {}, 'No legal hold.') : holdsTable(holds, release))
  }
  const release = async (ref) => {
    const outcome = await releaseHold(ref)
    // Redrawn whatever the answer: a hold released meanwhile (through the API, by another officer) must not stay listed as active.
    await refresh()
    status.replaceChildren(outcome)
    outcome.focus()
  }
  show(
    'Legal holds',
    h(
      'p',
      {},
      'A hold keeps what it covers from the retention purge until released. Place one on a message from its page, or on a traveller from their report.'
    ),
    status,
    list
  )
  await refresh()
}

/** Releases hold `ref` through the API (which audits it); what happened, as a message that can take the focus. */
async function releaseHold(ref) {
  try {
    await del(`/v1/audit/legal-holds/${encodeURIComponent(ref)}`)
    return h('p', { class: 'ok', tabindex: '-1' }, `Hold ${ref} released, and audited.`)
  } catch (err) {
    return focusableAlert(`Hold ${ref} was not released: ${err.code ? `${err.code}: ` : ''}${err.message}`)
  }
}
