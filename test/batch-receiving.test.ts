// A batch as the receiving gateway takes it from the partner: what the
// sender's policy can let through, and no less. A batch holds at least one
// record (the kinds' `minItems`), and the policy never forwards an empty
// list or an empty record, so a partner at fault that sends one is refused
// SCHEMA_INVALID, with nothing kept or pushed.
import t from 'tap'
import { borderDayRecord, seedHash } from '../sandbox/synthetic-travellers.ts'
import { entryExitBatch } from '../sandbox/sample-messages.ts'
import { injectGateway, testConfig } from './helper.ts'
import { asPartnerOf, forwardedTo } from './lib/partner-delivery.ts'

const PSEUDONYM = `ps1:${'A'.repeat(43)}`

t.test("a partner's batch with no record, or a record with nothing in it, is refused SCHEMA_INVALID and nothing of it is kept", async (t) => {
  const gw = await injectGateway(t, testConfig('US', { runWorkers: false }))
  const record = borderDayRecord({ seed: seedHash('batch-receiving'), recordedBy: 'CA', date: '2026-11-30', count: 1 }, 0)
  const cases: Array<[string, Record<string, unknown>]> = [
    ['no record at all', { batchRef: PSEUDONYM, records: [] }],
    ['a record with nothing in it', { batchRef: PSEUDONYM, records: [{}] }]
  ]
  for (const [what, payload] of cases) {
    const sent = await forwardedTo('US', { message: entryExitBatch('SYN-EE-CA-20261130-00005', [record]), envelope: { payload } })
    const res = await gw.app.inject({ method: 'POST', url: '/v1/exchange', payload: sent.jws, headers: asPartnerOf('US') })
    const answer = res.statusCode === 200 ? 'a receipt' : res.json<{ code: string }>().code
    t.same([res.statusCode, answer], [422, 'SCHEMA_INVALID'], `${what}: refused`)
    t.equal(await gw.app.store.findMessage('inbound', sent.id), undefined, `${what}: no message kept`)
    t.equal(await gw.app.store.outboxItem('inbound', sent.id), undefined, `${what}: nothing to push`)
  }
})
