// Building the page from data without ever parsing data as HTML: every value
// the ledger or the API returns is set as text (docs/privacy-officers.md,
// "The console": no personal value is shown, and nothing is trusted as markup).

/** An element with attributes (`on*` as listeners) and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value)
    else if (value === true) el.setAttribute(name, '')
    else el.setAttribute(name, String(value))
  }
  append(el, children)
  return el
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
}

/** A table with a caption, column headers and rows (each a list of cells: text or nodes). */
export function table(caption, headers, rows, attrs = {}) {
  return h(
    'table',
    attrs,
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((c) => h('th', { scope: 'col' }, c))
      )
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          r.map((c) => h('td', {}, c))
        )
      )
    )
  )
}

/** A definition list of [term, description] pairs. */
export function facts(pairs, attrs = {}) {
  return h(
    'dl',
    { class: 'facts', ...attrs },
    pairs.filter(([, d]) => d !== undefined).map(([t, d]) => [h('dt', {}, t), h('dd', {}, d)])
  )
}

/**
 * The first characters of a digest or hash, which open to the whole: a
 * disclosure (details and summary) that the keyboard reaches and opens with
 * Enter, a screen reader reads as a button, and whose value can be selected
 * and copied, to compare with a saved report or tools/verify-disclosure.mjs
 * (docs/privacy-officers.md, "The console"). A title alone is reached by a
 * pointer only, and cannot be copied; it stays, for the pointer.
 */
export function short(hash, n = 12) {
  if (hash === null || hash === undefined) return '—'
  const s = String(hash)
  if (s.length <= n) return h('code', {}, s)
  return h(
    'details',
    { class: 'hash' },
    h('summary', { title: s }, h('code', {}, `${s.slice(0, n)}…`), h('span', { class: 'visually-hidden' }, ' (show in full)')),
    h('code', { class: 'full' }, s)
  )
}

/** Replaces what is in `main` with a view: a heading that takes the focus (for keyboard and screen-reader users), then its content. */
export function show(title, ...content) {
  const main = document.getElementById('main')
  const heading = h('h1', { tabindex: '-1' }, title)
  // A part a view leaves out is null, as h() takes it: replaceChildren would draw it as the word "null".
  main.replaceChildren(heading, ...content.flat().filter((c) => c !== null && c !== undefined && c !== false))
  document.title = `${title}: audit ledger`
  heading.focus()
  return main
}

/** An error, announced. */
export function alertBox(message) {
  return h('p', { role: 'alert', class: 'error' }, message)
}

/** An error, announced, that can take the focus: where the keyboard goes when what it pressed failed or is gone. */
export function focusableAlert(message) {
  return h('p', { role: 'alert', class: 'error', tabindex: '-1' }, message)
}

export function when(iso) {
  if (iso === null || iso === undefined) return '—'
  return h('time', { datetime: iso }, iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))
}

/** How long ago, in words ("3 minutes"), from an ISO time. */
export function age(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 90) return `${s} seconds`
  if (s < 5400) return `${Math.round(s / 60)} minutes`
  if (s < 172800) return `${Math.round(s / 3600)} hours`
  return `${Math.round(s / 86400)} days`
}

/** Offers `blob` as a file download named `name`. */
export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob)
  const a = h('a', { href: url, download: name, hidden: true })
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
