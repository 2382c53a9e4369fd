// Where a JWS signature is made or checked: on the event loop, or, while the
// event loop is busy, on libuv's thread pool (node:crypto's callback forms).
// An ES256 verification costs about 70 µs of CPU and a signature about 30
// (docs/measurements.md, "The floors of a submission and of a message"), and
// every submission needs one of each. Under more load than the event loop can
// take, the event loop is the one thread every request passes through; with
// the two on the pool it took 10–13 % more submissions at 64 connections.
// Below that load the hand-over costs more than it frees (another thread
// woken, a callback): a delivery run end to end, whose event loops are not
// saturated, was 5 % slower with every signature on the pool. So the work
// moves only while the event loop is busy (docs/architecture.md, "Where the
// missed targets stand"). Each thread reads its own event loop: a pipeline
// worker thread (pipeline/pipeline-pool.ts) decides for itself.
import { sign, verify, type KeyObject } from 'node:crypto'
import { performance, type EventLoopUtilization } from 'node:perf_hooks'

/** The share of the last window the event loop spent running, from which the work moves off it. */
export const BUSY_UTILIZATION = 0.8
/** How often that share is read: often enough to follow a load as it comes and goes, seldom enough to cost nothing. */
export const WINDOW_MS = 50
/**
 * The most bytes signed or checked on the pool. node:crypto copies what a
 * job on the pool signs, and a batch of a thousand designations is about a
 * megabyte: under the NEXUS roster those copies put each gateway's peak
 * 10–23 MB higher, past its 300 MB (docs/measurements.md, "Signatures off a
 * busy event loop"). A payload that large is hashed more than it is signed,
 * and is prepared on a pipeline thread anyway (PIPELINE_WORKER_MIN_BYTES).
 */
export const POOL_MAX_BYTES = 64 * 1024

let window: EventLoopUtilization = performance.eventLoopUtilization()
let windowStart = performance.now()
let busy = false

/** Whether this thread's event loop ran at least BUSY_UTILIZATION of the last window (the one before, until WINDOW_MS has passed). */
export function eventLoopBusy(): boolean {
  const now = performance.now()
  if (now - windowStart >= WINDOW_MS) {
    busy = performance.eventLoopUtilization(window).utilization >= BUSY_UTILIZATION
    window = performance.eventLoopUtilization()
    windowStart = now
  }
  return busy
}

/** node:crypto's sign: in place, or on the pool while the event loop is busy and the data small. `algorithm` null for Ed25519. */
export function signBytes(algorithm: 'sha256' | null, data: Uint8Array, key: KeyObject): Buffer | Promise<Buffer> {
  if (data.byteLength > POOL_MAX_BYTES || !eventLoopBusy()) return sign(algorithm, data, key)
  return new Promise((resolve, reject) => {
    sign(algorithm, data, key, (err, signature) => (err === null ? resolve(signature) : reject(err)))
  })
}

/** node:crypto's verify: in place, or on the pool while the event loop is busy and the data small. Throws (or rejects) as verify does. */
export function verifyBytes(algorithm: 'sha256' | null, data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean | Promise<boolean> {
  if (data.byteLength > POOL_MAX_BYTES || !eventLoopBusy()) return verify(algorithm, data, key, signature)
  return new Promise((resolve, reject) => {
    verify(algorithm, data, key, signature, (err, valid) => (err === null ? resolve(valid) : reject(err)))
  })
}
