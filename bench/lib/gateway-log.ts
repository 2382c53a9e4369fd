// A gateway's log as a bench reads it: pino's JSON lines on its standard
// output (lib/gateway-process.ts), of which a bench keeps the errors, so that
// answers it did not expect (a 503 when the ledger could not record a
// message, say) come with the gateway's reason beside them.

/** pino's number for the error level. */
const ERROR_LEVEL = 50

/**
 * A log line at error level or above as one short line: its message, and its
 * error's code, SQLite's own code where it has one (node:sqlite's `errcode`,
 * which tells SQLITE_BUSY_SNAPSHOT from SQLITE_BUSY), and its message.
 */
export function errorLine(line: string): string | undefined {
  let record: { level?: unknown; msg?: unknown; err?: { code?: unknown; errcode?: unknown; message?: unknown } }
  try {
    record = JSON.parse(line)
  } catch {
    return undefined
  }
  if (typeof record.level !== 'number' || record.level < ERROR_LEVEL) return undefined
  const err = record.err === undefined ? '' : `: ${[record.err.code, record.err.errcode, record.err.message].filter((part) => part !== undefined).join(' ')}`
  return `${String(record.msg)}${err}`
}
