// The trust store in force, and how it changes while the gateway runs: a
// revocation or a key rotation written to the trust file takes effect on the
// next request, without a restart. Everything that needs trust reads
// `app.trust` at the moment it needs it, never once at start-up.
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { certificateExpiries } from '../trust/cert-expiry.ts'
import { tlsOptions } from '../trust/tls-options.ts'
import { describeTrustChange, loadTrustStore, type TrustStore } from '../trust/trust-store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The trust store in force now; replaced whole on reload. */
    readonly trust: TrustStore
    /**
     * Re-reads the trust file. A file that does not load leaves the store in
     * force untouched, and the error is returned, not thrown.
     */
    reloadTrust(reason: string): Promise<TrustReload>
    /** The reloads so far, and whether the last one was refused (for /metrics). */
    readonly trustReloads: TrustReloads
    /**
     * Calls `listener` with each trust store a reload puts in force, once it
     * is: a setting read beside the trust file (AGENCY_WEBHOOKS,
     * plugins/partner.ts) can then say when the two no longer fit.
     */
    onTrustReloaded(listener: (trust: TrustStore) => void): void
  }
}

export interface TrustReloads {
  readonly applied: number
  readonly refused: number
  /** The last reload was refused: the trust file on disk is not the trust in force. */
  readonly lastRefused: boolean
}

export type TrustReload = { readonly ok: true; readonly changes: readonly string[] } | { readonly ok: false; readonly error: string }

export interface TrustPluginOptions {
  readonly trust: TrustStore
  readonly file: string
  /** Reload when the trust file is replaced (the keys CLI writes it by rename). */
  readonly watch: boolean
  /** Warn in the log about certificates that expire within this many days. */
  readonly expiryWarnDays: number
}

// Editors and the keys CLI replace a file in a burst of events; one reload covers them.
const SETTLE_MS = 100

export const trustPlugin = fp(
  async function trust(app: FastifyInstance, opts: TrustPluginOptions) {
    let current = opts.trust
    app.decorate('trust', { getter: () => current })

    const warnExpiring = (store: TrustStore): void => {
      for (const cert of certificateExpiries(store)) {
        if (cert.daysLeft < 0) app.log.error({ certificate: cert.name, notAfter: cert.notAfter }, 'a certificate in the trust store has expired')
        else if (cert.daysLeft <= opts.expiryWarnDays) {
          app.log.warn(
            { certificate: cert.name, notAfter: cert.notAfter, daysLeft: Math.floor(cert.daysLeft) },
            'a certificate in the trust store expires soon'
          )
        }
      }
    }
    warnExpiring(current)

    const reloads = { applied: 0, refused: 0, lastRefused: false }
    app.decorate('trustReloads', { getter: (): TrustReloads => ({ ...reloads }) })
    const listeners: Array<(trust: TrustStore) => void> = []
    app.decorate('onTrustReloaded', (listener: (trust: TrustStore) => void) => {
      listeners.push(listener)
    })

    // One reload at a time: a second request while one runs waits for it and then reads again.
    let running: Promise<TrustReload> = Promise.resolve({ ok: true, changes: [] })
    async function reload(reason: string): Promise<TrustReload> {
      let next: TrustStore
      try {
        next = loadTrustStore(opts.file)
        if (next.country !== current.country) throw new Error(`the trust file is now for ${next.country}, not ${current.country}`)
        // New connections present the new certificate and accept the new
        // roots; requests on open connections are judged by the new store
        // already, because callers are identified per request. Inside the
        // try: a key that is not its certificate's is refused here, and the
        // store in force is kept, as for any other file that does not load.
        const server = app.server as { setSecureContext?: (options: object) => void }
        server.setSecureContext?.(tlsOptions(next))
      } catch (err) {
        app.log.error({ reason, error: (err as Error).message }, 'trust file not reloaded: the store in force is kept')
        reloads.refused++
        reloads.lastRefused = true
        return { ok: false, error: (err as Error).message }
      }
      const changes = describeTrustChange(current, next)
      current = next
      reloads.applied++
      reloads.lastRefused = false
      app.log.info({ reason, changes }, 'trust store reloaded')
      warnExpiring(next)
      for (const listener of listeners) listener(next)
      return { ok: true, changes }
    }
    app.decorate('reloadTrust', function reloadTrust(reason: string): Promise<TrustReload> {
      // A reload that failed all the same (a bug, not a bad file) must not
      // fail every reload after it: the next one reads the file afresh.
      running = running.catch(() => undefined).then(() => reload(reason))
      return running
    })

    let watcher: FSWatcher | undefined
    let settle: NodeJS.Timeout | undefined
    if (opts.watch) {
      // The directory, not the file: a rename gives the file a new inode, which
      // a watch on the old one would never see.
      const name = basename(opts.file)
      watcher = watch(dirname(opts.file), { persistent: false }, (_event, changed) => {
        if (changed !== name) return
        clearTimeout(settle)
        settle = setTimeout(() => {
          void app.reloadTrust('trust file changed')
        }, SETTLE_MS)
      })
      watcher.on('error', (err) => app.log.warn({ err }, 'cannot watch the trust file; reload it with SIGHUP'))
    }
    app.addHook('onClose', async () => {
      clearTimeout(settle)
      watcher?.close()
      await running
    })
  },
  { name: 'trust', fastify: '5.x' }
)
