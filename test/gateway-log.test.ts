// A bench keeps what a gateway process logged at error level
// (bench/lib/gateway-log.ts), so that answers it did not expect come with the
// gateway's reason: read here from pino's own lines, as the gateway writes them.
import t from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { errorLine } from '../bench/lib/gateway-log.ts'

/** A pino logger at the gateway's bench level (warn), and the lines it wrote. */
function logger(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      done()
    }
  })
  return { log: pino({ level: 'warn' }, stream), lines }
}

t.test("an error's message, with its error's code and message, and nothing of the lines below error", async (t) => {
  const { log, lines } = logger()
  log.warn('the trust file is marked as EXAMPLE material')
  log.error({ err: Object.assign(new Error('database is locked'), { code: 'ERR_SQLITE_ERROR', errcode: 517 }) }, 'ledger write failed')
  log.fatal('shutting down')
  log.error({ detail: 'no err' }, 'partner unreachable')
  t.equal(lines.length, 4, 'pino wrote every line')
  t.same(
    lines.map(errorLine),
    [undefined, 'ledger write failed: ERR_SQLITE_ERROR 517 database is locked', 'shutting down', 'partner unreachable'],
    'the warning skipped; an error with its codes and message; fatal kept; an error without err'
  )
})

t.test('a line that is not a log record is not an error', async (t) => {
  for (const line of ['', 'Listening on 8443', '{"msg":"no level"}', '{"level":"error","msg":"a level by name"}', '[50]']) {
    t.equal(errorLine(line), undefined, JSON.stringify(line))
  }
})
