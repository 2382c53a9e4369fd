// A TCP proxy between a gateway and its partner that can refuse connections:
// while it refuses, every connection is cut before TLS, so an attempt surely
// did not reach the partner (`mayHaveArrived` false; docs/integrators.md,
// "Corrections and retractions"). It listens before the partner does: a test
// points the sending gateway's PARTNER_URL at it, then names the partner's
// port once the partner is listening.
import { connect, createServer, type Socket } from 'node:net'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface RefusingProxy {
  /** `https://127.0.0.1:<port>`: what the sending gateway takes for its partner. */
  readonly url: string
  /** The partner's port, once it listens; until then every connection is cut. */
  forwardTo(port: number): void
  /** While on, open connections are cut and new ones refused. */
  refuse(on: boolean): void
}

export async function refusingProxy(t: Teardown): Promise<RefusingProxy> {
  let target: number | undefined
  let refusing = false
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  }
  const server = createServer((downstream) => {
    if (refusing || target === undefined) {
      downstream.destroy()
      return
    }
    const upstream = connect({ host: '127.0.0.1', port: target })
    track(downstream)
    track(upstream)
    downstream.pipe(upstream)
    upstream.pipe(downstream)
    const cut = () => {
      downstream.destroy()
      upstream.destroy()
    }
    for (const s of [downstream, upstream]) {
      s.on('error', cut)
      s.on('close', cut)
    }
  })
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening))
  t.teardown(
    () =>
      new Promise<void>((closed) => {
        for (const s of sockets) s.destroy()
        server.close(() => closed())
      })
  )
  const { port } = server.address() as { port: number }
  return {
    url: `https://127.0.0.1:${port}`,
    forwardTo(port) {
      target = port
    },
    refuse(on) {
      refusing = on
      if (on) for (const s of sockets) s.destroy()
    }
  }
}
