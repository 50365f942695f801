import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib'
import { validateEvent, type ArrivalsEvent } from './events.js'
import { declareTopology, topologyNames } from './topology.js'

/** @deprecated Publish with @arrivals/messaging's `createEventPublisher`. */
export interface EventPublisher {
  publish(event: ArrivalsEvent, options?: { traceparent?: string }): Promise<void>
  close(): Promise<void>
}

/**
 * @deprecated Publish with @arrivals/messaging (`createEventPublisher` there: budgets, reconnects,
 * failover). This stripped-down copy stays only because services/dispatcher/test/support.ts imports it
 * from here until the dispatcher moves onto @arrivals/messaging; delete this file, its export and
 * contracts' amqplib dependency then. It validates, publishes mandatory and persistent, and waits for
 * the broker's confirm; it does not reconnect.
 */
export function createEventPublisher(options: { url: string; namespace: string }): EventPublisher {
  const exchange = topologyNames(options.namespace).eventsExchange
  let opened: Promise<{ connection: ChannelModel; channel: ConfirmChannel; returned: Set<string> }> | undefined
  const open = async () => {
    const connection = await amqp.connect(options.url)
    const channel = await connection.createConfirmChannel()
    await declareTopology(channel, options.namespace)
    const returned = new Set<string>()
    channel.on('return', (message) => returned.add(String(message.properties.messageId)))
    return { connection, channel, returned }
  }
  return {
    async publish(event, publishOptions = {}) {
      const validation = validateEvent(event)
      if (!validation.ok) throw new Error(`invalid event: ${validation.reason}`)
      const { channel, returned } = await (opened ??= open())
      const traceparent = publishOptions.traceparent ?? event.traceparent
      const headers = { ...(traceparent ? { traceparent } : {}), ...(event.tenantid ? { tenantid: event.tenantid } : {}) }
      const body = Buffer.from(JSON.stringify(event))
      await new Promise<void>((resolve, reject) => channel.publish(exchange, event.type, body, {
        persistent: true, mandatory: true, messageId: event.id, contentType: 'application/cloudevents+json', headers,
      }, (error) => (error ? reject(error as Error) : resolve())))
      if (returned.delete(event.id)) throw new Error(`no queue is bound for ${event.type} on ${exchange}`)
    },
    async close() {
      const pending = opened
      opened = undefined
      await pending?.then(({ connection }) => connection.close(), () => {}).catch(() => {})
    },
  }
}
