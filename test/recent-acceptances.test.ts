// What a delivery's metrics recall of its acceptance (observability/recent-acceptances.ts):
// acceptances from an agency and from the partner, forgotten at a final
// outcome, kept through a failed attempt, and bounded.
import t from 'tap'
import { RecentAcceptances } from '../gateway/observability/recent-acceptances.ts'

const entry = (event: string, messageId: string, direction: 'outbound' | 'inbound' = 'outbound') => ({
  event: event as 'accepted',
  direction,
  messageId,
  kind: event === 'accepted' || event === 'received' ? 'entry-exit.record' : null,
  purpose: event === 'accepted' || event === 'received' ? 'entry-exit-verification' : null,
  code: null,
  at: '2026-12-02T10:00:00.000Z'
})

t.test('an acceptance is recalled by the outcome that names it, until a final one', async (t) => {
  const recent = new RecentAcceptances()
  recent.remember(entry('accepted', 'a'))
  recent.remember(entry('received', 'b', 'inbound'))
  recent.remember(entry('refused', 'c'))
  t.equal(recent.size, 2, 'a refusal accepts nothing')
  const want = { kind: 'entry-exit.record', purpose: 'entry-exit-verification', acceptedAt: '2026-12-02T10:00:00.000Z' }
  t.same(recent.recall({ event: 'delivery-failed', direction: 'outbound', messageId: 'a' }), want, 'a failed attempt is retried: still known')
  t.same(recent.recall({ event: 'delivered', direction: 'outbound', messageId: 'a' }), want)
  t.equal(recent.recall({ event: 'delivered', direction: 'outbound', messageId: 'a' }), undefined, 'forgotten once delivered')
  t.equal(recent.recall({ event: 'delivered', direction: 'outbound', messageId: 'b' }), undefined, 'the same id the other way is another message')
  t.same(recent.recall({ event: 'dead-lettered', direction: 'inbound', messageId: 'b' }), want)
  t.equal(recent.size, 0)
})

t.test('past its bound the oldest acceptance is forgotten, and only it', async (t) => {
  const recent = new RecentAcceptances({ max: 2 })
  for (const id of ['a', 'b', 'c']) recent.remember(entry('accepted', id))
  t.equal(recent.size, 2)
  t.equal(recent.recall({ event: 'delivered', direction: 'outbound', messageId: 'a' }), undefined, 'the oldest went')
  t.ok(recent.recall({ event: 'delivered', direction: 'outbound', messageId: 'b' }))
  t.ok(recent.recall({ event: 'delivered', direction: 'outbound', messageId: 'c' }))
})
