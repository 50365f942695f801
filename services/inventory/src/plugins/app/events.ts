import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Histogram } from 'prom-client'
import type { ArrivalsEvent } from '@arrivals/contracts'
import {
  createEventPublisher, InvalidEventError, PublishUnavailableError, type EventPublisher, type PublishOptions,
} from '@arrivals/messaging'

declare module 'fastify' {
  interface FastifyInstance {
    events: EventBus
  }
}

type PublishOutcome = 'confirmed' | 'unavailable' | 'invalid'

export interface EventBus {
  /** Resolves once the broker confirmed; PublishUnavailableError / InvalidEventError otherwise. */
  publish(event: ArrivalsEvent, options?: PublishOptions): Promise<void>
  /** True when a channel is open, or one can be opened within the timeout (readiness). */
  reachable(timeoutMs: number): Promise<boolean>
}

interface EventsOptions {
  url: string
  namespace: string
  confirmTimeoutMs: number
}

/**
 * The GoodsReceived publisher (messaging's createEventPublisher) with publish metrics. It connects on
 * the first publish or readiness check and reconnects by itself after a lost connection, so readiness
 * and receipts recover on their own when RabbitMQ comes back.
 */
export default fp(async (app: FastifyInstance, options: EventsOptions) => {
  const publisher: EventPublisher = createEventPublisher({
    url: options.url,
    namespace: options.namespace,
    confirmTimeoutMs: options.confirmTimeoutMs,
    // A connect attempt never takes longer than the confirm budget, so a receipt's 503 comes in time.
    connectTimeoutMs: Math.min(options.confirmTimeoutMs, 3_000),
    clientName: 'arrivals-inventory',
    onDisconnect: (error) => app.log.warn({ err: error ? { message: error.message } : undefined }, 'rabbitmq connection lost; reconnecting'),
  })
  const published = new Counter({
    name: 'inventory_events_published_total',
    help: 'GoodsReceived publishes by outcome (confirmed by the broker, unavailable, invalid).',
    labelNames: ['outcome'] as const,
    registers: [app.metrics],
  })
  const duration = new Histogram({
    name: 'inventory_publish_duration_seconds',
    help: 'Time from publish to the broker\'s confirm (or the failure), by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [app.metrics],
  })
  for (const outcome of ['confirmed', 'unavailable', 'invalid'] as const) published.inc({ outcome }, 0)

  const events: EventBus = {
    async publish(event, publishOptions) {
      const stop = duration.startTimer()
      let outcome: PublishOutcome = 'confirmed'
      try {
        await publisher.publish(event, publishOptions)
      } catch (error) {
        outcome = error instanceof InvalidEventError ? 'invalid' : 'unavailable'
        if (!(error instanceof InvalidEventError) && !(error instanceof PublishUnavailableError)) {
          throw new PublishUnavailableError(`publishing failed: ${(error as Error).message}`, { cause: error })
        }
        throw error
      } finally {
        published.inc({ outcome })
        stop({ outcome })
      }
    },
    async reachable(timeoutMs) {
      if (publisher.connected) return true
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
      })
      const connect = publisher.connect().then(() => true, () => false)
      return Promise.race([connect, timeout]).finally(() => clearTimeout(timer))
    },
  }
  app.decorate('events', events)
  app.addHook('onClose', async () => {
    await publisher.close()
  })
}, { name: 'events', dependencies: ['arrivals-operations'] })
