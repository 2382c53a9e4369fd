// The console's router: one view per hash route (#/overview, #/search,
// #/message/<id>[/inbound], #/traveller, #/policies[/<policy id>], #/holds). Nothing
// personal is ever in a route: a message id or a policy id only
// (docs/privacy-officers.md, "The console").
import { whoAmI } from './api.js'
import { alertBox, show } from './dom.js'
import { holdsView } from './holds.js'
import { messageView } from './message.js'
import { overviewView } from './overview.js'
import { policiesView } from './policies.js'
import { searchView } from './search.js'
import { travellerView } from './traveller.js'

const VIEWS = {
  overview: () => overviewView(),
  search: () => searchView(),
  message: (id) => messageView(id),
  traveller: () => travellerView(),
  policies: (id) => policiesView(id),
  holds: () => holdsView()
}

/** A route's argument as typed, when it is not percent-encoding the browser can read: the view then says what is wrong with it, not "URI malformed". */
function decoded(text) {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

async function route() {
  const [, name = 'overview', ...rest] = location.hash.split('/')
  const view = VIEWS[name] ?? VIEWS.overview
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  try {
    await view(decoded(rest.join('/')))
  } catch (err) {
    show('Something went wrong', alertBox(`${err.code ? `${err.code}: ` : ''}${err.message}`))
  }
}

async function start() {
  try {
    const me = await whoAmI()
    document.getElementById('gateway').textContent = String(me.iss ?? '').replace(/^gateway:/, '')
    document.getElementById('officer').textContent = me.sub ? `(signed in as ${me.sub})` : ''
  } catch (err) {
    show('The console could not get a token', alertBox(err.message))
    return
  }
  window.addEventListener('hashchange', route)
  await route()
}

void start()
