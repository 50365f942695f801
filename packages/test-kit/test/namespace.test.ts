import amqp from 'amqplib'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { brokerTopology, inventoryKeys, topologyNames } from '@arrivals/contracts'
import { createNamespace } from '../src/index.js'

describe('a namespace per test file', () => {
  it('is random, and its cleanup deletes its exchanges, queues (retry tiers too) and Redis keys, and nothing else', async () => {
    const ns = createNamespace('kit')
    const neighbour = createNamespace('kit')
    expect(ns.namespace).toMatch(/^kit-[0-9a-f]{10}$/)
    expect(ns.namespace).not.toBe(neighbour.namespace)

    const connection = await amqp.connect(ns.amqpUrl)
    const redis = new Redis(ns.redisUrl)
    try {
      const setup = await connection.createChannel()
      // Declared by hand from the topology data (the kit cannot use the messaging package, which tests with it).
      for (const { exchanges, queues, bindings } of [brokerTopology(ns.namespace, { retryDelaysMs: [5_000] }), brokerTopology(neighbour.namespace)]) {
        for (const exchange of exchanges) await setup.assertExchange(exchange.name, exchange.type, exchange.options)
        for (const queue of queues) await setup.assertQueue(queue.name, queue.options)
        for (const binding of bindings) await setup.bindQueue(binding.queue, binding.exchange, binding.routingKey)
      }
      await setup.close()
      await redis.hset(inventoryKeys(ns.namespace).stores('contoso'), 'ams-01', '{}')
      await redis.set(inventoryKeys(neighbour.namespace).idempotency('contoso', 'key-1'), 'kept')

      await ns.cleanup({ retryDelaysMs: [5_000] })

      const names = topologyNames(ns.namespace)
      for (const queue of [names.dispatcherEventsQueue, names.deliveriesQueue, names.deadLettersQueue, names.retryQueue(5_000)]) {
        const channel = await connection.createChannel()
        channel.on('error', () => {})
        await expect(channel.checkQueue(queue), queue).rejects.toThrow(/NOT_FOUND/)
      }
      for (const exchange of [names.eventsExchange, names.deliveriesExchange, names.retryExchange, names.deadLetterExchange]) {
        const channel = await connection.createChannel()
        channel.on('error', () => {})
        await expect(channel.checkExchange(exchange), exchange).rejects.toThrow(/NOT_FOUND/)
      }
      expect(await redis.exists(inventoryKeys(ns.namespace).stores('contoso'))).toBe(0)

      // The neighbour's topology and keys are untouched.
      const check = await connection.createChannel()
      await expect(check.checkQueue(topologyNames(neighbour.namespace).dispatcherEventsQueue)).resolves.toBeTruthy()
      expect(await redis.get(inventoryKeys(neighbour.namespace).idempotency('contoso', 'key-1'))).toBe('kept')
    } finally {
      await neighbour.cleanup()
      redis.disconnect()
      await connection.close()
    }
  })
})
