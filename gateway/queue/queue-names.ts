// The delivery queues' names: this object is their one source. The queues
// themselves (delivery-queues.ts), their workers (plugins/delivery.ts), the
// operations API's `queue` parameter, the metrics' `queue` label and the
// dead-letters CLI's usage all read it. No BullMQ here: the CLI imports it.
import type { Direction } from '../store/records.ts'

/** Outbound goes to the partner gateway; inbound is pushed to a local agency. */
export const QUEUE_NAMES = {
  outbound: 'partner-delivery',
  inbound: 'agency-push'
} as const satisfies Record<Direction, string>

export type QueueName = (typeof QUEUE_NAMES)[Direction]

/** Every direction, in the order of QUEUE_NAMES: outbound, then inbound. */
export const DIRECTIONS = Object.keys(QUEUE_NAMES) as readonly Direction[]

/** Every queue, in the same order. */
export const QUEUES: readonly QueueName[] = DIRECTIONS.map((direction) => QUEUE_NAMES[direction])

export function queueOf(direction: Direction): QueueName {
  return QUEUE_NAMES[direction]
}

export function directionOf(queue: QueueName): Direction {
  return DIRECTIONS.find((direction) => QUEUE_NAMES[direction] === queue)!
}
