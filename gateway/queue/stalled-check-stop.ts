// A closed BullMQ worker must let its process exit (docs/architecture.md,
// "Runtime", Redis).
//
// BullMQ's Worker (5.x) checks for stalled jobs in a loop: it runs the check
// (a Redis script), then waits `stalledInterval` on a timer whose stopper it
// keeps in `stalledCheckStopper`, and close() calls that stopper. A close()
// that lands while the check's script is in flight finds no stopper, or the
// previous round's; the loop then starts one more wait, which nothing stops,
// and the closed worker holds its process open for a whole interval (30 s by
// BullMQ's default). The gateway's own process exits on its own after closing
// (close-with-grace), but an app closed in a process that carries on (the
// sandbox, the tests, the bench) lingered that long after its work was done.
import type { Worker } from 'bullmq'

/**
 * Makes a stopper that the stalled-check loop sets once `worker` is closing
 * run at once, so the loop ends instead of waiting. Returns the worker.
 * `test/queue-worker-close.test.ts` fails if a BullMQ upgrade renames what
 * this relies on.
 */
export function stopStalledCheckOnClose<W extends Worker>(worker: W): W {
  let stopper: (() => void) | undefined
  Object.defineProperty(worker, 'stalledCheckStopper', {
    configurable: true,
    get: () => stopper,
    set: (stop: (() => void) | undefined) => {
      stopper = stop
      if (stop !== undefined && worker.closing !== undefined) stop()
    }
  })
  return worker
}
