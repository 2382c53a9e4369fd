// The process's own metrics (CPU, memory, event-loop delay, garbage
// collection) are collected once per process, however many gateways it
// builds: prom-client's collectors keep a 10 ms timer and a GC observer each
// for the life of the process, and the tests build hundreds of apps in their
// processes (docs/measurements.md, "The thirty-eighth session's full run").
import t from 'tap'
import { readFileSync } from 'node:fs'
import { GatewayMetrics, type MetricsSources } from '../gateway/observability/gateway-metrics.ts'

const IDLE_BUDGET = { limit: 0, inHand: 0, waiting: 0 }
const SOURCES: MetricsSources = {
  queueDepths: async () => [],
  deadLetters: async () => ({}),
  certificates: () => [],
  deliveryBudget: () => IDLE_BUDGET,
  intakeBudget: () => IDLE_BUDGET,
  partnerIntakeBudget: () => IDLE_BUDGET,
  trustReloads: () => ({ applied: 0, refused: 0, lastRefused: false }),
  onError: () => {}
}

/** How many times the main thread has gone to sleep and been woken: each firing of a timer on an idle loop is one. */
function mainThreadWakeups(): number {
  const status = readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8')
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)![1])
}

t.test('forty gateways in one process keep one event-loop delay timer, not forty', async (t) => {
  const gateways: GatewayMetrics[] = []
  t.teardown(() => {
    for (const g of gateways) g.close()
  })
  // Built a millisecond apart, as a test builds its apps over time, so that forty timers would fire at different moments of each 10 ms.
  for (let i = 0; i < 40; i++) {
    gateways.push(new GatewayMetrics(SOURCES))
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const before = mainThreadWakeups()
  await new Promise((resolve) => setTimeout(resolve, 500))
  const wakeups = mainThreadWakeups() - before
  // One 10 ms timer wakes an idle loop about 50 times in 500 ms; forty started a millisecond apart, 116 and 181 times in two runs here (their firings partly coincide).
  t.ok(wakeups < 90, `${wakeups} wakeups of the idle event loop in 500 ms`)
})

t.test("each gateway's scrape still has the process's metrics, and its own", async (t) => {
  const [a, b] = [new GatewayMetrics(SOURCES), new GatewayMetrics(SOURCES)]
  t.teardown(() => {
    a.close()
    b.close()
  })
  for (const text of [await a.scrape(), await b.scrape()]) {
    t.match(text, /^process_cpu_user_seconds_total \d/m, 'process CPU')
    t.match(text, /^nodejs_eventloop_lag_p99_seconds \d/m, 'event-loop delay')
    t.match(text, /^# TYPE btb_messages_total counter$/m, "the gateway's own")
    t.equal(text.match(/^# TYPE process_cpu_user_seconds_total /gm)?.length, 1, 'each family once')
  }
  a.close()
  t.match(await b.scrape(), /^nodejs_eventloop_lag_p99_seconds \d/m, "one gateway's close leaves the process's metrics to the other")
})
