// The SQLite ledger on a thread of its own. node:sqlite is synchronous: each
// commit, each read of a sealed copy, runs on the thread that asks. On the
// event loop, a batch of a thousand records cost 15–35 ms of it per commit
// or read, stretched past 100 ms whenever the other threads of this 2-core
// machine had the cores (issue 9: no request may stall others for more than
// 100 ms). Here the event loop only posts the call and awaits the answer; the
// SQLite work runs on this store's thread, where the operating system shares
// the cores between it and the event loop instead of the event loop waiting.
//
// Every method of GatewayStore takes and returns plain data, so a call is
// structured-cloned each way. The calls made in one turn of the event loop
// cross in one message, and the answers the thread has in one of its turns
// come back in one: a message posted and received cost about as much CPU as
// a simple call's own work, on both threads. Group commit (ledger-sqlite.ts)
// works as before: calls that arrive together on the store's thread share a
// commit.
import { Worker } from 'node:worker_threads'
import type { CommitListener, CommittedEntry, GatewayStore } from './records.ts'

type Method = Exclude<keyof GatewayStore, 'close'>

/** What crosses to the store's thread: a call. */
export interface StoreCall {
  readonly id: number
  readonly method: Method | 'close'
  readonly args: readonly unknown[]
}

/**
 * What comes back: its answer, or why it failed (an Error, structured-cloned
 * with its message, and the codes that cloning drops beside it).
 */
export type StoreReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: unknown; readonly codes?: ErrorCodes }

/**
 * An error's codes: Node's (`code`: ERR_SQLITE_ERROR) and SQLite's own
 * (`errcode`, `errstr`: 5, "database is locked"). Cloning an Error keeps its
 * message and drops its other properties, so a failed call's log line would
 * say "database is locked" without saying which of SQLite's codes.
 */
export interface ErrorCodes {
  readonly code?: string
  readonly errcode?: number
  readonly errstr?: string
}

/** The codes of an error thrown on the store's thread, to cross beside it. */
export function codesOf(error: unknown): ErrorCodes | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const { code, errcode, errstr } = error as Record<string, unknown>
  const codes: { code?: string; errcode?: number; errstr?: string } = {}
  if (typeof code === 'string') codes.code = code
  if (typeof errcode === 'number') codes.errcode = errcode
  if (typeof errstr === 'string') codes.errstr = errstr
  return Object.keys(codes).length === 0 ? undefined : codes
}

/** What else comes back: the entries of each commit, before the answers to the calls in it. */
export interface StoreCommitted {
  readonly committed: readonly CommittedEntry[]
}

/** What crosses in one message: the calls of a turn, or the answers and commits of one, in order. */
export type StoreCalls = readonly StoreCall[]
export type StoreAnswers = ReadonlyArray<StoreReply | StoreCommitted>

/**
 * Posts messages as one; when they cannot be cloned together, each alone, so
 * that one that cannot be cloned (a function among a call's arguments or in
 * an answer) fails by itself (`failed`) and the others still go. Both sides
 * of the store's thread post this way.
 */
export function postTogether<M>(target: { postMessage(value: unknown): void }, messages: readonly M[], failed: (message: M, error: unknown) => void): void {
  try {
    target.postMessage(messages)
  } catch {
    for (const message of messages) {
      try {
        target.postMessage([message])
      } catch (error) {
        failed(message, error)
      }
    }
  }
}

/** The store's thread has stopped (closed, or failed): the call was not made. */
export class StoreThreadError extends Error {
  override readonly name = 'StoreThreadError'
  readonly code = 'LEDGER_THREAD_GONE'
}

export interface SqliteStoreThreadOptions {
  readonly onCommitted?: CommitListener
  readonly synchronous?: 'normal' | 'full'
  /**
   * The thread stopped without being closed (it ran out of memory, say):
   * every call from then on fails with this error, so the process can take
   * no message until it is started again.
   */
  readonly onStopped?: (error: StoreThreadError) => void
}

interface Waiting {
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

export class SqliteStoreThread implements GatewayStore {
  readonly #worker: Worker
  readonly #waiting = new Map<number, Waiting>()
  #nextId = 0
  #gone: Error | undefined
  #closing = false
  /** The calls of this turn, posted together at its end. */
  #outgoing: StoreCall[] = []
  #traffic = { calls: 0, callMessages: 0, answerMessages: 0 }

  private constructor(worker: Worker, options: SqliteStoreThreadOptions) {
    const { onCommitted, onStopped } = options
    this.#worker = worker
    worker.on('message', (answers: StoreAnswers) => {
      this.#traffic.answerMessages++
      for (const message of answers) {
        if ('committed' in message) onCommitted?.(message.committed)
        else this.#settle(message)
      }
    })
    const fail = (error: StoreThreadError): void => {
      if (this.#gone !== undefined) return
      this.#gone = error
      // Not closed by us: nothing on this thread will answer again.
      if (!this.#closing) onStopped?.(error)
      for (const waiting of this.#waiting.values()) waiting.reject(this.#gone)
      this.#waiting.clear()
    }
    worker.on('error', (err) => fail(new StoreThreadError(`the ledger's thread failed: ${err.message}`)))
    worker.on('exit', () => fail(new StoreThreadError("the ledger's thread has stopped")))
    // Like a socket with nothing in flight, an idle store does not keep the
    // process alive: a call waiting for its answer does (see #call). After the
    // listeners: adding a 'message' listener refs the thread again.
    worker.unref()
  }

  /** Opens the ledger at `path` on a new thread; rejects if it cannot be opened there. */
  static async open(path: string, options: SqliteStoreThreadOptions = {}): Promise<SqliteStoreThread> {
    const worker = new Worker(new URL('./store-thread-worker.ts', import.meta.url), {
      // The thread's name, as `top -H` and a CPU profile show it.
      name: 'ledger',
      workerData: { path, synchronous: options.synchronous },
      // Its heap holds statements, a page of results and, for a moment, a
      // sealed copy or two (a megabyte each): a small one keeps the process
      // within the 300 MB of docs/architecture.md, "Targets"
      // (gateway/node-flags.ts sets the rest).
      resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 }
    })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        worker.off('message', onReady)
        reject(err)
      }
      const onReady = (): void => {
        worker.off('error', onError)
        resolve()
      }
      worker.once('message', onReady)
      worker.once('error', onError)
    })
    return new SqliteStoreThread(worker, options)
  }

  #call<T>(method: StoreCall['method'], args: readonly unknown[]): Promise<T> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone)
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      if (this.#waiting.size === 0) this.#worker.ref()
      this.#waiting.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.#traffic.calls++
      if (this.#outgoing.push({ id, method, args }) === 1) setImmediate(() => this.#post())
    })
  }

  /** Calls made, and the messages that carried them and their answers: what coalescing saves, for tests and diagnostics. */
  get traffic(): { readonly calls: number; readonly callMessages: number; readonly answerMessages: number } {
    return { ...this.#traffic }
  }

  #post(): void {
    const calls: StoreCalls = this.#outgoing
    this.#outgoing = []
    this.#traffic.callMessages++
    // A call that cannot be cloned fails alone, as it did when each call was its own message.
    postTogether(this.#worker, calls, (call, error) => this.#settle({ id: call.id, ok: false, error }))
  }

  /** Answers a waiting call; an idle store no longer keeps the process alive. */
  #settle(reply: StoreReply): void {
    const waiting = this.#waiting.get(reply.id)
    if (waiting === undefined) return
    this.#waiting.delete(reply.id)
    if (this.#waiting.size === 0 && !this.#closing) this.#worker.unref()
    if (reply.ok) waiting.resolve(reply.value)
    else waiting.reject(reply.codes !== undefined && reply.error instanceof Error ? Object.assign(reply.error, reply.codes) : reply.error)
  }

  findMessage: GatewayStore['findMessage'] = (...args) => this.#call('findMessage', args)
  accept: GatewayStore['accept'] = (...args) => this.#call('accept', args)
  acceptSuperseding: GatewayStore['acceptSuperseding'] = (...args) => this.#call('acceptSuperseding', args)
  withdraw: GatewayStore['withdraw'] = (...args) => this.#call('withdraw', args)
  recordAttempt: GatewayStore['recordAttempt'] = (...args) => this.#call('recordAttempt', args)
  markDelivered: GatewayStore['markDelivered'] = (...args) => this.#call('markDelivered', args)
  markDeadLettered: GatewayStore['markDeadLettered'] = (...args) => this.#call('markDeadLettered', args)
  appendAudit: GatewayStore['appendAudit'] = (...args) => this.#call('appendAudit', args)
  outboxItem: GatewayStore['outboxItem'] = (...args) => this.#call('outboxItem', args)
  messageToDeliver: GatewayStore['messageToDeliver'] = (...args) => this.#call('messageToDeliver', args)
  pendingOutbox: GatewayStore['pendingOutbox'] = (...args) => this.#call('pendingOutbox', args)
  auditEntries: GatewayStore['auditEntries'] = (...args) => this.#call('auditEntries', args)
  auditChain: GatewayStore['auditChain'] = (...args) => this.#call('auditChain', args)
  auditPage: GatewayStore['auditPage'] = (...args) => this.#call('auditPage', args)
  auditFieldSets: GatewayStore['auditFieldSets'] = () => this.#call('auditFieldSets', [])
  auditEntry: GatewayStore['auditEntry'] = (...args) => this.#call('auditEntry', args)
  searchAudit: GatewayStore['searchAudit'] = (...args) => this.#call('searchAudit', args)
  auditHead: GatewayStore['auditHead'] = (...args) => this.#call('auditHead', args)
  treeNodes: GatewayStore['treeNodes'] = (...args) => this.#call('treeNodes', args)
  auditTexts: GatewayStore['auditTexts'] = (...args) => this.#call('auditTexts', args)
  addCheckpoint: GatewayStore['addCheckpoint'] = (...args) => this.#call('addCheckpoint', args)
  setCosignature: GatewayStore['setCosignature'] = (...args) => this.#call('setCosignature', args)
  checkpoints: GatewayStore['checkpoints'] = (...args) => this.#call('checkpoints', args)
  latestCheckpoint: GatewayStore['latestCheckpoint'] = (...args) => this.#call('latestCheckpoint', args)
  latestCosignedCheckpoint: GatewayStore['latestCosignedCheckpoint'] = (...args) => this.#call('latestCosignedCheckpoint', args)
  witnessState: GatewayStore['witnessState'] = (...args) => this.#call('witnessState', args)
  witnessCheckpoint: GatewayStore['witnessCheckpoint'] = (...args) => this.#call('witnessCheckpoint', args)
  witnessedCheckpoints: GatewayStore['witnessedCheckpoints'] = (...args) => this.#call('witnessedCheckpoints', args)
  recordWitnessConflict: GatewayStore['recordWitnessConflict'] = (...args) => this.#call('recordWitnessConflict', args)
  latestWitnessedCheckpoint: GatewayStore['latestWitnessedCheckpoint'] = (...args) => this.#call('latestWitnessedCheckpoint', args)
  deadLetters: GatewayStore['deadLetters'] = (...args) => this.#call('deadLetters', args)
  countDeadLetters: GatewayStore['countDeadLetters'] = (...args) => this.#call('countDeadLetters', args)
  requeueDeadLetter: GatewayStore['requeueDeadLetter'] = (...args) => this.#call('requeueDeadLetter', args)
  discardDeadLetter: GatewayStore['discardDeadLetter'] = (...args) => this.#call('discardDeadLetter', args)
  addLegalHold: GatewayStore['addLegalHold'] = (...args) => this.#call('addLegalHold', args)
  releaseLegalHold: GatewayStore['releaseLegalHold'] = (...args) => this.#call('releaseLegalHold', args)
  legalHolds: GatewayStore['legalHolds'] = (...args) => this.#call('legalHolds', args)
  legalHoldsCovering: GatewayStore['legalHoldsCovering'] = (...args) => this.#call('legalHoldsCovering', args)
  purge: GatewayStore['purge'] = (...args) => this.#call('purge', args)

  /** Commits what is pending, closes the ledger, and ends the thread. */
  async close(): Promise<void> {
    if (this.#gone !== undefined) return
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()))
    // Held until the thread has ended, answer or not.
    this.#closing = true
    this.#worker.ref()
    await this.#call<void>('close', [])
    await exited
  }
}
