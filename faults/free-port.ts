// Free loopback ports for the processes the harness and the tests start. A
// module of its own, with nothing but node:net: most test files need a port
// and nothing else of faults/processes.ts, whose Redis and HTTP clients cost
// a process about 0.2 s of CPU to load (docs/architecture.md, "The test
// suite").
import { createServer } from 'node:net'

/**
 * Ports are taken below the kernel's ephemeral range (32768–60999 here): a
 * port the kernel hands out for `listen(0)` is also one it may pick as the
 * source port of any outgoing connection, and with eight exchanges starting
 * at once one did, between the probe and the gateway's own listen
 * (EADDRINUSE). Below that range only an explicit bind takes a port, and
 * this process never hands out the same one twice.
 */
const PORT_RANGE = portRange(process.env.TAP_JOB_ID)
const handedOut = new Set<number>()

/**
 * The ports this process may hand out. Under tap, each of the test files
 * running at once has its own slice, by its job slot (`TAP_JOB_ID`, unique
 * among the files running at the same time): two files picking at random from
 * one range each found the same port free and both listened on it (the
 * console test's sandbox failed EADDRINUSE so, four files at a time).
 * Processes a test starts inherit its slot and its slice. Outside tap, the
 * whole range.
 */
export function portRange(jobId: string | undefined): { from: number; to: number } {
  const whole = { from: 20_000, to: 32_000 }
  if (jobId === undefined || !/^\d+$/.test(jobId)) return whole
  const slices = 8
  const size = Math.floor((whole.to - whole.from) / slices)
  const from = whole.from + (Number(jobId) % slices) * size
  return { from, to: from + size }
}

/** A port nothing listens on right now, on loopback, not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from))
    if (handedOut.has(port)) continue
    const server = createServer()
    const free = await new Promise<boolean>((ok) => {
      server.once('error', () => ok(false))
      server.listen(port, '127.0.0.1', () => ok(true))
    })
    if (!free) continue
    await new Promise<void>((ok) => server.close(() => ok()))
    handedOut.add(port)
    return port
  }
}
