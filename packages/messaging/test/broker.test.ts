import { createServer, type Socket } from 'node:net'
import amqp from 'amqplib'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createNamespace, waitFor, type TestNamespace } from '@arrivals/test-kit'
import { brokerTopology, DELIVERY_ROUTING_KEY, topologyNames } from '@arrivals/contracts'
import { createBroker, PublishUnavailableError, type Broker, type BrokerOptions, type ConsumedMessage, type OutgoingMessage, type Verdict } from '../src/index.js'
import { startForwarder, type Forwarder } from './fixtures.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function namespace(): TestNamespace {
  const ns = createNamespace('messaging-broker')
  cleanups.push(() => ns.cleanup())
  return ns
}

function broker(ns: TestNamespace, overrides: Partial<BrokerOptions> = {}): Broker {
  const created = createBroker({ url: ns.amqpUrl, topology: brokerTopology(ns.namespace), connectionName: 'messaging-test', ...overrides })
  cleanups.push(() => created.close())
  return created
}

async function forwarder(ns: TestNamespace, delayMs = 0): Promise<Forwarder> {
  const started = await startForwarder(ns.amqpUrl, delayMs)
  cleanups.push(() => started.close())
  return started
}

/** A task-shaped message to the deliveries queue, told apart by its id. */
function task(ns: TestNamespace, id: string): OutgoingMessage {
  return { exchange: topologyNames(ns.namespace).deliveriesExchange, routingKey: DELIVERY_ROUTING_KEY, body: Buffer.from(id), properties: { messageId: id } }
}

/** Messages left in a queue, read without consuming them for good (they are acked: the test is over). */
async function remaining(ns: TestNamespace, queue: string): Promise<string[]> {
  const connection = await amqp.connect(ns.amqpUrl)
  try {
    const channel = await connection.createChannel()
    const ids: string[] = []
    for (let message = await channel.get(queue, { noAck: true }); message; message = await channel.get(queue, { noAck: true })) {
      ids.push(String(message.properties.messageId))
    }
    return ids
  } finally {
    await connection.close()
  }
}

describe('publish', () => {
  it('resolves once confirmed: the message is persistent and in its queue', async () => {
    const ns = namespace()
    await broker(ns).publish(task(ns, 'confirmed'))
    const connection = await amqp.connect(ns.amqpUrl)
    const message = await (await connection.createChannel()).get(topologyNames(ns.namespace).deliveriesQueue, { noAck: true })
    await connection.close()
    expect(message && message.properties.deliveryMode).toBe(2)
    expect(message && message.properties.messageId).toBe('confirmed')
  })

  it('fails a mandatory publish nobody is bound for with PublishUnavailableError', async () => {
    const ns = namespace()
    const client = broker(ns)
    const unroutable = { exchange: topologyNames(ns.namespace).eventsExchange, routingKey: 'nobody.listens.v1', body: Buffer.from('{}'), properties: { mandatory: true, messageId: 'lost-1' } }
    await expect(client.publish(unroutable)).rejects.toThrow(PublishUnavailableError)
    await expect(client.publish(unroutable)).rejects.toThrow(/no queue is bound for nobody\.listens\.v1/)
    // The same message without mandatory is confirmed (and dropped by the broker): the return made the difference.
    await client.publish({ ...unroutable, properties: { messageId: 'lost-2' } })
  })

  it('keeps its budget when the broker accepts the connection and never answers', async () => {
    const ns = namespace()
    // A socket that takes the connection and says nothing: a hung node, or a black-holing balancer.
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => sockets.add(socket.on('error', () => {})))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => silent.close(() => resolve()))
    })
    const client = broker(ns, { url: `amqp://guest:guest@127.0.0.1:${(silent.address() as { port: number }).port}`, connectTimeoutMs: 20_000 })
    const started = Date.now()
    await expect(client.publish(task(ns, 'unanswered'), { timeoutMs: 500 })).rejects.toThrow(/did not accept a connection within 500 ms/)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(client.connected).toBe(false)
    // Closing does not wait for the hung attempt either.
    const closing = Date.now()
    await client.close()
    expect(Date.now() - closing).toBeLessThan(1_000)
  })
  it('replaces its publish channel once the broker has refused every publish for a while, and reconnects if a fresh one is refused too', async () => {
    const ns = namespace()
    const names = topologyNames(ns.namespace)
    // A queue that holds one message and refuses (nacks) every publish after it.
    const full = `${ns.namespace}.full`
    const base = brokerTopology(ns.namespace)
    const topology = {
      ...base,
      queues: [...base.queues, { name: full, options: { durable: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } } }],
      bindings: [...base.bindings, { queue: full, exchange: names.deliveriesExchange, routingKey: 'full' }],
    }
    cleanups.push(async () => {
      const connection = await amqp.connect(ns.amqpUrl)
      await (await connection.createChannel()).deleteQueue(full)
      await connection.close()
    })
    const warnings: string[] = []
    const onDisconnect = vi.fn()
    const client = broker(ns, { topology, renewPublisherAfterMs: 200, onDisconnect, log: { info() {}, error() {}, warn: (_fields, message) => warnings.push(message) } })
    const consumed: string[] = []
    client.consume({ name: 'tasks', queue: names.deliveriesQueue, prefetch: 1 }, async (message) => {
      consumed.push(message.messageId ?? '?')
      return 'ack'
    })
    await client.whenConsuming()
    const toFull = (id: string): OutgoingMessage => ({ exchange: names.deliveriesExchange, routingKey: 'full', body: Buffer.from(id), properties: { messageId: id } })
    const refuseUntil = async (warning: string) => {
      let refusals = 0
      while (!warnings.includes(warning)) {
        await expect(client.publish(toFull('refused'))).rejects.toBeInstanceOf(PublishUnavailableError)
        if (++refusals > 10_000) throw new Error(`no warning "${warning}" after ${refusals} refusals`)
      }
      return refusals
    }

    // 1. Refused for 200 ms: a fresh publish channel; the connection, and the consumer on it, stay.
    await client.publish(toFull('fills-it'))
    expect(await refuseUntil('RabbitMQ refused every publish for a while; opening a fresh publish channel')).toBeGreaterThan(1)
    expect(await remaining(ns, full)).toEqual(['fills-it'])
    await client.publish(toFull('after-renewal'))
    await client.publish(task(ns, 'task-after-renewal'))
    await waitFor(() => consumed.includes('task-after-renewal'), { what: 'the consumer to receive a task published after the renewal' })
    expect(onDisconnect).not.toHaveBeenCalled()

    // 2. The queue is full again (a confirm in between started a new run): renewed first, then, refused
    //    five times as long on the fresh channel, the connection is recycled.
    await refuseUntil('RabbitMQ still refuses every publish on a fresh channel; reconnecting')
    expect(warnings.filter((warning) => warning.startsWith('RabbitMQ refused every publish'))).toHaveLength(2)
    await waitFor(() => onDisconnect.mock.calls.length === 1, { what: 'the connection recycled' })
    expect(await remaining(ns, full)).toEqual(['after-renewal'])
    await client.publish(toFull('after-reconnect'))
    expect(await remaining(ns, full)).toEqual(['after-reconnect'])
  })
})

describe('connection', () => {
  it('connects to queues declared before they had a replica count, and creates new ones with it', async () => {
    const ns = namespace()
    const { dispatcherEventsQueue } = topologyNames(ns.namespace)
    // A deployment from before: the queue exists without x-quorum-initial-group-size.
    const connection = await amqp.connect(ns.amqpUrl)
    const channel = await connection.createChannel()
    const older = brokerTopology(ns.namespace).queues.find((queue) => queue.name === dispatcherEventsQueue)!
    const { 'x-quorum-initial-group-size': _replicas, ...olderArguments } = older.options.arguments
    await channel.assertQueue(dispatcherEventsQueue, { durable: true, arguments: olderArguments })
    await connection.close()
    const upgraded = broker(ns)
    await upgraded.connect(10_000)
    expect(upgraded.connected).toBe(true)
    // Both kinds are there and usable: a publish to the events exchange is routed and confirmed.
    await upgraded.publish({ exchange: topologyNames(ns.namespace).eventsExchange, routingKey: 'inventory.goods-received.v1', body: Buffer.from('{}'), properties: { messageId: 'm1' } })
  })

  it('starts at the node chosen and moves on to the next one when it does not answer', async () => {
    const ns = namespace()
    const client = broker(ns, { url: `amqp://guest:guest@127.0.0.1:1, ${ns.amqpUrl}`, random: () => 0, connectTimeoutMs: 1_000 })
    await client.connect(5_000)
    expect(client.connected).toBe(true)
    await client.publish(task(ns, 'via-second-node'))
  })

  it('fails a publish when every node is down, naming the cause', async () => {
    const ns = namespace()
    const client = broker(ns, { url: 'amqp://guest:guest@127.0.0.1:1,amqp://guest:guest@127.0.0.1:2', connectTimeoutMs: 500 })
    await expect(client.publish(task(ns, 'nowhere'), { timeoutMs: 3_000 })).rejects.toThrow(/RabbitMQ is unavailable: .*ECONNREFUSED/)
  })

  it('reconnects after the connection is cut, declares the topology again and resumes its consumers', async () => {
    const ns = namespace()
    const node = await forwarder(ns)
    const client = broker(ns, { url: node.url })
    const seen: string[] = []
    client.consume({ name: 'tasks', queue: topologyNames(ns.namespace).deliveriesQueue, prefetch: 5 }, async (message) => {
      seen.push(String(message.messageId))
      return 'ack'
    })
    await client.whenConsuming(10_000)
    await client.publish(task(ns, 'before'))
    await waitFor(() => seen.includes('before'), { what: 'the first task' })

    node.cutConnections()
    await waitFor(() => !client.consuming, { what: 'the consumer to notice the cut', intervalMs: 5 })
    await client.whenConsuming(10_000)
    expect(node.accepted).toBe(2)
    await client.publish(task(ns, 'after'))
    await waitFor(() => seen.includes('after'), { what: 'the task published after the reconnect' })
    // At least once: an ack the cut swallowed brings 'before' back, and that is all it may do.
    expect(new Set(seen)).toEqual(new Set(['before', 'after']))
  })
})

describe('consume with a verdict', () => {
  it('acks, hands back with basic.nack (requeue), returns with basic.reject (reject), and rejects what a handler threw', async () => {
    const ns = namespace()
    const answered: { method: 'nack' | 'reject'; id: string }[] = []
    const realConnect = amqp.connect.bind(amqp)
    // Watch the consumer channels' answers: the broker does not tell a nack from a reject apart before 4.3.
    const spy = vi.spyOn(amqp, 'connect').mockImplementation(async (...args: Parameters<typeof amqp.connect>) => {
      const model = await realConnect(...args)
      const createChannel = model.createChannel.bind(model)
      model.createChannel = async () => {
        const channel = await createChannel()
        for (const method of ['nack', 'reject'] as const) {
          const real = channel[method].bind(channel) as (message: amqp.Message, ...rest: boolean[]) => void
          channel[method] = ((message: amqp.Message, ...rest: boolean[]) => {
            answered.push({ method, id: String(message.properties.messageId) })
            real(message, ...rest)
          }) as never
        }
        return channel
      }
      return model
    })
    cleanups.push(async () => { spy.mockRestore() })

    const client = broker(ns)
    const verdicts: Record<string, Verdict> = { 'to-ack': 'ack', 'to-requeue': 'requeue', 'to-reject': 'reject' }
    const deliveries: ConsumedMessage[] = []
    client.consume({ name: 'tasks', queue: topologyNames(ns.namespace).deliveriesQueue, prefetch: 10 }, async (message) => {
      deliveries.push(message)
      const id = String(message.messageId)
      if (message.redelivered) return 'ack'
      if (id === 'to-throw') throw new Error('handler failed')
      return verdicts[id]!
    })
    await client.whenConsuming(10_000)
    for (const id of ['to-ack', 'to-requeue', 'to-reject', 'to-throw']) await client.publish(task(ns, id))

    await waitFor(() => deliveries.filter((message) => message.redelivered).length === 3, { what: 'three redeliveries' })
    expect(deliveries.filter((message) => message.redelivered).map((message) => message.messageId).sort()).toEqual(['to-reject', 'to-requeue', 'to-throw'])
    expect(answered.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { method: 'reject', id: 'to-reject' },
      { method: 'nack', id: 'to-requeue' },
      { method: 'reject', id: 'to-throw' },
    ])
    await client.close()
    expect(await remaining(ns, topologyNames(ns.namespace).deliveriesQueue)).toEqual([])
  })

  it('runs several consumers on one connection, each with its own prefetch', async () => {
    const ns = namespace()
    const names = topologyNames(ns.namespace)
    const client = broker(ns)
    const held: (() => void)[] = []
    let deadLetters = 0
    client.consume({ name: 'tasks', queue: names.deliveriesQueue, prefetch: 2 }, () => new Promise<Verdict>((resolve) => held.push(() => resolve('ack'))))
    client.consume({ name: 'dead-letters', queue: names.deadLettersQueue, prefetch: 1 }, async () => {
      deadLetters++
      return 'ack'
    })
    await client.whenConsuming(10_000)
    for (let i = 0; i < 5; i++) await client.publish(task(ns, `task-${i}`))
    await client.publish({ exchange: names.deadLetterExchange, routingKey: '', body: Buffer.from('x'), properties: { messageId: 'dead-1' } })
    await waitFor(() => held.length === 2 && deadLetters === 1, { what: 'two held tasks and the dead letter' })
    // The prefetch holds the rest back until an answer frees a slot.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(held).toHaveLength(2)
    held.splice(0).forEach((release) => release())
    await waitFor(() => held.length === 2, { what: 'the next two tasks' })
    held.splice(0).forEach((release) => release())
  })
})

describe('drain', () => {
  it('stops consuming, lets quick work finish, hands back what is unfinished at the deadline, and closes', async () => {
    const ns = namespace()
    const queue = topologyNames(ns.namespace).deliveriesQueue
    const client = broker(ns)
    const finished: string[] = []
    const inHand = new Set<string>()
    let aborted = false
    client.consume({ name: 'tasks', queue, prefetch: 5 }, async (message, signal) => {
      inHand.add(String(message.messageId))
      if (message.messageId === 'quick') {
        await new Promise((resolve) => setTimeout(resolve, 100))
        finished.push('quick')
        return 'ack'
      }
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
      aborted = true
      // Too late: the message went back at the deadline, so this verdict must be ignored.
      return 'ack'
    })
    await client.whenConsuming(10_000)
    await client.publish(task(ns, 'stuck'))
    await client.publish(task(ns, 'quick'))
    await waitFor(() => inHand.size === 2, { what: 'both tasks in hand' })

    let stoppedConsuming = false
    const started = Date.now()
    await client.drain({ deadlineMs: 400, afterStop: () => { stoppedConsuming = !client.consuming } })
    expect(Date.now() - started).toBeGreaterThanOrEqual(390)
    expect(stoppedConsuming).toBe(true)
    expect(finished).toEqual(['quick'])
    expect(aborted).toBe(true)
    expect(client.connected).toBe(false)
    const left = await remaining(ns, queue)
    expect(left).toContain('stuck')
    expect(left).not.toContain('quick')
  })

  it('delivers the acks given while draining to the broker before it closes (none is redelivered)', async () => {
    const ns = namespace()
    const queue = topologyNames(ns.namespace).deliveriesQueue
    const client = broker(ns)
    const ids = Array.from({ length: 20 }, (_, n) => `late-${n}`)
    let inHand = 0
    client.consume({ name: 'tasks', queue, prefetch: ids.length }, async () => {
      inHand++
      await new Promise((resolve) => setTimeout(resolve, 150))
      return 'ack'
    })
    await client.whenConsuming(10_000)
    for (const id of ids) await client.publish(task(ns, id))
    await waitFor(() => inHand === ids.length, { what: 'every task in hand' })
    // Every verdict comes after the consumer was cancelled, and the connection closes right after the last.
    await client.drain({ deadlineMs: 5_000 })
    expect(await remaining(ns, queue)).toEqual([])
  })
})
