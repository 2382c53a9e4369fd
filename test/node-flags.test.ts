// Every way a gateway process is started runs it with the same heap limits
// (gateway/node-flags.ts): the figures in docs/operators.md were measured with them.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../gateway/node-flags.ts'

const root = join(import.meta.dirname, '..')

t.test("npm start and the Docker image pass the gateway's heap limits", async (t) => {
  const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!
  for (const flag of GATEWAY_NODE_FLAGS) t.ok(start.split(' ').includes(flag), `npm start: ${flag}`)
  const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(join(root, 'docker', 'Dockerfile'), 'utf8'))?.[1]
  t.ok(cmd, 'the Dockerfile has a CMD')
  const args = JSON.parse(cmd!) as string[]
  t.same(args.slice(0, 1 + GATEWAY_NODE_FLAGS.length), ['node', ...GATEWAY_NODE_FLAGS], "the image's CMD")
  t.equal(args.at(-1), 'gateway/server.ts')
})

t.test('npm start and the Docker image run the gateway with its environment', async (t) => {
  const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!
  const dockerfile = readFileSync(join(root, 'docker', 'Dockerfile'), 'utf8')
  const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'))
  for (const [name, value] of Object.entries(GATEWAY_ENV)) {
    t.ok(start.split(' ').includes(`${name}=${value}`), `npm start: ${name}=${value}`)
    t.match(runtime, new RegExp(`^ENV ${name}=${value}$`, 'm'), `the image's runtime stage: ENV ${name}=${value}`)
  }
})
