import { declareTopology, topologyNames, type TopologyNames } from '@arrivals/contracts'
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib'
import type { BrokerMessage, Verdict } from '../messages.js'
import type { Log } from '../ports.js'

class BrokerUnavailableError extends Error {
  override readonly name = 'BrokerUnavailableError'
}

export interface BrokerSession {
  connection: ChannelModel
  /** Publisher-confirm channel shared by every publish of this process. */
  publisher: ConfirmChannel
}

interface BrokerOptions {
  url: string
  namespace: string
  /** The retry tiers to declare (one TTL queue each). */
  retryDelaysMs: readonly number[]
  log: Log
  connectionName: string
  /** Called on every (re)connection, after the topology is declared: start the consumers here. */
  onConnected(session: BrokerSession): Promise<void>
  /** Called when the connection is lost (or closed): every consumer of it is gone. */
  onDisconnected(): void
  /** How long a publish waits for the broker's confirm. */
  confirmTimeoutMs?: number
}

/** Hands the consumed message back to the broker with the stage's verdict. */
export type Settle = (verdict: Verdict) => void

/** A running consumer: `cancel` stops its deliveries (the messages it holds are still settled). */
export interface Consumption {
  cancel(): Promise<void>
}

/**
 * Settles a consumed message. A failure is returned with `basic.reject` and a hand-back with
 * `basic.nack`: since RabbitMQ 4.3 only a reject counts toward a quorum queue's delivery limit, so
 * a nack for failures would let a message that always fails loop forever.
 */
function settle(channel: Pick<Channel, 'ack' | 'nack' | 'reject'>, message: ConsumeMessage, verdict: Verdict): void {
  // On a channel that closed meanwhile, the broker has already requeued the message.
  try {
    if (verdict === 'ack') channel.ack(message)
    else if (verdict === 'reject') channel.reject(message, true)
    else channel.nack(message, false, true)
  } catch {
    // nothing left to do
  }
}

/** Reconnect backoff: 100 ms doubling to 10 s, with jitter so replicas do not return in step. */
function backoffMs(attempt: number): number {
  const base = Math.min(100 * 2 ** attempt, 10_000)
  return Math.round(base / 2 + (Math.random() * base) / 2)
}

/**
 * One AMQP connection that comes back by itself: on loss it reconnects with backoff, declares the
 * topology again and lets the owner start its consumers again. A channel that fails (a broker error
 * closes it) takes the whole connection down with it, so recovery has exactly one path.
 */
export class Broker {
  readonly names: TopologyNames
  private session: BrokerSession | undefined
  private stopped = false
  private running: Promise<void> | undefined
  private wake: (() => void) | undefined

  constructor(private readonly options: BrokerOptions) {
    this.names = topologyNames(options.namespace)
  }

  get connected(): boolean {
    return this.session !== undefined
  }

  start(): void {
    this.running ??= this.run()
  }

  /**
   * Consumes a queue on a channel of its own, at most `prefetch` unacknowledged messages at once; each
   * message goes to `onMessage` with the function that settles it. When the broker cancels the
   * consumer (its queue was deleted), `onCancelled` is called and the connection starts over.
   */
  async consume(session: BrokerSession, queue: string, prefetch: number, onMessage: (message: BrokerMessage, settle: Settle) => void, onCancelled: () => void): Promise<Consumption> {
    const channel = await session.connection.createChannel()
    this.watch(session, channel)
    await channel.prefetch(prefetch)
    const { consumerTag } = await channel.consume(queue, (raw) => {
      if (!raw) {
        onCancelled()
        void session.connection.close().catch(() => {})
        return
      }
      const message: BrokerMessage = { content: raw.content, headers: raw.properties.headers ?? {} }
      if (typeof raw.properties.messageId === 'string') message.messageId = raw.properties.messageId
      onMessage(message, (verdict) => settle(channel, raw, verdict))
    }, { noAck: false })
    return {
      async cancel() {
        await channel.cancel(consumerTag).catch(() => {})
      },
    }
  }

  /** Publishes persistent and resolves once the broker confirmed; rejects when it cannot. */
  publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish = {}): Promise<void> {
    const session = this.session
    if (!session) return Promise.reject(new BrokerUnavailableError('RabbitMQ is not connected'))
    const timeoutMs = this.options.confirmTimeoutMs ?? 10_000
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BrokerUnavailableError(`RabbitMQ did not confirm within ${timeoutMs} ms`)), timeoutMs)
      try {
        session.publisher.publish(exchange, routingKey, body, { persistent: true, ...options }, (error) => {
          clearTimeout(timer)
          if (error) reject(new BrokerUnavailableError('RabbitMQ refused the message (nack)', { cause: error }))
          else resolve()
        })
      } catch (error) {
        clearTimeout(timer)
        reject(new BrokerUnavailableError(`RabbitMQ channel failed: ${(error as Error).message}`, { cause: error }))
      }
    })
  }

  async close(): Promise<void> {
    this.stopped = true
    this.wake?.()
    const session = this.session
    this.session = undefined
    await session?.connection.close().catch(() => {})
    await this.running
  }

  private watch(session: BrokerSession, channel: Channel): void {
    channel.on('error', (error: Error) => this.options.log.warn({ err: { message: error.message } }, 'rabbitmq channel error'))
    channel.on('close', () => {
      if (this.session === session && !this.stopped) void session.connection.close().catch(() => {})
    })
  }

  private async run(): Promise<void> {
    const { log } = this.options
    let attempt = 0
    while (!this.stopped) {
      let connection: ChannelModel | undefined
      try {
        connection = await amqp.connect(this.options.url, { clientProperties: { connection_name: this.options.connectionName }, timeout: 5_000 })
        connection.on('error', (error: Error) => log.warn({ err: { message: error.message } }, 'rabbitmq connection error'))
        const closed = new Promise<void>((resolve) => connection!.once('close', () => resolve()))
        const publisher = await connection.createConfirmChannel()
        const session: BrokerSession = { connection, publisher }
        this.watch(session, publisher)
        await declareTopology(publisher, this.options.namespace, { retryDelaysMs: this.options.retryDelaysMs })
        if (this.stopped) {
          await connection.close().catch(() => {})
          break
        }
        this.session = session
        await this.options.onConnected(session)
        if (attempt > 0) log.info({ attempts: attempt }, 'rabbitmq connection restored')
        attempt = 0
        await closed
        if (!this.stopped) log.warn({}, 'rabbitmq connection lost; reconnecting')
      } catch (error) {
        if (!this.stopped) log.warn({ err: { message: (error as Error).message }, attempt }, 'rabbitmq unavailable; reconnecting')
        await connection?.close().catch(() => {})
      }
      this.session = undefined
      this.options.onDisconnected()
      if (this.stopped) break
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs(attempt++))
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }
}
