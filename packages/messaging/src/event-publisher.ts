import { brokerTopology, inSpan, topologyNames, validateEvent, type ArrivalsEvent } from '@arrivals/contracts'
import { createBroker, type BrokerLog } from './broker.js'
import { InvalidEventError } from './errors.js'

export interface EventPublisherOptions {
  /** One amqp(s):// URL, or the nodes of one cluster separated by commas. */
  url: string
  namespace: string
  /**
   * The longest a `publish` takes, connecting included, before it gives up with
   * PublishUnavailableError (default 5 s): an HTTP caller can promise its 503 within this time.
   */
  confirmTimeoutMs?: number
  /** How long opening a connection may take, channel and topology declaration included (default 3 s). */
  connectTimeoutMs?: number
  /** Called when the connection is lost, so the owner can log it. */
  onDisconnect?: (error: Error | undefined) => void
  /** The connection's name on the broker (management UI, list_connections). */
  clientName?: string
  log?: BrokerLog
}

export interface PublishOptions {
  /** W3C trace context; travels as an AMQP header to the dispatcher and on to the webhook. */
  traceparent?: string
}

export interface EventPublisher {
  /** Validates, publishes persistent and mandatory, and resolves only once the broker confirmed. */
  publish(event: ArrivalsEvent, options?: PublishOptions): Promise<void>
  /** Connects if needed; resolves when a channel is open (for readiness checks). */
  connect(): Promise<void>
  readonly connected: boolean
  close(): Promise<void>
}

/**
 * For any service that integrates by publishing events: validates a CloudEvent against its contract
 * and publishes it to the events exchange with confirms. A broker outage turns into
 * `PublishUnavailableError`s (a 503 for an HTTP caller) and recovery needs no restart.
 */
export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const names = topologyNames(options.namespace)
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 5_000
  const broker = createBroker({
    url: options.url,
    topology: brokerTopology(options.namespace),
    connectionName: options.clientName ?? 'arrivals-publisher',
    connectTimeoutMs: options.connectTimeoutMs ?? 3_000,
    publishTimeoutMs: confirmTimeoutMs,
    ...(options.log ? { log: options.log } : {}),
    ...(options.onDisconnect ? { onDisconnect: options.onDisconnect } : {}),
  })
  return {
    get connected() {
      return broker.connected
    },
    connect: () => broker.connect(),
    async publish(event, publishOptions = {}) {
      const validation = validateEvent(event)
      if (!validation.ok) throw new InvalidEventError(validation.reason)
      const attributes = { 'messaging.system': 'rabbitmq', 'messaging.destination.name': names.eventsExchange, 'messaging.message.id': event.id }
      await inSpan(`publish ${event.type}`, { kind: 'producer', traceparent: publishOptions.traceparent ?? event.traceparent, attributes }, async (span) => {
        const headers: Record<string, string> = {}
        if (span.traceparent) headers.traceparent = span.traceparent
        if (event.tenantid) headers.tenantid = event.tenantid
        await broker.publish({
          exchange: names.eventsExchange,
          routingKey: event.type,
          body: Buffer.from(JSON.stringify(event)),
          properties: {
            // Returned to us if no queue is bound for this type, instead of silently dropped.
            mandatory: true,
            // The event id: how a returned (unroutable) message is matched to this publish.
            messageId: event.id,
            // Structured-mode CloudEvents, so a consumer knows the body without opening it.
            contentType: 'application/cloudevents+json',
            // The event type, visible in the management UI and to consumers without parsing.
            type: event.type,
            // When it was published (seconds, AMQP's unit), as against `time`, when it happened.
            timestamp: Math.floor(Date.now() / 1000),
            // traceparent and tenantid: trace context and tenant, readable without parsing the body.
            headers,
          },
        })
      })
    },
    close: () => broker.close(),
  }
}
