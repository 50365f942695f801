import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import amqp from 'amqplib'
import { Redis } from 'ioredis'
import { RabbitNode, RedisServer } from '../src/index.js'

// The drills' own brokers must behave like production ones across a restart, or the drills prove
// nothing: a persistent message in a quorum queue and an appended Redis key survive stop + start.
describe('the drills\' own RabbitMQ node and Redis server', () => {
  let rabbit: RabbitNode
  let redis: RedisServer

  beforeAll(async () => {
    rabbit = await RabbitNode.create()
    redis = await RedisServer.create()
    await Promise.all([rabbit.start(), redis.start()])
  })
  afterAll(async () => {
    await Promise.all([rabbit?.destroy(), redis?.destroy()])
  })

  it('keeps a persistent message in a quorum queue across a stop and start of the node', async () => {
    expect(rabbit.port).not.toBe(5672)
    let connection = await amqp.connect(rabbit.amqpUrl)
    const channel = await connection.createConfirmChannel()
    await channel.assertQueue('drill.survivor', { durable: true, arguments: { 'x-queue-type': 'quorum' } })
    channel.sendToQueue('drill.survivor', Buffer.from('still here'), { persistent: true })
    await channel.waitForConfirms()
    await connection.close()

    await rabbit.stop()
    expect(rabbit.running).toBe(false)
    await expect(amqp.connect(rabbit.amqpUrl)).rejects.toThrow()
    await rabbit.start()

    connection = await amqp.connect(rabbit.amqpUrl)
    const after = await connection.createChannel()
    const message = await after.get('drill.survivor', { noAck: true })
    expect(message && message.content.toString()).toBe('still here')
    await connection.close()
  })

  it('keeps a key across a restart of the Redis server', async () => {
    expect(redis.port).not.toBe(6379)
    let client = new Redis(redis.url)
    await client.set('drill:survivor', 'still here')
    client.disconnect()
    await redis.stop()
    await redis.start()
    client = new Redis(redis.url)
    expect(await client.get('drill:survivor')).toBe('still here')
    client.disconnect()
  })
})
