import t from 'tap'
import { configFromEnv } from '../gateway/config.ts'

const key = Buffer.alloc(32, 7).toString('base64')
const good = {
  GATEWAY_COUNTRY: 'CA',
  GATEWAY_TRUST_FILE: 'keys-example/CA/trust.json',
  GATEWAY_SEAL_KEY: key,
  GATEWAY_AUDIT_KEY: key,
  GATEWAY_PSEUDONYM_KEY: key
}

t.test('a complete environment gives a config with defaults', async (t) => {
  const config = configFromEnv(good)
  t.equal(config.port, 8441)
  t.equal(config.redisUrl, 'redis://127.0.0.1:6379')
  t.equal(config.queuePrefix, 'btb:CA')
  t.equal(config.sealKey.length, 32)
  t.equal(config.redisChecks, 'refuse')
})

t.test('a bad or missing setting is named in the error', async (t) => {
  t.throws(() => configFromEnv({ ...good, GATEWAY_SEAL_KEY: undefined }), /GATEWAY_SEAL_KEY/)
  t.throws(() => configFromEnv({ ...good, PORT: 'eighty' }), /PORT/)
  t.throws(() => configFromEnv({ ...good, REDIS_URL: 'http://x' }), /REDIS_URL/)
  t.throws(() => configFromEnv({ ...good, AGENCY_WEBHOOKS: '{' }), /AGENCY_WEBHOOKS/)
})
