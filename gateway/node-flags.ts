// The V8 heap limits a gateway process runs with: `npm start`, the sandbox,
// the Docker image and the tests that start gateway processes all pass these
// (test/node-flags.test.ts checks package.json and the Dockerfile agree).
//
// V8 sizes its heap for throughput by default and gives little back: a gateway
// grew from 236 MB idle to 415 MB after three 5,000-record loads, and kept it.
// With the old generation capped at 128 MB and a 4 MB semi-space, it holds
// 240–257 MB at its peak under the same loads and stays flat (npm run bench
// -- --only memory). The pipeline worker threads inherit the same limits.
// Messages are held as strings on the event loop's thread and parsed on a
// worker, one at a time each (pipeline/pipeline-pool.ts), so the largest
// message the contract allows (8 MiB) fits with room to spare.
//
// Below a 256 MB heap limit V8 lets the old generation grow only 1.3 times
// its live size before the next full collection: under a steady load (30 MB
// live) each gateway ran one every 2.4 s, and the messages around each one
// were the slowest of the run. Letting it grow to twice its live size (still
// within the 128 MB) ran them every 6–8 s: five alternated pairs of the
// delivery bench gave medians of 279 against 227 messages/s and a
// submit→push p99 of 74 against 132 ms, the roster took 270 s against
// 324–325, for 15–30 MB more at the peaks (docs/measurements.md, "Full
// collections spaced out"). A V8 flag, not Node's: a Node whose V8 drops it
// refuses to start, which every test that starts a gateway process shows.
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-old-space-size=128', '--max-semi-space-size=4', '--heap-growing-percent=100']

/**
 * And the environment it runs in. glibc gives each thread that allocates its
 * own malloc arena, and a gateway has several threads (the event loop, the
 * ledger's thread, the pipeline workers, libuv's pool), each passing
 * megabyte-sized buffers (a batch, its sealed copy): memory freed in one arena
 * is not reused by another, and the receiving gateway's RSS crept from 250 to
 * 293 MB over ten loads of 20,000 records (1.17×, peak 300 MB). With two
 * arenas it stayed at 240–257 MB (0.96×, peak 267 MB) in the same benchmark
 * (docs/operators.md, "Faults, soak and memory").
 *
 * glibc also raises its mmap threshold each time a large block it mapped is
 * freed, up to 32 MiB, so that later batches, their sealed copies and their
 * clones between threads come from the arenas, which keep the freed megabytes
 * resident. Holding the threshold at 1 MiB sends each block of a megabyte or
 * more to `mmap` and back: since batches are deflated before they are sealed
 * there are few of them, and under the NEXUS roster the receiving gateway
 * peaked at 273–282 MB in three runs against 293–295 MB in three without it,
 * in the same time (160–166 s against 155–164 s; docs/measurements.md,
 * "Speed and memory").
 */
export const GATEWAY_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '1048576' }
