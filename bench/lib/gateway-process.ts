// A gateway as its own process (`node <GATEWAY_NODE_FLAGS> gateway/server.ts`),
// as in production, for the benchmarks that need its memory or its cores to
// be its own: started, waited for until /healthz answers, stopped with
// SIGTERM at teardown.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { errorLine } from './gateway-log.ts'
import { undiciModule } from '../../gateway/lib/lazy-packages.ts'
import { gatewayProcess, KEYS_DIR } from '../../test/helper.ts'
import type { Teardowns } from './common.ts'
import { fillCheckoutCompileCache } from '../../tools/fill-compile-cache.ts'

const { Agent, request } = undiciModule()

export interface GatewayProcess {
  readonly child: ChildProcess
  /** Its SQLite ledger: what a bench reads, read-only, beside it (lib/hop-latency.ts). */
  readonly ledgerPath: string
  /**
   * What it logged at error level or above, one line each (at most
   * MAX_ERRORS_KEPT, the first ones), as it happens: a bench that saw answers
   * other than the ones it expected says why beside them. Empty where its
   * standard output goes to BENCH_GATEWAY_STDOUT_<country> instead.
   */
  readonly errors: readonly string[]
}

const MAX_ERRORS_KEPT = 20

/** The compile cache every gateway of this bench run loads its modules from, as the image's do: filled once. */
let compileCache: string | undefined

export async function startGatewayProcess(t: Teardowns, country: 'CA' | 'US', port: number, env: Record<string, string>): Promise<GatewayProcess> {
  // BENCH_ARENAS=16: glibc's malloc arenas as they are without GATEWAY_ENV (8 per core), to compare.
  if (compileCache === undefined) {
    const filled = fillCheckoutCompileCache()
    if (filled.error !== undefined) throw new Error(`the gateways' compile cache could not be filled: ${filled.error}`)
    compileCache = filled.directory
  }
  const gp = gatewayProcess(t, country, port, {
    LOG_LEVEL: 'warn',
    NODE_COMPILE_CACHE: compileCache,
    ...(process.env.BENCH_ARENAS ? { MALLOC_ARENA_MAX: process.env.BENCH_ARENAS } : {}),
    ...env
  })
  // BENCH_GATEWAY_ENV="CHECKPOINT_EVERY_ENTRIES=100000 MALLOC_MMAP_THRESHOLD_=": the gateways'
  // environment changed for a trial; a name with nothing after its = is taken out.
  const childEnv: Record<string, string | undefined> = { ...gp.env }
  for (const pair of process.env.BENCH_GATEWAY_ENV?.split(' ').filter((p) => p !== '') ?? []) {
    const at = pair.indexOf('=')
    if (at <= 0) throw new Error(`BENCH_GATEWAY_ENV: "${pair}" is not NAME=VALUE`)
    const [name, value] = [pair.slice(0, at), pair.slice(at + 1)]
    if (value === '') delete childEnv[name]
    else childEnv[name] = value
  }
  // BENCH_GATEWAY_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (or --trace-gc):
  // extra Node flags for both gateways, to see what holds their event loops.
  // Their standard output then goes to BENCH_GATEWAY_STDOUT_<country>, if set.
  const extra = process.env.BENCH_GATEWAY_FLAGS?.split(' ').filter((f) => f !== '') ?? []
  const stdoutFile = process.env[`BENCH_GATEWAY_STDOUT_${country}`]
  const stdout = stdoutFile === undefined ? 'pipe' : openSync(stdoutFile, 'w')
  // After the gateway's own flags, so that one given again (--max-semi-space-size=16) overrides it.
  const child = spawn(process.execPath, [...gp.args.slice(0, -1), ...extra, ...gp.args.slice(-1)], { env: childEnv, stdio: ['ignore', stdout, 'inherit'] })
  const errors: string[] = []
  if (child.stdout !== null) {
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      const error = errors.length < MAX_ERRORS_KEPT ? errorLine(line) : undefined
      if (error !== undefined) errors.push(error)
    })
  }
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })
  )
  const ca = readFileSync(join(KEYS_DIR, country, 'ca.crt.pem'), 'utf8')
  const agent = new Agent({ connect: { ca } })
  try {
    for (let i = 0; ; i++) {
      try {
        const res = await request(`https://127.0.0.1:${port}/healthz`, { dispatcher: agent })
        await res.body.text()
        if (res.statusCode === 200) return { child, ledgerPath: gp.ledgerPath, errors }
      } catch {
        /* not listening yet */
      }
      if (i > 300) throw new Error(`gateway ${country} did not start`)
      await new Promise((r) => setTimeout(r, 100))
    }
  } finally {
    await agent.close()
  }
}

/**
 * The processes that serve a gateway started by startGatewayProcess: the
 * child itself, or, when it supervises several (GATEWAY_PROCESSES,
 * gateway/cluster.ts), its children, as they are when asked.
 */
export function servingPids(gateway: GatewayProcess): number[] {
  const pid = gateway.child.pid
  if (pid === undefined) return []
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number)
  } catch {
    // pgrep finds no children: the child serves alone.
    return [pid]
  }
}
