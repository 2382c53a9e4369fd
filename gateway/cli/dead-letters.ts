// npm run dead-letters -- list [--queue <q>] [--limit <n>] [--cursor <c>]
// npm run dead-letters -- show <id>
// npm run dead-letters -- resend <id> [--reason "..."]
// npm run dead-letters -- discard <id> --reason "..."
//   common: --gateway <url> --cert <pem> --key <pem> --ca <pem> [--queue <q>] [--json]
//
// The operator's side of the dead-letter API, over mutual TLS with the
// operator's certificate and a token bound to it. It defaults to the sandbox:
// the CA gateway and its example operator.
// Exit code 0: done (a repeat that changed nothing included). 1: the gateway
// refused or could not be reached. 2: the command line is wrong.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { undiciModule } from '../lib/lazy-packages.ts'
import { QUEUES } from '../queue/queue-names.ts'

const { Agent, request } = undiciModule()
type Agent = InstanceType<typeof Agent>

const ROOT = join(import.meta.dirname, '..', '..')
const SANDBOX_OPERATOR = join(ROOT, 'keys-example', 'CA', 'operators', 'ops-1')

const USAGE = `usage: dead-letters <command> [options]
  list                      dead letters, oldest first   [--queue ${QUEUES.join('|')}] [--limit <n>] [--cursor <c>]
  show <id>                 one dead letter, every failed attempt
  resend <id>               queue it again from the outbox, with fresh attempts   [--reason "..."]
  discard <id> --reason "…" give up on it for good (the reason goes to the audit ledger)
options:
  --gateway <url>   default $GATEWAY_URL or https://127.0.0.1:8441
  --cert <pem> --key <pem>   the operator's client certificate and key (default: keys-example/CA/operators/ops-1)
  --ca <pem>        the CA that issued the gateway's certificate (default: keys-example/CA/ca.crt.pem)
  --queue <q>       ${QUEUES.join(' or ')} (for show/resend/discard: only if the id is in both)
  --json            print the gateway's JSON answer instead of a table`

class UsageError extends Error {}

/** A refusal from the gateway, with its problem document's stable code. */
class ProblemError extends Error {
  readonly code: string
  readonly status: number
  constructor(status: number, code: string, detail: string) {
    super(detail)
    this.status = status
    this.code = code
  }
}

interface Failure {
  code: string
  status: number | null
}

interface DeadLetter {
  id: string
  queue: string
  direction: string
  kind: string
  purpose: string
  from: string
  to: string
  attempts: number
  acceptedAt: string
  firstFailureAt: string | null
  lastFailureAt: string | null
  deadLetteredAt: string
  lastError: Failure | null
  policyVersion: string | null
  digest: string
  correlationId?: string | null
  failures?: Array<{ at: string } & Failure>
}

interface Result {
  id: string
  queue: string
  outcome: string
  status: string
  changed: boolean
  detail: string
  statusUrl: string
}

class OperatorClient {
  readonly #base: string
  readonly #agent: Agent
  #token: string | undefined

  constructor(base: string, tls: { cert: Buffer; key: Buffer; ca: Buffer }) {
    this.#base = base
    this.#agent = new Agent({ connect: tls })
  }

  async #send(method: 'GET' | 'POST', path: string, body?: unknown, auth = true): Promise<unknown> {
    const headers: Record<string, string> = {}
    if (auth) headers.authorization = `Bearer ${(this.#token ??= await this.#fetchToken())}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res
    try {
      res = await request(new URL(path, this.#base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.#agent
      })
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
      const code = e.code ?? e.cause?.code
      throw new Error(`cannot reach ${this.#base}: ${code ?? e.message}`)
    }
    const text = await res.body.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new ProblemError(res.statusCode, 'UNREADABLE_ANSWER', `the gateway answered ${res.statusCode} with something that is not JSON`)
    }
    if (res.statusCode >= 400) {
      const p = json as { code?: string; detail?: string }
      throw new ProblemError(res.statusCode, p.code ?? 'UNKNOWN', p.detail ?? `HTTP ${res.statusCode}`)
    }
    return json
  }

  async #fetchToken(): Promise<string> {
    const answer = (await this.#send('POST', '/v1/token', undefined, false)) as { access_token: string }
    return answer.access_token
  }

  get<T>(path: string): Promise<T> {
    return this.#send('GET', path) as Promise<T>
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#send('POST', path, body) as Promise<T>
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n')
}

function reason(f: Failure | null): string {
  if (f === null) return '-'
  return f.status === null ? f.code : `${f.code} (HTTP ${f.status})`
}

/** `2026-11-22T18:00:01.234Z` → `2026-11-22 18:00:01Z`: an operator reads it at a glance. */
function when(at: string | null): string {
  return at === null ? '-' : at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')
}

function listTable(items: DeadLetter[]): string {
  if (items.length === 0) return 'No dead letters.'
  const rows = [['ID', 'QUEUE', 'KIND', 'PURPOSE', 'FROM', 'TO', 'ATTEMPTS', 'DEAD-LETTERED', 'LAST ERROR']]
  for (const d of items) {
    rows.push([d.id, d.queue, d.kind, d.purpose, d.from, d.to, String(d.attempts), when(d.deadLetteredAt), reason(d.lastError)])
  }
  return `${table(rows)}\n\n${items.length} dead letter${items.length === 1 ? '' : 's'}.`
}

function showText(d: DeadLetter): string {
  const lines = [
    ['Message', d.id],
    ['Queue', `${d.queue} (${d.direction})`],
    ['Kind', d.kind],
    ['Purpose', d.purpose],
    ['From', d.from],
    ['To', d.to],
    ['Accepted', when(d.acceptedAt)],
    ['First failure', when(d.firstFailureAt)],
    ['Last failure', when(d.lastFailureAt)],
    ['Dead-lettered', when(d.deadLetteredAt)],
    ['Attempts', String(d.attempts)],
    ['Last error', reason(d.lastError)],
    ['Policy version', d.policyVersion ?? '-'],
    ['Digest', d.digest],
    ['Correlation id', d.correlationId ?? '-']
  ]
  const out = table(lines.map(([k, v]) => [`${k}:`, v!]))
  const failures = (d.failures ?? []).map((f, i) => `  ${String(i + 1).padStart(2)}. ${when(f.at)}  ${reason(f)}`)
  return failures.length === 0 ? out : `${out}\nFailed attempts:\n${failures.join('\n')}`
}

function itemPath(id: string, queue: string | undefined, action = ''): string {
  return `/v1/operations/dead-letters/${encodeURIComponent(id)}${action}${queue === undefined ? '' : `?queue=${encodeURIComponent(queue)}`}`
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      gateway: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      queue: { type: 'string' },
      reason: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const [command, id, ...extra] = positionals
  if (command === undefined) throw new UsageError('give a command')
  const needsId = command === 'show' || command === 'resend' || command === 'discard'
  if (!needsId && command !== 'list') throw new UsageError(`unknown command ${command}`)
  if (needsId && id === undefined) throw new UsageError(`${command} needs a message id`)
  if (extra.length > 0 || (!needsId && id !== undefined)) throw new UsageError(`unexpected argument ${extra[0] ?? id}`)
  if (command === 'discard' && values.reason === undefined) throw new UsageError('discard needs --reason "…": it is written to the audit ledger')
  if (values.gateway !== undefined && !(URL.canParse(values.gateway) && values.gateway.startsWith('https://'))) {
    throw new UsageError('--gateway must be an https:// URL')
  }
  if (values.queue !== undefined && !(QUEUES as readonly string[]).includes(values.queue)) throw new UsageError(`--queue must be one of ${QUEUES.join(', ')}`)
  const limit = values.limit === undefined ? undefined : Number(values.limit)
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 500)) throw new UsageError('--limit must be an integer from 1 to 500')

  let tls
  const files = {
    cert: values.cert ?? join(SANDBOX_OPERATOR, 'client.crt.pem'),
    key: values.key ?? join(SANDBOX_OPERATOR, 'client.key.pem'),
    ca: values.ca ?? join(ROOT, 'keys-example', 'CA', 'ca.crt.pem')
  }
  try {
    tls = { cert: readFileSync(files.cert), key: readFileSync(files.key), ca: readFileSync(files.ca) }
  } catch (err) {
    throw new UsageError(`cannot read the TLS material: ${(err as Error).message}`)
  }
  const client = new OperatorClient(values.gateway ?? process.env.GATEWAY_URL ?? 'https://127.0.0.1:8441', tls)
  const print = (text: string): void => {
    process.stdout.write(`${text}\n`)
  }
  try {
    switch (command) {
      case 'list': {
        // Without --limit, every page; with it, one page and where the next begins.
        const items: DeadLetter[] = []
        let cursor = values.cursor
        let next: string | null = null
        do {
          const query = new URLSearchParams({ limit: String(limit ?? 500) })
          if (values.queue !== undefined) query.set('queue', values.queue)
          if (cursor !== undefined) query.set('cursor', cursor)
          const page = await client.get<{ deadLetters: DeadLetter[]; nextCursor: string | null }>(`/v1/operations/dead-letters?${query}`)
          items.push(...page.deadLetters)
          next = page.nextCursor
          cursor = next ?? undefined
        } while (limit === undefined && next !== null)
        if (values.json) print(JSON.stringify({ deadLetters: items, nextCursor: next }, null, 2))
        else print(listTable(items) + (next === null ? '' : `\nMore: --cursor ${next}`))
        return 0
      }
      case 'show': {
        const d = await client.get<DeadLetter>(itemPath(id!, values.queue))
        print(values.json ? JSON.stringify(d, null, 2) : showText(d))
        return 0
      }
      default: {
        const body = values.reason === undefined ? {} : { reason: values.reason }
        const r = await client.post<Result>(itemPath(id!, values.queue, `/${command}`), body)
        print(values.json ? JSON.stringify(r, null, 2) : `${r.id} (${r.queue}): ${r.outcome} — ${r.detail}. Status now: ${r.status} (${r.statusUrl})`)
        return 0
      }
    }
  } finally {
    await client.close()
  }
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
    process.stderr.write(`dead-letters: ${(err as Error).message}\n${USAGE}\n`)
    process.exitCode = 2
  } else if (err instanceof ProblemError) {
    process.stderr.write(`dead-letters: refused: ${err.code} (HTTP ${err.status}): ${err.message}\n`)
    process.exitCode = 1
  } else {
    process.stderr.write(`dead-letters: ${(err as Error).message}\n`)
    process.exitCode = 1
  }
}
