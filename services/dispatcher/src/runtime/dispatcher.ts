import { createSecretBox, keyLayoutOf, redisKeys, type RedisKeys } from '@arrivals/contracts'
import type { CallbackPolicy } from '@arrivals/callback-safety'
import { createRedisClient } from '@arrivals/service-kit'
import type { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import type { DispatcherSettings } from '../settings.js'
import { Broker, type BrokerSession } from '../adapters/broker.js'
import { RedisDeadLetterArchive } from '../adapters/redis/dead-letter-archive.js'
import { AttemptLog } from '../adapters/redis/attempt-log.js'
import { SubscriptionCache } from '../adapters/redis/subscription-cache.js'
import { SubscriptionChanges } from '../adapters/redis/subscription-changes.js'
import { createSender } from '../adapters/sender.js'
import { signedRequest } from '../adapters/signing.js'
import { TaskQueue } from '../adapters/task-queue.js'
import { createDispatcherMetrics, type DispatcherMetrics } from '../metrics.js'
import { CircuitBreakers } from '../policies/circuit-breaker.js'
import { ConcurrencyGate } from '../policies/concurrency-gate.js'
import { EndpointLatency } from '../policies/endpoint-latency.js'
import { retryTiers } from '../policies/retry-policy.js'
import type { Log, WebhookSender } from '../ports.js'
import { archiveDeadLetter, type ArchiveContext } from '../stages/archive.js'
import { deliver, verdictOf, type DeliverContext } from '../stages/deliver.js'
import { fanOut, type FanOutContext } from '../stages/fan-out.js'
import { Consumers } from './consumers.js'
import { redisOutageWaiter, sleep } from './redis-outage.js'

export interface DispatcherOptions {
  log: Log
  /** Where the metrics go (the app's /metrics registry); a fresh one when absent. */
  registry?: Registry
  /** Resolver for callback hosts (tests point a name at loopback); the system resolver by default. */
  callbackLookup?: CallbackPolicy['lookup']
  /** AMQP connection name, to tell replicas apart in the management UI. */
  name?: string
}

export interface Dispatcher {
  /** Starts connecting and consuming in the background (reconnecting with backoff); returns at once. */
  start(): void
  /** True while every consumer is consuming. */
  readonly consuming: boolean
  /** Resolves once every consumer is consuming. */
  whenConsuming(timeoutMs?: number): Promise<void>
  /** Stops taking work, finishes in-flight deliveries up to DRAIN_TIMEOUT_MS, hands the rest back, closes. */
  stop(): Promise<void>
  readonly redis: Redis
  readonly metrics: DispatcherMetrics
  readonly registry: Registry
  readonly retryTiersMs: readonly number[]
}

/**
 * The delivery pipeline without any HTTP around it: the fan-out, deliver and archive stages consuming
 * on one broker connection, sharing one Redis client, one HTTP agent, the circuit breakers and the
 * concurrency caps. The app wraps it with /healthz /readyz /metrics; the benchmark can drive it alone.
 */
export function createDispatcher(settings: DispatcherSettings, options: DispatcherOptions): Dispatcher {
  const { log } = options
  const registry = options.registry ?? new Registry()
  const tiers = retryTiers(settings.retryScheduleMs)
  const breakers = new CircuitBreakers({ failureThreshold: settings.circuitFailureThreshold, openMs: settings.circuitOpenMs })
  const metrics = createDispatcherMetrics(registry, () => breakers.openCount())
  // Typed as one Redis for the adapters here until they move onto the registry (which takes either);
  // a Cluster client has every command they use.
  const redis = createRedisClient(settings.redisUrl, log, `arrivals-dispatcher-${options.name ?? 'main'}`, settings.redisClusterNodes) as Redis
  const keys: RedisKeys = redisKeys(settings.namespace, keyLayoutOf(redis))
  const subscriber = redis.duplicate()
  subscriber.on('error', () => {})
  const box = createSecretBox(settings.encryptionKey)
  const cache = new SubscriptionCache({ redis, keys, box, log })
  const attempts = new AttemptLog({ redis, keys, log })
  const changes = new SubscriptionChanges(redis, keys)
  const sender = createSender({
    policy: { allowPrivate: settings.callbackAllowPrivate, allowedPorts: settings.callbackAllowedPorts, ...(options.callbackLookup ? { lookup: options.callbackLookup } : {}) },
    timeoutMs: settings.deliveryTimeoutMs,
    // Many flows share one host (all of a region's Logic Apps): the per-endpoint cap is the gate's, not the pool's.
    connectionsPerOrigin: settings.deliveryConcurrency,
  })
  const webhooks: WebhookSender = { sign: signedRequest, send: sender.send }
  const gate = new ConcurrencyGate(settings.deliveryConcurrency, settings.endpointConcurrency)
  const latency = new EndpointLatency(settings.inlineMaxLatencyMs)
  // An endpoint that turns slow sends its surplus waiting tasks to a retry tier, freeing their slots.
  const trimmer = setInterval(() => gate.trim((endpoint) => !latency.isFast(endpoint)), 100)
  trimmer.unref()
  const shutdown = new AbortController()
  const waitOutRedisOutage = redisOutageWaiter(redis, shutdown.signal, log)
  let stopping = false

  const broker: Broker = new Broker({
    url: settings.amqpUrl,
    namespace: settings.namespace,
    retryDelaysMs: tiers,
    log,
    connectionName: `arrivals-dispatcher-${options.name ?? 'main'}`,
    onConnected: startConsumers,
    onDisconnected: () => consumers.lost(),
  })
  const consumers = new Consumers(broker, metrics, log)
  const queue = new TaskQueue(broker, tiers, metrics)
  const deliverContext: DeliverContext = {
    policy: { scheduleMs: settings.retryScheduleMs, retryAfterMaxMs: settings.retryAfterMaxMs, max4xxAttempts: settings.max4xxAttempts },
    subscriptions: cache, webhooks, breakers, gate, latency, attempts, changes, retries: queue, deadLetters: queue, metrics, log,
    shortestTierMs: tiers[0]!,
    disableAfter: { failures: settings.disableAfterFailures, ms: settings.disableAfterMs },
    shutdown: shutdown.signal,
    waitOutRedisOutage,
  }
  const fanOutContext: FanOutContext = { subscriptions: cache, tasks: queue, deadLetters: queue, metrics, log, waitOutRedisOutage }
  if (settings.firstAttemptInline) fanOutContext.inline = deliverContext
  const archiveContext: ArchiveContext = { archive: new RedisDeadLetterArchive(redis, keys), metrics, waitOutRedisOutage }

  async function startConsumers(session: BrokerSession): Promise<void> {
    if (stopping) return
    const { names } = broker
    await consumers.start(session, 'deliveries', names.deliveriesQueue, settings.deliveryPrefetch,
      (message) => deliver(deliverContext, { kind: 'message', message }).then(verdictOf))
    await consumers.start(session, 'events', names.dispatcherEventsQueue, settings.eventsPrefetch, (message) => fanOut(fanOutContext, message))
    await consumers.start(session, 'dead-letters', names.deadLettersQueue, 20, (message) => archiveDeadLetter(archiveContext, message))
    log.info({ namespace: settings.namespace }, 'consuming')
  }

  // A lost pub/sub message cannot be told apart from none, so every (re)subscription starts afresh.
  subscriber.on('message', (_channel: string, tenantId: string) => cache.invalidate(tenantId))
  subscriber.on('ready', () => cache.invalidate())

  const consuming = () => !stopping && broker.connected && consumers.allUp

  return {
    redis,
    metrics,
    registry,
    retryTiersMs: tiers,
    get consuming() {
      return consuming()
    },
    start() {
      subscriber.subscribe(keys.subscriptionsChanged).catch((error: Error) => log.warn({ err: { message: error.message } }, 'subscription change notifications not subscribed; relying on version checks'))
      broker.start()
    },
    async whenConsuming(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (!consuming()) {
        if (Date.now() > deadline) throw new Error(`the dispatcher was not consuming within ${timeoutMs} ms`)
        await sleep(20)
      }
    },
    async stop() {
      if (stopping) return
      stopping = true
      // 1. Stop taking work.
      await consumers.cancel()
      // 2. Tasks still waiting for a send slot go back to the queue at once.
      clearInterval(trimmer)
      gate.rejectWaiting()
      // 3. Finish what is in flight, up to the deadline; then abort the rest (they are requeued).
      const finished = await consumers.drained(sleep(settings.drainTimeoutMs))
      if (!finished) log.warn({ inFlight: consumers.inFlightCount }, 'drain deadline reached; returning unfinished deliveries to the queue')
      shutdown.abort()
      await consumers.settled()
      // 4. Close, in order: history, broker, HTTP, Redis.
      await attempts.close()
      await broker.close()
      await sender.close()
      subscriber.disconnect()
      await redis.quit().catch(() => redis.disconnect())
      log.info({}, 'dispatcher stopped')
    },
  }
}
