// The documentation against the code: README.md stays a front door, every
// relative link in it and in docs/ leads somewhere, every file they name is
// there, every place in them the code cites (`docs/<page>.md, "<Heading>"`) is
// there, every module of the product (gateway/, policies/) is named in
// docs/architecture.md, and the reference tables (error codes in
// docs/integrators.md, settings in docs/operators.md) name exactly what
// gateway/errors.ts and gateway/config.ts define.
import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { ERROR_CODES } from '../gateway/errors.ts'
import { ENV_SCHEMA } from '../gateway/config.ts'

const root = join(import.meta.dirname, '..')
const read = (file: string): string => readFileSync(join(root, file), 'utf8')
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`)
]

/** Outside fenced code blocks: a `[x](y)` inside one is code, not a link. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```$/gm, '')
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchors(text: string): Set<string> {
  const out = new Set<string>()
  for (const [, heading] of prose(text).matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(
      heading!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-')
    )
  }
  return out
}

/**
 * The places a citation can name in a page: its headings, and the bold
 * lead-ins that title a paragraph or a list item (`**Shutdown.**`, `3. **Sign.**`).
 */
function places(text: string): Set<string> {
  const out = new Set<string>()
  for (const [, heading, leadIn] of prose(text).matchAll(/^(?:#{1,6} (.+)|(?:\d+\. |- )?\*\*([^*\n]+?)\.?\*\*)/gm)) {
    out.add((heading ?? leadIn)!.trim())
  }
  return out
}

/** The folders whose files may cite the docs: everything but the docs, the dependencies and git. */
const CITING = ['gateway', 'sandbox', 'tools', 'bench', 'test', 'schemas', 'policies', 'keys-example', 'docker', '.ci']

/** The source, script and configuration files under `dir`, at any depth, outside node_modules. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|js|mjs|c|sh|ya?ml|json)$|^(Dockerfile|Containerfile|run)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => !path.includes('/node_modules/'))
}

/** Files a command writes, which the docs name but the repository does not hold. */
const WRITTEN = new Set(['bench/results/latest.json'])

/** The first column of the markdown table whose header row starts with `| <first> |`. */
function tableColumn(text: string, first: string): string[] {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => l.startsWith(`| ${first} |`))
  if (start < 0) return []
  const cells: string[] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    cells.push(line.split('|')[1]!.trim())
  }
  return cells
}

t.test('the README is a front door', async (t) => {
  const lines = read('README.md').split('\n').length
  t.ok(lines <= 250, `README.md has ${lines} lines`)
})

t.test('every relative link in README.md and docs/ resolves', async (t) => {
  for (const page of pages) {
    const text = read(page)
    for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue
      const [path, anchor] = target!.split('#') as [string, string | undefined]
      const file = path === '' ? join(root, page) : resolve(root, dirname(page), path)
      t.ok(existsSync(file), `${page}: ${target} names an existing file`)
      if (anchor !== undefined && existsSync(file) && statSync(file).isFile() && file.endsWith('.md')) {
        t.ok(anchors(readFileSync(file, 'utf8')).has(anchor), `${page}: ${target} names a heading`)
      }
    }
  }
})

t.test('every file README.md and docs/ name is there', async (t) => {
  for (const page of pages) {
    for (const [, path] of prose(read(page)).matchAll(/`((?:gateway|sandbox|tools|bench|test|schemas|policies|keys-example|docker|docs|\.ci)\/[\w./-]*\w)`/g)) {
      if (WRITTEN.has(path!)) continue
      t.ok(existsSync(join(root, path!)), `${page}: ${path} is in the repository`)
    }
  }
})

t.test('every place in docs/ that the code cites is there', async (t) => {
  const placesOf = new Map(pages.map((page) => [page, places(read(page))]))
  let citations = 0
  for (const dir of CITING) {
    if (!existsSync(join(root, dir))) continue
    for (const file of filesUnder(join(root, dir))) {
      // A citation may run over the end of a comment's line: the next line's comment marker is a space.
      const text = readFileSync(file, 'utf8').replace(/\n\s*(?:\/\/|\*|#)\s?/g, ' ')
      for (const [, page, place] of text.matchAll(/((?:docs\/[\w-]+\.md)|README\.md),\s*"([A-Z`][^"\n]*)"/g)) {
        citations++
        const found = placesOf.get(page!)
        t.ok(found?.has(place!), `${relative(root, file)}: ${page}, "${place}" is a heading or a bold lead-in there`)
      }
    }
  }
  // The citations are there to be checked: a pattern that stopped finding them would pass vacuously.
  t.ok(citations > 100, `${citations} citations checked`)
})

/** The gateway's folders, which the document also names from inside gateway/ (`plugins/metrics.ts`). */
const GATEWAY_FOLDERS = new Set(
  readdirSync(join(root, 'gateway'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
)

/**
 * The product's modules docs/architecture.md names, in its prose and tables: by
 * path (`gateway/store/store-thread.ts`, or `store/store-thread.ts` from inside
 * gateway/), or by file name beside a path or folder of the same line
 * (`gateway/store/sql/` (`schema.ts`, …)).
 */
function modulesNamed(text: string): Set<string> {
  const named = new Set<string>()
  const fromRoot = (span: string): string => (GATEWAY_FOLDERS.has(span.split('/')[0]!) && span.includes('/') ? `gateway/${span}` : span)
  for (const line of prose(text).split('\n')) {
    const spans = [...line.matchAll(/`([^`\n]+)`/g)].map((m) => fromRoot(m[1]!))
    const folders = new Set<string>()
    for (const span of spans) {
      if (/^(?:gateway|policies)\/[\w./-]*\.ts$/.test(span)) {
        named.add(span)
        folders.add(dirname(span))
      } else if (/^(?:gateway|policies)\/[\w./-]*\/$/.test(span)) {
        folders.add(span.slice(0, -1))
      }
    }
    for (const span of spans) if (/^[\w.-]+\.ts$/.test(span)) for (const folder of folders) named.add(`${folder}/${span}`)
  }
  return named
}

// Issue 10's measure of the architecture document: from it, a newcomer finds
// the one module to change for any behaviour. A module it does not name is one
// the newcomer cannot find there.
t.test('every module of the product is named in docs/architecture.md', async (t) => {
  const text = read('docs/architecture.md')
  const named = modulesNamed(text)
  // The policy modules, one per kind, are named by their pattern.
  t.ok(text.includes('`policies/<kind>.policy.ts`'), 'the policy modules, by their pattern')
  const modules = ['gateway', 'policies'].flatMap((dir) =>
    filesUnder(join(root, dir))
      .map((file) => relative(root, file))
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.policy.ts'))
  )
  t.ok(modules.length > 100, `${modules.length} modules`)
  for (const module of modules) t.ok(named.has(module), `${module} is named in docs/architecture.md`)
})

t.test('the error-code table lists every code, and only those', async (t) => {
  const listed = tableColumn(read('docs/integrators.md'), 'code').map((c) => c.replace(/`/g, ''))
  t.same([...listed].sort(), [...ERROR_CODES].sort(), 'docs/integrators.md "Error codes" and gateway/errors.ts agree')
})

t.test('the configuration table names every setting, and only those', async (t) => {
  const listed = tableColumn(read('docs/operators.md'), 'variable').flatMap((c) => [...c.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!))
  t.same([...listed].sort(), Object.keys(ENV_SCHEMA.properties).sort(), 'docs/operators.md "Configuration" and gateway/config.ts agree')
})
