// A GatewayStore over one SQL database: the repositories, composed. SqliteStore
// and PostgresStore give it their database (its dialect, its reads, its
// transaction model) and nothing else.
import type { GatewayStore } from '../records.ts'
import { SqlCheckpointRepository } from './checkpoints.ts'
import { SqlDeadLetterRepository } from './dead-letters.ts'
import { SqlHoldsAndRetention } from './holds.ts'
import { SqlLedgerRepository } from './ledger.ts'
import { SqlMessageRepository } from './messages.ts'
import type { SqlBackend } from './program.ts'

type Repository = Omit<GatewayStore, 'close'>

/** A database the store runs on, and how it is let go of. */
export interface SqlDatabase extends SqlBackend {
  close(): Promise<void>
}

export class SqlStore implements GatewayStore {
  readonly #db: SqlDatabase
  readonly #messages: SqlMessageRepository
  readonly #ledger: SqlLedgerRepository
  readonly #checkpoints: SqlCheckpointRepository
  readonly #deadLetters: SqlDeadLetterRepository
  readonly #holds: SqlHoldsAndRetention

  constructor(db: SqlDatabase) {
    this.#db = db
    this.#messages = new SqlMessageRepository(db)
    this.#ledger = new SqlLedgerRepository(db)
    this.#checkpoints = new SqlCheckpointRepository(db)
    this.#deadLetters = new SqlDeadLetterRepository(db)
    this.#holds = new SqlHoldsAndRetention(db)
  }

  close(): Promise<void> {
    return this.#db.close()
  }

  findMessage(...args: Parameters<Repository['findMessage']>) {
    return this.#messages.findMessage(...args)
  }
  accept(...args: Parameters<Repository['accept']>) {
    return this.#messages.accept(...args)
  }
  acceptSuperseding(...args: Parameters<Repository['acceptSuperseding']>) {
    return this.#messages.acceptSuperseding(...args)
  }
  withdraw(...args: Parameters<Repository['withdraw']>) {
    return this.#messages.withdraw(...args)
  }
  recordAttempt(...args: Parameters<Repository['recordAttempt']>) {
    return this.#messages.recordAttempt(...args)
  }
  markDelivered(...args: Parameters<Repository['markDelivered']>) {
    return this.#messages.markDelivered(...args)
  }
  markDeadLettered(...args: Parameters<Repository['markDeadLettered']>) {
    return this.#messages.markDeadLettered(...args)
  }
  outboxItem(...args: Parameters<Repository['outboxItem']>) {
    return this.#messages.outboxItem(...args)
  }
  messageToDeliver(...args: Parameters<Repository['messageToDeliver']>) {
    return this.#messages.messageToDeliver(...args)
  }
  pendingOutbox(...args: Parameters<Repository['pendingOutbox']>) {
    return this.#messages.pendingOutbox(...args)
  }

  appendAudit(...args: Parameters<Repository['appendAudit']>) {
    return this.#ledger.appendAudit(...args)
  }
  auditEntries(...args: Parameters<Repository['auditEntries']>) {
    return this.#ledger.auditEntries(...args)
  }
  auditChain(...args: Parameters<Repository['auditChain']>) {
    return this.#ledger.auditChain(...args)
  }
  auditPage(...args: Parameters<Repository['auditPage']>) {
    return this.#ledger.auditPage(...args)
  }
  auditFieldSets() {
    return this.#ledger.auditFieldSets()
  }
  auditEntry(...args: Parameters<Repository['auditEntry']>) {
    return this.#ledger.auditEntry(...args)
  }
  searchAudit(...args: Parameters<Repository['searchAudit']>) {
    return this.#ledger.searchAudit(...args)
  }
  auditHead(...args: Parameters<Repository['auditHead']>) {
    return this.#ledger.auditHead(...args)
  }
  treeNodes(...args: Parameters<Repository['treeNodes']>) {
    return this.#ledger.treeNodes(...args)
  }
  auditTexts(...args: Parameters<Repository['auditTexts']>) {
    return this.#ledger.auditTexts(...args)
  }

  addCheckpoint(...args: Parameters<Repository['addCheckpoint']>) {
    return this.#checkpoints.addCheckpoint(...args)
  }
  setCosignature(...args: Parameters<Repository['setCosignature']>) {
    return this.#checkpoints.setCosignature(...args)
  }
  checkpoints(...args: Parameters<Repository['checkpoints']>) {
    return this.#checkpoints.checkpoints(...args)
  }
  latestCheckpoint(...args: Parameters<Repository['latestCheckpoint']>) {
    return this.#checkpoints.latestCheckpoint(...args)
  }
  latestCosignedCheckpoint(...args: Parameters<Repository['latestCosignedCheckpoint']>) {
    return this.#checkpoints.latestCosignedCheckpoint(...args)
  }
  witnessState(...args: Parameters<Repository['witnessState']>) {
    return this.#checkpoints.witnessState(...args)
  }
  witnessCheckpoint(...args: Parameters<Repository['witnessCheckpoint']>) {
    return this.#checkpoints.witnessCheckpoint(...args)
  }
  witnessedCheckpoints(...args: Parameters<Repository['witnessedCheckpoints']>) {
    return this.#checkpoints.witnessedCheckpoints(...args)
  }
  recordWitnessConflict(...args: Parameters<Repository['recordWitnessConflict']>) {
    return this.#checkpoints.recordWitnessConflict(...args)
  }
  latestWitnessedCheckpoint(...args: Parameters<Repository['latestWitnessedCheckpoint']>) {
    return this.#checkpoints.latestWitnessedCheckpoint(...args)
  }

  deadLetters(...args: Parameters<Repository['deadLetters']>) {
    return this.#deadLetters.deadLetters(...args)
  }
  countDeadLetters(...args: Parameters<Repository['countDeadLetters']>) {
    return this.#deadLetters.countDeadLetters(...args)
  }
  requeueDeadLetter(...args: Parameters<Repository['requeueDeadLetter']>) {
    return this.#deadLetters.requeueDeadLetter(...args)
  }
  discardDeadLetter(...args: Parameters<Repository['discardDeadLetter']>) {
    return this.#deadLetters.discardDeadLetter(...args)
  }

  addLegalHold(...args: Parameters<Repository['addLegalHold']>) {
    return this.#holds.addLegalHold(...args)
  }
  releaseLegalHold(...args: Parameters<Repository['releaseLegalHold']>) {
    return this.#holds.releaseLegalHold(...args)
  }
  legalHolds(...args: Parameters<Repository['legalHolds']>) {
    return this.#holds.legalHolds(...args)
  }
  legalHoldsCovering(...args: Parameters<Repository['legalHoldsCovering']>) {
    return this.#holds.legalHoldsCovering(...args)
  }
  purge(...args: Parameters<Repository['purge']>) {
    return this.#holds.purge(...args)
  }
}
