// The gateway pair, in a worker thread of its own. Node runs one thread per
// isolate: with the gateways in the fuzzer's thread, generating, signing and
// TLS on the client side would take turns with the gateways' TLS, pipeline
// and ledger on one core. Here they get the second core. The main thread
// reaches the gateways only over TLS, as any client does, and asks this thread
// (messages below) for what a test reads from the app: the ledger, message
// statuses, the logs, uncaught exceptions.
import { parentPort, workerData } from 'node:worker_threads'
import type { GatewayConfig } from '../gateway/config.ts'
import type { Direction } from '../gateway/store/records.ts'
import { loadIdentities } from './identities.ts'
import { startGatewayPair, type GatewayPair } from './gateway-pair.ts'

export type Request =
  | { readonly id: number; readonly method: 'auditEntries'; readonly country: 'CA' | 'US'; readonly after: number; readonly limit: number }
  | { readonly id: number; readonly method: 'messageStatus'; readonly country: 'CA' | 'US'; readonly direction: Direction; readonly messageId: string }
  | { readonly id: number; readonly method: 'counts' }
  | { readonly id: number; readonly method: 'close' }

export type Event =
  | { readonly event: 'ready'; readonly ca: string; readonly us: string }
  | { readonly event: 'failed'; readonly error: string }
  | { readonly event: 'reply'; readonly id: number; readonly result?: unknown; readonly error?: string }
  | { readonly event: 'crash'; readonly text: string }
  | { readonly event: 'error-log'; readonly record: { gateway: 'CA' | 'US'; level: number; msg: string; detail: string } }

const port = parentPort!
const post = (e: Event) => port.postMessage(e)

// Anything thrown and not caught in the gateways is a crash to report; the run goes on so that the report can say so.
process.on('uncaughtException', (err) => post({ event: 'crash', text: `${err.name}: ${err.message}\n${err.stack?.split('\n').slice(1, 4).join('\n') ?? ''}` }))
process.on('unhandledRejection', (err) =>
  post({ event: 'crash', text: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack?.split('\n').slice(1, 4).join('\n') ?? ''}` : String(err) })
)

let pair: GatewayPair
try {
  pair = await startGatewayPair(loadIdentities(), (workerData as { config?: Partial<GatewayConfig> }).config ?? {}, (record) =>
    post({ event: 'error-log', record })
  )
  post({ event: 'ready', ca: pair.ca.url, us: pair.us.url })
} catch (err) {
  post({ event: 'failed', error: (err as Error).stack ?? String(err) })
  process.exit(1)
}

port.on('message', (req: Request) => {
  void (async () => {
    try {
      switch (req.method) {
        case 'auditEntries': {
          const app = req.country === 'CA' ? pair.ca.app : pair.us.app
          post({ event: 'reply', id: req.id, result: await app.store.auditEntries(req.after, req.limit) })
          break
        }
        case 'messageStatus': {
          const app = req.country === 'CA' ? pair.ca.app : pair.us.app
          post({ event: 'reply', id: req.id, result: (await app.store.findMessage(req.direction, req.messageId))?.status ?? null })
          break
        }
        case 'counts':
          post({ event: 'reply', id: req.id, result: { ...pair.counts } })
          break
        case 'close':
          await pair.close()
          post({ event: 'reply', id: req.id, result: null })
          port.close()
          break
      }
    } catch (err) {
      post({ event: 'reply', id: req.id, error: (err as Error).message })
    }
  })()
})
