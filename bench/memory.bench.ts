// Memory and event-loop stalls of a gateway process under repeated batch
// loads (docs/architecture.md, "Targets": at most 300 MB resident per
// gateway, flat across repeated
// loads; issue 9: no request stalls others for more than 100 ms).
//
// Both gateways run as their own processes (`node gateway/server.ts`), as in
// production, so their resident memory is theirs alone. Each load sends
// border-day batches of 1,000 records CA → US and waits until the U.S. agency
// has every record. Meanwhile a probe on a thread of its own asks each
// gateway's /healthz every 20 ms over its own connection: the slowest answer
// is how long a request had to wait for a busy event loop. Peak RSS is the kernel's high-water mark
// (VmHWM), read from /proc.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { AgencyClient, loadAgencyCredentials } from '../sandbox/agency-client.ts'
import { startMockAgency } from '../sandbox/mock-agency.ts'
import { borderDayRecord, seedHash } from '../sandbox/synthetic-travellers.ts'
import { entryExitBatch } from '../sandbox/sample-messages.ts'
import { freePort, jwks, KEYS_DIR } from '../test/helper.ts'
import { startGatewayProcess } from './lib/gateway-process.ts'
import { MetricsScraper } from '../faults/probes.ts'
import { percentile, withTeardowns, type BenchOptions, type BenchResult } from './lib/common.ts'
import { MB, residentMemory } from './lib/resident-memory.ts'

/**
 * Asks /healthz every `everyMs` until stopped, from a thread of its own: the
 * benchmark's own thread is busy sending batches and taking pushes, and its
 * delays must not be counted as the gateway's. Returns each answer's latency.
 */
function probe(url: string, ca: string, everyMs: number): { stop(): Promise<number[]> } {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads')
    const { Agent, request } = require(workerData.undici)
    const agent = new Agent({ connect: { ca: workerData.ca }, connections: 1 })
    const latencies = []
    let running = true
    parentPort.on('message', () => { running = false })
    ;(async () => {
      while (running) {
        const t0 = performance.now()
        const res = await request(workerData.url + '/healthz', { dispatcher: agent })
        await res.body.text()
        latencies.push(performance.now() - t0)
        await new Promise((r) => setTimeout(r, workerData.everyMs))
      }
      await agent.close()
      parentPort.postMessage(latencies)
    })()
  `,
    { eval: true, workerData: { url, ca, everyMs, undici: createRequire(import.meta.url).resolve('undici') } }
  )
  return {
    stop: () =>
      new Promise<number[]>((resolve, reject) => {
        worker.once('message', (latencies: number[]) => {
          void worker.terminate()
          resolve(latencies)
        })
        worker.once('error', reject)
        worker.postMessage('stop')
      })
  }
}

/**
 * Two processes beside the gateways, as baselines from the same run for the
 * gateways' own event-loop figures. Both measure how late their event loop
 * ran (monitorEventLoopDelay) while the load runs on this 2-core machine,
 * shared by both gateways, their worker threads, Redis, the mock agency and
 * this benchmark:
 * - `idle` does nothing but keep a timer: what the scheduler alone costs a
 *   process that is asleep when its turn comes;
 * - `busy` does 10 ms of CPU work every 50 ms, like a gateway's event loop
 *   with a task of 10 ms: what such a task costs in time, once it has to
 *   share the cores.
 */
function controlProcess(kind: 'idle' | 'busy'): { reset(): Promise<void>; maxMs(): Promise<number>; stop(): void } {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `
    const { monitorEventLoopDelay } = require('node:perf_hooks')
    const h = monitorEventLoopDelay({ resolution: 10 }); h.enable()
    setInterval(() => {
      if (${kind === 'busy'}) { const end = performance.now() + 10; while (performance.now() < end); }
    }, ${kind === 'busy' ? 50 : 1000})
    process.on('message', (m) => { if (m === 'reset') { h.reset(); process.send(0) } else process.send(h.max / 1e6) })
  `
    ],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }
  )
  const ask = (m: string): Promise<number> =>
    new Promise((resolve) => {
      child.once('message', (v) => resolve(v as number))
      child.send(m)
    })
  return {
    reset: async () => {
      await ask('reset')
    },
    maxMs: () => ask('max'),
    stop: () => {
      child.kill()
    }
  }
}

export async function memoryBench(opts: BenchOptions): Promise<BenchResult> {
  // BENCH_MEMORY_LOADS=30: more loads, to tell a working set still settling from growth.
  const loads = opts.smoke ? 1 : opts.quick ? 3 : Math.max(1, Math.trunc(Number(process.env.BENCH_MEMORY_LOADS)) || 10)
  // A smoke run only shows that every figure is computed: one batch of 200.
  const recordsPerLoad = opts.smoke ? 200 : opts.quick ? 5_000 : 20_000
  const batch = Math.min(1_000, recordsPerLoad)
  return withTeardowns(async (t) => {
    const ports = { CA: await freePort(), US: await freePort() }
    const url = { CA: `https://127.0.0.1:${ports.CA}`, US: `https://127.0.0.1:${ports.US}` }
    const cbsa = new AgencyClient(loadAgencyCredentials(KEYS_DIR, 'CA', 'CBSA', 'pik-primary'), url.CA, { connections: 4 })
    t.teardown(() => cbsa.close())
    const cbpClient = new AgencyClient(loadAgencyCredentials(KEYS_DIR, 'US', 'CBP', 'ades'), url.US)
    t.teardown(() => cbpClient.close())
    let received = 0
    const cbp = await startMockAgency({
      client: cbpClient,
      port: 0,
      gatewayJwks: jwks('US'),
      partnerJwks: jwks('CA'),
      matchRate: 0,
      onMessage: (m) => {
        received += (m.payload.records as unknown[] | undefined)?.length ?? 1
      }
    })
    t.teardown(() => cbp.close())
    const us = await startGatewayProcess(t, 'US', ports.US, { PARTNER_URL: url.CA, AGENCY_WEBHOOKS: JSON.stringify({ 'US/CBP/ades': cbp.url }) })
    const ca = await startGatewayProcess(t, 'CA', ports.CA, { PARTNER_URL: url.US })
    const pids = { CA: ca.child.pid!, US: us.child.pid! }
    // The gateway's own event-loop delay (prom-client resets its histogram at
    // each scrape): how long the loop itself was held, apart from the time
    // the probe's request waited for a core on this 2-core machine.
    const scrapers = { CA: new MetricsScraper(url.CA, 'CA'), US: new MetricsScraper(url.US, 'US') }
    t.teardown(() => Promise.all([scrapers.CA.close(), scrapers.US.close()]).then(() => undefined))
    const loopMaxMs = async (c: 'CA' | 'US'): Promise<number> => ((await scrapers[c].scrape()).get('nodejs_eventloop_lag_max_seconds') ?? Number.NaN) * 1000
    const idle = { CA: residentMemory(pids.CA).rss, US: residentMemory(pids.US).rss }
    opts.log(`idle: CA ${(idle.CA / MB).toFixed(0)} MB, US ${(idle.US / MB).toFixed(0)} MB`)

    const day = { seed: seedHash('memory-bench'), recordedBy: 'CA' as const, date: '2026-11-30', count: recordsPerLoad * (loads + 2) }
    const after: Array<{ CA: number; US: number }> = []
    const stalls: number[] = []
    const loopBlocks: number[] = []
    const controlBlocks: number[] = []
    const busyBlocks: number[] = []
    const control = controlProcess('idle')
    const busy = controlProcess('busy')
    t.teardown(() => {
      control.stop()
      busy.stop()
    })
    let expected = 0
    /** The batches of one load, signed. */
    const signLoad = (load: number): Promise<string[]> =>
      Promise.all(
        Array.from({ length: recordsPerLoad / batch }, (_, m) => {
          const first = load * recordsPerLoad + m * batch
          return cbsa.sign(
            cbsa.envelope(
              entryExitBatch(
                `SYN-EE-CA-MEM-${load}-${m}`,
                Array.from({ length: batch }, (_, i) => borderDayRecord(day, first + i))
              )
            )
          )
        })
      )
    const delivered = async (what: string): Promise<void> => {
      const deadline = Date.now() + 300_000
      while (received < expected) {
        if (Date.now() > deadline) throw new Error(`${what}: ${received} of ${expected} records delivered`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    /** While `run` sends: the slowest /healthz, the gateways' longest event-loop delay, and the control processes'. */
    const watched = async (run: () => Promise<void>) => {
      await Promise.all([loopMaxMs('CA'), loopMaxMs('US'), control.reset(), busy.reset()])
      const watch = (['CA', 'US'] as const).map((c) => probe(url[c], readFileSync(join(KEYS_DIR, c, 'ca.crt.pem'), 'utf8'), 20))
      const started = performance.now()
      await run()
      const seconds = (performance.now() - started) / 1000
      const [caLatencies, usLatencies] = await Promise.all(watch.map((w) => w.stop()))
      return {
        seconds,
        healthz: { CA: caLatencies!, US: usLatencies! },
        loop: { CA: await loopMaxMs('CA'), US: await loopMaxMs('US') },
        idleControlMs: await control.maxMs(),
        busyControlMs: await busy.maxMs()
      }
    }
    let saturatedSeconds = 0
    for (let load = 0; load < loads; load++) {
      // Signed before the load starts, so that signing does not pace it.
      const messages = await signLoad(load)
      const w = await watched(async () => {
        let next = 0
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next < messages.length) {
              const res = await cbsa.submit(messages[next++]!)
              if (res.status !== 202) throw new Error(`load ${load}: ${res.status} ${res.body}`)
            }
          })
        )
        expected += recordsPerLoad
        await delivered(`load ${load}`)
      })
      saturatedSeconds += w.seconds
      const latencies = [...w.healthz.CA, ...w.healthz.US]
      stalls.push(Math.max(...latencies))
      loopBlocks.push(Math.max(w.loop.CA, w.loop.US))
      controlBlocks.push(w.idleControlMs)
      busyBlocks.push(w.busyControlMs)
      const sample = { CA: residentMemory(pids.CA).rss, US: residentMemory(pids.US).rss }
      after.push(sample)
      opts.log(
        `load ${load + 1}/${loads}: ${recordsPerLoad} records delivered in ${w.seconds.toFixed(1)} s; RSS CA ${(sample.CA / MB).toFixed(0)} MB, US ${(sample.US / MB).toFixed(0)} MB; ` +
          `slowest /healthz during the load: CA ${Math.max(...w.healthz.CA).toFixed(0)} ms, US ${Math.max(...w.healthz.US).toFixed(0)} ms (p99 of both ${percentile(latencies, 99).toFixed(0)} ms); ` +
          `longest event-loop block: CA ${w.loop.CA.toFixed(0)} ms, US ${w.loop.US.toFixed(0)} ms, an idle process ${w.idleControlMs.toFixed(0)} ms, a process with 10 ms tasks ${w.busyControlMs.toFixed(0)} ms`
      )
    }

    // Half capacity. The loads above send as fast as the gateways take them,
    // so both cores are always full and every request, the probe's included,
    // waits its turn for one: what the idle control process measures too.
    // A stall is one request holding up the others; it shows where there is
    // room to answer at once. The same batches, one at a time at half the
    // rate the loads above were delivered at, as at a border that is busy but
    // not overrun (the soak runs at half capacity too).
    const capacity = (loads * recordsPerLoad) / saturatedSeconds
    const everyMs = (1000 * batch) / (capacity / 2)
    const pacedLoads = opts.quick ? 1 : 2
    const paced: Array<Awaited<ReturnType<typeof watched>>> = []
    for (let load = loads; load < loads + pacedLoads; load++) {
      const messages = await signLoad(load)
      const w = await watched(async () => {
        const start = performance.now()
        await Promise.all(
          messages.map(async (jws, m) => {
            await new Promise((r) => setTimeout(r, Math.max(0, start + m * everyMs - performance.now())))
            const res = await cbsa.submit(jws)
            if (res.status !== 202) throw new Error(`paced load ${load}: ${res.status} ${res.body}`)
          })
        )
        expected += recordsPerLoad
        await delivered(`paced load ${load}`)
      })
      paced.push(w)
      opts.log(
        `paced load ${load + 1 - loads}/${pacedLoads}: a batch of ${batch} every ${everyMs.toFixed(0)} ms (half of ${capacity.toFixed(0)} records/s); ` +
          `slowest /healthz: CA ${Math.max(...w.healthz.CA).toFixed(0)} ms, US ${Math.max(...w.healthz.US).toFixed(0)} ms; ` +
          `longest event-loop block: CA ${w.loop.CA.toFixed(0)} ms, US ${w.loop.US.toFixed(0)} ms, an idle process ${w.idleControlMs.toFixed(0)} ms, a process with 10 ms tasks ${w.busyControlMs.toFixed(0)} ms`
      )
    }
    const pacedStall = Math.max(...paced.flatMap((w) => [...w.healthz.CA, ...w.healthz.US]))
    const pacedBlock = Math.max(...paced.flatMap((w) => [w.loop.CA, w.loop.US]))
    const pacedIdle = Math.max(...paced.map((w) => w.idleControlMs))
    const peak = { CA: residentMemory(pids.CA).peak, US: residentMemory(pids.US).peak }
    const growth = (c: 'CA' | 'US'): number => after[after.length - 1]![c] / after[0]![c]
    const worstStall = Math.max(...stalls)
    const worstBlock = Math.max(...loopBlocks)
    const worstControl = Math.max(...controlBlocks)
    const worstBusy = Math.max(...busyBlocks)
    return {
      bench: 'memory',
      figures: [
        {
          // docs/architecture.md, "Targets": a border day, 200,000 entry/exit records, in 60 s.
          name: `a border day: ${loads * recordsPerLoad} entry/exit records CA → US in batches of ${batch}, delivered to the agency and audited in both ledgers`,
          value: saturatedSeconds,
          unit: 's',
          target: '≤ 60 s for 200,000',
          met: loads * recordsPerLoad >= 200_000 && saturatedSeconds <= 60,
          extra: `${capacity.toFixed(0)} records/s; the ${loads} loads above, back to back, each timed from its first submission to its last record at the agency`
        },
        { name: 'peak RSS, CA gateway (sending)', value: peak.CA / MB, unit: 'MB', target: '≤ 300 MB', met: peak.CA <= 300 * MB },
        { name: 'peak RSS, US gateway (receiving)', value: peak.US / MB, unit: 'MB', target: '≤ 300 MB', met: peak.US <= 300 * MB },
        {
          name: `RSS after load ${loads} / after load 1, CA`,
          value: growth('CA'),
          unit: '×',
          ratio: growth('CA'),
          target: 'flat (≤ 1.10×)',
          met: growth('CA') <= 1.1,
          extra: `${after.map((a) => (a.CA / MB).toFixed(0)).join(', ')} MB`
        },
        {
          name: `RSS after load ${loads} / after load 1, US`,
          value: growth('US'),
          unit: '×',
          ratio: growth('US'),
          target: 'flat (≤ 1.10×)',
          met: growth('US') <= 1.1,
          extra: `${after.map((a) => (a.US / MB).toFixed(0)).join(', ')} MB`
        },
        {
          name: `slowest /healthz answer, either gateway, batches of ${batch.toLocaleString('en')} at half capacity`,
          value: pacedStall,
          unit: 'ms',
          target: '≤ 100 ms',
          met: pacedStall <= 100
        },
        {
          name: 'longest event-loop delay inside either gateway (nodejs_eventloop_lag_max_seconds), at half capacity',
          value: pacedBlock,
          unit: 'ms',
          target: '≤ 100 ms',
          met: pacedBlock <= 100,
          baseline: { name: 'the same, an idle process beside them', value: pacedIdle, unit: 'ms' },
          ratio: pacedBlock / pacedIdle
        },
        {
          name: `slowest /healthz answer, either gateway, batches of ${batch.toLocaleString('en')} as fast as they are taken (both cores full)`,
          value: worstStall,
          unit: 'ms',
          extra: 'queueing for a core, not one request holding the others: see the idle process below'
        },
        {
          name: 'longest event-loop delay inside either gateway, both cores full',
          value: worstBlock,
          unit: 'ms',
          baseline: { name: 'the same, an idle process beside them', value: worstControl, unit: 'ms' },
          ratio: worstBlock / worstControl
        },
        {
          name: 'longest event-loop delay of a process beside them that runs 10 ms tasks, both cores full',
          value: worstBusy,
          unit: 'ms',
          extra: "what a 10 ms task costs on these shared cores: the scale of the gateways' figure"
        }
      ],
      notes: [
        `${loads} loads of ${recordsPerLoad} records in batches of ${batch}, CA → US, both gateways as processes; idle RSS CA ${(idle.CA / MB).toFixed(0)} MB, US ${(idle.US / MB).toFixed(0)} MB`
      ],
      details: {
        loads,
        recordsPerLoad,
        batch,
        idle,
        after,
        peak,
        stalls,
        loopBlocks,
        controlBlocks,
        busyBlocks,
        capacity,
        pacedEveryMs: everyMs,
        paced: paced.map((w) => ({
          seconds: w.seconds,
          slowestHealthz: Math.max(...w.healthz.CA, ...w.healthz.US),
          loop: w.loop,
          idleControlMs: w.idleControlMs,
          busyControlMs: w.busyControlMs
        }))
      }
    }
  })
}
