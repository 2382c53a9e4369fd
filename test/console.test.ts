// The privacy officer's console (issue 13; docs/privacy-officers.md, "The
// console") end to end in a real headless Chromium (Debian's `chromium`,
// driven by playwright-core), the officer's client certificate presented by
// the browser context. The sandbox runs as a user starts it, with its sample
// traffic and CBSA's correction; each view is checked against what the ledger
// says through the API and checked with axe-core. With
// CONSOLE_SCREENSHOTS=docs/console set, each view is also saved as the
// guide's docs/console/*.png (to refresh them); a plain run takes none, so
// that it leaves the working tree as it found it and spends nothing on
// images it would throw away (seven full-page captures, about 3.5 s of the
// file's 19 s of CPU). Agency and missing certificates are refused.
import t from 'tap'
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cosignCheckpoint, witnessName } from '../gateway/audit/checkpoint.ts'
import { undiciModule } from '../gateway/lib/lazy-packages.ts'
import { chromium, type Browser, type BrowserContext, type Page, type Request, type Route } from 'playwright-core'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { leafHash, rootFromInclusionProof } from '../tools/verify-disclosure.mjs'
import { client, eventually, KEYS_DIR, runningSandbox } from './helper.ts'

const { Agent, request } = undiciModule()

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const CHROMIUM = '/usr/bin/chromium'
const root = join(import.meta.dirname, '..')
/** Where the views are saved, when asked for. */
const SHOTS = process.env.CONSOLE_SCREENSHOTS === undefined ? undefined : join(root, process.env.CONSOLE_SCREENSHOTS)
const AXE = readFileSync(join(root, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8')
const OFFICER = join(KEYS_DIR, 'CA', 'privacy-officers', 'po-1')
const AGENCY = join(KEYS_DIR, 'CA', 'agencies', 'CBSA-pik-primary')

if (!existsSync(CHROMIUM)) {
  // CI installs it (.ci/run); a machine without it fails here, in one line, rather than skipping the console's only test.
  t.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`)
} else {
  t.test('the console, as a privacy officer sees it in a browser', consoleTest)
}

/** The sandbox, as `npm run sandbox` starts it, on ports of its own; resolves when its sample traffic and the correction are delivered. */
async function startSandbox(t: Test): Promise<{ url: string; partnerUrl: string; dir: string; correctedId: string }> {
  const { setting, output } = await runningSandbox(t, { LOG_LEVEL: 'info' })
  const correctedId = /correction: CBSA corrects the entry record ([0-9a-f-]{36})/.exec(output)?.[1]
  if (correctedId === undefined) throw new Error(`no correction in the sandbox's output:\n${output}`)
  return { url: `https://127.0.0.1:${setting.ports.CA}`, partnerUrl: `https://127.0.0.1:${setting.ports.US}`, dir: setting.dir, correctedId }
}

/** The privacy officer's API, outside the browser: what each page is checked against. */
function officerApi(t: Test, url: string) {
  const dispatcher = new Agent({
    connect: {
      ca: readFileSync(join(KEYS_DIR, 'CA', 'ca.crt.pem')),
      cert: readFileSync(join(OFFICER, 'client.crt.pem')),
      key: readFileSync(join(OFFICER, 'client.key.pem'))
    }
  })
  t.teardown(() => dispatcher.close())
  let token: string | undefined
  const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; text: string }> => {
    token ??= ((await (await request(`${url}/v1/token`, { method: 'POST', dispatcher })).body.json()) as { access_token: string }).access_token
    const res = await request(`${url}${path}`, {
      method,
      dispatcher,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: res.statusCode, text: await res.body.text() }
  }
  return {
    get: async (path: string): Promise<any> => JSON.parse((await call('GET', path)).text),
    text: async (path: string): Promise<string> => (await call('GET', path)).text,
    post: async (path: string, body: unknown): Promise<any> => JSON.parse((await call('POST', path, body)).text),
    delete: async (path: string): Promise<number> => (await call('DELETE', path)).status
  }
}

async function context(browser: Browser, url: string, identity: string | null): Promise<BrowserContext> {
  return browser.newContext({
    // The sandbox's server certificate is issued by the example CA, which Chromium does not know.
    ignoreHTTPSErrors: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    clientCertificates: identity === null ? [] : [{ origin: url, certPath: join(identity, 'client.crt.pem'), keyPath: join(identity, 'client.key.pem') }]
  })
}

/**
 * Rules of lesser impact enforced all the same: two landmarks of one name
 * (the same purpose and direction under two kinds) cannot be told apart by
 * a screen reader's list of regions.
 */
const ALSO_ENFORCED = ['landmark-unique']

/** axe-core's serious and critical violations on the page as it is now, and those of ALSO_ENFORCED. */
async function accessibility(t: Test, page: Page, view: string): Promise<void> {
  const violations = (await page.evaluate(
    `${AXE}; axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`
  )) as Array<{
    id: string
    impact: string
    nodes: number
  }>
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical' || ALSO_ENFORCED.includes(v.id))
  t.same(serious, [], `${view}: no serious accessibility violation (axe-core)`)
  // A tooltip is reached by a pointer only, cannot be selected or copied, and is not read by every screen reader: a full hash shown
  // shortened is in the page's text too (the disclosure under its short form), never in a title alone.
  const onlyInTitles = await page.$$eval('main [title]', (els) => {
    const text = els[0]?.closest('main')?.textContent ?? ''
    return els.map((e) => e.getAttribute('title') ?? '').filter((title) => !text.includes(title))
  })
  t.same(onlyInTitles, [], `${view}: no value in a tooltip only`)
  // A missing part of a view (no attempts table, no warning) drawn as the word: set between two words, the match above misses it.
  const printed = await page.$$eval('main', ([main]) => {
    const walker = main!.ownerDocument.createTreeWalker(main!, 4)
    const words: string[] = []
    for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) if (/^(null|undefined)$/.test(n.textContent ?? '')) words.push(n.textContent!)
    return words
  })
  t.same(printed, [], `${view}: no part drawn as "null" or "undefined"`)
  t.notMatch(await page.textContent('main'), /\b(null|undefined|NaN)\b|\[object /, `${view}: no missing value shown as code would print it`)
}

/** The ledger's events, as the AuditEvent union of gateway/store/records.ts names them. */
function auditEvents(): string[] {
  const union = /export type AuditEvent =([\s\S]*?)\n\n/.exec(readFileSync(join(root, 'gateway', 'store', 'records.ts'), 'utf8'))![1]!
  return [...union.matchAll(/\|\s*'([a-z-]+)'/g)].map((m) => m[1]!)
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  if (SHOTS !== undefined) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage })
}

/**
 * The report table's proof column, by entry, as it is rendered (innerText: what is seen, printed and
 * read aloud, not a tooltip only a pointer reaches): what each row says, and why when it says NOT verified.
 */
function proofColumn(page: Page): Promise<Array<{ seq: string | null | undefined; proof: string | undefined }>> {
  return page.$$eval('#report-table tbody tr', (rows) =>
    rows.map((r) => {
      const td = r.querySelectorAll('td')
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point: a title attribute's is not in it, nor what print hides
      return { seq: td[0]?.textContent, proof: td[11]?.innerText }
    })
  )
}

/**
 * Sends the traveller form and waits for its report. The report shown before
 * (the same address again is no new view) stays until the new one replaces
 * it: what is read afterwards is the new one.
 */
async function submitReport(page: Page): Promise<void> {
  const shown = await page.$('#report-table')
  await page.click('#traveller-form button[type=submit]')
  await shown?.waitForElementState('hidden')
  await page.waitForSelector('#report-table')
}

/** How many tables are inside a live region (aria-live, or a role that is one): a screen reader reads out all that changes in one. */
function liveTables(page: Page): Promise<number> {
  return page.$$eval('[aria-live] table, [role=status] table, [role=log] table, [role=alert] table', (tables) => tables.length)
}

/** The cells of a table, row by row. */
async function cells(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(`${selector} tbody tr`, (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((c) => (c.textContent ?? '').trim())))
}

/**
 * The ways a writer of the database can make a rewritten entry look proven
 * (docs/privacy-officers.md, "The ledger"): with the root column of the
 * cosigned checkpoint (the `root` beside the note) set to the rewritten
 * tree's root, and that and the signed note's root line too.
 */
const FORGERIES = ['the root beside the signed note', 'the signed note itself'] as const
type Forgery = (typeof FORGERIES)[number]

/** The root `text` leads to as entry `seq` with `proof`: what the writer recomputes (with the offline verifier's code, not the page's). */
function rootOf(text: string, seq: number, proof: { treeSize: number; hashes: string[] }): string {
  const hashes = proof.hashes.map((x) => Buffer.from(x, 'base64'))
  return rootFromInclusionProof(seq - 1, proof.treeSize, leafHash(text), hashes)!.toString('base64')
}

/** An answer's `checkpoint` and the entry text `text` of entry `seq`, rewritten by `forgery` so that the text's proof leads to the root shown. */
function forge(checkpoint: { root: string; note: string }, seq: number, text: string, proof: { treeSize: number; hashes: string[] }, forgery: Forgery) {
  const root = rootOf(text, seq, proof)
  return {
    ...checkpoint,
    root,
    note: forgery === 'the signed note itself' ? checkpoint.note.replace(`\n${checkpoint.root}\n`, `\n${root}\n`) : checkpoint.note
  }
}

/** Serves the page the gateway's answers to `pattern`, rewritten by `rewrite`, until the returned function is called. */
async function rewriteAnswers(page: Page, pattern: string | RegExp, rewrite: (body: any) => any): Promise<() => Promise<void>> {
  const handler = async (route: Route) => {
    const res = await route.fetch()
    await route.fulfill({ response: res, json: rewrite(await res.json()) })
  }
  await page.route(pattern, handler)
  return () => page.unroute(pattern, handler)
}

async function consoleTest(t: Test): Promise<void> {
  if (SHOTS !== undefined) mkdirSync(SHOTS, { recursive: true })
  const { url, partnerUrl, dir, correctedId } = await startSandbox(t)
  const api = officerApi(t, url)
  const browser = await chromium.launch({ executablePath: CHROMIUM })
  t.teardown(() => browser.close())
  const officer = await context(browser, url, OFFICER)
  const page = await officer.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  // What the page did, told with a wait that fails: on a loaded machine a
  // view that does not appear must say which request it was waiting for.
  const trace: string[] = []
  const started = new Map<Request, number>()
  page.on('request', (r) => started.set(r, Date.now()))
  page.on('requestfinished', async (r) =>
    trace.push(`${(await r.response())?.status()} ${r.method()} ${r.url()} ${Date.now() - (started.get(r) ?? Date.now())} ms`)
  )
  page.on('requestfailed', (r) => trace.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`))
  page.on('console', (m) => trace.push(`console.${m.type()}: ${m.text()}`))
  const waitFor = page.waitForSelector.bind(page)
  page.waitForSelector = (async (selector: string, options?: Parameters<Page['waitForSelector']>[1]) => {
    try {
      return await waitFor(selector, options ?? {})
    } catch (err) {
      const pending = [...started]
        .filter(([r]) => !trace.some((line) => line.includes(r.url())))
        .map(([r, at]) => `${r.method()} ${r.url()} for ${Date.now() - at} ms`)
      throw new Error(`${(err as Error).message}\nthe page's last requests:\n  ${trace.slice(-15).join('\n  ')}\nstill waiting for:\n  ${pending.join('\n  ')}`)
    }
  }) as Page['waitForSelector']

  await t.test('agency and missing certificates are refused, the page and its scripts alike', async (t) => {
    for (const [who, identity, status] of [
      ['an agency certificate', AGENCY, 403],
      ['no certificate', null, 401]
    ] as const) {
      const ctx = await context(browser, url, identity)
      const p = await ctx.newPage()
      for (const path of ['/console', '/console/assets/console.js']) {
        const res = await p.goto(`${url}${path}`)
        t.equal(res?.status(), status, `${who}: ${path} is ${status}`)
        t.equal(await res?.headerValue('content-security-policy'), (await officerHeaders()).csp, `${who}: the refusal carries the same headers`)
      }
      await ctx.close()
    }
  })

  async function officerHeaders() {
    const res = await page.request.get(`${url}/console`)
    return { csp: res.headers()['content-security-policy'], cache: res.headers()['cache-control'], status: res.status() }
  }

  await t.test('the page is served under strict headers', async (t) => {
    const h = await officerHeaders()
    t.equal(h.status, 200)
    t.match(h.csp, /default-src 'none'/)
    t.match(h.csp, /script-src 'self'(;|$)/, 'scripts from the gateway only')
    t.notMatch(h.csp, /unsafe-inline|unsafe-eval/, 'no inline code, no eval')
    t.match(h.csp, /frame-ancestors 'none'/, 'never framed')
    t.equal(h.cache, 'no-store')
  })

  await t.test('keyboard: the views are reached from the navigation with Tab and Enter', async (t) => {
    await page.goto(`${url}/console#/overview`)
    await page.waitForSelector('#main h1')
    await page.focus('nav a[href="#/overview"]')
    await page.keyboard.press('Tab')
    t.equal(await page.evaluate('document.activeElement?.getAttribute("href")'), '#/search')
    await page.keyboard.press('Enter')
    await page.waitForSelector('#results-table')
    t.equal(await page.evaluate('document.activeElement?.tagName'), 'H1', "the view's heading takes the focus")
  })

  await t.test('search pages with the cursor, and exports the current search as CSV', async (t) => {
    const outcomes = await page.$$eval('#event option', (options) => options.map((o) => o.getAttribute('value') ?? '').filter((v) => v !== ''))
    t.same(outcomes.toSorted(), auditEvents().toSorted(), 'the Outcome filter offers every event the ledger records')
    t.equal(await page.$eval('#event option[value=withdrawn]', (o) => o.textContent), 'withdrawn by a correction or retraction', 'each in words')
    await page.selectOption('#kind', 'entry-exit.record')
    await page.click('button[type=submit]')
    await page.waitForSelector('#results-table[data-search="?kind=entry-exit.record&limit=25"]')
    const want = await api.get('/v1/audit/entries?kind=entry-exit.record&limit=25')
    const rows = await cells(page, '#results-table')
    t.same(
      rows.map((r) => r[0]),
      want.entries.map((e: any) => String(e.seq)),
      'the entries the API answers, in ledger order'
    )
    t.ok(
      rows.every((r) => r[4] === 'entry-exit.record'),
      'of that kind only'
    )
    // A screen reader is told what the search found in a line, not read the 25 rows of a live region.
    t.equal(await liveTables(page), 0, 'no live region holds the results table')
    t.equal(
      await page.textContent('[role=status]'),
      `Page 1: ${want.entries.length} entries, ${want.entries[0].seq} to ${want.entries.at(-1).seq}${want.nextCursor ? ', more on the next page' : ''}.`,
      'the status says what was found'
    )
    // The next page comes from the API's cursor: the page holds one page at a time, however long the ledger.
    await page.selectOption('#kind', '')
    await page.click('button[type=submit]')
    await page.waitForSelector('#results-table[data-search="?limit=25"]')
    const first = await api.get('/v1/audit/entries?limit=25')
    t.ok(first.nextCursor, 'the ledger has more than a page')
    await page.click('#next-page')
    await page.waitForSelector(`#results-table[data-search="?limit=25&cursor=${first.nextCursor}"]`)
    t.equal(await page.evaluate('document.activeElement?.tagName'), 'CAPTION', "the focus goes to the new page's caption, not the document")
    const second = await api.get(`/v1/audit/entries?limit=25&cursor=${first.nextCursor}`)
    t.same(
      (await cells(page, '#results-table')).map((r) => r[0]),
      second.entries.map((e: any) => String(e.seq)),
      'page 2 is the API page after the cursor'
    )
    await page.click('text=Previous page')
    await page.waitForSelector('#results-table[data-search="?limit=25"]')
    await page.selectOption('#kind', 'entry-exit.record')
    await page.click('button[type=submit]')
    await page.waitForSelector('#results-table[data-search="?kind=entry-exit.record&limit=25"]')
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')])
    t.match(download.suggestedFilename(), /^audit-CA-.*\.csv$/)
    const csv = readFileSync((await download.path())!, 'utf8')
    t.equal(csv, await api.text('/v1/audit/export?kind=entry-exit.record&format=csv'), 'the CSV is the export of that search')
    // An export that fails (the gateway answers an error) is said beside the results, which stay on screen.
    const shownRows = await cells(page, '#results-table')
    const failing = (route: Route) =>
      route.fulfill({ status: 503, contentType: 'application/problem+json', body: JSON.stringify({ code: 'UNAVAILABLE', detail: 'the ledger is busy' }) })
    await page.route('**/v1/audit/export?*', failing)
    await page.click('#export')
    const failed = await page.waitForSelector('[role=alert]:has-text("The export failed")')
    t.equal(await failed.textContent(), 'The export failed: the ledger is busy (UNAVAILABLE)', 'a failed export is said, with its code')
    t.same(await cells(page, '#results-table'), shownRows, 'and the results shown stay, row for row')
    t.equal(await page.getAttribute('#results-table', 'data-search'), '?kind=entry-exit.record&limit=25', 'of the same search')
    await page.unroute('**/v1/audit/export?*', failing)
    await page.click('button[type=submit]')
    await page.waitForSelector('[role=alert]:has-text("The export failed")', { state: 'detached' })
    t.pass('a new search clears the failed export')
    // An export the gateway refuses (a tab in a filter is no text it queries with) is said on the page, not lost.
    await page.fill('#agency', 'CB\tSA')
    await page.click('button[type=submit]')
    t.match(await (await page.waitForSelector('#results [role=alert]')).textContent(), /REQUEST_INVALID/, 'a search refused is said with its code')
    await page.click('#export')
    const refused = await page.waitForSelector('[role=alert]:has-text("The export failed")')
    t.match(await refused.textContent(), /REQUEST_INVALID/, 'with the refusal code')
    await page.fill('#agency', '')
    await accessibility(t, page, 'search')
    await shot(page, 'search')
  })

  await t.test('one message: decisions, policy, signatures, receipt, correction, inclusion proof checked in the page', async (t) => {
    await page.goto(`${url}/console#/message/${correctedId}`)
    await page.waitForSelector('#proof-result')
    const [accepted] = (await api.get(`/v1/audit/entries?messageId=${correctedId}&event=accepted`)).entries
    t.match(await page.textContent('#proof-result'), new RegExp(`^Verified: entry ${accepted.seq} is in the ledger`), 'the proof verifies in the page')
    t.match(
      await page.textContent('#signatures-result'),
      /^Signatures verified here: the checkpoint is signed by this gateway's key and cosigned at \S+ by the key this gateway names as the partner's/,
      "the checkpoint's signature and cosignature verify in the page too"
    )
    t.same(
      (await cells(page, '#decisions')).map(([path, action, rule, principle]) => [path, action, rule, principle!.split(' ')[0]]),
      accepted.entry.fields.map((f: any) => [f.path, f.action, f.rule, f.principle]),
      'one row per field decision, as the ledger holds it'
    )
    // The check is not vacuous: the page's own code refuses the entry's text changed by one character.
    const proof = await api.get(`/v1/audit/entries/${accepted.seq}/proof`)
    const tampered = proof.ledgerEntry.replace('"share"', '"withhold"')
    const verdicts = await page.evaluate(
      `import('/console/assets/merkle.js').then(async (m) => [${[proof.ledgerEntry, tampered].map((text) => `(await m.verifyInclusion(${JSON.stringify(text)}, ${accepted.seq - 1}, ${proof.inclusionProof.treeSize}, ${JSON.stringify(proof.inclusionProof.hashes)}, ${JSON.stringify(proof.checkpoint.root)})).ok`).join(', ')}])`
    )
    t.same(verdicts, [true, false], "the page's Merkle check accepts the ledger's text and refuses it altered")
    // A node is a SHA-256 digest: a "proof" whose sibling is 33 bytes long, leading to a root made for it, is none.
    const sibling = randomBytes(33)
    const leaf = createHash('sha256')
      .update(Buffer.concat([Buffer.of(0), Buffer.from('text')]))
      .digest()
    const madeRoot = createHash('sha256')
      .update(Buffer.concat([Buffer.of(1), sibling, leaf]))
      .digest('base64')
    t.equal(
      await page.evaluate(
        `import('/console/assets/merkle.js').then(async (m) => (await m.verifyInclusion('text', 1, 2, ['${sibling.toString('base64')}'], '${madeRoot}')).ok)`
      ),
      false,
      'a proof with a hash of another length is refused'
    )
    // The checkpoint's root, shortened, is shown in full from the keyboard: a disclosure that opens with Enter, its value selectable.
    const rootShown = page.locator('#proof dd').first()
    await rootShown.locator('summary').focus({ timeout: 5000 })
    await page.keyboard.press('Enter')
    const fullRoot = rootShown.locator('code.full')
    t.ok(await fullRoot.isVisible(), 'the full root is shown once opened')
    t.equal(await fullRoot.textContent(), proof.checkpoint.root, 'the root of the signed checkpoint, whole')
    t.not(await fullRoot.evaluate((c) => c.ownerDocument.defaultView!.getComputedStyle(c).userSelect), 'none', 'and can be selected, to copy')
    t.match(await rootShown.locator('summary').textContent(), /…\s*\(show in full\)$/, 'the short form says it opens to the whole')
    const facts = await page.textContent('#message-facts')
    const records = await api.get(`/v1/audit/messages/${correctedId}`)
    t.equal(records.outbound.supersededBy.action, 'correct')
    t.match(facts, `Superseded by${records.outbound.supersededBy.id} (correction`, 'the correction that superseded it')
    t.match(facts, accepted.entry.policy.id)
    t.match(await page.textContent('#signatures'), `${records.outbound.receipt.receiver} signed with`, "the partner's signed receipt")
    t.match(await page.textContent('#signatures'), /btb-gateway\/CA\/ledger, btb-gateway\/US\/witness/, 'the checkpoint, signed and cosigned')
    await accessibility(t, page, 'message')
    await shot(page, 'message')

    await page.click('#policy-link')
    await page.waitForSelector(`#policy-${accepted.entry.policy.id.replace(/[^A-Za-z0-9-]/g, '-')}:focus`)
    t.match(page.url(), /#\/policies\/entry-exit\.record/, "the policy's published rules")
    await accessibility(t, page, 'policies')
    await shot(page, 'policies', false) // the whole catalogue is dozens of screens long

    // A message withdrawn after an attempt that may have reached the partner (costly to make here: test/corrections.test.ts makes
    // one with a partner answering 502) is said so, in the guide's words, with its attempts, and never "not delivered".
    const restoreStatus = await rewriteAnswers(page, `**/v1/audit/messages/${correctedId}`, (answer) => ({
      ...answer,
      outbound: {
        ...answer.outbound,
        status: 'withdrawn',
        mayHaveArrived: true,
        receipt: null,
        attempts: [{ at: answer.outbound.acceptedAt, error: 'partner answered 502 BAD_GATEWAY' }]
      }
    }))
    await page.goto(`${url}/console#/message/${correctedId}`)
    await page.waitForSelector('#attempts')
    t.match(
      await page.textContent('#message-facts'),
      'Statuswithdrawn by a correction or retraction: stopped, though a failed attempt before may have reached the other side',
      'a withdrawn message that may have arrived says so'
    )
    t.notMatch(await page.textContent('#signatures'), /not delivered/, 'and is not said to be undelivered')
    t.same(
      await cells(page, '#attempts'),
      [[records.outbound.acceptedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), 'partner answered 502 BAD_GATEWAY']],
      'its failed attempts'
    )
    await restoreStatus()

    // Once the retention purge has removed the message's record (MESSAGE_RETENTION_DAYS), the gateway answers for it as for an id it
    // never held (404): its receipt went with it. The ledger still says it was delivered; the page must not say otherwise.
    const purgedAnswer = async (route: Route) => route.fulfill({ response: await route.fetch({ url: `${url}/v1/audit/messages/${crypto.randomUUID()}` }) })
    await page.route(`**/v1/audit/messages/${correctedId}`, purgedAnswer)
    await page.goto(`${url}/console#/message/none`)
    await page.waitForSelector('#message-facts', { state: 'detached' })
    await page.goto(`${url}/console#/message/${correctedId}`)
    await page.waitForSelector('#message-facts')
    t.match(await page.textContent('#message-entries'), 'delivered', 'the ledger says the purged message was delivered')
    t.notMatch(await page.textContent('#signatures'), /not delivered/, 'a purged message is not said to be undelivered')
    t.match(
      await page.textContent('#signatures'),
      "The partner's signed receiptno longer held: purged by retention with the message's record",
      'its receipt is said purged'
    )
    t.match(
      await page.textContent('#message-facts'),
      "Statuspurged by retention: the message and its record are no longer held; the ledger's entries about it stay",
      'and so is the message'
    )
    await page.unroute(`**/v1/audit/messages/${correctedId}`, purgedAnswer)

    // A rewritten entry is not verified, whatever root is served beside or in the note: the page reads the signed note's.
    for (const forgery of FORGERIES) {
      const restore = await rewriteAnswers(page, `**/v1/audit/entries/${accepted.seq}/proof`, (answer) => ({
        ...answer,
        ledgerEntry: tampered,
        checkpoint: forge(answer.checkpoint, accepted.seq, tampered, answer.inclusionProof, forgery)
      }))
      // Through a view that asks nothing of the gateway: the same address again would be no change of hash, and the page would not draw it anew.
      // The page drawn before is gone before the next is asked for: its proof's verdict is not the one read.
      await page.goto(`${url}/console#/message/none`)
      await page.waitForSelector('#proof-result', { state: 'detached' })
      await page.goto(`${url}/console#/message/${correctedId}`)
      const result = await page.waitForSelector('#proof-result')
      t.match(await result.textContent(), /^NOT verified/, `a rewritten entry with ${forgery} rewritten to match is not verified`)
      await restore()
    }

    // A proof's hash that is no SHA-256 digest in base64 (the gateway's proofs are base64, not base64url) makes the proof fail, said
    // as such with why: never an error in place of the page's verdict.
    for (const hash of ['not a hash!', '-_'.repeat(22)]) {
      const restore = await rewriteAnswers(page, `**/v1/audit/entries/${accepted.seq}/proof`, (answer) => ({
        ...answer,
        inclusionProof: { ...answer.inclusionProof, hashes: [hash, ...answer.inclusionProof.hashes.slice(1)] }
      }))
      await page.goto(`${url}/console#/message/none`)
      await page.waitForSelector('#proof-result', { state: 'detached' })
      await page.goto(`${url}/console#/message/${correctedId}`)
      await page.waitForSelector('#proof-result, h1:has-text("Something went wrong")')
      t.equal(await page.textContent('main h1'), `Message ${correctedId}`, `a proof hash ${JSON.stringify(hash)}: the message is shown, not an error`)
      t.equal(
        await page.textContent('#proof-result'),
        `NOT verified: entry ${accepted.seq}: hash 1 of its proof is not a SHA-256 hash (32 bytes in base64).`,
        'and its proof is not verified, saying why'
      )
      await restore()
    }

    // The search's answer is read from a column a writer of the database can change: led by it to
    // another message's entry, proven as that is, the page does not call this message verified.
    const correctionId = records.outbound.supersededBy.id
    const [ofCorrection] = (await api.get(`/v1/audit/entries?messageId=${correctionId}&event=accepted`)).entries
    const restoreSearch = await rewriteAnswers(page, new RegExp(`/v1/audit/entries\\?messageId=${correctedId}&`), (answer) => ({
      ...answer,
      entries: [ofCorrection]
    }))
    await page.goto(`${url}/console#/message/none`)
    await page.waitForSelector('#proof-result', { state: 'detached' })
    // An id that is not percent-encoding a browser can read is shown as the view's own refusal, not the decoder's.
    await page.goto(`${url}/console#/holds`)
    await page.waitForSelector('main >> text=No message id in the address', { state: 'detached' })
    await page.goto(`${url}/console#/message/%E0%A4%A`)
    await page.waitForSelector('main >> text=/No message id in the address|Something went wrong/')
    t.notMatch(await page.textContent('main'), /URI malformed|Something went wrong/, 'a malformed id: the view says what is wrong with it')
    await page.goto(`${url}/console#/message/${correctedId}`)
    t.match(
      await (await page.waitForSelector('#proof-result')).textContent(),
      new RegExp(`^NOT verified: entry ${ofCorrection.seq}: the proven entry is of another message`),
      "another message's entry, proven, is not this message's"
    )
    await restoreSearch()

    // A signature line is a name any note can carry: the page names as signers only the lines that verify.
    const restoreNote = await rewriteAnswers(page, `**/v1/audit/entries/${accepted.seq}/proof`, (answer) => ({
      ...answer,
      checkpoint: {
        ...answer.checkpoint,
        note: answer.checkpoint.note.replace(/\u2014 btb-gateway\/US\/witness \S+/, '\u2014 btb-gateway/US/witness AAAAAAAAAAAAAAAA')
      }
    }))
    await page.goto(`${url}/console#/message/none`)
    await page.waitForSelector('#proof-result', { state: 'detached' })
    await page.goto(`${url}/console#/message/${correctedId}`)
    await page.waitForSelector('#proof-result')
    t.match(await page.textContent('#signatures-result'), /^NOT verified: the checkpoint is not cosigned by the partner/, 'a cosignature that does not verify')
    const signers = await page.textContent('#signatures')
    t.ok(signers?.includes('btb-gateway/CA/ledger') && !signers.includes('btb-gateway/US/witness'), 'is not named among the signers', { signers })
    await restoreNote()

    // The partner's keys the page checks the cosignature with are this gateway's account of them (its ledger keys file): a gateway
    // naming a key of its own as its witness's cosigns a ledger it rewrote. The page cannot reach the partner's own keys, and must
    // not say the partner cosigned: only the offline check with them (tools/verify-disclosure.mjs --witness-keys) shows that.
    const own = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const restoreKeys = await rewriteAnswers(page, '**/.well-known/ledger-keys.json', (keys) => ({
      ...keys,
      witness: { ...keys.witness, keys: [{ ...own.publicKey.export({ format: 'jwk' }), kid: 'named-by-the-gateway', alg: 'ES256' }] }
    }))
    const restoreCosigned = await rewriteAnswers(page, `**/v1/audit/entries/${accepted.seq}/proof`, (answer) => {
      const unwitnessed = answer.checkpoint.note.replace(/\u2014 btb-gateway\/US\/witness \S+\n/, '')
      const cosignature = cosignCheckpoint(unwitnessed, { name: witnessName('US'), alg: 'ES256', key: own.privateKey }, Math.floor(Date.now() / 1000))
      return { ...answer, checkpoint: { ...answer.checkpoint, note: unwitnessed + cosignature } }
    })
    // Loaded anew: the page reads the keys once a load.
    await page.goto(`${url}/console#/message/${correctedId}`)
    await page.reload()
    await page.waitForSelector('#proof-result')
    t.match(await page.textContent('#signatures-result'), /^Signatures verified here/, 'the cosignature verifies with the key the gateway names')
    for (const where of ['#proof-result', '#signatures-result']) {
      const said = (await page.textContent(where)) ?? ''
      t.notMatch(said, /partner cosigned|cosigned by the partner|keys each publishes/, `${where} does not say the partner cosigned`, { said })
      t.match(said, 'the key this gateway names as the partner', `${where} says whose word the witness's key is`)
    }
    await restoreCosigned()
    await restoreKeys()
    // And loaded anew with the keys the gateway publishes, for what follows.
    await page.goto(`${url}/console#/message/none`)
    await page.reload()
    await page.waitForSelector('main [role=alert]')
  })
  await t.test('one traveller: the report, from a POST only, proven, printable; a complaint placed from it', async (t) => {
    const { document } = sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }).payload as {
      document: { number: string; issuingCountry: string }
    }
    await page.goto(`${url}/console#/traveller`)
    const posted: string[] = []
    page.on('request', (r) => posted.push(`${r.method()} ${r.url()}`))
    // Half an identifier is not sent, and not cleared: the officer is told in plain words what is missing.
    await page.fill('#documentNumber', document.number)
    await page.click('button[type=submit]')
    const incomplete = await page.waitForSelector('#report [role=alert]')
    t.match(
      await incomplete.textContent(),
      /^Give one complete identifier, and only one: a document number with its issuing country/,
      'half an identifier is said missing'
    )
    t.equal(await page.evaluate('document.activeElement?.getAttribute("role")'), 'alert', 'and the focus is on what went wrong')
    t.equal(await page.inputValue('#documentNumber'), document.number, 'what was typed is kept, to complete')
    t.notMatch(posted.join('\n'), /disclosures/, 'nothing was sent')
    // Two identifiers: a report by one alone would look whole and leave out what the other finds.
    await page.fill('#issuingCountry', document.issuingCountry)
    await page.fill('#membershipId', '158204736')
    await page.click('button[type=submit]')
    await page.waitForSelector('#report [role=alert]:focus')
    t.match(await page.textContent('#report [role=alert]'), /and only one/, 'two identifiers are refused, in plain words')
    t.equal(await page.inputValue('#membershipId'), '158204736', 'and kept as typed')
    t.notMatch(posted.join('\n'), /disclosures/, 'nothing was sent')
    await page.fill('#membershipId', '')
    await page.click('button[type=submit]')
    await page.waitForSelector('#report-table')
    t.equal(await page.inputValue('#documentNumber'), '', 'cleared once the report is shown')
    t.equal(await liveTables(page), 0, 'no live region holds the report, to be read out whole')
    t.match(await page.textContent('[role=status]'), /^Disclosure report shown: \d+ of \d+ entries\.$/, 'the status says it is shown')
    const report = await api.post('/v1/audit/disclosures', { documentNumber: document.number, issuingCountry: document.issuingCountry })
    const rows = await cells(page, '#report-table')
    const mine = report.disclosures.filter((d: any) => d.event !== 'disclosure-report')
    t.same(
      rows.filter((r) => r[2] !== 'disclosure-report').map((r) => r[0]),
      mine.map((d: any) => String(d.seq)),
      "every entry naming the traveller, as the API's report lists them"
    )
    t.ok(
      rows.some((r) => /corrected by entry \d+/.test(r[9]!)),
      'the original says it was corrected'
    )
    t.match(await page.textContent('#report-facts'), new RegExp(`(\\d+) of ${rows.length} entries verified`), 'proofs checked in the page')
    // As on a message's page: the witness's key is the one this gateway names, not one the page had from the partner.
    t.notMatch(await page.textContent('#report-facts'), /cosigned by the partner/, 'the page does not say the partner cosigned')
    t.match(await page.textContent('#report-facts'), 'cosigned at', 'but when, and by the key this gateway names as the partner')
    t.match(await page.textContent('#report-facts'), 'by the key this gateway names as the partner', 'and whose word that key is')
    const facts = await page.textContent('#report-facts')
    t.match(
      facts,
      `Messages${report.totals.sent + report.totals.received} (${report.totals.sent} accepted to send to the other country, ${report.totals.received} received from it)`,
      "the report's totals, over every page, in words that say what they count: a message withdrawn before delivery never left"
    )
    t.match(facts, `In the last 30 days${report.totals.lastMonth.sent} message(s) accepted to send to the other country`)
    t.equal(report.nextCursor, null, 'one page')
    t.equal(await page.locator('#report-pages').count(), 0, 'so no page buttons')
    t.ok(!rows.some((r) => r[11]!.startsWith('NOT verified')), 'none fails')
    t.ok(
      await page.evaluate('document.documentElement.scrollWidth <= document.documentElement.clientWidth'),
      'the report fits a 1280 px window: no sideways scrolling'
    )
    t.notOk((await page.content()).includes(document.number), 'the document number is nowhere in the page')
    t.notOk(posted.some((r) => r.includes(document.number)) || page.url().includes(document.number), 'nor in a URL')
    t.match(posted.join('\n'), /POST .*\/v1\/audit\/disclosures/)
    await accessibility(t, page, 'traveller')
    await shot(page, 'traveller')
    await page.emulateMedia({ media: 'print' })
    t.notOk(await page.isVisible('#traveller-form'), 'printed without the form')
    await shot(page, 'traveller-print')
    await page.emulateMedia({ media: 'screen' })

    // A rewritten entry of the report is not verified, whatever root is served beside or in the note.
    const original = mine.find((d: any) => d.inclusionProof && d.ledgerEntry.includes('"US/CBP"'))
    t.ok(original, 'an entry of the report sent to CBP, proven')
    for (const forgery of FORGERIES) {
      const restore = await rewriteAnswers(page, '**/v1/audit/disclosures', (answer) => {
        const d = answer.disclosures.find((x: any) => x.seq === original.seq)
        d.ledgerEntry = d.ledgerEntry.replace('"US/CBP"', '"US/ICE"')
        return { ...answer, checkpoint: forge(answer.checkpoint, d.seq, d.ledgerEntry, d.inclusionProof, forgery) }
      })
      await page.fill('#documentNumber', document.number)
      await page.fill('#issuingCountry', document.issuingCountry)
      await page.click('button[type=submit]')
      await page.waitForSelector('#report-table')
      const forged = (await cells(page, '#report-table')).find((r) => r[0] === String(original.seq))
      t.match(forged?.[11], /^NOT verified: /, `a rewritten entry with ${forgery} rewritten to match is not verified`)
      await restore()
    }

    const showReport = async (): Promise<string[][]> => {
      await page.fill('#documentNumber', document.number)
      await page.fill('#issuingCountry', document.issuingCountry)
      await submitReport(page)
      return cells(page, '#report-table')
    }
    // One entry shown twice would count one disclosure twice: neither row is verified.
    const restoreTwice = await rewriteAnswers(page, '**/v1/audit/disclosures', (answer) => ({
      ...answer,
      disclosures: [...answer.disclosures, answer.disclosures.find((x: any) => x.seq === original.seq)]
    }))
    await showReport()
    t.same(
      (await proofColumn(page)).filter((c) => c.seq === String(original.seq)),
      Array(2).fill({ seq: String(original.seq), proof: 'NOT verified: the page shows this entry more than once' }),
      'an entry shown twice is verified in neither row'
    )
    await page.emulateMedia({ media: 'print' })
    t.same(
      (await proofColumn(page)).find((c) => c.seq === String(original.seq))?.proof,
      'NOT verified: the page shows this entry more than once',
      'and says why on the printed report too'
    )
    await page.emulateMedia({ media: 'screen' })
    await restoreTwice()
    // A row whose proof holds a hash that is no SHA-256 digest in base64 is not verified, saying why: the report is shown all the same.
    const restoreHash = await rewriteAnswers(page, '**/v1/audit/disclosures', (answer) => {
      const d = answer.disclosures.find((x: any) => x.seq === original.seq)
      d.inclusionProof = { ...d.inclusionProof, hashes: ['not a hash!', ...d.inclusionProof.hashes.slice(1)] }
      return answer
    })
    await page.fill('#documentNumber', document.number)
    await page.fill('#issuingCountry', document.issuingCountry)
    await page.click('#traveller-form button[type=submit]')
    await page.waitForSelector('#report-table, #report [role=alert]')
    const badHash = await proofColumn(page)
    t.same(
      badHash.find((c) => c.seq === String(original.seq)),
      { seq: String(original.seq), proof: 'NOT verified: hash 1 of its proof is not a SHA-256 hash (32 bytes in base64)' },
      'a row whose proof holds a malformed hash is not verified, and says why'
    )
    t.ok(
      badHash.some((c) => c.proof === 'verified'),
      'the other rows are still checked'
    )
    await restoreHash()
    // The original CBSA corrected, and its correction: outbound messages this gateway accepted.
    const corrected = mine.find((d: any) => d.event === 'accepted' && d.direction === 'outbound' && d.supersededBy)
    const correction = mine.find((d: any) => d.seq === corrected?.supersededBy.seq)
    t.ok(corrected?.inclusionProof && correction?.inclusionProof, 'the corrected original and its correction are in the report, proven')

    // A proof proves an entry's text, not the fields of the answer shown beside it: a row showing other
    // parties, purpose, fields or supersession than its proven entry says is not verified, nor counted
    // among the proofs (docs/privacy-officers.md, "The console"; the check tools/verify-disclosure.mjs makes).
    let served: any
    const restoreRows = await rewriteAnswers(page, '**/v1/audit/disclosures', (answer) => {
      served = answer
      const o = answer.disclosures.find((x: any) => x.seq === corrected.seq)
      o.to = 'US/ICE'
      o.purpose = 'law-enforcement'
      o.shared = o.shared.slice(1)
      o.withheld += 1
      const c = answer.disclosures.find((x: any) => x.seq === correction.seq)
      c.supersedes = { ...c.supersedes, action: 'retract' } // a correction shown as a retraction
      return answer
    })
    await showReport()
    const proofCells = await proofColumn(page)
    t.same(
      proofCells.find((c) => c.seq === String(corrected.seq)),
      { seq: String(corrected.seq), proof: 'NOT verified: the report shows purpose, to, the fields shared or withheld other than the ledger says' },
      'a row showing other parties, purpose and fields beside its proven entry is not verified, and says what differs'
    )
    t.same(
      proofCells.find((c) => c.seq === String(correction.seq)),
      { seq: String(correction.seq), proof: 'NOT verified: the report shows what it supersedes other than the ledger says' },
      'nor one showing another supersession'
    )
    const withProof = served.disclosures.filter((d: any) => d.inclusionProof).length
    t.match(
      await page.textContent('#report-facts'),
      `Proofs${withProof - 2} of ${served.disclosures.length} entries verified`,
      'the proofs counted are those of the rows shown as their entries say'
    )
    await restoreRows()

    // A row's "corrected by entry N" is checked against entry N, proven in the same page: shown as a
    // retraction where the ledger's entry N corrects it, the row is not verified (the check
    // tools/verify-disclosure.mjs makes offline).
    const restoreSuperseded = await rewriteAnswers(page, '**/v1/audit/disclosures', (answer) => {
      const o = answer.disclosures.find((x: any) => x.seq === corrected.seq)
      o.supersededBy = { ...o.supersededBy, action: 'retract' }
      return answer
    })
    const retracted = await showReport()
    t.match(retracted.find((row) => row[0] === String(corrected.seq))?.[9], /^retracted by entry/, 'the row says what the rewritten answer says')
    const supersededCell = await proofColumn(page)
    t.same(
      supersededCell.find((c) => c.seq === String(corrected.seq)),
      {
        seq: String(corrected.seq),
        proof: `NOT verified: the report says it was superseded by entry ${correction.seq}, which does not supersede it so`
      },
      'a row whose correction is shown other than its proven entry says is not verified'
    )
    await restoreSuperseded()

    // An original withdrawn before it was delivered did not leave: its row says what happened, in the
    // words the page uses for a withdrawn message (docs/privacy-officers.md, "Corrections and retractions in the report").
    for (const [mayHaveArrived, words] of [
      [false, 'stopped before it left'],
      [true, 'stopped, though a failed attempt before may have reached the other side']
    ] as const) {
      const restoreWithdrawn = await rewriteAnswers(page, '**/v1/audit/disclosures', (answer) => {
        const o = answer.disclosures.find((x: any) => x.seq === corrected.seq)
        o.supersededBy = { ...o.supersededBy, withdrawn: true, mayHaveArrived }
        return answer
      })
      const shown = await showReport()
      t.equal(
        shown.find((r) => r[0] === String(corrected.seq))?.[3],
        `accepted to send to ${corrected.to}; ${words}`,
        `an original withdrawn${mayHaveArrived ? ' after a failed attempt' : ''} is not said to have left`
      )
      t.equal(shown.find((r) => r[0] === String(correction.seq))?.[3], `left for ${correction.to}`, 'its correction, not withdrawn, left')
      await restoreWithdrawn()
    }

    // The report in pages of two entries (the API's `limit`, added to the page's request): the next page takes the focus to its heading.
    const twoAPage = (route: Route) => route.continue({ postData: JSON.stringify({ ...route.request().postDataJSON(), limit: 2 }) })
    await page.route('**/v1/audit/disclosures', twoAPage)
    await page.fill('#documentNumber', document.number)
    await page.fill('#issuingCountry', document.issuingCountry)
    await page.click('button[type=submit]')
    await page.click('#report-pages >> text=Next entries')
    await page.waitForSelector('#report-pages:has-text("page 2")')
    t.equal(await page.evaluate('document.activeElement?.textContent'), 'Disclosure report', "the focus goes to the new page's heading")
    // Each page is saved alone (it carries its own checkpoint and proofs): the button and the file say which page, so that one page
    // is not taken, or sent to an oversight body, for the whole report, nor saved over another page's file.
    const save = page.locator('#report button:has-text("Save")')
    t.match(await save.textContent(), /^Save page 2 of the report/, 'the save button says it saves this page')
    const [pageTwo] = await Promise.all([page.waitForEvent('download'), save.click()])
    t.match(pageTwo.suggestedFilename(), /^disclosure-report-[A-Za-z0-9_-]{8}-page-2\.json$/, 'and its file is named by the page')
    const saved = JSON.parse(readFileSync((await pageTwo.path())!, 'utf8'))
    t.equal(saved.disclosures.length, 2, 'the page of two entries')
    await page.unroute('**/v1/audit/disclosures', twoAPage)

    // A traveller the ledger names by no document: the protected person of the sample match response, by surname and date of birth.
    await page.goto(`${url}/console#/traveller`)
    await page.fill('#surname', 'Habibi')
    await page.fill('#dateOfBirth', '1995-01-23')
    await submitReport(page)
    const byName = await cells(page, '#report-table')
    t.ok(
      byName.some((r) => r[4] === 'biometric.match-response'),
      'a report by surname and date of birth finds the match response that shared her identity'
    )
    t.match(
      await page.textContent('#report-facts'),
      'Found bysurname and date of birth: anyone else of that surname and date of birth is in this report too',
      'and says that anyone else of that surname and date of birth would be in it too'
    )
    await page.goto(`${url}/console#/traveller`)
    await page.fill('#documentNumber', document.number)
    await page.fill('#issuingCountry', document.issuingCountry.toLowerCase())
    t.equal(await page.inputValue('#issuingCountry'), document.issuingCountry, 'a country typed in lower case is upper-cased as typed')
    await submitReport(page)
    t.notMatch(await page.textContent('#report-facts'), 'Found by', 'a report by a document does not')
    const purposeCells = (await cells(page, '#report-table')).filter((r) => r[4] === 'entry-exit.record').map((r) => r[5])
    t.ok(purposeCells.length > 0 && purposeCells.every((c) => c!.endsWith('(the rules)')), 'each row links to the rules it was decided under')

    // A row decided under another version of its policy than the one published now (the rules changed since) does not offer
    // today's rules as why its fields went: it says they are another version, as a message's page does.
    const restorePolicies = await rewriteAnswers(page, '**/v1/policies', (catalogue) => ({
      ...catalogue,
      kinds: catalogue.kinds.map((k: any) => (k.kind === 'entry-exit.record' ? { ...k, policyVersion: 'sha256:published-since' } : k))
    }))
    await page.goto(`${url}/console#/traveller`)
    await page.reload()
    await page.waitForSelector('#traveller-form')
    await page.fill('#documentNumber', document.number)
    await page.fill('#issuingCountry', document.issuingCountry)
    await submitReport(page)
    const olderRules = (await cells(page, '#report-table')).filter((r) => r[4] === 'entry-exit.record').map((r) => r[5])
    t.ok(
      olderRules.length > 0 && olderRules.every((c) => c!.endsWith('(the rules published now, not the version it was decided under)')),
      'a row decided under another version says the rules linked are not those',
      { olderRules }
    )
    await restorePolicies()
    await page.goto(`${url}/console#/holds`)
    await page.reload()
    await page.goto(`${url}/console#/traveller`)
    await page.fill('#documentNumber', document.number)
    await page.fill('#issuingCountry', document.issuingCountry)
    await submitReport(page)

    await page.fill('#traveller-ref', 'HOLD-CONSOLE-1')
    await page.fill('#traveller-complaint', 'OPC-2026-0099')
    await page.fill('#traveller-reason', 'complaint under review')
    await page.click('#traveller-hold button[type=submit]')
    await page.waitForSelector('#traveller-hold .ok')
    t.match(await page.textContent('#report-holds'), /HOLD-CONSOLE-1OPC-2026-0099complaint under review/, "listed in the report's holds at once")
    const { holds } = await api.get('/v1/audit/legal-holds')
    t.match(holds, [{ ref: 'HOLD-CONSOLE-1', complaintRef: 'OPC-2026-0099', subject: report.subject }], 'the hold, on the traveller, with the complaint')
    const audited = await api.get('/v1/audit/entries?event=legal-hold-placed')
    t.equal(audited.entries.at(-1).entry.reference, 'HOLD-CONSOLE-1', 'and audited')

    // The hold listed, then released, from the holds view; both audited. A second, on the message, is released through the API behind the page's back.
    await api.post('/v1/audit/legal-holds', { ref: 'HOLD-CONSOLE-2', messageId: correctedId, reason: 'inquiry' })
    await page.goto(`${url}/console#/holds`)
    await page.waitForSelector('#holds-table')
    await accessibility(t, page, 'legal holds')
    await shot(page, 'holds')
    await page.click('button[aria-label="Release hold HOLD-CONSOLE-1"]')
    await page.waitForSelector('#holds-status .ok')
    t.ok((await api.get('/v1/audit/legal-holds')).holds.find((x: any) => x.ref === 'HOLD-CONSOLE-1').releasedAt, 'released')
    t.equal((await api.get('/v1/audit/entries?event=legal-hold-released')).entries.at(-1).entry.reference, 'HOLD-CONSOLE-1', 'and audited')
    t.equal(
      await page.evaluate('document.activeElement?.textContent'),
      'Hold HOLD-CONSOLE-1 released, and audited.',
      'the focus is on what happened, not lost with the button'
    )
    t.equal(await api.delete('/v1/audit/legal-holds/HOLD-CONSOLE-2'), 204)
    await page.click('button[aria-label="Release hold HOLD-CONSOLE-2"]')
    const refused = await page.waitForSelector('#holds-status [role=alert]')
    t.match(await refused.textContent(), /^Hold HOLD-CONSOLE-2 was not released: NOT_FOUND: /, 'a release refused is said, with its code')
    t.equal(await page.locator('button[aria-label="Release hold HOLD-CONSOLE-2"]').count(), 0, 'and the list is read again: it is released')
    t.equal(await page.evaluate('document.activeElement?.getAttribute("role")'), 'alert', 'the focus is on the refusal')

    const log = readFileSync(join(dir, 'sandbox-run', 'gateway-CA.log'), 'utf8')
    t.ok(log.length > 0 && !log.includes(document.number), "the document number is not in the gateway's log")
  })

  await t.test('one id refused, then accepted, and received from the partner: the page is about the message taken, every entry listed', async (t) => {
    // An agency may send an envelope that is refused, then the fixed one under the same id, which is
    // accepted (a refusal stores no message): the page is about the accepted message, and more refusals
    // than a page of the search holds (its default, 100) hide none of the entries after them.
    const cbsa = client(t, 'CBSA', url)
    const fixed = cbsa.envelope(sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }))
    const id = fixed.id as string
    const broken = structuredClone(fixed) as { payload: Record<string, unknown> }
    delete broken.payload.traveller
    const refusals = await Promise.all(Array.from({ length: 101 }, async () => (await cbsa.submit(await cbsa.sign(broken))).status))
    t.same([...new Set(refusals)], [422], '101 attempts refused')
    t.equal((await cbsa.submit(await cbsa.sign(fixed))).status, 202, 'then the same id, fixed, is accepted')
    await eventually(async () => ((await api.get(`/v1/audit/messages/${id}`)).outbound?.status === 'delivered' ? true : undefined), 30_000, 'its delivery')
    // The partner's agency sends a message of its own under the same id: the id names a message each way here.
    const cbp = client(t, 'CBP', partnerUrl)
    const theirs = await cbp.sign(cbp.envelope({ ...sampleEnvelope('entry-exit.record', 'US', { country: 'CA', agency: 'CBSA' }), id }))
    t.equal((await cbp.submit(theirs)).status, 202, "the partner's message under the same id is accepted there")
    // Pushed to CBSA too: no entry about the id is written after the ledger is read below.
    await eventually(async () => ((await api.get(`/v1/audit/messages/${id}`)).inbound?.status === 'delivered' ? true : undefined), 30_000, 'its push here')

    const ledger: any[] = []
    for (let cursor: string | undefined; ; ) {
      const p = await api.get(`/v1/audit/entries?messageId=${id}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)
      ledger.push(...p.entries)
      if (!(cursor = p.nextCursor)) break
    }
    const accepted = ledger.find((e) => e.entry.event === 'accepted')
    const received = ledger.find((e) => e.entry.event === 'received')
    t.ok(accepted.seq > ledger.find((e) => e.entry.event === 'refused').seq, 'the refusals are first in the ledger')

    const shownFacts = async (): Promise<Record<string, string>> =>
      Object.fromEntries(await page.$$eval('#message-facts dt', (dts) => dts.map((dt) => [dt.textContent ?? '', dt.nextElementSibling?.textContent ?? ''])))
    const open = async (address: string): Promise<Record<string, string>> => {
      await page.goto(`${url}/console#/message/none`)
      await page.waitForSelector('#message-entries', { state: 'detached' })
      await page.goto(`${url}/console#/message/${address}`)
      await page.waitForSelector('#message-entries')
      return shownFacts()
    }
    const decisions = async () => (await cells(page, '#decisions')).map(([path, action, rule, principle]) => [path, action, rule, principle!.split(' ')[0]])
    const fieldsOf = (x: any) => x.entry.fields.map((f: any) => [f.path, f.action, f.rule, f.principle])

    const sent = await open(id)
    t.equal(sent.Outcome, 'accepted', 'the outcome is the accepted message, not a refusal before it')
    t.equal(sent.Direction, 'outbound')
    t.equal(sent.To, 'US/CBP')
    t.equal(sent['Refused before it'], '101 attempts under this id, listed below', 'the refusals before it are said')
    t.equal(await page.textContent('#decisions caption'), `Decision for every field (${accepted.entry.fields.length})`)
    t.same(await decisions(), fieldsOf(accepted), "the accepted entry's field decisions")
    t.match(await page.textContent('#proof-result'), new RegExp(`^Verified: entry ${accepted.seq} is in the ledger`), 'the accepted entry is the one proven')
    const rows = await cells(page, '#message-entries')
    t.same(
      rows.map((r) => r[0]),
      ledger.map((e) => String(e.seq)),
      'every entry about the id, the refusals first'
    )
    t.equal(rows.filter((r) => r[2] === 'refused (SCHEMA_INVALID)').length, 101, 'each refusal listed as such')
    t.ok(
      ['accepted', 'delivered', 'received'].every((o) => rows.some((r) => r[2] === o)),
      'and the accepted, delivered and received entries after them'
    )
    await accessibility(t, page, 'message refused, then accepted')

    // The other message under the id is a link away, and is shown as its own entry says.
    t.equal(sent['Also under this id'], `a message received from the partner (entry ${received.seq})`)
    await page.click(`#message-facts a[href="#/message/${id}/inbound"]`)
    await page.waitForSelector(`#proof-result:has-text("entry ${received.seq} ")`)
    t.match(await shownFacts(), {
      Outcome: 'received',
      Direction: 'inbound',
      From: 'US/CBP',
      'Also under this id': `a message accepted to send to the partner (entry ${accepted.seq})`
    })
    t.same(await decisions(), fieldsOf(received), "the received entry's field decisions")
    t.match(await page.textContent('#proof-result'), /^Verified/)

    // In smaller pages (the API's `limit`, lowered in the page's request), the entries are read page after page ...
    const pageOf = (limit: number) => (route: Route) => route.continue({ url: route.request().url().replace('limit=1000', `limit=${limit}`) })
    const entriesSearch = new RegExp(`/v1/audit/entries\\?messageId=${id}&limit=1000`)
    const fifty = pageOf(50)
    await page.route(entriesSearch, fifty)
    await open(id)
    t.same(
      (await cells(page, '#message-entries')).map((r) => r[0]),
      ledger.map((e) => String(e.seq)),
      'every entry, read over three pages'
    )
    t.equal(await page.locator('#entries-bounded').count(), 0, 'none left out')
    await page.unroute(entriesSearch, fifty)
    // ... up to a bound, which is said, the message taken shown all the same.
    const twenty = pageOf(20)
    await page.route(entriesSearch, twenty)
    const bounded = await open(id)
    t.equal((await cells(page, '#message-entries')).length, 100, 'five pages at most')
    t.equal(
      await page.textContent('#entries-bounded'),
      `Showing the first 100 entries about this id; the ledger holds more: GET /v1/audit/entries?messageId=${id} lists them all.`,
      'and the page says it shows the first of more'
    )
    t.equal(bounded['Refused before it'], 'at least 100 attempts under this id, listed below', 'the refusals counted are the ones read')
    t.equal(bounded.Outcome, 'accepted')
    t.same(await decisions(), fieldsOf(accepted))
    await page.unroute(entriesSearch, twenty)
    // The message sent purged, the one received under the same id not yet: the page of the one sent shows none of the other's record.
    const restoreRecords = await rewriteAnswers(page, `**/v1/audit/messages/${id}`, (answer) => ({ ...answer, outbound: null }))
    const purgedSent = await open(id)
    t.match(purgedSent.Status, /^purged by retention/, "the message sent is purged, not given the received one's status")
    t.match(await page.textContent('#signatures'), "The partner's signed receiptno longer held", 'nor the receipt this gateway signed for the other')
    await restoreRecords()
    await page.goto(`${url}/console#/message/${id}/sideways`)
    t.match(
      await (await page.waitForSelector('main [role=alert]')).textContent(),
      /^No direction "sideways"/,
      'a direction other than inbound or outbound is said wrong, not taken for either'
    )
  })

  await t.test('overview (last): integrity, activity by kind, purpose and partner, match rates, as the ledger holds them', async (t) => {
    await page.goto(`${url}/console#/overview`)
    await page.waitForSelector('#table-matches')
    // What the page counted, counted again from the API.
    const from = await page.getAttribute('#counted time', 'datetime')
    const entries: any[] = []
    for (let cursor: string | undefined; ; ) {
      const p = await api.get(`/v1/audit/entries?from=${from}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)
      entries.push(...p.entries)
      if (!(cursor = p.nextCursor)) break
    }
    const messages = entries.map((e) => e.entry).filter((e) => e.event === 'accepted' || e.event === 'received')
    t.match(await page.textContent('#counted'), new RegExp(`^${messages.length} messages since`), 'every message of the range')
    const byKind = await cells(page, '#table-fields')
    for (const kind of new Set(messages.map((e) => e.kind))) {
      const fields = messages.filter((e) => e.kind === kind).flatMap((e) => e.fields)
      // A row of decisions on a field inside an array stands for one a value (its count).
      const want = ['share', 'generalise', 'pseudonymise', 'withhold'].map((a) =>
        String(fields.filter((f: any) => f.action === a).reduce((sum: number, f: any) => sum + (f.count ?? 1), 0))
      )
      t.same(byKind.find((r) => r[0] === kind)?.slice(1), want, `field decisions of ${kind}`)
    }
    const responses = (country: string) => messages.filter((e) => e.kind === 'biometric.match-response' && e.from.startsWith(`${country}/`))
    const matched = (country: string) => responses(country).filter((e) => e.fields.some((f: any) => f.path.startsWith('subject.'))).length
    const rates = await cells(page, '#table-matches')
    t.match(rates[0]![1], `(${matched('US')} of ${responses('US').length})`, 'Canadian prints matched in the U.S.')
    t.match(rates[1]![1], `(${matched('CA')} of ${responses('CA').length})`, 'U.S. prints matched in Canada')
    t.equal(await page.locator('canvas').count(), 5, 'as charts, not only tables')
    t.match(await page.textContent('#conflicts'), /No checkpoint conflict alert/)
    // Every figure of the overview is the gateway's report of its own ledger, nothing of it checked in the page: each section says so,
    // in words, and is described by that (a screen reader hears it with the section), beside pages whose "verified" the page checked.
    const describedBy = (heading: string) =>
      page.$eval(`section[aria-labelledby=${heading}]`, (s) => s.ownerDocument.getElementById(s.getAttribute('aria-describedby') ?? '')?.textContent ?? null)
    t.match(
      await describedBy('integrity-h'),
      /^As this gateway reports them \(GET \/v1\/audit\/witness\), not verified in this page:/,
      "the checkpoints and the last verification are labelled the gateway's report, not verified"
    )
    t.match(
      await describedBy('activity-h'),
      /^Counted by this gateway \(GET \/v1\/audit\/statistics\), not verified in this page:/,
      "the counts are labelled the gateway's report, not verified"
    )
    t.match(await page.textContent('#counted'), /, as this gateway counted them\.$/, 'and so is the total, where it is read')
    // Last, so that the reports above have had checkpoints made and witnessed.
    const witness = await api.get('/v1/audit/witness')
    t.ok(witness.latestCosigned, 'the partner has cosigned a checkpoint')
    t.match(
      await page.textContent('#witness'),
      `Latest the partner cosigned${witness.latestCosigned.size} entries, cosigned`,
      'the latest cosigned checkpoint, as the API has it'
    )
    await page.click('text=Verify the whole ledger now')
    await page.waitForSelector('#verification dl')
    t.match(
      await page.textContent('#verification'),
      /^Verified by this gateway \(not in this page\): the ledger is intact/,
      "the gateway's verdict, said to be its own"
    )
    t.equal(
      await page.evaluate('document.activeElement?.textContent'),
      'Verify the whole ledger now',
      'the keyboard is back on the button, not lost to the page'
    )
    const v = await api.get('/v1/audit/verification')
    t.ok(v.ok, 'and the API says so too')
    // The verification is audited, and the overview tells the next reader when it was run.
    await page.reload()
    await page.waitForSelector('#table-matches')
    const last = (await api.get('/v1/audit/witness')).lastVerification
    t.match(last, { ok: true, entries: v.entries, by: 'CA/privacy-officer/po-1' }, 'the last verification, from its ledger entry')
    t.match(
      await page.textContent('#witness'),
      new RegExp(`Last verification.* by CA/privacy-officer/po-1 .*: intact, ${v.entries} entries checked`),
      'shown in the overview'
    )
    await accessibility(t, page, 'overview')
    await shot(page, 'overview')
    // Another range chosen from the keyboard: the picker is drawn anew, and keeps the focus.
    await page.focus('#range')
    await page.keyboard.press('ArrowUp')
    await page.waitForSelector('#range >> option[value=week][selected]', { state: 'attached' })
    t.equal(await page.evaluate('document.activeElement?.id'), 'range', 'the focus stays on the range picker')
  })

  t.same(errors, [], 'no script error on any page')
}
