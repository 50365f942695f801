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

/** An exchange to declare: its name, its kind and whether it survives a broker restart. */
export interface ExchangeDeclaration {
  name: string
  type: 'topic' | 'direct' | 'fanout'
  options: { durable: boolean }
}

/** A queue to declare, with the broker arguments that make it what it is (x-queue-type, TTL, dead-lettering). */
export interface QueueDeclaration {
  name: string
  options: { durable: boolean; arguments: Record<string, string | number> }
}

export interface BindingDeclaration {
  queue: string
  exchange: string
  routingKey: string
}

/**
 * The whole broker topology as data: what a broker client declares on every (re)connect, in this
 * order (exchanges, then queues, then bindings). @arrivals/messaging applies it.
 */
export interface BrokerTopology {
  exchanges: ExchangeDeclaration[]
  queues: QueueDeclaration[]
  bindings: BindingDeclaration[]
}

function quorumWorkQueue(name: string, deadLetterExchange: string): QueueDeclaration {
  return {
    name,
    options: {
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
    },
  }
}

export interface TopologyOptions {
  /** One TTL queue per distinct delay; the dispatcher derives them from RETRY_SCHEDULE. */
  retryDelaysMs?: readonly number[]
}

/**
 * The topology of a namespace (a pure function). Publishers declare it too, so an event published
 * before the first dispatcher starts already has a queue to wait in instead of being dropped as
 * unroutable; only the dispatcher passes the retry delays, since only it publishes retries.
 */
export function brokerTopology(namespace: string, options: TopologyOptions = {}): BrokerTopology {
  const names = topologyNames(namespace)
  // Every exchange is durable: a non-durable one vanishes on a broker restart, and publishes to it
  // then fail (404) until something declares it again, while its bindings are lost for good.
  const durable = { durable: true }
  const exchanges: ExchangeDeclaration[] = [
    // Topic: the routing key is the event type, so consumers bind to exactly the types they handle.
    { name: names.eventsExchange, type: 'topic', options: durable },
    // Direct, one routing key: new tasks and retries that expire from their tier land in one queue.
    { name: names.deliveriesExchange, type: 'direct', options: durable },
    // Direct: the routing key is the tier label, so one exchange serves every retry delay.
    { name: names.retryExchange, type: 'direct', options: durable },
    // Fanout: every dead letter, whatever its origin, goes to the one archive queue.
    { name: names.deadLetterExchange, type: 'fanout', options: durable },
  ]
  const queues: QueueDeclaration[] = [
    quorumWorkQueue(names.dispatcherEventsQueue, names.deadLetterExchange),
    quorumWorkQueue(names.deliveriesQueue, names.deadLetterExchange),
    // The end of the line: no dead-letter exchange of its own (nowhere further to go), no delivery
    // limit (the archiver must see every one), consumed by the archiver.
    {
      name: names.deadLettersQueue,
      options: {
        // Dead letters are what operators replay: they survive a broker restart.
        durable: true,
        // Replicated like the work queues: a failed node must not lose the only copy of a failure.
        arguments: { 'x-queue-type': 'quorum' },
      },
    },
  ]
  const bindings: BindingDeclaration[] = [
    ...deliverableEventTypes.map((type) => ({ queue: names.dispatcherEventsQueue, exchange: names.eventsExchange, routingKey: type })),
    { queue: names.deliveriesQueue, exchange: names.deliveriesExchange, routingKey: DELIVERY_ROUTING_KEY },
    { queue: names.deadLettersQueue, exchange: names.deadLetterExchange, routingKey: '' },
  ]
  for (const delayMs of new Set(options.retryDelaysMs ?? [])) {
    const queue = names.retryQueue(delayMs)
    queues.push({
      name: queue,
      options: {
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
      },
    })
    bindings.push({ queue, exchange: names.retryExchange, routingKey: retryLabel(delayMs) })
  }
  return { exchanges, queues, bindings }
}
