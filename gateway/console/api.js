// The privacy officer's API, from the page (docs/privacy-officers.md, "The
// audit API"). The browser presents the officer's client certificate on the
// same mTLS connection that served the page; the page asks POST /v1/token for
// a token bound to that certificate (RFC 8705) and keeps it in memory only,
// never in storage or a URL. A bearer header, not a cookie, is what other
// sites cannot make the browser send: no cross-site request can use it.

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail ?? `HTTP ${status}`)
    this.status = status
    this.code = code
  }
}

/**
 * How long a view waits for an answer before it says so, rather than show
 * nothing for ever: long enough for a verification of a large ledger.
 */
const ANSWER_MS = 60_000

/** fetch, given up after ANSWER_MS with an error a view can show. */
async function fetchInTime(path, init) {
  try {
    return await fetch(path, { ...init, cache: 'no-store', signal: AbortSignal.timeout(ANSWER_MS) })
  } catch (err) {
    if (err?.name === 'TimeoutError') throw new ApiError(0, 'NO_ANSWER', `the gateway did not answer ${path} within ${ANSWER_MS / 1000} s`)
    throw err
  }
}

let token = null
let renewAt = 0
let claims = {}

async function problem(res) {
  let body = {}
  try {
    body = await res.json()
  } catch {
    // not a problem document
  }
  return new ApiError(res.status, body.code ?? null, body.detail ?? body.title ?? `HTTP ${res.status}`)
}

async function renewToken() {
  const res = await fetchInTime('/v1/token', { method: 'POST' })
  if (!res.ok) throw await problem(res)
  const body = await res.json()
  token = body.access_token
  renewAt = Date.now() + Math.max(5, body.expires_in - 30) * 1000
  claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')))
}

/** The token's claims: `iss` names the gateway (`gateway:CA`), `sub` the officer. */
export async function whoAmI() {
  if (token === null) await renewToken()
  return claims
}

/** A request with the bound token; a refusal is thrown as an ApiError with the API's stable code. */
export async function call(path, init = {}) {
  if (token === null || Date.now() >= renewAt) await renewToken()
  const res = await fetchInTime(path, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } })
  if (!res.ok) throw await problem(res)
  return res
}

/**
 * A download (the CSV export): its answer must begin within ANSWER_MS, but
 * its body takes as long as the ledger it holds does. The view's timeout,
 * covering the body too, cut a large export off after 60 s, unseen.
 */
export async function download(path) {
  if (token === null || Date.now() >= renewAt) await renewToken()
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), ANSWER_MS)
  let res
  try {
    res = await fetch(path, { cache: 'no-store', headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
  } catch (err) {
    if (controller.signal.aborted) throw new ApiError(0, 'NO_ANSWER', `the gateway did not answer ${path} within ${ANSWER_MS / 1000} s`)
    throw err
  } finally {
    clearTimeout(timer)
  }
  if (!res.ok) throw await problem(res)
  return res
}

export async function getJson(path) {
  return (await call(path)).json()
}

/** A POST with a JSON body: how a traveller's identifier is sent, never in a URL (docs/privacy-officers.md). */
export async function postJson(path, body) {
  const res = await call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return res.status === 204 ? null : res.json()
}

export async function del(path) {
  await call(path, { method: 'DELETE' })
}

/** The search filters as a query string: only the ones given. */
export function query(filters) {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(filters)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s === '' ? '' : `?${s}`
}

let catalogue = null
/** GET /v1/policies, once per page load: the published rules, kinds and purposes. */
export async function policies() {
  catalogue ??= getJson('/v1/policies')
  return catalogue
}

let keys = null
/**
 * The keys the gateway publishes for its ledger, once per page load
 * (GET /.well-known/ledger-keys.json): its ledger's origin and the keys its
 * checkpoints are signed with, and the partner's name as its witness and the
 * keys its cosignatures are signed with, retired ones included: a checkpoint
 * made before a key rotation is still verified (docs/privacy-officers.md,
 * "Checking a disclosure report offline"). The JWKS lists only the keys that
 * sign messages and tokens now.
 */
export async function publishedKeys() {
  keys ??= (async () => {
    const res = await fetchInTime('/.well-known/ledger-keys.json', {})
    if (!res.ok) throw await problem(res)
    return res.json()
  })()
  return keys
}
