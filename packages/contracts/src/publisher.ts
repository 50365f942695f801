import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib'
import { validateEvent, type ArrivalsEvent } from './events.js'
import { declareTopology, topologyNames } from './topology.js'

/** The broker could not be reached, or did not confirm in time. Nothing was accepted; retry later. */
export class PublishUnavailableError extends Error {
  override readonly name = 'PublishUnavailableError'
}

/** The event does not match its contract; it was not published. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError'
}

export interface EventPublisherOptions {
  url: string
  namespace: string
  /** How long to wait for the broker's confirm before giving up (default 5 s). */
  confirmTimeoutMs?: number
  /** How long to wait for a connection (default 3 s). */
  connectTimeoutMs?: number
  /** Called when the connection is lost, so the owner can log it. */
  onDisconnect?: (error: Error | undefined) => void
  /** The CloudEvents `source` for events published through `publish`, for logs only. */
  clientName?: string
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
 * A small publisher for any service that integrates by publishing events. It connects lazily and
 * reconnects on the next publish after the connection is lost, so a broker outage turns into
 * `PublishUnavailableError`s (a 503 for an HTTP caller) and recovery needs no restart.
 */
export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const names = topologyNames(options.namespace)
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 5_000
  const connectTimeoutMs = options.connectTimeoutMs ?? 3_000
  let connection: ChannelModel | undefined
  let channel: ConfirmChannel | undefined
  let connecting: Promise<ConfirmChannel> | undefined
  let closed = false
  // Messages the broker returned as unroutable; their confirm arrives after the return.
  const returned = new Set<string>()

  async function open(): Promise<ConfirmChannel> {
    const conn = await withTimeout(
      amqp.connect(options.url, { clientProperties: { connection_name: options.clientName ?? 'arrivals-publisher' }, timeout: connectTimeoutMs }),
      connectTimeoutMs,
      `RabbitMQ did not accept a connection within ${connectTimeoutMs} ms`,
    )
    try {
      const ch = await conn.createConfirmChannel()
      await declareTopology(ch, options.namespace)
      ch.on('return', (message) => {
        const id = message.properties.messageId
        if (typeof id === 'string') returned.add(id)
      })
      // An 'error' without a listener would crash the process; the 'close' handler below resets state.
      ch.on('error', () => {})
      ch.on('close', () => {
        if (channel === ch) channel = undefined
      })
      conn.on('error', () => {})
      conn.on('close', (error?: Error) => {
        if (connection === conn) {
          connection = undefined
          channel = undefined
          options.onDisconnect?.(error)
        }
      })
      connection = conn
      channel = ch
      return ch
    } catch (error) {
      await conn.close().catch(() => {})
      throw error
    }
  }

  async function ready(): Promise<ConfirmChannel> {
    if (closed) throw new PublishUnavailableError('publisher is closed')
    if (channel) return channel
    connecting ??= open().finally(() => {
      connecting = undefined
    })
    try {
      return await connecting
    } catch (error) {
      throw new PublishUnavailableError(`RabbitMQ is unavailable: ${(error as Error).message}`, { cause: error })
    }
  }

  return {
    get connected() {
      return channel !== undefined
    },
    async connect() {
      await ready()
    },
    async publish(event, publishOptions = {}) {
      const validation = validateEvent(event)
      if (!validation.ok) throw new InvalidEventError(validation.reason)
      const ch = await ready()
      const body = Buffer.from(JSON.stringify(event))
      const headers: Record<string, string> = {}
      const traceparent = publishOptions.traceparent ?? event.traceparent
      if (traceparent) headers.traceparent = traceparent
      if (event.tenantid) headers.tenantid = event.tenantid

      const confirmed = new Promise<void>((resolve, reject) => {
        try {
          ch.publish(names.eventsExchange, event.type, body, {
            // Written to disk by the broker, so it survives a broker restart.
            persistent: true,
            // Returned to us if no queue is bound for this type, instead of silently dropped.
            mandatory: true,
            messageId: event.id,
            contentType: 'application/cloudevents+json',
            type: event.type,
            timestamp: Math.floor(Date.now() / 1000),
            headers,
          }, (error) => (error ? reject(new PublishUnavailableError('RabbitMQ refused the event (nack)', { cause: error })) : resolve()))
        } catch (error) {
          reject(new PublishUnavailableError(`RabbitMQ channel failed: ${(error as Error).message}`, { cause: error }))
        }
      })
      await withTimeout(confirmed, confirmTimeoutMs, `RabbitMQ did not confirm within ${confirmTimeoutMs} ms`).catch((error: unknown) => {
        throw error instanceof PublishUnavailableError ? error : new PublishUnavailableError((error as Error).message, { cause: error })
      })
      if (returned.delete(event.id)) {
        throw new PublishUnavailableError(`no queue is bound for ${event.type} on ${names.eventsExchange}; the event was not accepted`)
      }
    },
    async close() {
      closed = true
      await connecting?.catch(() => {})
      const conn = connection
      connection = undefined
      channel = undefined
      await conn?.close().catch(() => {})
    },
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PublishUnavailableError(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
