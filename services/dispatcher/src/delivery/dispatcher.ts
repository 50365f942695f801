import { createSecretBox, redisKeys, type RedisKeys } from '@arrivals/contracts'
import type { CallbackPolicy } from '@arrivals/callback-safety'
import { createRedisClient } from '@arrivals/service-kit'
import type { Channel, ConsumeMessage } from 'amqplib'
import type { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import type { DispatcherSettings } from '../settings.js'
import { AttemptLog } from './attempt-log.js'
import { Broker, type BrokerSession } from './broker.js'
import { CircuitBreakers } from './circuit-breaker.js'
import { ConcurrencyGate, ShutdownError } from './concurrency-gate.js'
import { archiveDeadLetter } from './dead-letter-archiver.js'
import { deliver, type DeliveryContext } from './deliver.js'
import { EndpointLatency } from './endpoint-latency.js'
import { fanOut, type FanOutContext } from './fan-out.js'
import type { Log } from './log.js'
import { createDispatcherMetrics, type DispatcherMetrics } from './metrics.js'
import { retryTiers } from './retry-policy.js'
import { createSender } from './sender.js'
import { SubscriptionCache } from './subscription-cache.js'
import { SubscriptionChanges } from './subscription-changes.js'
import { TaskQueue, type BrokerMessage, type Verdict } from './task-queue.js'

export type ConsumerName = 'events' | 'deliveries' | 'dead-letters'

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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Settles a consumed message. A failure is returned with `basic.reject` and a hand-back with
 * `basic.nack`: since RabbitMQ 4.3 only a reject counts toward a quorum queue's delivery limit, so
 * a nack for failures would let a message that always fails loop forever.
 */
function answer(channel: Pick<Channel, 'ack' | 'nack' | 'reject'>, message: ConsumeMessage, verdict: Verdict): void {
  // On a channel that closed meanwhile, the broker has already requeued the message.
  try {
    if (verdict === 'ack') channel.ack(message)
    else if (verdict === 'failed') channel.reject(message, true)
    else channel.nack(message, false, true)
  } catch {
    // nothing left to do
  }
}

/**
 * The delivery pipeline without any HTTP around it: the fan-out, deliver and dead-letter consumers on
 * one broker connection, sharing one Redis client, one HTTP agent, the circuit breakers and the
 * concurrency caps. The app wraps it with /healthz /readyz /metrics; the benchmark can drive it alone.
 */
export function createDispatcher(settings: DispatcherSettings, options: DispatcherOptions): Dispatcher {
  const { log } = options
  const registry = options.registry ?? new Registry()
  const keys: RedisKeys = redisKeys(settings.namespace)
  const tiers = retryTiers(settings.retryScheduleMs)
  const breakers = new CircuitBreakers({ failureThreshold: settings.circuitFailureThreshold, openMs: settings.circuitOpenMs })
  const metrics = createDispatcherMetrics(registry, () => breakers.openCount())
  const redis = createRedisClient(settings.redisUrl, log, `arrivals-dispatcher-${options.name ?? 'main'}`)
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
  const gate = new ConcurrencyGate(settings.deliveryConcurrency, settings.endpointConcurrency)
  const latency = new EndpointLatency(settings.inlineMaxLatencyMs)
  // An endpoint that turns slow sends its surplus waiting tasks to a retry tier, freeing their slots.
  const trimmer = setInterval(() => gate.trim((endpoint) => !latency.isFast(endpoint)), 100)
  trimmer.unref()
  const shutdown = new AbortController()
  let stopping = false

  /** Infrastructure retries: wait out a Redis outage while holding the message (the prefetch is the backpressure). */
  async function infra<T>(operation: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await operation()
      } catch (error) {
        if (shutdown.signal.aborted) throw new ShutdownError('shutting down')
        // Redis away: wait as long as it takes; anything else: a few tries, then the message is requeued.
        if (redis.status === 'ready' && attempt >= 3) throw error
        if (attempt === 0) log.warn({ err: { message: (error as Error).message } }, 'redis operation failed; retrying')
      }
      await sleep(Math.min(50 * 2 ** attempt, 2_000))
    }
  }

  const consumers: Record<ConsumerName, { up: boolean; channel?: Channel; tag?: string }> = {
    'events': { up: false },
    'deliveries': { up: false },
    'dead-letters': { up: false },
  }
  const inFlight = new Set<Promise<void>>()
  const setUp = (name: ConsumerName, up: boolean) => {
    consumers[name].up = up
    metrics.consumerState.set({ consumer: name }, up ? 1 : 0)
  }
  for (const name of Object.keys(consumers) as ConsumerName[]) setUp(name, false)

  const broker: Broker = new Broker({
    url: settings.amqpUrl,
    namespace: settings.namespace,
    retryDelaysMs: tiers,
    log,
    connectionName: `arrivals-dispatcher-${options.name ?? 'main'}`,
    onConnected: startConsumers,
    onDisconnected() {
      for (const name of Object.keys(consumers) as ConsumerName[]) {
        setUp(name, false)
        consumers[name].channel = undefined
        consumers[name].tag = undefined
      }
    },
  })
  const queue = new TaskQueue(broker, tiers, metrics)
  const deliveryContext: DeliveryContext = {
    policy: { scheduleMs: settings.retryScheduleMs, retryAfterMaxMs: settings.retryAfterMaxMs, max4xxAttempts: settings.max4xxAttempts },
    cache, sender, breakers, gate, attempts, changes, queue, metrics, log,
    latency,
    shortestTierMs: tiers[0]!,
    disableAfter: { failures: settings.disableAfterFailures, ms: settings.disableAfterMs },
    shutdown: shutdown.signal,
    infra,
  }
  const fanOutContext: FanOutContext = { cache, queue, metrics, log, infra }
  if (settings.firstAttemptInline) fanOutContext.inline = deliveryContext
  const archiverContext = { redis, keys, metrics, infra }

  function run(name: ConsumerName, channel: Channel, message: ConsumeMessage, handle: (message: BrokerMessage) => Promise<Verdict>): void {
    metrics.inFlight.inc({ consumer: name })
    const brokerMessage: BrokerMessage = { content: message.content, headers: message.properties.headers ?? {} }
    if (typeof message.properties.messageId === 'string') brokerMessage.messageId = message.properties.messageId
    const done: Promise<void> = handle(brokerMessage)
      .catch((error: unknown): Verdict => {
        if (error instanceof ShutdownError) return 'requeue'
        log.error({ consumer: name, err: { message: (error as Error).message } }, 'message processing failed; returned to the queue')
        return 'failed'
      })
      .then((verdict) => answer(channel, message, verdict))
      .finally(() => {
        inFlight.delete(done)
        metrics.inFlight.dec({ consumer: name })
      })
    inFlight.add(done)
  }

  async function consume(session: BrokerSession, name: ConsumerName, queueName: string, prefetch: number, handle: (message: BrokerMessage) => Promise<Verdict>): Promise<void> {
    const channel = await broker.channel(session)
    // Per consumer: at most this many unacknowledged messages are in this process at once.
    await channel.prefetch(prefetch)
    const { consumerTag } = await channel.consume(queueName, (message) => {
      if (message) run(name, channel, message, handle)
      else {
        // The broker cancelled us (the queue was deleted): start over on a fresh connection.
        setUp(name, false)
        void session.connection.close().catch(() => {})
      }
    }, { noAck: false })
    consumers[name].channel = channel
    consumers[name].tag = consumerTag
    setUp(name, true)
  }

  async function startConsumers(session: BrokerSession): Promise<void> {
    if (stopping) return
    const { names } = broker
    await consume(session, 'deliveries', names.deliveriesQueue, settings.deliveryPrefetch, (message) => deliver(deliveryContext, message))
    await consume(session, 'events', names.dispatcherEventsQueue, settings.eventsPrefetch, (message) => fanOut(fanOutContext, message))
    await consume(session, 'dead-letters', names.deadLettersQueue, 20, (message) => archiveDeadLetter(archiverContext, message))
    log.info({ namespace: settings.namespace }, 'consuming')
  }

  // A lost pub/sub message cannot be told apart from none, so every (re)subscription starts afresh.
  subscriber.on('message', (_channel: string, tenantId: string) => cache.invalidate(tenantId))
  subscriber.on('ready', () => cache.invalidate())

  const consuming = () => !stopping && broker.connected && Object.values(consumers).every((consumer) => consumer.up)

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
      await Promise.all(Object.entries(consumers).map(async ([name, consumer]) => {
        if (consumer.channel && consumer.tag) await consumer.channel.cancel(consumer.tag).catch(() => {})
        setUp(name as ConsumerName, false)
      }))
      // 2. Tasks still waiting for a send slot go back to the queue at once.
      clearInterval(trimmer)
      gate.rejectWaiting()
      // 3. Finish what is in flight, up to the deadline; then abort the rest (they are requeued).
      const drained = Promise.allSettled([...inFlight]).then(() => true)
      const finished = await Promise.race([drained, sleep(settings.drainTimeoutMs).then(() => false)])
      if (!finished) log.warn({ inFlight: inFlight.size }, 'drain deadline reached; returning unfinished deliveries to the queue')
      shutdown.abort()
      await Promise.allSettled([...inFlight])
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
