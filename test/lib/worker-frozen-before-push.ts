// A gateway process whose delivery worker freezes the whole process (it
// stops itself with SIGSTOP, as a paused host or VM would be) once it has
// read the first message it is to deliver from the ledger, before anything
// of it is sent (test/exactly-once.test.ts). The test resumes it with
// SIGCONT, and ends it with SIGTERM: it closes as a gateway does, its
// deliveries in hand finished first, and exits 0.
// The configuration is BTB_CONFIG, JSON (test/helper.ts, testConfig: the
// keys as Node writes a Buffer). Prints `ready` once its workers run, and
// its log, at the level the configuration sets, on stdout as a gateway does.
import { writeSync } from 'node:fs'
import { buildApp } from '../../gateway/app.ts'
import type { GatewayConfig } from '../../gateway/config.ts'

const config = JSON.parse(process.env.BTB_CONFIG!, (_key, value) =>
  value?.type === 'Buffer' && Array.isArray(value.data) ? Buffer.from(value.data) : value
) as GatewayConfig
const app = await buildApp(config)
const store = app.store
const read = store.messageToDeliver.bind(store)
let frozen = false
store.messageToDeliver = async (direction, id) => {
  const pending = await read(direction, id)
  if (pending !== undefined && !frozen) {
    frozen = true
    process.kill(process.pid, 'SIGSTOP')
  }
  return pending
}
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0))
})
await app.ready()
writeSync(1, 'ready\n')
