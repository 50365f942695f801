import { brokerTopology, createSecretBox, topologyNames } from '@arrivals/contracts'
import { createBroker } from '@arrivals/messaging'
import type { CallbackPolicy } from '@arrivals/callback-safety'
import { createRedisClient, type RedisClient } from '@arrivals/service-kit'
import { createOrderAndPace, createSubscriptionRegistry, type ChangeWatch } from '@arrivals/subscription-registry'
import { Registry } from 'prom-client'
import type { DispatcherSettings } from '../settings.js'
import { AttemptLog } from '../adapters/redis/attempt-log.js'
import { SubscriptionCache } from '../adapters/redis/subscription-cache.js'
import { subscriptionChanges } from '../adapters/redis/subscription-changes.js'
import { createSender } from '../adapters/sender.js'
import { signedRequest } from '../adapters/signing.js'
import { TaskQueue } from '../adapters/task-queue.js'
import { createDispatcherMetrics, type DispatcherMetrics } from '../metrics.js'
import { CircuitBreakers } from '../policies/circuit-breaker.js'
import { ConcurrencyGate } from '../policies/concurrency-gate.js'
import { EndpointLatency } from '../policies/endpoint-latency.js'
import { FlowPace } from '../policies/flow-pace.js'
import { retryTiers } from '../policies/retry-policy.js'
import type { Log, WebhookSender } from '../ports.js'
import { archiveDeadLetter, type ArchiveContext } from '../stages/archive.js'
import { deliver, verdictOf, type DeliverContext } from '../stages/deliver.js'
import { fanOut, type FanOutContext } from '../stages/fan-out.js'
import type { OrderContext } from '../stages/order.js'
import { Consumers, type ConsumerName } from './consumers.js'
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
  readonly redis: RedisClient
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
  const consumerNames: ConsumerName[] = ['events', 'deliveries', 'dead-letters']
  const metrics = createDispatcherMetrics(registry, () => breakers.openCount(), () => {
    const consuming = new Set(broker.consumers().filter((consumer) => consumer.consuming).map((consumer) => consumer.name))
    return Object.fromEntries(consumerNames.map((name) => [name, consuming.has(name)]))
  })
  const redis = createRedisClient(settings.redisUrl, log, `arrivals-dispatcher-${options.name ?? 'main'}`, settings.redisClusterNodes)
  const stored = createSubscriptionRegistry({ redis, namespace: settings.namespace })
  const box = createSecretBox(settings.encryptionKey)
  const cache = new SubscriptionCache({ subscriptions: stored.subscriptions, box, log, size: settings.subscriptionCacheSize })
  let changeWatch: ChangeWatch | undefined
  let pauseWatch: ChangeWatch | undefined
  const orderAndPace = createOrderAndPace({ redis, namespace: settings.namespace })
  const pace = new FlowPace(orderAndPace.budgets, { defaultRate: settings.flowRateLimit })
  const attempts = new AttemptLog({ attempts: stored.attempts, log })
  const changes = subscriptionChanges(stored.subscriptions, stored.failures)
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
  let started = false
  let stopping = false

  // Every node of the cluster from AMQP_URL; the topology, with one TTL queue per retry tier, is
  // declared on every (re)connect, and the consumers are started again after it.
  const broker = createBroker({
    url: settings.amqpUrl,
    topology: brokerTopology(settings.namespace, { retryDelaysMs: tiers }),
    connectionName: `arrivals-dispatcher-${options.name ?? 'main'}`,
    publishTimeoutMs: 10_000,
    log,
  })
  const consumers = new Consumers(broker, metrics, log, shutdown)
  const queue = new TaskQueue(broker, settings.namespace, tiers, metrics)
  const deliverContext: DeliverContext = {
    policy: { scheduleMs: settings.retryScheduleMs, retryAfterMaxMs: settings.retryAfterMaxMs, max4xxAttempts: settings.max4xxAttempts },
    subscriptions: cache, webhooks, breakers, gate, latency, attempts, changes, retries: queue, deadLetters: queue, metrics, log,
    shortestTierMs: tiers[0]!,
    disableAfter: { failures: settings.disableAfterFailures, ms: settings.disableAfterMs },
    shutdown: shutdown.signal,
    waitOutRedisOutage,
    order: { queue: orderAndPace.order, tasks: queue, metrics, log, waitOutRedisOutage } satisfies OrderContext,
    pace,
  }
  const fanOutContext: FanOutContext = { subscriptions: cache, tasks: queue, deadLetters: queue, metrics, log, waitOutRedisOutage, order: deliverContext.order! }
  if (settings.firstAttemptInline) fanOutContext.inline = deliverContext
  const archiveContext: ArchiveContext = { archive: stored.deadLetters, metrics, waitOutRedisOutage, order: deliverContext.order! }

  function registerConsumers(): void {
    const names = topologyNames(settings.namespace)
    consumers.register('deliveries', names.deliveriesQueue, settings.deliveryPrefetch,
      (message) => deliver(deliverContext, { kind: 'message', message }).then(verdictOf))
    consumers.register('events', names.dispatcherEventsQueue, settings.eventsPrefetch, (message) => fanOut(fanOutContext, message))
    consumers.register('dead-letters', names.deadLettersQueue, 20, (message) => archiveDeadLetter(archiveContext, message))
  }

  const consuming = () => !stopping && broker.consuming

  return {
    redis,
    metrics,
    registry,
    retryTiersMs: tiers,
    get consuming() {
      return consuming()
    },
    start() {
      if (started) return
      started = true
      // Its errors are the main client's outage again (logged there); until it is back the version checks catch changes.
      changeWatch ??= cache.watch((error) => log.debug({ err: { message: error.message } }, 'subscription change signal not followed; relying on version checks'))
      // Its errors are the main client's outage again; a pause missed meanwhile is read with the next reservation.
      pauseWatch ??= orderAndPace.budgets.watchPauses(({ subscriptionId, untilMs }) => pace.paused(subscriptionId, untilMs),
        { onError: (error) => log.debug({ err: { message: error.message } }, 'flow pause signal not followed; relying on reservations') })
      registerConsumers()
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
      // 1. Stop taking work; tasks still waiting for a send slot go back to the queue at once.
      // 2. Finish what is in flight, up to the deadline; then hand the rest back and abort their sends.
      await broker.drain({
        deadlineMs: settings.drainTimeoutMs,
        afterStop() {
          clearInterval(trimmer)
          gate.rejectWaiting()
        },
      })
      // 3. Whatever still runs has its message back in the queue already: let it see the shutdown and end.
      shutdown.abort()
      await consumers.settled()
      // 4. Close, in order: history, HTTP, Redis (the broker closed at the end of its drain).
      await attempts.close()
      await sender.close()
      await changeWatch?.close()
      await pauseWatch?.close()
      await redis.quit().catch(() => redis.disconnect())
      log.info({}, 'dispatcher stopped')
    },
  }
}
