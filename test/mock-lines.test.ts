// The sandbox waits on what its mock agencies print (sandbox/mock-lines.ts),
// not on a pause: `--once` sums up only once every delivered sample has been
// pushed to its agency, however long that takes on a busy machine.
import t from 'tap'
import { MockLines } from '../sandbox/mock-lines.ts'

const ID = '57c51a9c-c7a1-4e5a-b6dd-e3f7d71f5d73'

t.test('a push is known by the line the mock prints for it, a listening mock by its own', async (t) => {
  const lines = new MockLines()
  lines.read('[mock US] CBP/ades listening on https://127.0.0.1:9443/v1/inbox (partner CA)')
  lines.read('[mock US] USCIS answered 3a356574-2514-48da-9784-0f96f3600100 with a match')
  lines.read(`[mock US] CBP received entry-exit.record ${ID} from CA/CBSA/pik-primary, correcting x (signed by ca-1 and ca-gw-1)`)
  t.equal(lines.listening, 1)
  t.ok(lines.pushed(ID))
  t.notOk(lines.pushed('3a356574-2514-48da-9784-0f96f3600100'), 'an answer the mock sends is not a push it received')
})

t.test('until resolves on the line that makes it true, not before', async (t) => {
  const lines = new MockLines()
  let settled = false
  const waiting = lines
    .until(() => lines.pushed(ID), 60_000)
    .then((result) => {
      settled = true
      return result
    })
  lines.read('[mock US] USCIS received biometric.match-request 11111111-2514-48da-9784-0f96f3600100 from CA/IRCC/gcms-biometrics')
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(settled, 'another push does not end the wait')
  lines.read(`[mock US] CBP received entry-exit.record ${ID} from CA/CBSA/pik-primary`)
  t.equal(await waiting, true)
  t.equal(await lines.until(() => lines.pushed(ID), 0), true, 'a condition that already holds resolves at once')
})

t.test('until gives false when the bound passes first', async (t) => {
  const lines = new MockLines()
  t.equal(await lines.until(() => lines.pushed(ID), 20), false)
})
