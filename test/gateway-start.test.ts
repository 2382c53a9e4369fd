// tools/gateway-start.ts: what a gateway process costs to start, by thread,
// and its resident memory (docs/measurements.md, "The test suite's time").
import t from 'tap'
import { runScript } from './helper.ts'

t.test('one start: the CPU of the gateway and of its threads, and its resident memory', async (t) => {
  const { code, stdout, stderr } = await runScript(['tools/gateway-start.ts', '--runs', '1', '--env', 'PIPELINE_THREADS=0'])
  t.equal(code, 0, stderr.slice(-2000))
  t.match(stdout, /^gateway start with PIPELINE_THREADS=0, 1 start:$/m)
  const figure = (label: string): number => Number(new RegExp(`^  ${label}, (?:ms|MB): (\\d+)$`, 'm').exec(stdout)?.[1])
  const total = figure('CPU to /healthz and 300 ms after')
  const eventLoop = figure('MainThread')
  const ledger = figure('ledger')
  t.ok(eventLoop > 0 && ledger > 0, `the event loop ${eventLoop} ms, the ledger's thread ${ledger} ms`)
  t.ok(total >= eventLoop + ledger, `the total (${total} ms) covers every thread`)
  const resident = figure('resident')
  t.ok(resident > 50 && resident < 1000, `${resident} MB resident`)
})

t.test('a setting that is not NAME=VALUE is refused', async (t) => {
  const { code, stderr } = await runScript(['tools/gateway-start.ts', '--env', 'PIPELINE_THREADS'])
  t.not(code, 0)
  t.match(stderr, /--env takes NAME=VALUE, not "PIPELINE_THREADS"/)
})
