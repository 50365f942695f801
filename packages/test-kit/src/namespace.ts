import { randomBytes } from 'node:crypto'
import amqp from 'amqplib'
import { Redis } from 'ioredis'
import { inject } from 'vitest'
import { retryLabel, topologyNames } from '@arrivals/contracts'

/** The RabbitMQ and Redis URLs the global setup found for this run. */
export function testInfrastructure(): { amqpUrl: string; redisUrl: string } {
  return { amqpUrl: inject('amqpUrl'), redisUrl: inject('redisUrl') }
}

export interface TestNamespace {
  namespace: string
  amqpUrl: string
  redisUrl: string
  /** Deletes the namespace's exchanges, queues (including the given retry tiers) and Redis keys. */
  cleanup(options?: { retryDelaysMs?: readonly number[] }): Promise<void>
}

/**
 * A fresh namespace for one test file, so files run in parallel on one broker and one Redis. A
 * runner other than vitest (the browser tests) passes the URLs itself.
 */
export function createNamespace(prefix = 'test', infrastructure: { amqpUrl: string; redisUrl: string } = testInfrastructure()): TestNamespace {
  const { amqpUrl, redisUrl } = infrastructure
  const namespace = `${prefix}-${randomBytes(5).toString('hex')}`
  return {
    namespace,
    amqpUrl,
    redisUrl,
    async cleanup(options = {}) {
      const names = topologyNames(namespace)
      const connection = await amqp.connect(amqpUrl)
      try {
        const queues = [names.dispatcherEventsQueue, names.deliveriesQueue, names.deadLettersQueue, ...(options.retryDelaysMs ?? []).map(names.retryQueue)]
        const exchanges = [names.eventsExchange, names.deliveriesExchange, names.retryExchange, names.deadLetterExchange]
        // A failed delete closes the channel, so each gets its own.
        for (const queue of queues) {
          const channel = await connection.createChannel()
          channel.on('error', () => {})
          await channel.deleteQueue(queue).then(() => channel.close(), () => {})
        }
        for (const exchange of exchanges) {
          const channel = await connection.createChannel()
          channel.on('error', () => {})
          await channel.deleteExchange(exchange).then(() => channel.close(), () => {})
        }
      } finally {
        await connection.close().catch(() => {})
      }
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
      try {
        await redis.connect()
        let cursor = '0'
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000)
          cursor = next
          if (keys.length) await redis.unlink(...keys)
        } while (cursor !== '0')
      } finally {
        redis.disconnect()
      }
    },
  }
}

export { retryLabel }
