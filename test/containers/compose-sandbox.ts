// The container sandbox end to end, with podman (npm run test:containers,
// through docker/containers-ci.sh; not part of `npm test`, which must run where
// containers cannot). From docker/compose.yaml as the user runs it: the real
// Dockerfile built on the local stand-ins of docker/standins.sh (reused when
// present), then Redis, PostgreSQL, both gateways and the mock agencies, each
// started once what it depends on is healthy. Then, against the containers:
// the image is production-grade (non-root, production dependencies only, no
// sandbox tools, read-only root filesystem, a health check that passes); the
// sample traffic of `npm run sandbox` goes both ways with receipts; the
// integrator's guide's client, reading sandbox.json, reaches both gateways;
// `podman kill` of a gateway mid-load loses and duplicates nothing; and
// `podman stop` ends a gateway within its stop timeout, through the init
// process. Figures (build times, sizes, the fault runs) are printed as
// comments: docs/integrators.md, "The same sandbox in containers", cites them.
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { undiciModule } from '../../gateway/lib/lazy-packages.ts'
import { gatewayUrls, readCompose } from '../../docker/compose-file.ts'
import { buildImages, down, STANDINS, startContainer, up, waitHealthy, writeManifest } from '../../docker/podman-sandbox.ts'
import { freePort } from '../../faults/free-port.ts'
import { Load } from '../../faults/load.ts'
import { AgencyClient, loadAgencyCredentials } from '../../sandbox/agency-client.ts'
import { sendSampleTraffic } from '../../sandbox/sample-traffic.ts'
import { sampleEnvelope } from '../../sandbox/sample-messages.ts'
import { QUEUE_NAMES } from '../../gateway/queue/queue-names.ts'

const { Agent, request } = undiciModule()

const root = join(import.meta.dirname, '..', '..')
const keysDir = join(root, 'keys-example')
const project = `btb-ci-${process.pid}`
const container = (service: string): string => `${project}-${service}`

function podman(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('podman', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

/** Waits until the gateway at `url` reports each of `checks` ok in GET /readyz (its partner, its Redis, its ledger). */
async function checksOk(url: string, country: 'CA' | 'US', checks: readonly string[], deadlineMs = 60_000): Promise<void> {
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(keysDir, country, 'ca.crt.pem')) } })
  const deadline = Date.now() + deadlineMs
  try {
    for (;;) {
      const said = await request(`${url}/readyz`, { dispatcher })
        .then(async (res) => ((await res.body.json()) as { checks?: Record<string, string> }).checks)
        .catch(() => undefined)
      if (checks.every((name) => said?.[name] === 'ok')) return
      if (Date.now() > deadline)
        throw new Error(`the ${country} gateway's ${checks.join(', ')} not ok within ${deadlineMs / 1000} s (last: ${JSON.stringify(said)})`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  } finally {
    await dispatcher.close()
  }
}

// Host ports of our own: 8441/8442 may be another sandbox's (docs/architecture.md, "Runtime").
const [caPort, usPort] = [await freePort(), await freePort()]
const env: Record<string, string | undefined> = { ...STANDINS, ...process.env, CA_PORT: String(caPort), US_PORT: String(usPort) }
const compose = readCompose(env)
const urls = gatewayUrls(compose)

let start = performance.now()
const standins = spawnSync('sh', [join(root, 'docker', 'standins.sh')], { encoding: 'utf8' })
t.equal(standins.status, 0, `stand-ins ready (${seconds(performance.now() - start)}): ${standins.stdout.trim().replaceAll('\n', '; ')}`)

const built = buildImages(compose, (line) => t.comment(line))
const gatewayImage = compose.services['ca-gateway']!.image!
const toolsImage = compose.services['mock-agencies-ca']!.image!

t.teardown(() => down(project))
start = performance.now()
await up(compose, project, (line) => t.comment(line))
t.comment(`sandbox up in ${seconds(performance.now() - start)} (images built in ${built.map((b) => `${b.image} ${b.seconds.toFixed(1)} s`).join(', ')})`)

t.test('the gateway image is production-grade', async (t) => {
  const inspect = JSON.parse(podman('image', 'inspect', gatewayImage).stdout)[0] as {
    Size: number
    Config: { User: string; Cmd: string[] }
    Healthcheck?: { Test: string[] }
  }
  t.equal(inspect.Config.User, 'node', 'runs as the unprivileged node user')
  t.same(inspect.Healthcheck?.Test, ['CMD', 'node', 'docker/healthcheck.ts'], 'carries its health check (built in docker format)')
  t.same(inspect.Config.Cmd.at(-1), 'gateway/server.ts', 'runs the server')
  const base = JSON.parse(podman('image', 'inspect', env.NODE_IMAGE!).stdout)[0] as { Size: number }
  t.comment(
    `image sizes: ${gatewayImage} ${(inspect.Size / 1e6).toFixed(0)} MB (${((inspect.Size - base.Size) / 1e6).toFixed(0)} MB over ${env.NODE_IMAGE}, ${(base.Size / 1e6).toFixed(0)} MB)`
  )

  const app = podman('run', '--rm', '--read-only', '--entrypoint', 'ls', gatewayImage, '/app')
  t.equal(app.status, 0, 'the image lists /app')
  const top = app.stdout.split('\n').filter(Boolean)
  for (const tool of ['sandbox', 'tools', 'test', 'keys-example', 'faults', 'bench']) t.notOk(top.includes(tool), `no ${tool}/ in the gateway image`)
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  const installed = podman('run', '--rm', '--entrypoint', 'sh', gatewayImage, '-c', 'cd /app/node_modules && ls -d [!@]* @*/*')
    .stdout.split('\n')
    .filter(Boolean)
  const dev = installed.filter((n) => lock.packages[`node_modules/${n}`]?.dev === true)
  t.ok(installed.length > 50, `${installed.length} packages in node_modules`)
  t.same(dev, [], 'none of them a development dependency (package-lock.json)')

  const ca = JSON.parse(podman('inspect', container('ca-gateway')).stdout)[0] as { HostConfig: { ReadonlyRootfs: boolean }; Config: { User: string } }
  t.ok(ca.HostConfig.ReadonlyRootfs, 'the gateway container runs on a read-only root filesystem')
  t.not(podman('exec', container('ca-gateway'), 'touch', '/app/gateway/written').status, 0, 'so its code cannot be written')
  t.equal(podman('exec', container('ca-gateway'), 'id', '-u').stdout.trim(), '1000', 'as uid 1000')
  // Its modules come with their types stripped, from the image's compile
  // cache (docker/Dockerfile), which the service cannot change either.
  const probe = "import('/app/gateway/app.ts').then(() => console.log(process.moduleLoadList.some((m) => m.includes('amaro'))))"
  t.equal(podman('exec', container('ca-gateway'), 'node', '-e', probe).stdout.trim(), 'false', "the gateway's modules load without Node's type stripper")
  const writeCache = podman('run', '--rm', '--entrypoint', 'sh', gatewayImage, '-c', 'touch /app/.compile-cache/*/written || chmod u+w /app/.compile-cache/*')
  t.not(writeCache.status, 0, 'and its compile cache cannot be written, even on a writable root filesystem')
  t.equal(podman('healthcheck', 'run', container('ca-gateway')).status, 0, "the image's health check passes on a running gateway")
  const sandboxFiles = podman('run', '--rm', '--entrypoint', 'ls', toolsImage, '/app/sandbox/mock-agency-process.ts')
  t.equal(sandboxFiles.status, 0, 'the mock agencies run from their own image (the sandbox target)')
})

t.test("in the gateway image, a name lookup that the network's DNS never answers fails within seconds (RES_OPTIONS)", async (t) => {
  // A nameserver that takes every query and answers none: a UDP socket on port 53 that only reads.
  const silent = `${project}-silent-dns`
  t.equal(
    podman('run', '-d', '--name', silent, '--user', 'root', '--entrypoint', 'node', gatewayImage, '-e', "require('node:dgram').createSocket('udp4').bind(53)")
      .status,
    0,
    'a silent nameserver started'
  )
  t.teardown(() => podman('rm', '--force', '--time', '0', silent))
  const ip = (JSON.parse(podman('inspect', silent).stdout)[0] as { NetworkSettings: { IPAddress: string } }).NetworkSettings.IPAddress
  const lookup = (...env: string[]) => {
    const script = "const s=Date.now();require('node:dns').lookup('redis',(e)=>console.log(JSON.stringify({ms:Date.now()-s,code:e?.code})))"
    const r = podman('run', '--rm', '--dns', ip, ...env, '--entrypoint', 'node', gatewayImage, '-e', script)
    return JSON.parse(r.stdout.trim() || '{}') as { ms?: number; code?: string }
  }
  const image = lookup()
  t.equal(image.code, 'EAI_AGAIN', 'the lookup fails')
  t.ok((image.ms ?? Infinity) < 5_000, `with the image's RES_OPTIONS, in ${image.ms} ms: a stopping gateway is not held by it (docs/operators.md, "Shutdown")`)
  const defaults = lookup('-e', 'RES_OPTIONS=')
  t.ok((defaults.ms ?? 0) >= 10_000, `with glibc's defaults, in ${defaults.ms} ms`)
})

t.test('the sample traffic of npm run sandbox goes both ways, with receipts', async (t) => {
  const lines: string[] = []
  const r = await sendSampleTraffic({ keysDir, urls, say: (l) => lines.push(l), followMs: 30_000 })
  t.equal(r.delivered, r.sent, `${r.delivered} of ${r.sent} samples delivered with the partner's signed receipt`)
  t.notOk(r.correctionFailed, 'the correction is delivered too')
  t.equal(lines.filter((l) => / 202 -> delivered, receipt for sha256 /.test(l)).length, r.sent + 1, 'every sample and the correction has a receipt')
  for (const [service, agency] of [
    ['mock-agencies-us', 'CBP'],
    ['mock-agencies-ca', 'CBSA']
  ] as const) {
    const log = podman('logs', container(service)).stdout
    t.match(
      log,
      new RegExp(`${agency} received entry-exit\\.record [0-9a-f-]{36} from .* \\(signed by (ca|us)-gateway-\\S+ and (ca|us)-gateway-\\S+\\)`),
      `${agency}'s mock received, with both gateways' signatures`
    )
  }
})

t.test("the integrator's guide's client reaches both gateways from the host, reading sandbox.json", async (t) => {
  const guide = readFileSync(join(root, 'docs', 'integrators.md'), 'utf8')
  const block = /<!-- readme-client -->\s*```js\n([\s\S]*?)```/.exec(guide)?.[1]
  t.ok(block, 'docs/integrators.md has the client block')
  const dir = mkdtempSync(join(tmpdir(), 'btb-containers-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'submit.mjs'), block!)
  const manifest = writeManifest(compose, dir)
  for (const [country, agency] of [
    ['CA', 'CBSA'],
    ['US', 'CBP']
  ] as const) {
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'submit.mjs'), manifest, country, agency], { timeout: 60_000 })
    t.match(stdout, /^submitted 202 /m, `${country}: accepted`)
    t.match(stdout, /^delivered receipt: [0-9a-f-]{36} [A-Za-z0-9_-]{43}$/m, `${country}: delivered, with the partner's receipt`)
  }
})

/** Polls every id's status on the sending gateway until none is `accepted`, or the deadline. */
async function followAll(client: AgencyClient, ids: readonly string[], deadlineMs: number): Promise<Map<string, string>> {
  const status = new Map<string, string>()
  const until = Date.now() + deadlineMs
  let pending = [...ids]
  while (pending.length > 0 && Date.now() < until) {
    for (const id of pending) {
      try {
        status.set(id, (await client.status(id)).json<{ status: string }>().status)
      } catch {
        /* the gateway may still be coming back */
      }
    }
    pending = pending.filter((id) => status.get(id) !== 'delivered')
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 500))
  }
  return status
}

for (const victim of ['ca-gateway', 'us-gateway'] as const) {
  t.test(
    `podman kill of the ${victim === 'ca-gateway' ? 'sending' : 'receiving'} gateway (${victim}) mid-load loses nothing and duplicates nothing`,
    async (t) => {
      const client = new AgencyClient(loadAgencyCredentials(keysDir, 'CA', 'CBSA', 'pik-primary'), urls.CA)
      t.teardown(() => client.close())
      const count = 600
      const load = new Load({ client, count, concurrency: 8, retryForMs: 120_000 })
      const running = load.run()
      await load.acceptedAtLeast(count / 4)
      const killedAt = performance.now()
      t.equal(podman('kill', '--signal', 'KILL', container(victim)).status, 0, `${victim} killed (SIGKILL) after ${load.accepted} accepted`)
      t.equal(podman('start', container(victim)).status, 0, `${victim} started again`)
      const recovered = await waitHealthy(container(victim), 120_000)
      const recoverMs = performance.now() - killedAt
      await running
      t.equal(load.accepted, count, `all ${count} accepted (${load.refused} refused, ${load.failed} failed)`)
      const ids = load.acceptedIds()
      const status = await followAll(client, ids, 180_000)
      const delivered = ids.filter((id) => status.get(id) === 'delivered')
      t.equal(delivered.length, ids.length, 'every accepted message delivered, with the partner receipt')
      // CBP's mock logs each message it acted on once, and each repeated push
      // (same Idempotency-Key, answered 2xx again) on a line of its own.
      // `delivered` is the partner gateway's receipt; its push to CBP follows,
      // and a push the killed gateway held waits for BullMQ's stalled-job
      // check (QUEUE_LOCK_MS + QUEUE_STALLED_CHECK_MS, about 25 s:
      // docs/architecture.md): so the log is read until every id is there.
      let log = ''
      const received = new Map<string, number>()
      const until = Date.now() + 120_000
      for (;;) {
        log = podman('logs', container('mock-agencies-us')).stdout
        received.clear()
        for (const m of log.matchAll(/CBP received traveller\.designation ([0-9a-f-]{36}) /g)) received.set(m[1]!, (received.get(m[1]!) ?? 0) + 1)
        if (ids.every((id) => received.has(id)) || Date.now() > until) break
        await new Promise((r) => setTimeout(r, 500))
      }
      const allPushedMs = performance.now() - killedAt
      const repeats = new Set(ids)
      const repeatedPushes = [...log.matchAll(/CBP acknowledged a repeated push of ([0-9a-f-]{36})/g)].filter((m) => repeats.has(m[1]!)).length
      const lost = ids.filter((id) => !received.has(id))
      const twice = ids.filter((id) => (received.get(id) ?? 0) > 1)
      t.same(lost, [], 'none lost: CBP received every accepted message')
      t.same(twice, [], 'none duplicated: CBP acted on each once')
      const retried = [...load.messages.values()].filter((m) => m.tries > 1).length
      t.comment(
        `kill ${victim}: sent ${count}, accepted ${load.accepted} (${retried} resubmitted after the kill), delivered ${delivered.length}, received by CBP ${ids.filter((id) => received.has(id)).length}, lost ${lost.length}, duplicated ${twice.length}, repeated pushes acknowledged ${repeatedPushes}; healthy again ${seconds(recovered)} after start, ${seconds(recoverMs)} after the kill; every message at CBP ${seconds(allPushedMs)} after the kill`
      )
    }
  )
}

t.test("the curl + openssl guide, pasted into bash beside the CA gateway's container, sends every kind and verifies receipts and a push", async (t) => {
  const guide = readFileSync(join(root, 'docs', 'integrators.md'), 'utf8')
  const section = /<!-- readme-curl -->([\s\S]*?)<!-- \/readme-curl -->/.exec(guide)?.[1] ?? ''
  const blocks = [...section.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)
  const webhooks = /^AGENCY_WEBHOOKS='([^']+)' npm run sandbox$/m.exec(section)?.[1]
  t.ok(blocks.length >= 8 && webhooks !== undefined, `the guide's ${blocks.length} bash blocks and its AGENCY_WEBHOOKS`)
  // The guide's receiver listens on the loopback of the shell that runs it. A
  // shell in a container that shares the CA gateway container's network
  // namespace has the gateway on https://127.0.0.1:8441, as the guide has it,
  // and the gateway reaches the receiver on 127.0.0.1: the guide runs as
  // written. The gateway is started again with the guide's AGENCY_WEBHOOKS
  // over the compose file's.
  const gateway = compose.services['ca-gateway']!
  const gatewayEnv = gateway.environment!
  const before = gatewayEnv.AGENCY_WEBHOOKS!
  gatewayEnv.AGENCY_WEBHOOKS = JSON.stringify({ ...JSON.parse(before), ...JSON.parse(webhooks!) })
  t.teardown(async () => {
    gatewayEnv.AGENCY_WEBHOOKS = before
    startContainer(compose, project, 'ca-gateway')
    await waitHealthy(container('ca-gateway'), 120_000)
  })
  startContainer(compose, project, 'ca-gateway')
  await waitHealthy(container('ca-gateway'), 120_000)
  // The CA gateway was just replaced: the guide starts once each gateway
  // reaches the other again (its readiness asks the partner over its own
  // mTLS client), not while the US gateway's deliveries to the old container
  // are still backing off. The guide itself waits 20 s for USCIS's answer.
  for (const country of ['CA', 'US'] as const) await checksOk(urls[country], country, ['partner'])

  const shellImage = 'localhost/btb-test/guide-shell:latest'
  if (podman('image', 'exists', shellImage).status !== 0) {
    const begin = performance.now()
    const built = podman(
      'build',
      '--network',
      'host',
      '--build-arg',
      `NODE_IMAGE=${env.NODE_IMAGE}`,
      '-t',
      shellImage,
      '-f',
      join(import.meta.dirname, 'curl-client.Containerfile'),
      import.meta.dirname
    )
    t.equal(built.status, 0, `the guide's shell image built (${seconds(performance.now() - begin)})`)
  }
  const begin = performance.now()
  const run = await promisify(execFile)(
    'podman',
    [
      'run',
      '--rm',
      '--network',
      `container:${container('ca-gateway')}`,
      '--volume',
      `${root}:/repo:ro`,
      '--workdir',
      '/repo',
      shellImage,
      'bash',
      '-euo',
      'pipefail',
      '-c',
      blocks.join('\n')
    ],
    { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }
  ).catch((err: { code?: number; stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: `exit ${err.code}: ${err.stderr ?? ''}` }))
  t.comment(`the guide ran in ${seconds(performance.now() - begin)}`)
  const out = run.stdout
  t.match(out, /^HTTP 202$/m, 'step 5: submitted, 202')
  t.match(out, /"status": "delivered"/, "step 5: delivered, with the partner's receipt")
  // The guide's own sends; the match response is USCIS's answer to its request, below.
  for (const kind of ['biometric.match-request', 'traveller.designation', 'entry-exit.record', 'entry-exit.batch'])
    t.match(out, new RegExp(`^202 ${kind.replace('.', '\\.')} [0-9a-f-]{36} -> delivered$`, 'm'), `step 8: ${kind} delivered`)
  t.ok((out.match(/^Verified OK$/gm) ?? []).length >= 4, "steps 6 and 8: the receipt, the push, the partner's JWS and the receipt inside it verify")
  t.match(out, /"result": "(NO_)?MATCH"/, "step 8: USCIS's answer pushed to the guide's receiver")
  t.match(out, /"code":"JWS_SIGNATURE_INVALID"/, 'step 10: a DER signature refused')
  t.match(out, /^200\n200\n\{.*"code":"ID_CONFLICT"/m, 'step 10: a retry gets 200, signed again or not; another envelope under its id is refused')
  t.equal(run.stderr.startsWith('exit'), false, `the session ends without error${run.stderr.startsWith('exit') ? `: ${run.stderr.slice(-500)}` : ''}`)
})

/** Delivery jobs in hand on one gateway's queue: BullMQ's active list, read in the sandbox's Redis. */
function activeJobs(prefix: string, queue: string): number {
  return Number(podman('exec', container('redis'), 'redis-cli', 'LLEN', `${prefix}:${queue}:active`).stdout.trim())
}

t.test(
  'podman stop ends each gateway within its stop timeout, through the init process, even with a delivery in hand to a partner that does not answer',
  async (t) => {
    // The CA gateway paused: its address still takes connections, and nothing
    // answers on them, as a partner that hangs. The US gateway's delivery to
    // it is then in hand when the US gateway is told to stop; before
    // SHUTDOWN_TIMEOUT_MS bounded it, that close waited for the delivery and
    // podman killed the gateway (exit 137; docs/operators.md, "Shutdown").
    t.equal(podman('pause', container('ca-gateway')).status, 0, 'ca-gateway paused')
    const cbp = new AgencyClient(loadAgencyCredentials(keysDir, 'US', 'CBP', 'ades'), urls.US)
    t.teardown(() => cbp.close())
    const envelope = cbp.envelope(sampleEnvelope('entry-exit.record', 'US', { country: 'CA', agency: 'CBSA' }))
    t.equal((await cbp.submit(await cbp.sign(envelope))).status, 202, 'a message for Canada accepted by the US gateway')
    const prefix = compose.services['us-gateway']?.environment?.QUEUE_PREFIX ?? ''
    const until = Date.now() + 30_000
    while (activeJobs(prefix, QUEUE_NAMES.outbound) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
    t.equal(activeJobs(prefix, QUEUE_NAMES.outbound), 1, "its delivery is in hand, waiting on the paused partner's answer")

    for (const service of ['us-gateway', 'ca-gateway']) {
      if (service === 'ca-gateway') {
        t.equal(podman('unpause', container(service)).status, 0, 'ca-gateway running again')
        // Stopped as a gateway that serves is: once it answers its health check
        // again, and its Redis and its ledger answer it. Right after podman
        // stops a container, its network's DNS has left lookups unanswered for
        // seconds; a gateway thawed then reconnects through it, and a close
        // begun before it has (docs/operators.md, "Shutdown") waited on it.
        await waitHealthy(container(service), 60_000)
        await checksOk(urls.CA, 'CA', ['redis', 'ledger'])
      }
      const info = JSON.parse(podman('inspect', container(service)).stdout)[0] as { Config: { StopTimeout: number }; HostConfig: { Init?: boolean } }
      const timeout = info.Config.StopTimeout
      t.ok(info.HostConfig.Init, `${service}: runs under podman's init (compose: init: true)`)
      const begin = performance.now()
      t.equal(podman('stop', '--time', String(timeout), container(service)).status, 0, `${service}: podman stop`)
      const took = performance.now() - begin
      const state = JSON.parse(podman('inspect', container(service)).stdout)[0] as { State: { ExitCode: number } }
      t.ok(took < timeout * 1000, `${service}: stopped in ${seconds(took)}, within its stop timeout of ${timeout} s`)
      t.comment(`podman stop ${service}: ${seconds(took)} (timeout ${timeout} s), exit code ${state.State.ExitCode}`)
      // What it did while closing, where it did not close in time.
      if (state.State.ExitCode !== 0) {
        const logs = podman('logs', '--tail', '40', container(service))
        t.comment(`${logs.stdout}${logs.stderr}`)
      }
      t.equal(state.State.ExitCode, 0, `${service}: exit code 0 (SIGTERM reached Node, which closed gracefully; 137 would be the SIGKILL after the timeout)`)
    }
    t.match(
      podman('logs', container('us-gateway')).stdout,
      /abandoning the requests to the partner still in hand/,
      'the US gateway abandoned the delivery in hand, and said so'
    )
  }
)
