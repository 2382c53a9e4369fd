// The progress reporter: a bar on a terminal, plain lines anywhere else.
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Progress, formatDuration, formatRate } from '../sandbox/progress.ts'
import { eventually } from './lib/eventually.ts'

class Capture extends Writable {
  text = ''
  isTTY: boolean | undefined
  columns: number | undefined

  constructor(tty?: { columns: number }) {
    super()
    if (tty !== undefined) {
      this.isTTY = true
      this.columns = tty.columns
    }
  }

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

function clock(): { now: () => number; advance: (ms: number) => void } {
  let at = 1_000_000
  return {
    now: () => at,
    advance: (ms) => {
      at += ms
    }
  }
}

const CONTROL = /[\r\x1b\x00-\x08\x0b-\x1f]/
const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')

t.test('on a pipe it writes plain lines at each tenth, with the count, the rate and the refusals, then a summary', async (t) => {
  const out = new Capture()
  const c = clock()
  const p = new Progress({ label: 'entry-exit day', total: 200_000, stream: out, clock: c.now, heartbeatMs: 0 })
  for (let i = 0; i < 200; i++) {
    c.advance(50)
    p.tick(1000, i === 150 ? 'refused' : 'ok')
  }
  const summary = p.finish()
  t.notMatch(out.text, CONTROL, 'no carriage return, no escape sequence')
  const lines = out.text.trimEnd().split('\n')
  t.equal(lines.length, 10, `nine progress lines (10%…90%) and the summary:\n${out.text}`)
  t.equal(lines[0], 'entry-exit day: 20000/200000 (10%) 20000/s, 0 refused', '1000 every 50 ms is 20000/s')
  for (const [i, line] of lines.slice(0, 9).entries()) {
    t.match(line, new RegExp(`^entry-exit day: ${(i + 1) * 20000}/200000 \\(${(i + 1) * 10}%\\) 20000/s, ${i + 1 >= 8 ? 1000 : 0} refused$`))
  }
  t.equal(lines[9], 'entry-exit day: 200000/200000 in 10.0s (20000/s), 1000 refused')
  t.equal(summary, lines[9], 'finish returns the summary it wrote')
  t.same(p.snapshot().done, 200_000)
})

t.test('on a pipe a slow job still writes a line every lineEveryMs, and failures are counted apart', async (t) => {
  const out = new Capture()
  const c = clock()
  const p = new Progress({ label: 'roster', total: 1_000_000, stream: out, clock: c.now, heartbeatMs: 0, lineEveryMs: 5000 })
  for (let i = 0; i < 12; i++) {
    c.advance(1000)
    p.tick(10)
  }
  p.tick(2, 'failed')
  p.finish('interrupted')
  t.notMatch(out.text, CONTROL)
  t.same(out.text.trimEnd().split('\n'), [
    'roster: 50/1000000 (0%) 10/s, 0 refused',
    'roster: 100/1000000 (0%) 10/s, 0 refused',
    'roster: interrupted at 122/1000000 in 12.0s (10.2/s), 0 refused, 2 failed'
  ])
})

t.test('the rate follows the current pace, over a trailing window', async (t) => {
  const c = clock()
  const p = new Progress({ label: 'x', total: 100_000, stream: new Capture(), clock: c.now, heartbeatMs: 0, rateWindowMs: 5000 })
  for (let i = 0; i < 100; i++) {
    c.advance(100)
    p.tick(100) // 1000/s for 10 s
  }
  t.equal(Math.round(p.snapshot().rate), 1000)
  for (let i = 0; i < 100; i++) {
    c.advance(100)
    p.tick(10) // then 100/s
  }
  t.equal(Math.round(p.snapshot().rate), 100, 'the last 5 s, not the average since the start')
  t.equal(Math.round(p.snapshot().averageRate), 550, 'the average since the start is kept apart')
  p.finish()
})

t.test('on a terminal it draws one bar in place, with the rate and ETA, at most every 100 ms', async (t) => {
  const out = new Capture({ columns: 80 })
  const c = clock()
  const p = new Progress({ label: 'border-day', total: 1000, stream: out, clock: c.now, heartbeatMs: 0 })
  c.advance(100)
  p.tick(100)
  const first = out.text
  t.match(first, /^\r/, 'starts at the beginning of the line')
  t.match(first, /\x1b\[K$/, 'clears what an earlier, longer bar left')
  t.match(stripAnsi(first), /^\rborder-day █+░+ 100\/1000 10% 1000\/s eta 1s 0 refused$/)
  for (let i = 0; i < 50; i++) p.tick(1)
  t.equal(out.text, first, 'no redraw within 100 ms, however many ticks')
  c.advance(100)
  p.tick(1, 'refused')
  t.equal(out.text.split('\r').length - 1, 2, 'redrawn once the 100 ms have passed')
  t.match(out.text, /151\/1000 15% .* 1 refused/)
  t.notMatch(out.text, /\n/, 'the bar never leaves its line while running')
  for (const frame of out.text.split('\r').filter(Boolean)) {
    t.ok(stripAnsi(frame).length <= 79, `fits in 80 columns without wrapping: ${JSON.stringify(frame)}`)
  }
  p.finish()
  t.match(out.text, /\r\x1b\[Kborder-day: 151\/1000 in 200ms \([\d.]+\/s\), 1 refused\n$/, 'the summary replaces the bar')
})

t.test('on a narrow terminal the bar shrinks, then gives way, and the line never wraps', async (t) => {
  for (const columns of [100, 60, 30]) {
    const out = new Capture({ columns })
    const c = clock()
    const p = new Progress({ label: 'nexus-roster', total: 917_000, stream: out, clock: c.now, heartbeatMs: 0 })
    c.advance(1000)
    p.tick(45_000)
    p.finish()
    const bar = stripAnsi(out.text.split('\n')[0]!.split('\r')[1]!)
    t.ok(bar.length <= columns - 1, `${columns} columns: ${JSON.stringify(bar)}`)
    if (columns === 100) t.match(bar, /█/, 'room for a bar at 100 columns')
    if (columns === 60) t.match(bar, /^nexus-roster 45000\/917000 4% 45000\/s eta 20s 0 refused$/, 'no bar at 60 columns: the figures matter more')
  }
})

t.test("a line of the job's own output goes above the bar, not through it", async (t) => {
  const bar = new Capture({ columns: 100 })
  const own = new Capture()
  const c = clock()
  const p = new Progress({ label: 'sample traffic', total: 10, stream: bar, clock: c.now, heartbeatMs: 0 })
  c.advance(100)
  p.tick()
  p.log('  entry-exit.record  CA/CBSA -> US/CBP  202 -> delivered', own)
  t.equal(own.text, '  entry-exit.record  CA/CBSA -> US/CBP  202 -> delivered\n')
  t.match(bar.text, /\r\x1b\[K\rsample traffic .* 1\/10/, 'the bar is cleared, then drawn again')
  p.finish()

  const pipe = new Capture()
  const q = new Progress({ label: 'sample traffic', total: 10, stream: pipe, clock: c.now, heartbeatMs: 0 })
  q.log('a line', own)
  q.finish()
  t.notMatch(pipe.text, CONTROL, 'nothing to clear on a pipe')
})

t.test('an unknown total: counts and rate, no percentage', async (t) => {
  const out = new Capture()
  const c = clock()
  const p = new Progress({ label: 'traffic', stream: out, clock: c.now, heartbeatMs: 0, lineEveryMs: 1000 })
  c.advance(1000)
  p.tick(500)
  p.finish()
  t.same(out.text.trimEnd().split('\n'), ['traffic: 500 500/s, 0 refused', 'traffic: 500 in 1.0s (500/s), 0 refused'])
})

t.test('the heartbeat redraws a stalled job, on a timer that does not hold the process open', async (t) => {
  const out = new Capture({ columns: 80 })
  const p = new Progress({ label: 'stalled', total: 10, stream: out, heartbeatMs: 20, redrawMs: 10 })
  p.tick()
  const before = out.text.split('\r').length
  await eventually(() => out.text.split('\r').length > before || undefined, 5000, 'a redraw')
  t.pass('redrawn without a tick')
  p.finish()
  const after = out.text
  // A witness on the same heartbeat: once it has been redrawn twice, the finished one would have been too.
  const witnessOut = new Capture({ columns: 80 })
  const witness = new Progress({ label: 'witness', total: 10, stream: witnessOut, heartbeatMs: 20, redrawMs: 10 })
  witness.tick()
  const witnessBefore = witnessOut.text.split('\r').length
  await eventually(() => witnessOut.text.split('\r').length > witnessBefore + 1 || undefined, 5000, 'two heartbeats of the witness')
  witness.finish()
  t.equal(out.text, after, 'nothing after finish')

  // A job that ends without finish() (a crash, an early exit) must not hang on the heartbeat.
  const script = `import { Progress } from ${JSON.stringify(join(import.meta.dirname, '..', 'sandbox', 'progress.ts'))}
new Progress({ label: 'left open', total: 10 }).tick()`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  t.equal(code, 0, `the process ends by itself ${stderr}`)
  t.match(stderr, /^left open: /, 'stderr by default')
})

t.test('figures are short and readable', async (t) => {
  t.equal(formatRate(1830.4), '1830')
  t.equal(formatRate(12.34), '12.3')
  t.equal(formatRate(5), '5')
  t.equal(formatDuration(850), '850ms')
  t.equal(formatDuration(12_345), '12.3s')
  t.equal(formatDuration(109_000), '1m49s')
  t.equal(formatDuration(7_500_000), '2h05m')
  t.equal(formatDuration(Number.POSITIVE_INFINITY), '--')
})
