// A TCP proxy on loopback between the two gateways. TLS goes through it
// untouched (the gateways pin each other's certificates, so nothing in the
// middle could terminate it); what it can do is delay every chunk by a set
// latency in each direction, which is the "partner 500 ms slower each way"
// fault, and count the connections made through it. It is in the path for
// every fault, latency 0 unless the slow-partner fault turns it up, so that
// all faults run on the same topology.
import { createServer, connect, type Server, type Socket } from 'node:net'

interface Pending {
  readonly due: number
  readonly chunk: Buffer | null // null: the sender ended its side
}

/**
 * One direction of one connection: chunks leave `delayMs` after they
 * arrived, in order. Latency, not bandwidth: a chunk never waits for the one
 * before it longer than that one's own delay.
 */
class DelayedPipe {
  readonly #to: Socket
  readonly #delay: () => number
  readonly #queue: Pending[] = []
  #timer: NodeJS.Timeout | undefined

  constructor(from: Socket, to: Socket, delay: () => number) {
    this.#to = to
    this.#delay = delay
    from.on('data', (chunk: Buffer) => this.#push(chunk))
    from.on('end', () => this.#push(null))
  }

  #push(chunk: Buffer | null): void {
    const delay = this.#delay()
    if (delay === 0 && this.#queue.length === 0) {
      this.#write(chunk)
      return
    }
    this.#queue.push({ due: Date.now() + delay, chunk })
    this.#schedule()
  }

  #write(chunk: Buffer | null): void {
    if (this.#to.destroyed) return
    if (chunk === null) this.#to.end()
    else this.#to.write(chunk)
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        const now = Date.now()
        while (this.#queue.length > 0 && this.#queue[0]!.due <= now) this.#write(this.#queue.shift()!.chunk)
        this.#schedule()
      },
      Math.max(0, this.#queue[0]!.due - Date.now())
    )
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#queue.length = 0
  }
}

export class LatencyProxy {
  readonly #target: { host: string; port: number }
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  /** Added to each direction, in ms. */
  delayMs = 0
  /** TCP connections accepted, and how many of them reached the target. */
  connections = 0
  connected = 0
  port = 0

  constructor(targetPort: number) {
    this.#target = { host: '127.0.0.1', port: targetPort }
    // Half-open: each side's end is passed on by its pipe, after the delayed
    // data, rather than answered at once by Node.
    this.#server = createServer({ allowHalfOpen: true }, (client) => this.#relay(client))
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((ok) => this.#server.listen(port, '127.0.0.1', ok))
    this.port = (this.#server.address() as { port: number }).port
  }

  #relay(client: Socket): void {
    this.connections++
    const upstream = connect({ ...this.#target, allowHalfOpen: true })
    this.#sockets.add(client)
    this.#sockets.add(upstream)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    const pipes = [new DelayedPipe(client, upstream, () => this.delayMs), new DelayedPipe(upstream, client, () => this.delayMs)]
    upstream.once('connect', () => {
      this.connected++
    })
    // A side that fails (the target was killed and reset the connection,
    // the client gave up) ends both at once: the gateway sees a reset, as it
    // would without us. A side that ends in order (FIN) is passed on through
    // its pipe, after the data still in it, so a delayed answer followed by
    // `Connection: close` still arrives.
    const fail = (): void => {
      for (const p of pipes) p.stop()
      client.destroy()
      upstream.destroy()
    }
    client.on('error', fail)
    upstream.on('error', fail)
    client.on('close', () => this.#sockets.delete(client))
    upstream.on('close', () => this.#sockets.delete(upstream))
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((ok) => this.#server.close(() => ok()))
  }
}
