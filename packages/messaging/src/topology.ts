import type { BrokerTopology } from '@arrivals/contracts'
import type { Channel } from 'amqplib'

/** Declares a topology (contracts' `brokerTopology`) idempotently: exchanges, then queues, then bindings. */
export async function applyTopology(channel: Pick<Channel, 'assertExchange' | 'assertQueue' | 'bindQueue'>, topology: BrokerTopology): Promise<void> {
  for (const exchange of topology.exchanges) await channel.assertExchange(exchange.name, exchange.type, exchange.options)
  for (const queue of topology.queues) await channel.assertQueue(queue.name, queue.options)
  for (const binding of topology.bindings) await channel.bindQueue(binding.queue, binding.exchange, binding.routingKey)
}
