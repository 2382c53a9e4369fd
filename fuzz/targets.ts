// The fuzzer's handle on the gateway pair running in its worker thread
// (gateway-worker.ts): the URLs to send to, and what the oracle reads after the
// run (ledger entries, message statuses, error-level logs, crashes). A worker
// that dies or throws is a crash of the gateways.
import { Worker } from 'node:worker_threads'
import type { GatewayConfig } from '../gateway/config.ts'
import type { Direction, MessageStatus, StoredAuditEntry } from '../gateway/store/records.ts'
import type { Event, Request } from './gateway-worker.ts'
import type { LogRecord } from './gateway-pair.ts'

export type { LogRecord }

export interface Targets {
  readonly ca: { readonly url: string }
  readonly us: { readonly url: string }
  /** Log lines at level 50 (error) and above, as the gateways wrote them (the first 500 kept). */
  readonly errorLogs: LogRecord[]
  /** Uncaught exceptions, unhandled rejections, and the worker's own death. */
  readonly crashes: string[]
  auditEntries(country: 'CA' | 'US', after: number, limit: number): Promise<StoredAuditEntry[]>
  messageStatus(country: 'CA' | 'US', direction: Direction, id: string): Promise<MessageStatus | null>
  counts(): Promise<{ errorLogs: number; warnLogs: number; pushes: number }>
  close(): Promise<void>
}

const KEPT = 500

type Call = Request extends infer R ? (R extends { method: infer M } ? Omit<Extract<Request, { method: M }>, 'id'> : never) : never

export async function startTargets(config: Partial<GatewayConfig> = {}): Promise<Targets> {
  const worker = new Worker(new URL('./gateway-worker.ts', import.meta.url), { workerData: { config } })
  const errorLogs: LogRecord[] = []
  const crashes: string[] = []
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let nextId = 0
  let closing = false
  let ready: ((urls: { ca: string; us: string }) => void) | undefined
  let failed: ((err: Error) => void) | undefined
  const started = new Promise<{ ca: string; us: string }>((resolve, reject) => {
    ready = resolve
    failed = reject
  })

  worker.on('message', (e: Event) => {
    switch (e.event) {
      case 'ready':
        ready!({ ca: e.ca, us: e.us })
        break
      case 'failed':
        failed!(new Error(`the gateways did not start: ${e.error}`))
        break
      case 'crash':
        crashes.push(e.text)
        break
      case 'error-log':
        if (errorLogs.length < KEPT) errorLogs.push(e.record)
        break
      case 'reply': {
        const call = pending.get(e.id)
        pending.delete(e.id)
        if (e.error !== undefined) call?.reject(new Error(e.error))
        else call?.resolve(e.result)
        break
      }
    }
  })
  worker.on('error', (err) => {
    crashes.push(`gateway thread: ${err.name}: ${err.message}`)
    failed?.(err)
  })
  worker.on('exit', (code) => {
    if (!closing) crashes.push(`gateway thread exited with code ${code}`)
    failed?.(new Error(`the gateway thread exited with code ${code}`))
    for (const call of pending.values()) call.reject(new Error('the gateway thread is gone'))
    pending.clear()
  })

  const call = <T>(request: Call): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      worker.postMessage({ ...request, id })
    })

  const urls = await started
  return {
    ca: { url: urls.ca },
    us: { url: urls.us },
    errorLogs,
    crashes,
    auditEntries: (country, after, limit) => call({ method: 'auditEntries', country, after, limit }),
    messageStatus: (country, direction, messageId) => call({ method: 'messageStatus', country, direction, messageId }),
    counts: () => call({ method: 'counts' }),
    async close() {
      closing = true
      try {
        await call({ method: 'close' })
      } finally {
        await worker.terminate()
      }
    }
  }
}
