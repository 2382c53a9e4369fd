// The curl + openssl guide (docs/integrators.md, "With curl and openssl"),
// run the way a reader pastes it: every ```bash block between the
// readme-curl markers, in order, in one `bash -euo pipefail` session at the
// repository root, against the sandbox started with the very command the
// guide gives (`npm run sandbox`, kept running, with one webhook pointed at
// the guide's receiver). The sandbox and the receiver are put on free ports
// (the environment sandbox/run.ts reads, and the guide's port numbers
// replaced in its text), so that another run on this machine does not
// collide with this one.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { compactVerify, createLocalJWKSet } from 'jose'
import { client, eventually, freePort, KEYS_DIR, sandboxSetting } from './helper.ts'

const root = join(import.meta.dirname, '..')
const readme = readFileSync(join(root, 'docs', 'integrators.md'), 'utf8')
const guide = /<!-- readme-curl -->([\s\S]*?)<!-- \/readme-curl -->/.exec(readme)?.[1] ?? ''
const blocks = [...guide.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)
const sandboxCommand = /^AGENCY_WEBHOOKS='([^']+)' npm run sandbox$/m.exec(guide)

// The ports the guide names: the CA gateway's (the sandbox's default), and its receiver's.
const GUIDE_GATEWAY = 'https://127.0.0.1:8441'
const GUIDE_RECEIVER = 9452
// The guide's own sends; the match response is the U.S. answer to its request (step 8).
const KINDS = ['biometric.match-request', 'traveller.designation', 'entry-exit.record', 'entry-exit.batch']
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

// Run after the guide, in the same session: a verification that cannot fail
// proves nothing, so the guide's verify_jws must refuse a tampered receipt.
const PROBE = `
W=$(mktemp -d)
TAMPERED=$(cut -d. -f1 <<< "$RECEIPT").$(cut -d. -f2 <<< "$RECEIPT" | unb64url | jq -c '.messageId = "${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}"' | b64url).$(cut -d. -f3 <<< "$RECEIPT")
if verify_jws $C/partner/jwks.json "$TAMPERED" > /dev/null 2>&1; then echo 'probe: tampered receipt accepted'; else echo 'probe: tampered receipt refused'; fi
rm -rf $W
`

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

t.test(
  'the curl + openssl guide, pasted into bash against the sandbox, sends every kind, verifies receipts and a push, and meets the documented refusals',
  async (t) => {
    t.ok(sandboxCommand, 'the guide says how to start the sandbox')
    t.ok(blocks.length >= 8, `the guide has its bash blocks (${blocks.length})`)

    const setting = await sandboxSetting(t)
    const receiverPort = await freePort()
    const gateway = `https://127.0.0.1:${setting.ports.CA}`
    // The guide as written, but for the ports: each replacement must apply, or the guide changed under the test.
    const movePorts = (text: string, what: string): string => {
      const moved = text
        .replaceAll(GUIDE_GATEWAY, gateway)
        .replaceAll(`listen(${GUIDE_RECEIVER},`, `listen(${receiverPort},`)
        .replaceAll(`127.0.0.1:${GUIDE_RECEIVER}/`, `127.0.0.1:${receiverPort}/`)
      t.not(moved, text, `${what}: the guide's ports are moved to free ones`)
      return moved
    }

    const sandbox = spawn(process.execPath, ['sandbox/run.ts'], {
      cwd: root,
      env: { ...process.env, ...setting.env, LOG_LEVEL: 'warn', AGENCY_WEBHOOKS: movePorts(sandboxCommand![1]!, 'AGENCY_WEBHOOKS') },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    })
    let sandboxOutput = ''
    sandbox.stdout!.on('data', (c: Buffer) => {
      sandboxOutput += c.toString()
    })
    sandbox.stderr!.on('data', (c: Buffer) => {
      sandboxOutput += c.toString()
    })
    t.teardown(async () => {
      sandbox.kill('SIGTERM')
      await exited(sandbox)
    })
    await eventually(
      () => {
        if (sandbox.exitCode !== null) throw new Error(`the sandbox exited with ${sandbox.exitCode}:\n${sandboxOutput}`)
        return sandboxOutput.includes('keeps running for your own client') || undefined
      },
      60_000,
      'the sandbox to be ready'
    )
    // A gateway that could not listen (another sandbox took the ports meanwhile) would make every step below fail obscurely.
    t.notMatch(sandboxOutput, /exited with/, `the sandbox's gateways and mock agencies are running\n${sandboxOutput}`)

    const dir = mkdtempSync(join(tmpdir(), 'btb-readme-curl-'))
    const scratch = join(dir, 'tmp')
    mkdirSync(scratch)
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const script = join(dir, 'guide.sh')
    const guideText = blocks.join('\n')
    t.ok(
      guideText.includes(GUIDE_GATEWAY) && guideText.includes(`listen(${GUIDE_RECEIVER},`),
      "the guide names the sandbox's CA gateway and its receiver's port"
    )
    writeFileSync(script, `${movePorts(guideText, 'the guide')}\n${PROBE}`)

    // Its own process group, so that the guide's background receiver goes with it if the guide fails half-way.
    const bash = spawn('bash', ['-euo', 'pipefail', script], {
      cwd: root,
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, TMPDIR: scratch },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    })
    let stdout = ''
    let stderr = ''
    bash.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    bash.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    t.teardown(() => {
      try {
        process.kill(-bash.pid!, 'SIGKILL')
      } catch {
        /* the group has already gone */
      }
    })
    const code = await Promise.race([exited(bash), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000).unref())])
    t.equal(code, 0, `the guide runs to the end\n--- stdout\n${stdout}\n--- stderr\n${stderr}`)

    // Step 5: the first message, built and signed by hand, was accepted.
    const first = new RegExp(`^\\{"id":"(${UUID})","status":"accepted".*\\}\\nHTTP 202$`, 'm').exec(stdout)
    t.ok(first, 'the hand-signed entry record got 202')

    // Step 8: one line per kind, each 202 and delivered.
    const sent = [...stdout.matchAll(new RegExp(`^(\\d{3}) ([a-z.-]+) (${UUID}) -> ([a-z-]+)$`, 'gm'))].map(([, status, kind, id, outcome]) => ({
      status,
      kind,
      id: id!,
      outcome
    }))
    t.same(sent.map((s) => s.kind).sort(), [...KINDS].sort(), 'one message of each kind')
    for (const s of sent) t.same([s.status, s.outcome], ['202', 'delivered'], `${s.kind}: 202, then delivered`)

    // Independently of the shell: the gateway holds the partner's receipt for each, and it verifies.
    const partnerKeys = createLocalJWKSet(JSON.parse(readFileSync(join(KEYS_DIR, 'CA', 'partner', 'jwks.json'), 'utf8')))
    const cbsa = client(t, 'CBSA', gateway)
    const ircc = client(t, 'IRCC', gateway)
    const ids = [...(first ? [{ kind: 'entry-exit.record', id: first[1]! }] : []), ...sent]
    for (const { kind, id } of ids) {
      const res = await (kind.startsWith('biometric.') ? ircc : cbsa).status(id)
      const status = res.json<{ status: string; receipt: { jws: string } | null }>()
      t.equal(status.status, 'delivered', `${kind} ${id}: delivered`)
      const { payload, protectedHeader } = await compactVerify(status.receipt!.jws, partnerKeys)
      t.equal(protectedHeader.typ, 'btb-receipt+jws', `${kind}: a receipt`)
      t.equal(JSON.parse(new TextDecoder().decode(payload)).messageId, id, `${kind}: the partner's signed receipt names it`)
    }

    // Steps 6 and 8: openssl verified the receipt, then the push, the partner's JWS inside it and its receipt.
    t.equal(stdout.match(/^Verified OK$/gm)?.length, 4, 'openssl verified four signatures')
    t.match(stdout, /^probe: tampered receipt refused$/m, "the guide's verify_jws refuses a tampered receipt")

    // Step 8: the U.S. mock agency's answer to the match request reached the guide's receiver.
    const request = sent.find((s) => s.kind === 'biometric.match-request')
    t.ok(request, 'a match request was sent')
    const push = /^\{\n {2}"id": "[^"]+",\n {2}"kind": "([^"]+)",\n {2}"correlationId": "([^"]+)",\n {2}"from": \{\n {4}"country": "([A-Z]{2})"/m.exec(stdout)
    t.same(push?.slice(1), ['biometric.match-response', request?.id, 'US'], 'the receiver got the U.S. answer to the request')

    // Step 9: the dry run answered the policy's decisions.
    t.match(stdout, /"id": "entry-exit\.record\/entry-exit-verification\/outbound"/, 'the dry run names the policy')
    t.match(stdout, /"withhold address \(P2\)"/, 'the dry run shows a withheld field and its principle')

    // Step 10: the documented refusals, with their codes in the guide's table.
    t.match(stdout, /"status":400,.*"code":"JWS_SIGNATURE_INVALID"\}\nHTTP 400$/m, 'a DER signature is refused with JWS_SIGNATURE_INVALID')
    t.match(stdout, /"detail":"The JWS signature does not verify \(the signature is 7[0-2] bytes: ES256 signs with 64 bytes, r‖s, not DER\)"/, '…saying so')
    t.match(
      stdout,
      /^200\n200\n\{.*"status":409,.*"code":"ID_CONFLICT"\}$/m,
      'a retry gets 200, signed again or not; another envelope under the id gets ID_CONFLICT'
    )
    for (const code of ['JWS_SIGNATURE_INVALID', 'ID_CONFLICT']) t.match(readme, `| \`${code}\` |`, `${code} is in the error table`)

    // The last block cleaned up: the receiver is gone and the scratch directory is empty.
    t.ok(await portFree(receiverPort), 'the receiver was stopped')
    t.same(readdirSync(scratch), [], 'the scratch files were removed')
  }
)
