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
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-old-space-size=128', '--max-semi-space-size=4']
