/**
 * Changes to a trust file, as the keys CLI makes them. A running gateway
 * reloads the file when it is replaced, so every change is written beside it,
 * loaded exactly as the gateway would load it, and only then renamed over the
 * old file: the gateway never sees a half-written or inconsistent trust file.
 * The files a change writes with it are held back likewise: a change refused
 * writes none of them (commitTrustChanges).
 */
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createPublicKey } from 'node:crypto'
import { isAllowedAlgorithm } from '../jws/signing-key.ts'
import { json } from './pki.ts'
import type { Jwks, PublicSigningJwk, RegisteredKey, TrustFile } from './trust-file.ts'
import { TRUST_FILE_VERSION } from './trust-file.ts'
import { loadTrustStore } from './trust-store.ts'
import { checkTrustFile } from './trust-schema.ts'

/** A refused change: the trust file is left as it was. */
export class TrustEditError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'TrustEditError'
    this.code = code
  }
}

export function readTrustFile(path: string): TrustFile {
  let file: TrustFile
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as TrustFile
  } catch (err) {
    throw new TrustEditError('TRUST_FILE_UNREADABLE', `cannot read the trust file ${path}: ${(err as Error).message}`)
  }
  if (file.version !== TRUST_FILE_VERSION) {
    throw new TrustEditError('TRUST_FILE_VERSION', `${path} is trust file version ${String(file.version)}, this tool writes version ${TRUST_FILE_VERSION}`)
  }
  return file
}

/**
 * The file `path` names, through any symbolic links: what a change replaces
 * and what its lock is named after. Renamed over the link itself, the trust
 * file would become a copy, and the file the link pointed to would stay as
 * it was for whatever else reads it.
 */
function inPlaceOf(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}

/**
 * Holds `path` for one command, from its read to its write, until the
 * returned function lets it go. A write is atomic, but two commands at once
 * (two operators) would each write the file as they read it, and the later
 * would undo the earlier's change, a revocation among them, while both said
 * it was done (docs/operators.md, "Keys and trust CLI"). The second is
 * refused instead, before it reads or writes anything.
 */
export function lockTrustFile(path: string): () => void {
  // By the file's own name: two operators may name it through different links.
  const lock = `${inPlaceOf(path)}.lock`
  try {
    closeSync(openSync(lock, 'wx', 0o600))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new TrustEditError(
        'TRUST_FILE_LOCKED',
        `another keys command is changing ${path} (${lock} exists): nothing was changed; run this again once it is done, or delete the lock if no keys command is running`
      )
    }
    throw new TrustEditError('TRUST_FILE_UNREADABLE', `cannot lock the trust file ${path}: ${(err as Error).message}`)
  }
  return () => rmSync(lock, { force: true })
}

/**
 * One trust file's change: the file as it is to be, the files written with
 * it (certificates, keys, key sets; by absolute path) and the ones deleted
 * once it is written. Nothing is on disk until commitTrustChanges.
 */
export class TrustChange {
  readonly path: string
  readonly file: TrustFile
  readonly files = new Map<string, { readonly content: string; readonly secret: boolean }>()
  readonly removals = new Set<string>()
  constructor(path: string, file: TrustFile) {
    this.path = path
    this.file = file
  }
  /** `rel` is relative to the trust file's directory. */
  write(rel: string, content: string, secret = false): void {
    const file = join(dirname(this.path), rel)
    this.removals.delete(file)
    this.files.set(file, { content, secret })
  }
  remove(rel: string): void {
    const file = join(dirname(this.path), rel)
    this.files.delete(file)
    this.removals.add(file)
  }
  /** A file as the change leaves it: the one it writes, or the one on disk. */
  read(rel: string): string {
    const file = join(dirname(this.path), rel)
    return this.files.get(file)?.content ?? readFileSync(file, 'utf8')
  }
}

const invalid = (err: unknown): TrustEditError =>
  new TrustEditError('TRUST_FILE_INVALID', `the change would make the trust file invalid, so it was not written: ${(err as Error).message}`)

/**
 * `content` at `file`, on the disk before this returns: a journal that says
 * "put in place" must never outlive, in a power loss, the files it names.
 */
async function writeDurably(file: string, content: string, mode: number): Promise<void> {
  const handle = await open(file, 'w', mode)
  try {
    await handle.writeFile(content)
    await handle.chmod(mode) // in case the umask interfered
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * What a commit is doing, beside each trust file it changes
 * (`trust.json.journal`), so that a command stopped midway (kill -9, power
 * loss, a rename that fails) is finished or undone by the next keys command
 * on any of them (finishInterruptedChange). The first trust file's journal
 * says which: `staging` (nothing is in place yet: the staged files are
 * deleted) or `committing` (every staged file is written and validated: each
 * is renamed into place, the trust files last). The others' journals are
 * the same list, written before and deleted before the first's, so that one
 * is found from any trust file the change touches.
 */
interface Journal {
  readonly state: 'staging' | 'committing'
  /** Every trust file's journal, the first's (whose state counts) first. */
  readonly journals: readonly string[]
  readonly renames: ReadonlyArray<readonly [partial: string, file: string]>
  readonly removals: readonly string[]
}

const journalOf = (trustFile: string): string => `${inPlaceOf(trustFile)}.journal`

async function writeJournal(file: string, journal: Journal): Promise<void> {
  // Itself renamed into place: a journal is whole or absent.
  await writeDurably(`${file}.partial`, json(journal), 0o600)
  await rename(`${file}.partial`, file)
  await syncDirectory(dirname(file))
}

async function deleteJournals(journal: Journal): Promise<void> {
  const [first, ...others] = journal.journals
  for (const file of [...others, first!]) await rm(file, { force: true })
}

/** Each staged file renamed into place (one already renamed is skipped), then the files no longer named deleted. */
async function putInPlace(journal: Journal): Promise<void> {
  for (const [partial, file] of journal.renames) {
    if (existsSync(partial)) await rename(partial, file)
  }
  for (const dir of new Set(journal.renames.map(([, file]) => dirname(file)))) await syncDirectory(dir)
  for (const file of journal.removals) await rm(file, { force: true })
}

/**
 * Writes `changes` (one trust file each, a partner's beside this gateway's)
 * or none of them. Everything that can refuse comes first, with nothing yet
 * in place: each file is written beside where it goes, and each trust file
 * is validated as the gateway would load it (its schema, then the whole
 * load, reading the files written with it). A command refused there, or by
 * a write that fails, has changed nothing on disk: an agency's key and
 * certificate, which its trust file names, are never replaced by ones it
 * does not (docs/operators.md, "Keys and trust CLI"). Then each file is
 * renamed into place, each trust file last, so that a gateway reloading it
 * finds every file it names; the files it no longer names are deleted.
 * Those renames are many: the journal (see Journal) lets a command stopped
 * among them be finished by the next, where it left key files in place that
 * the trust file does not name.
 */
export async function commitTrustChanges(changes: readonly TrustChange[]): Promise<void> {
  const staged: Array<[partial: string, file: string]> = []
  const madeDirs: string[] = []
  for (const change of changes) {
    try {
      checkTrustFile(change.file, change.path)
    } catch (err) {
      throw invalid(err)
    }
  }
  const suffix = (): string => `${randomBytes(4).toString('hex')}.partial`
  const secrets = new Set<string>()
  const contents = new Map<string, string>()
  for (const change of changes) {
    for (const [file, { content, secret }] of change.files) {
      staged.push([`${file}.${suffix()}`, file])
      contents.set(file, content)
      if (secret) secrets.add(file)
    }
  }
  for (const change of changes) {
    const target = inPlaceOf(change.path)
    staged.push([join(dirname(target), `.trust.${suffix()}`), target])
    contents.set(target, json(change.file))
  }
  const staging: Journal = {
    state: 'staging',
    journals: changes.map((c) => journalOf(c.path)),
    renames: staged,
    removals: changes.flatMap((c) => [...c.removals])
  }
  try {
    for (const file of staging.journals) await writeJournal(file, staging)
    const pending = new Map<string, string>()
    for (const [partial, file] of staged.slice(0, staged.length - changes.length)) {
      const made = await mkdir(dirname(file), { recursive: true })
      if (made !== undefined) madeDirs.push(made)
      await writeDurably(partial, contents.get(file)!, secrets.has(file) ? 0o600 : 0o644)
      pending.set(file, contents.get(file)!)
    }
    for (const [partial, file] of staged.slice(staged.length - changes.length)) {
      await writeDurably(partial, contents.get(file)!, 0o644)
      try {
        loadTrustStore(partial, pending)
      } catch (err) {
        throw invalid(err)
      }
    }
  } catch (err) {
    for (const [partial] of staged) await rm(partial, { force: true })
    // Made by this command, for its files alone.
    for (const made of madeDirs.reverse()) await rm(made, { recursive: true, force: true })
    await deleteJournals(staging)
    throw err
  }
  const committing: Journal = { ...staging, state: 'committing' }
  // From here the change is made: whatever stops it, the next command finishes it.
  await writeJournal(committing.journals[0]!, committing)
  try {
    await putInPlace(committing)
  } catch (err) {
    throw new TrustEditError(
      'TRUST_CHANGE_INTERRUPTED',
      `the change is not in place in full (${(err as Error).message}): its journal ${committing.journals[0]} says what is left; mend the cause and run any keys command on ${changes.map((c) => c.path).join(' or ')} to finish it`
    )
  }
  await deleteJournals(committing)
}

/** What finishInterruptedChange found and did. */
export interface InterruptedChange {
  /** `finished`: put in place in full; `undone`: nothing of it was in place, and its staged files are deleted. */
  readonly outcome: 'finished' | 'undone'
  readonly journal: string
  /** The files it put in place, the trust files last; none when undone. */
  readonly files: readonly string[]
}

/**
 * Finishes, or undoes, a change to `trustFile` that a keys command was
 * stopped in (see Journal), before anything else reads it: the files in
 * place then agree with what the trust file names. The caller holds the
 * trust file's lock; the lock of every other trust file in the change is
 * taken here, so that no command is changing it meanwhile (docs/operators.md,
 * "Keys and trust CLI").
 */
export async function finishInterruptedChange(trustFile: string, held: readonly string[]): Promise<InterruptedChange | undefined> {
  const own = journalOf(trustFile)
  const read = (file: string): Journal => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Journal
    } catch (err) {
      throw new TrustEditError('TRUST_FILE_UNREADABLE', `cannot read the journal ${file} of an interrupted change: ${(err as Error).message}`)
    }
  }
  if (!existsSync(own)) return undefined
  const listed = read(own)
  const first = listed.journals[0]!
  // The first's journal is deleted last: without it, this one is what a stop during those deletions left.
  if (!existsSync(first)) {
    await rm(own, { force: true })
    return undefined
  }
  const journal = first === own ? listed : read(first)
  const mine = new Set(held.map(inPlaceOf))
  const unlocks: Array<() => void> = []
  try {
    for (const other of journal.journals) {
      const path = other.slice(0, -'.journal'.length)
      if (!mine.has(path)) unlocks.push(lockTrustFile(path))
    }
    if (journal.state === 'staging') {
      for (const [partial] of journal.renames) await rm(partial, { force: true })
      await deleteJournals(journal)
      return { outcome: 'undone', journal: first, files: [] }
    }
    await putInPlace(journal)
    await deleteJournals(journal)
    return { outcome: 'finished', journal: first, files: journal.renames.map(([, file]) => file) }
  } finally {
    for (const unlock of unlocks) unlock()
  }
}

/** `file` validated as the gateway would load it, then atomically in place of `path`: a change that writes no other file. */
export function writeTrustFile(path: string, file: TrustFile): Promise<void> {
  return commitTrustChanges([new TrustChange(path, file)])
}

/** Every kid the trust file registers, and to whom. */
export function registeredKids(file: TrustFile): Map<string, string> {
  const kids = new Map<string, string>()
  for (const k of file.gateway.signingKeys) kids.set(k.kid, `gateway ${file.country}`)
  for (const a of file.agencies) for (const k of a.keys) kids.set(k.kid, `${a.agency}/${a.system}`)
  for (const k of file.partner.keys) kids.set(k.kid, `partner gateway ${file.partner.country}`)
  return kids
}

/**
 * A partner's published JWKS, checked key by key: public signing keys on the
 * allow-list only, each with a kid. A private key in a JWKS is refused: it
 * means someone published what they should not have.
 */
export function partnerKeysFromJwks(jwks: unknown): RegisteredKey[] {
  const keys = (jwks as Partial<Jwks> | null)?.keys
  if (!Array.isArray(keys) || keys.length === 0) throw new TrustEditError('JWKS_INVALID', 'the JWKS has no keys')
  const seen = new Set<string>()
  return keys.map((raw: unknown, i): RegisteredKey => {
    const jwk = raw as Partial<PublicSigningJwk> & { d?: unknown }
    if (typeof jwk !== 'object' || jwk === null) throw new TrustEditError('JWKS_INVALID', `key ${i} is not an object`)
    if ('d' in jwk) throw new TrustEditError('JWKS_PRIVATE_KEY', `key ${jwk.kid ?? i} is a PRIVATE key: refusing it (and tell the partner)`)
    if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new TrustEditError('JWKS_INVALID', `key ${i} has no kid`)
    if (seen.has(jwk.kid)) throw new TrustEditError('JWKS_INVALID', `kid ${jwk.kid} appears twice`)
    seen.add(jwk.kid)
    if (!isAllowedAlgorithm(jwk.alg)) throw new TrustEditError('JWKS_INVALID', `key ${jwk.kid}: alg ${String(jwk.alg)} is not allowed`)
    if (jwk.use !== undefined && jwk.use !== 'sig') throw new TrustEditError('JWKS_INVALID', `key ${jwk.kid}: use must be sig`)
    const clean =
      jwk.kty === 'EC'
        ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: (jwk as { y?: string }).y, kid: jwk.kid, alg: jwk.alg, use: 'sig' }
        : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid: jwk.kid, alg: jwk.alg, use: 'sig' }
    const expected = jwk.alg === 'ES256' ? { kty: 'EC', crv: 'P-256' } : { kty: 'OKP', crv: 'Ed25519' }
    if (clean.kty !== expected.kty || clean.crv !== expected.crv) {
      throw new TrustEditError('JWKS_INVALID', `key ${jwk.kid}: ${jwk.alg} needs kty ${expected.kty} crv ${expected.crv}`)
    }
    try {
      createPublicKey({ key: clean as never, format: 'jwk' })
    } catch (err) {
      throw new TrustEditError('JWKS_INVALID', `key ${jwk.kid} is not a valid public key: ${(err as Error).message}`)
    }
    return { kid: jwk.kid, alg: jwk.alg, jwk: clean as PublicSigningJwk }
  })
}
