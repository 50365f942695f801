import type { BrokerTopology, QueueDeclaration } from '@arrivals/contracts'
import type { Channel } from 'amqplib'

/** RabbitMQ reads these only when it creates a queue, yet refuses a redeclare that differs in them. */
const CREATION_ONLY_ARGUMENTS = ['x-quorum-initial-group-size']

/**
 * Declares a queue as given and says whether it could (true), or false when the queue exists and
 * differs only in an argument that counts at creation (PRECONDITION_FAILED naming it). Any other
 * refusal is thrown. The broker client runs it on a channel of its own, which a refusal closes.
 */
export type QueueProbe = (queue: QueueDeclaration) => Promise<boolean>

/**
 * Declares a topology (contracts' `brokerTopology`) idempotently: exchanges, then queues, then bindings.
 * A queue with creation-only arguments goes through `probe` first: a queue made before those
 * arguments were added is then declared without them instead of being refused, so an upgrade needs
 * no queue migration (the replica count of such a queue is what it was created with).
 */
export async function applyTopology(
  channel: Pick<Channel, 'assertExchange' | 'assertQueue' | 'bindQueue'>,
  topology: BrokerTopology,
  probe?: QueueProbe,
): Promise<void> {
  for (const exchange of topology.exchanges) await channel.assertExchange(exchange.name, exchange.type, exchange.options)
  for (const queue of topology.queues) {
    const declaration = probe && hasCreationOnlyArguments(queue) && !await probe(queue) ? withoutCreationOnlyArguments(queue) : queue
    await channel.assertQueue(declaration.name, declaration.options)
  }
  for (const binding of topology.bindings) await channel.bindQueue(binding.queue, binding.exchange, binding.routingKey)
}

/** True for the broker's refusal of a redeclare that differs only in a creation-only argument. */
export function refusedForCreationOnlyArgument(error: unknown): boolean {
  const message = (error as Error)?.message ?? ''
  return message.includes('PRECONDITION_FAILED') && CREATION_ONLY_ARGUMENTS.some((name) => message.includes(`inequivalent arg '${name}'`))
}

function hasCreationOnlyArguments(queue: QueueDeclaration): boolean {
  return CREATION_ONLY_ARGUMENTS.some((name) => name in queue.options.arguments)
}

function withoutCreationOnlyArguments(queue: QueueDeclaration): QueueDeclaration {
  const args = Object.fromEntries(Object.entries(queue.options.arguments).filter(([name]) => !CREATION_ONLY_ARGUMENTS.includes(name)))
  return { name: queue.name, options: { ...queue.options, arguments: args } }
}
