// How the gateway's BullMQ workers close when it stops (docs/operators.md,
// "Shutdown").
//
// Closed gracefully, a worker takes no new job and waits for the jobs in
// hand. But BullMQ 5 first ends its blocking connection and waits to hear it
// has ended, and an ioredis client that lost Redis and is waiting to connect
// again never says so: with Redis down, the close waited until Redis came
// back, and a stopping gateway until SHUTDOWN_TIMEOUT_MS ended it with exit 1.
// With Redis not answering nothing of a job in hand could be recorded there
// anyway, so the workers then close at once. Their messages are still in the
// outbox, and the next process delivers them once (the receiving side answers
// a repeat as such).
import type { Queue, Worker } from 'bullmq'

/** How long a close waits for Redis to answer before it counts Redis as down. */
const ANSWER_WAIT_MS = 1_000

/** What a close asks Redis through: a queue's count of waiting jobs, one command, as `/readyz` asks it. */
type Probe = Pick<Queue, 'getWaitingCount'>

/**
 * Whether Redis answers on `queue`'s connection within `waitMs`. The
 * connection should be a producer's, with no offline queue: a Redis that is
 * down then fails the command at once, and only one that stopped answering
 * (paused, cut off) takes the whole wait.
 */
export async function redisAnswers(queue: Probe, waitMs = ANSWER_WAIT_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, waitMs, false)
  })
  try {
    return await Promise.race([
      queue.getWaitingCount().then(
        () => true,
        () => false
      ),
      late
    ])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Closes `workers`: gracefully while Redis answers on `probe`'s connection,
 * at once when it does not. Resolves to whether they were closed at once.
 */
export async function closeWorkers(workers: readonly Worker[], probe: Probe): Promise<boolean> {
  if (workers.length === 0) return false
  const atOnce = !(await redisAnswers(probe))
  await Promise.all(workers.map((w) => w.close(atOnce)))
  return atOnce
}
