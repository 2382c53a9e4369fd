// testConfig() gives each gateway a ledger directory of its own. Tests that
// build an app or a store from it themselves, not through startGateway or
// injectGateway, have no teardown that removes it: the helper removes every
// one it made when the test process exits, so runs leave no btb-CA-…/btb-US-…
// directories behind in the temporary directory.
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { runModule } from './helper.ts'

t.test('the ledger directories testConfig made are gone when the process that made them has exited', async (t) => {
  const helper = pathToFileURL(join(import.meta.dirname, 'helper.ts')).href
  const script = `
    import { writeFileSync } from 'node:fs'
    import { testConfig } from ${JSON.stringify(helper)}
    const made = [testConfig('CA'), testConfig('US')].map((c) => c.ledgerPath)
    for (const p of made) writeFileSync(p, 'a ledger')
    process.stdout.write(JSON.stringify(made))
  `
  const ledgers = JSON.parse(await runModule(script)) as string[]
  t.equal(ledgers.length, 2)
  for (const ledger of ledgers) {
    t.match(ledger, /btb-(CA|US)-[^/]+\/ledger\.sqlite$/, 'a ledger in a directory of its own')
    t.notOk(existsSync(join(ledger, '..')), `${join(ledger, '..')} removed at exit`)
  }
})
