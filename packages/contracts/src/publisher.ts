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
 * @deprecated Publish with @arrivals/messaging (`createEventPublisher` there). This copy stays only
 * because services/dispatcher/test/support.ts imports it from here until the dispatcher moves onto
 * @arrivals/messaging; delete this file, its export and contracts' amqplib dependency then.
 *
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
    const attempt = (async () => {
      const conn = await amqp.connect(options.url, {
        // Names the connection in the management UI and `rabbitmqctl list_connections`.
        clientProperties: { connection_name: options.clientName ?? 'arrivals-publisher' },
        // The socket gives up on a host that never answers, not only our timer below.
        timeout: connectTimeoutMs,
      })
      // Listeners first: an 'error' event without one (a broker-side close while the topology is
      // declared, e.g. PRECONDITION_FAILED on a queue declared with other arguments) would crash
      // the process instead of failing this attempt. The 'close' handlers below reset state.
      conn.on('error', () => {})
      try {
        const ch = await conn.createConfirmChannel()
        ch.on('error', () => {})
        await declareTopology(ch, options.namespace)
        return { conn, ch }
      } catch (error) {
        await conn.close().catch(() => {})
        throw error
      }
    })()
    let opened: { conn: ChannelModel; ch: ConfirmChannel }
    try {
      opened = await withTimeout(attempt, connectTimeoutMs, `RabbitMQ did not accept a connection and the topology within ${connectTimeoutMs} ms`)
    } catch (error) {
      // An attempt that completes after the timeout is closed, never left open unowned.
      void attempt.then(({ conn }) => conn.close().catch(() => {}), () => {})
      throw error
    }
    const { conn, ch } = opened
    ch.on('return', (message) => {
      const id = message.properties.messageId
      if (typeof id === 'string') returned.add(id)
    })
    ch.on('close', () => {
      if (channel === ch) channel = undefined
      // The broker closed only the channel (a publish to a deleted exchange, say): close its
      // connection too, so the next publish opens a fresh pair and no connection is leaked.
      void conn.close().catch(() => {})
    })
    conn.on('close', (error?: Error) => {
      if (connection === conn) {
        connection = undefined
        channel = undefined
        options.onDisconnect?.(error)
      }
    })
    if (closed) {
      // close() ran while this attempt was connecting.
      await conn.close().catch(() => {})
      throw new PublishUnavailableError('publisher is closed')
    }
    connection = conn
    channel = ch
    return ch
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
      // One budget for the whole publish: connecting (when needed) and the confirm share it.
      const deadline = Date.now() + confirmTimeoutMs
      const ch = await withTimeout(ready(), confirmTimeoutMs, `RabbitMQ did not accept a connection within ${confirmTimeoutMs} ms`)
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
          }, (error) => (error ? reject(new PublishUnavailableError('RabbitMQ refused the event (nack)', { cause: error })) : resolve()))
        } catch (error) {
          reject(new PublishUnavailableError(`RabbitMQ channel failed: ${(error as Error).message}`, { cause: error }))
        }
      })
      await withTimeout(confirmed, Math.max(0, deadline - Date.now()), `RabbitMQ did not confirm within ${confirmTimeoutMs} ms`).catch((error: unknown) => {
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
