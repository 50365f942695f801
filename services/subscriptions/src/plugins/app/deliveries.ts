import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { brokerTopology, type DeliveryTask } from '@arrivals/contracts'
import { createBroker, deliveryTaskMessage } from '@arrivals/messaging'
import { ServiceUnavailableError } from '@arrivals/service-kit'

declare module 'fastify' {
  interface FastifyInstance {
    deliveries: DeliveryPublisher
  }
}

export interface DeliveryPublisher {
  /** Resolves once the broker confirmed every task; throws ServiceUnavailableError (503) otherwise. */
  publish(tasks: readonly DeliveryTask[]): Promise<void>
  /** Connects if needed (readiness). */
  reachable(): Promise<boolean>
  close(): Promise<void>
}

/**
 * Publishes DeliveryTasks (test notifications, replays, redeliveries) to the deliveries exchange,
 * persistent and with publisher confirms, as the dispatcher's fan-out does. The broker client
 * reconnects by itself after a lost connection, so a broker outage is a 503 and recovery needs no restart.
 */
export function deliveryPublisher(options: { url: string; namespace: string; confirmTimeoutMs: number }): DeliveryPublisher {
  const broker = createBroker({
    url: options.url,
    topology: brokerTopology(options.namespace),
    connectionName: 'arrivals-subscriptions',
    connectTimeoutMs: 3_000,
    publishTimeoutMs: options.confirmTimeoutMs,
  })
  return {
    async publish(tasks) {
      try {
        await Promise.all(tasks.map((task) => broker.publish(deliveryTaskMessage(options.namespace, task))))
      } catch (error) {
        throw new ServiceUnavailableError(`RabbitMQ is unavailable or did not confirm (${(error as Error).message}); nothing was sent, retry shortly`, 5, { cause: error })
      }
    },
    async reachable() {
      return broker.connect().then(() => true, () => false)
    },
    close: () => broker.close(),
  }
}

export default fp(async (app: FastifyInstance, options: { url: string; namespace: string; confirmTimeoutMs: number }) => {
  const publisher = deliveryPublisher(options)
  app.decorate('deliveries', publisher)
  app.addHook('onClose', () => publisher.close())
}, { name: 'deliveries' })
