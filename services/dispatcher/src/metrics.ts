import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

/**
 * Every metric the dispatcher exports, registered on the registry it is given (the app's /metrics).
 * `consumersUp` says, per consumer, whether it is consuming (the broker knows; read at scrape time).
 */
export function createDispatcherMetrics(registry: Registry, openCircuits: () => number, consumersUp: () => Record<string, boolean> = () => ({})) {
  const registers = [registry]
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter<L>({ name, help, labelNames, registers })
  return {
    events: counter('dispatcher_events_total', 'Events consumed by the fan-out stage, by result (fanned-out, no-match, no-tenant, invalid).', ['result'] as const),
    tasksPublished: counter('dispatcher_tasks_published_total', 'Delivery tasks published by the fan-out stage (confirmed by the broker).', [] as const),
    deliveries: counter('dispatcher_deliveries_total', 'Delivery attempts and decisions by outcome (delivered, retry, gave-up, gone, circuit-open, skipped, deferred, invalid, requeued, duplicate).', ['outcome'] as const),
    attemptDuration: new Histogram({
      name: 'dispatcher_attempt_duration_seconds',
      help: 'Duration of one webhook POST, by result class (2xx, 4xx, 5xx, timeout, network, refused).',
      labelNames: ['result'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    eventToDelivery: new Histogram({
      name: 'dispatcher_event_to_delivery_seconds',
      help: 'From the delivery task being created at fan-out to the receiver acknowledging it (includes retries).',
      labelNames: ['origin'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600, 86400],
      registers,
    }),
    retries: counter('dispatcher_retries_total', 'Tasks sent to a retry tier, by tier and why (retry, circuit-open, endpoint-busy, not-yet, flow-rate, paused).', ['tier', 'reason'] as const),
    held: counter('dispatcher_held_total', 'Deliveries held back without spending an attempt, by reason (ordered: behind an earlier one of its store; flow-rate: over the flow rate; paused: a receiver\'s 429).', ['reason'] as const),
    deadLetters: counter('dispatcher_dead_letters_total', 'Messages dead-lettered by this dispatcher, by class (endpoint, pipeline).', ['class'] as const),
    archived: counter('dispatcher_dead_letters_archived_total', 'Dead letters written into Redis by the archiver, by class.', ['class'] as const),
    openCircuits: new Gauge({
      name: 'dispatcher_open_circuits',
      help: 'Endpoints whose circuit breaker is open or half-open in this replica.',
      registers,
      collect() {
        this.set(openCircuits())
      },
    }),
    consumerState: new Gauge({
      name: 'dispatcher_consumer_up',
      help: '1 while the consumer of that queue is consuming, else 0.',
      labelNames: ['consumer'] as const,
      registers,
      collect() {
        for (const [consumer, up] of Object.entries(consumersUp())) this.set({ consumer }, up ? 1 : 0)
      },
    }),
    inFlight: new Gauge({
      name: 'dispatcher_in_flight_messages',
      help: 'Messages being processed right now, by consumer.',
      labelNames: ['consumer'] as const,
      registers,
    }),
    subscriptionsChanged: counter('dispatcher_subscriptions_changed_total', 'Subscriptions the dispatcher changed itself, by change (disabled, removed).', ['change'] as const),
  }
}
export type DispatcherMetrics = ReturnType<typeof createDispatcherMetrics>
