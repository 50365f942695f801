import type { Channel, Options } from 'amqplib'
import { deliverableEventTypes } from './events.js'

/** Routing key of every delivery task; the deliveries exchange is direct so retries route back here. */
export const DELIVERY_ROUTING_KEY = 'task'

/** How often the broker redelivers a message whose consumer died before giving up on it as poison. */
export const POISON_DELIVERY_LIMIT = 10

/**
 * The names of every exchange and queue, derived from the namespace so that deployments and test
 * runs share a broker without colliding.
 */
export function topologyNames(namespace: string) {
  return {
    eventsExchange: `${namespace}.events`,
    dispatcherEventsQueue: `${namespace}.dispatcher.events`,
    deliveriesExchange: `${namespace}.deliveries`,
    deliveriesQueue: `${namespace}.deliveries`,
    retryExchange: `${namespace}.retry`,
    deadLetterExchange: `${namespace}.dead-letter`,
    deadLettersQueue: `${namespace}.dead-letters`,
    retryQueue: (delayMs: number) => `${namespace}.retry.${retryLabel(delayMs)}`,
  }
}
export type TopologyNames = ReturnType<typeof topologyNames>

/** `5000` → `5s`, `120000` → `2m`, `1500` → `1500ms`: queue names an operator can read. */
export function retryLabel(delayMs: number): string {
  if (!Number.isInteger(delayMs) || delayMs <= 0) throw new RangeError(`retry delay must be a positive integer of milliseconds, got ${delayMs}`)
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (delayMs % size === 0) return `${delayMs / size}${unit}`
  }
  return `${delayMs}ms`
}

function quorumWorkQueue(deadLetterExchange: string): Options.AssertQueue {
  return {
    // Survives a broker restart; the messages in it are persistent too.
    durable: true,
    arguments: {
      // Replicated (Raft) queue: a broker node can fail without losing accepted work.
      'x-queue-type': 'quorum',
      // A message whose consumer keeps dying (a poison message, a crash loop) is redelivered this
      // many times, then dead-lettered instead of looping forever.
      'x-delivery-limit': POISON_DELIVERY_LIMIT,
      // Where poison messages go, with the broker's x-death/x-first-death-reason headers.
      'x-dead-letter-exchange': deadLetterExchange,
      // Dead-lettering that is itself confirmed: a dead letter is not dropped if the target is busy.
      'x-dead-letter-strategy': 'at-least-once',
      // Required by at-least-once dead-lettering: refuse new publishes rather than drop the oldest.
      'x-overflow': 'reject-publish',
    },
  }
}

export interface TopologyOptions {
  /** One TTL queue per distinct delay; the dispatcher derives them from RETRY_SCHEDULE. */
  retryDelaysMs?: readonly number[]
}

/**
 * Declares the whole topology idempotently. Publishers call it too, so an event published before the
 * first dispatcher starts already has a queue to wait in instead of being dropped as unroutable.
 */
export async function declareTopology(channel: Channel, namespace: string, options: TopologyOptions = {}): Promise<TopologyNames> {
  const names = topologyNames(namespace)

  // Every exchange is durable: a non-durable one vanishes on a broker restart, and publishes to it
  // then fail (404) until something declares it again, while its bindings are lost for good.
  const durableExchange: Options.AssertExchange = { durable: true }
  // Topic: the routing key is the event type, so consumers bind to exactly the types they handle.
  await channel.assertExchange(names.eventsExchange, 'topic', durableExchange)
  // Direct, one routing key: new tasks and retries that expire from their tier land in one queue.
  await channel.assertExchange(names.deliveriesExchange, 'direct', durableExchange)
  // Direct: the routing key is the tier label, so one exchange serves every retry delay.
  await channel.assertExchange(names.retryExchange, 'direct', durableExchange)
  // Fanout: every dead letter, whatever its origin, goes to the one archive queue.
  await channel.assertExchange(names.deadLetterExchange, 'fanout', durableExchange)

  await channel.assertQueue(names.dispatcherEventsQueue, quorumWorkQueue(names.deadLetterExchange))
  for (const type of deliverableEventTypes) {
    await channel.bindQueue(names.dispatcherEventsQueue, names.eventsExchange, type)
  }

  await channel.assertQueue(names.deliveriesQueue, quorumWorkQueue(names.deadLetterExchange))
  await channel.bindQueue(names.deliveriesQueue, names.deliveriesExchange, DELIVERY_ROUTING_KEY)

  // The end of the line: no dead-letter exchange of its own (nowhere further to go), no delivery
  // limit (the archiver must see every one), consumed by the archiver.
  await channel.assertQueue(names.deadLettersQueue, {
    // Dead letters are what operators replay: they survive a broker restart.
    durable: true,
    // Replicated like the work queues: a failed node must not lose the only copy of a failure.
    arguments: { 'x-queue-type': 'quorum' },
  })
  await channel.bindQueue(names.deadLettersQueue, names.deadLetterExchange, '')

  for (const delayMs of new Set(options.retryDelaysMs ?? [])) {
    const queue = names.retryQueue(delayMs)
    await channel.assertQueue(queue, {
      // A waiting retry is accepted work: it survives a broker restart.
      durable: true,
      arguments: {
        // Replicated, like the work queues: waiting retries survive the loss of a node.
        'x-queue-type': 'quorum',
        // Every message waits exactly this long; one queue per delay means no head-of-line blocking.
        'x-message-ttl': delayMs,
        // When the wait is over the broker routes the task back to the deliveries queue.
        'x-dead-letter-exchange': names.deliveriesExchange,
        'x-dead-letter-routing-key': DELIVERY_ROUTING_KEY,
        // A retry is never dropped on its way back, even if the deliveries queue pushes back.
        'x-dead-letter-strategy': 'at-least-once',
        // Required by at-least-once dead-lettering: refuse new publishes rather than drop the oldest.
        'x-overflow': 'reject-publish',
      },
    })
    await channel.bindQueue(queue, names.retryExchange, retryLabel(delayMs))
  }
  return names
}
