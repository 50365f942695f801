import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { startReceiver, waitFor, type Receiver } from '@arrivals/test-kit'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { atLeast, receipt, tenant, World } from './support.js'

/**
 * A TCP proxy in front of the shared RabbitMQ or Redis, so a test can take "the server" away from the
 * dispatcher (cut every connection, refuse new ones) without touching the real one.
 */
class Outage {
  private readonly sockets = new Set<Socket>()
  private down = false
  private server: Server | undefined
  port = 0

  constructor(private readonly target: URL, private readonly defaultPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.down) {
        client.destroy()
        return
      }
      const upstream = connect(Number(this.target.port || this.defaultPort), this.target.hostname)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('error', () => {})
        socket.on('close', () => {
          this.sockets.delete(socket)
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
  }

  url(): string {
    const url = new URL(this.target)
    url.hostname = '127.0.0.1'
    url.port = String(this.port)
    return url.toString()
  }

  /** Cuts every connection and refuses new ones until `restore()`. */
  cut(): void {
    this.down = true
    for (const socket of this.sockets) socket.destroy()
  }

  restore(): void {
    this.down = false
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve())
  }
}

describe('losing RabbitMQ and Redis', () => {
  const world = new World()
  const rabbit = new Outage(new URL(world.ns.amqpUrl), 5672)
  const redis = new Outage(new URL(world.ns.redisUrl), 6379)
  let receiver: Receiver
  let app: FastifyInstance
  const ready = async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode

  beforeAll(async () => {
    await rabbit.start()
    await redis.start()
    receiver = await startReceiver()
    app = await world.start({ amqpUrl: rabbit.url(), redisUrl: redis.url() })
  })
  afterAll(async () => {
    await world.close()
    await rabbit.close()
    await redis.close()
    await receiver.close()
  })

  it('reconnects after RabbitMQ goes away, is not ready meanwhile, and delivers again', async () => {
    const tenantId = tenant()
    await world.subscribe({ tenantId, url: `${receiver.url}/rabbit/${tenantId}` })
    await world.publish(receipt(tenantId))
    await atLeast(1, () => receiver.requests.filter((r) => r.path === `/rabbit/${tenantId}`), 'the delivery before the outage')

    rabbit.cut()
    await waitFor(async () => (await ready()) === 503, { what: '/readyz to answer 503' })
    // Published while the dispatcher cannot consume: it waits in the queue.
    await world.publish(receipt(tenantId))
    rabbit.restore()
    await waitFor(async () => (await ready()) === 200, { what: '/readyz back to 200', timeoutMs: 20_000 })
    await atLeast(2, () => receiver.requests.filter((r) => r.path === `/rabbit/${tenantId}`), 'the delivery after the outage', 20_000)
  })

  it('holds events while Redis is away and delivers them when it is back', async () => {
    const tenantId = tenant()
    await world.subscribe({ tenantId, url: `${receiver.url}/redis/${tenantId}` })
    redis.cut()
    await waitFor(async () => (await ready()) === 503, { what: '/readyz to answer 503' })
    // The tenant was never cached: fan-out needs Redis and must wait, not drop the event.
    await world.publish(receipt(tenantId))
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(receiver.requests.filter((r) => r.path === `/redis/${tenantId}`)).toHaveLength(0)
    redis.restore()
    await atLeast(1, () => receiver.requests.filter((r) => r.path === `/redis/${tenantId}`), 'the delivery after Redis came back', 20_000)
    await waitFor(async () => (await ready()) === 200, { what: '/readyz back to 200' })
  })
})
