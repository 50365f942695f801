import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib'
import { DELIVERY_ROUTING_KEY, declareTopology, topologyNames, type DeliveryTask } from '@arrivals/contracts'
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
 * persistent and with publisher confirms, as the dispatcher's fan-out does. Connects lazily and again
 * after a lost connection, so a broker outage is a 503 and recovery needs no restart.
 */
export function deliveryPublisher(options: { url: string; namespace: string; confirmTimeoutMs: number }): DeliveryPublisher {
  const names = topologyNames(options.namespace)
  let connection: ChannelModel | undefined
  let channel: ConfirmChannel | undefined
  let opening: Promise<ConfirmChannel> | undefined
  let closed = false

  /** Forgets a connection that closed (or whose channel did): the next publish opens a new one. */
  function forget(conn: ChannelModel): void {
    if (connection !== conn) return
    connection = undefined
    channel = undefined
    conn.close().catch(() => {})
  }

  async function open(): Promise<ConfirmChannel> {
    const conn = await amqp.connect(options.url, { clientProperties: { connection_name: 'arrivals-subscriptions' }, timeout: 3_000 })
    // Without listeners an 'error' would crash the process; 'close' is where we react.
    conn.on('error', () => {})
    conn.on('close', () => forget(conn))
    const ch = await conn.createConfirmChannel().catch(async (error: unknown) => {
      await conn.close().catch(() => {})
      throw error
    })
    ch.on('error', () => {})
    ch.on('close', () => forget(conn))
    connection = conn
    channel = ch
    await declareTopology(ch, options.namespace).catch((error: unknown) => {
      forget(conn)
      throw error
    })
    return ch
  }

  async function ready(): Promise<ConfirmChannel> {
    if (closed) throw new ServiceUnavailableError('the service is shutting down')
    if (channel) return channel
    opening ??= open().finally(() => { opening = undefined })
    try {
      return await opening
    } catch (error) {
      throw new ServiceUnavailableError(`RabbitMQ is unavailable (${(error as Error).message}); nothing was sent, retry shortly`, 5, { cause: error })
    }
  }

  return {
    async publish(tasks) {
      const ch = await ready()
      const confirms = tasks.map((task) => new Promise<void>((resolve, reject) => {
        try {
          ch.publish(names.deliveriesExchange, DELIVERY_ROUTING_KEY, Buffer.from(JSON.stringify(task)), {
            // Survives a broker restart, like every task the dispatcher publishes.
            persistent: true,
            contentType: 'application/json',
            messageId: task.deliveryId,
            timestamp: Math.floor(Date.now() / 1000),
          }, (error) => (error ? reject(new ServiceUnavailableError('RabbitMQ refused the delivery task; retry shortly')) : resolve()))
        } catch (error) {
          reject(new ServiceUnavailableError(`RabbitMQ channel failed (${(error as Error).message}); retry shortly`))
        }
      }))
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ServiceUnavailableError(`RabbitMQ did not confirm within ${options.confirmTimeoutMs} ms; retry shortly`)), options.confirmTimeoutMs)
      })
      await Promise.race([Promise.all(confirms), timeout]).finally(() => clearTimeout(timer))
    },
    async reachable() {
      return ready().then(() => true, () => false)
    },
    async close() {
      closed = true
      await opening?.catch(() => {})
      const conn = connection
      connection = undefined
      channel = undefined
      await conn?.close().catch(() => {})
    },
  }
}

export default fp(async (app: FastifyInstance, options: { url: string; namespace: string; confirmTimeoutMs: number }) => {
  const publisher = deliveryPublisher(options)
  app.decorate('deliveries', publisher)
  app.addHook('onClose', () => publisher.close())
}, { name: 'deliveries' })
