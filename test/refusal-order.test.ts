// Which refusal wins when a message has several faults: the first check in
// the pipeline's order (docs/architecture.md, "The pipeline, one message";
// docs/integrators.md, "Which refusal wins"). Each case below breaks two
// things at once and expects the earlier step's code.
import t from 'tap'
import { sampleEnvelope } from '../sandbox/sample-messages.ts'
import { client, injectGateway, testConfig } from './helper.ts'

t.test('the earliest failing check names the refusal', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const entry = (overrides: Record<string, unknown> = {}): Record<string, unknown> =>
    cbsa.envelope({ ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }), ...overrides })
  const expired = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const code = async (jws: string, who = cbsa): Promise<string> => (await who.submit(jws)).json<{ code: string }>().code
  const badSignature = (jws: string): string => `${jws.slice(0, -4)}${jws.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`

  t.equal(await code(badSignature(await cbsa.sign(entry({ payload: {} })))), 'JWS_SIGNATURE_INVALID', 'a bad signature before an invalid payload')
  t.equal(await code(await cbsa.sign(entry({ payload: {}, createdAt: expired }))), 'SCHEMA_INVALID', 'an invalid payload before an expired createdAt')
  t.equal(
    await code(await cbsa.sign({ ...entry(), from: { country: 'CA', agency: 'CBSA', system: 'other' }, createdAt: expired })),
    'SENDER_MISMATCH',
    'a wrong sender before an expired createdAt'
  )
  t.equal(
    await code(await cbsa.sign(cbsa.envelope({ ...sampleEnvelope('biometric.match-request', 'CA', { country: 'US', agency: 'USCIS' }), createdAt: expired }))),
    'KIND_NOT_ALLOWED',
    'a kind the system may not send before an expired createdAt'
  )
  t.equal(
    await code(await cbsa.sign(entry({ createdAt: expired, legalAuthority: 'INA-215' }))),
    'MESSAGE_EXPIRED',
    'an expired createdAt before a wrong legal authority'
  )
  t.equal(
    await code(await cbsa.sign(entry({ legalAuthority: 'INA-215', to: { country: 'US', agency: 'USCIS' } }))),
    'LEGAL_AUTHORITY_MISMATCH',
    'a wrong legal authority before a recipient the policy does not allow'
  )
  const accepted = entry()
  t.equal((await cbsa.submit(await cbsa.sign(accepted))).status, 202, 'a message accepted')
  // The id of a signed message is looked up before any later refusal is
  // answered (gateway/routes/messages.ts): a retry (the same bytes, or the
  // same payload signed again) always gets its status, and another payload
  // under that id gets ID_CONFLICT.
  t.equal(
    await code(await cbsa.sign({ ...accepted, createdAt: expired })),
    'ID_CONFLICT',
    'its id again with other, expired bytes: ID_CONFLICT before MESSAGE_EXPIRED'
  )
  t.equal(await code(await cbsa.sign({ ...accepted, legalAuthority: 'INA-215' })), 'ID_CONFLICT', 'its id again with a wrong legal authority: ID_CONFLICT too')
})
