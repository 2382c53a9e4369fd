// Ports for test servers (faults/processes.ts, freePort): the test files tap
// runs at once each pick from a slice of their own, so that two never find the
// same port free and both listen on it.
import t from 'tap'
import { freePort, portRange } from '../faults/free-port.ts'

t.test('each job slot has its own slice of the range, and outside tap the whole range', async (t) => {
  const whole = portRange(undefined)
  t.same(whole, { from: 20_000, to: 32_000 })
  const slices = Array.from({ length: 8 }, (_, slot) => portRange(String(slot)))
  for (const [i, a] of slices.entries()) {
    t.ok(a.from >= whole.from && a.to <= whole.to && a.to - a.from >= 1000, `slot ${i}: ${a.from}–${a.to} inside the range`)
    for (const b of slices.slice(i + 1)) t.ok(a.to <= b.from || b.to <= a.from, `slots ${i} and ${slices.indexOf(b)} do not overlap`)
  }
  t.same(portRange('9'), slices[1], 'a slot past the eighth shares a slice, rather than leaving the range')
  t.same(portRange('x'), whole, 'a slot that is not a number: the whole range')
})

t.test("this file's ports come from its own slot's slice, each once", async (t) => {
  const { from, to } = portRange(process.env.TAP_JOB_ID)
  const ports = new Set<number>()
  for (let i = 0; i < 50; i++) ports.add(await freePort())
  t.equal(ports.size, 50, 'no port handed out twice')
  for (const port of ports) if (port < from || port >= to) t.fail(`${port} is outside ${from}–${to}`)
  t.pass(`50 ports in ${from}–${to}`)
})
