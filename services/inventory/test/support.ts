import { randomBytes } from 'node:crypto'
import { createServer, connect, type Server, type Socket } from 'node:net'
import amqp from 'amqplib'
import type { FastifyInstance } from 'fastify'
import { GOODS_RECEIVED, brokerTopology, parseEvent, topologyNames, type ArrivalsEvent, type GoodsReceivedEvent } from '@arrivals/contracts'
import { applyTopology } from '@arrivals/messaging'
import { hashApiKey } from '@arrivals/service-kit'
import type { TestNamespace } from '@arrivals/test-kit'
import { buildApp } from '../src/app.js'
import type { InventorySettings } from '../src/settings.js'

export interface TestTenant {
  id: string
  apiKey: string
}

export function tenant(name: string): TestTenant {
  return { id: `${name}-${randomBytes(3).toString('hex')}`, apiKey: `key-${name}-${randomBytes(18).toString('base64url')}` }
}

export function testSettings(ns: TestNamespace, tenants: TestTenant[], overrides: Partial<InventorySettings> = {}): InventorySettings {
  return {
    amqpUrl: ns.amqpUrl,
    redisUrl: ns.redisUrl,
    redisClusterNodes: [],
    namespace: ns.namespace,
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    otlpEndpoint: undefined,
    otlpProtocol: 'http/protobuf',
    otlpScheduleDelayMs: 5_000,
    apiKeys: new Map(tenants.map((t) => [hashApiKey(t.apiKey), { tenantId: t.id, role: 'maker' as const }])),
    confirmTimeoutMs: 5_000,
    rateLimitPerMinute: 10_000,
    idempotencyTtlSeconds: 3_600,
    eventSource: 'urn:arrivals:inventory-test',
    authFailuresPerMinute: 0,
    quotaStores: 5_000,
    ...overrides,
  }
}

export function build(settings: InventorySettings): Promise<FastifyInstance> {
  return buildApp(settings, process.env.TEST_LOG ? { level: 'warn' } : false)
}

export function receipt(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    supplier: 'Northwind Traders',
    receivedAt: '2026-03-01T09:30:00.000Z',
    items: [
      { sku: 'SKU-1', name: 'Oat milk 1 l', quantity: 12, unit: 'case' },
      { sku: 'SKU-2', name: 'Coffee beans', quantity: 3, unit: 'kg' },
    ],
    ...overrides,
  }
}

export function adjustment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    reason: 'damaged',
    note: 'Pallet dropped at the dock',
    adjustedAt: '2026-03-02T14:00:00.000Z',
    items: [
      { sku: 'SKU-1', name: 'Oat milk 1 l', quantityDelta: -4, unit: 'case' },
      { sku: 'SKU-3', quantityDelta: 1 },
    ],
    ...overrides,
  }
}

export function postReceipt(app: FastifyInstance, who: TestTenant, storeId: string, body: unknown, headers: Record<string, string> = {}) {
  return postRecording(app, who, `/v1/stores/${storeId}/receipts`, body, headers)
}

export function postAdjustment(app: FastifyInstance, who: TestTenant, storeId: string, body: unknown, headers: Record<string, string> = {}) {
  return postRecording(app, who, `/v1/stores/${storeId}/adjustments`, body, headers)
}

function postRecording(app: FastifyInstance, who: TestTenant, url: string, body: unknown, headers: Record<string, string>) {
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', 'x-api-key': who.apiKey, ...headers },
    payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  })
}

/** Reads the namespace's dispatcher queue, where every GoodsReceived lands, as the dispatcher would. */
export class EventQueue {
  private constructor(private readonly connection: amqp.ChannelModel, private readonly channel: amqp.Channel, private readonly queue: string) {}

  static async open(ns: TestNamespace): Promise<EventQueue> {
    const connection = await amqp.connect(ns.amqpUrl)
    const channel = await connection.createChannel()
    await applyTopology(channel, brokerTopology(ns.namespace))
    return new EventQueue(connection, channel, topologyNames(ns.namespace).dispatcherEventsQueue)
  }

  async count(): Promise<number> {
    return (await this.channel.checkQueue(this.queue)).messageCount
  }

  /** Takes every message now in the queue. */
  async drain(): Promise<amqp.GetMessage[]> {
    const messages: amqp.GetMessage[] = []
    for (;;) {
      const message = await this.channel.get(this.queue, { noAck: true })
      if (!message) return messages
      messages.push(message)
    }
  }

  /** Takes every message and parses each as a contract event of any type (throws if one is invalid). */
  async anyEvents(): Promise<{ event: ArrivalsEvent; message: amqp.GetMessage }[]> {
    return (await this.drain()).map((message) => {
      const parsed = parseEvent(message.content)
      if (!parsed.ok) throw new Error(`invalid event on the queue: ${parsed.reason}`)
      return { event: parsed.event, message }
    })
  }

  /** Takes every message and parses each as a contract event (throws if one is invalid). */
  async events(): Promise<{ event: GoodsReceivedEvent; message: amqp.GetMessage }[]> {
    return (await this.drain()).map((message) => {
      const parsed = parseEvent(message.content)
      if (!parsed.ok) throw new Error(`invalid event on the queue: ${parsed.reason}`)
      if (parsed.event.type !== GOODS_RECEIVED) throw new Error(`expected ${GOODS_RECEIVED} on the queue, got ${parsed.event.type}`)
      return { event: parsed.event, message }
    })
  }

  /** Takes the one event the queue must hold now (throws if it holds none or several). */
  async only(): Promise<{ event: GoodsReceivedEvent; message: amqp.GetMessage }> {
    const events = await this.events()
    if (events.length !== 1 || !events[0]) throw new Error(`expected exactly one event on the queue, found ${events.length}`)
    return events[0]
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => {})
  }
}

/**
 * A TCP forwarder in front of RabbitMQ or Redis. `cut()` drops every connection and stops listening
 * (the dependency is "down" for the app); `restore()` listens on the same port again.
 */
export class Outage {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private readonly answers = new Set<{ upstream: Socket; client: Socket }>()
  port = 0

  constructor(private readonly target: { host: string; port: number }) {}

  static async inFrontOf(url: string, defaultPort: number): Promise<Outage> {
    const parsed = new URL(url)
    const outage = new Outage({ host: parsed.hostname, port: Number(parsed.port || defaultPort) })
    await outage.restore()
    return outage
  }

  /** The dependency's URL, pointed at this forwarder. */
  url(original: string): string {
    const parsed = new URL(original)
    parsed.hostname = '127.0.0.1'
    parsed.port = String(this.port)
    return parsed.toString()
  }

  async restore(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('close', () => this.sockets.delete(socket))
        socket.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream)
      upstream.pipe(client)
      this.answers.add({ upstream, client })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    const address = server.address()
    if (address && typeof address === 'object') this.port = address.port
    this.server = server
  }

  /** The dependency still receives everything but its answers are lost (a confirm that never comes). */
  loseAnswers(): void {
    for (const { upstream, client } of this.answers) upstream.unpipe(client)
  }

  async cut(): Promise<void> {
    this.answers.clear()
    const server = this.server
    this.server = undefined
    for (const socket of this.sockets) socket.destroy()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
