import { GOODS_RECEIVED, deliveryIdFor, goodsReceivedEvent, toNotification, type AttemptRecord, type DeadLetterClass, type DeliveryTask, type GoodsReceivedEvent } from '@arrivals/contracts'
import { createSecretKey } from 'node:crypto'
import { Registry } from 'prom-client'
import { signedRequest } from '../../src/adapters/signing.js'
import type { BrokerMessage } from '../../src/messages.js'
import { createDispatcherMetrics } from '../../src/metrics.js'
import { CircuitBreakers } from '../../src/policies/circuit-breaker.js'
import { ConcurrencyGate } from '../../src/policies/concurrency-gate.js'
import { EndpointLatency } from '../../src/policies/endpoint-latency.js'
import type { SendResult } from '../../src/policies/retry-policy.js'
import type {
  AttemptRecorder, DeadLetters, FailureCount, FlowBudgetStore, OrderedTask, OrderQueue, RetryScheduler, Subscription, SubscriptionChanger, SubscriptionLookup,
  SubscriptionMatcher, TaskPublisher, WaitReason, WebhookRequest, WebhookSender,
} from '../../src/ports.js'
import type { DeliverContext } from '../../src/stages/deliver.js'

// In-memory fakes of the ports the stages use: each remembers what it was asked, so a test can say
// what the stage did (published, scheduled, dead-lettered, recorded, sent) without a broker or Redis.

export const TENANT = 'tenant-unit'
export const SCHEDULE_MS = [1_000, 5_000, 30_000]

export function subscription(id: string, overrides: Partial<Subscription['record']> & { unopenable?: boolean } = {}): Subscription {
  const { unopenable, ...record } = overrides
  return {
    record: { id, tenantId: TENANT, eventType: GOODS_RECEIVED, callbackRedacted: `https://receiver.test/${id}`, filters: {}, status: 'active', ...record },
    callbackUrl: () => `https://receiver.test/${id}?sig=secret`,
    signingKey: () => {
      if (unopenable) throw new Error('unsupported state or unable to authenticate data')
      return createSecretKey(Buffer.alloc(32, 7))
    },
  }
}

export function event(overrides: { tenantId?: string } = {}): GoodsReceivedEvent {
  return goodsReceivedEvent({
    tenantId: overrides.tenantId ?? TENANT,
    source: 'urn:arrivals:unit',
    data: {
      receiptId: 'rcpt-1', storeId: 'store-1', storeName: 'Store One', supplier: 'Supplies',
      receivedAt: new Date().toISOString(), items: [{ sku: 'SKU-1', quantity: 5, name: 'Product', unit: 'case' }], totalQuantity: 5,
    },
  })
}

export function task(subscriptionId: string, overrides: Partial<DeliveryTask> = {}): DeliveryTask {
  const happened = event()
  return {
    kind: 'deliver', deliveryId: deliveryIdFor(happened.id, subscriptionId), subscriptionId, tenantId: TENANT, eventId: happened.id,
    eventType: happened.type, attempt: 1, createdAt: Date.now(), origin: 'event', payload: toNotification(happened), ...overrides,
  }
}

export function message(body: unknown, headers: Record<string, unknown> = {}): BrokerMessage {
  return { content: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), headers }
}

export class FakeSubscriptions implements SubscriptionLookup, SubscriptionMatcher {
  readonly byId = new Map<string, Subscription>()
  readonly gone = new Set<string>()
  /** Set to make every lookup fail as Redis would. */
  failure: Error | undefined

  constructor(...subscriptions: Subscription[]) {
    for (const each of subscriptions) this.byId.set(each.record.id, each)
  }

  async find(_tenantId: string, subscriptionId: string): Promise<Subscription | undefined> {
    if (this.failure) throw this.failure
    return this.gone.has(subscriptionId) ? undefined : this.byId.get(subscriptionId)
  }

  async match(): Promise<Subscription[]> {
    if (this.failure) throw this.failure
    return [...this.byId.values()].filter(({ record }) => record.status === 'active' && !this.gone.has(record.id))
  }

  isGone(subscriptionId: string): boolean {
    return this.gone.has(subscriptionId)
  }

  markGone(subscriptionId: string): void {
    this.gone.add(subscriptionId)
  }
}

export class FakeQueue implements TaskPublisher, RetryScheduler, DeadLetters {
  readonly published: DeliveryTask[] = []
  readonly scheduled: { task: DeliveryTask; delayMs: number; reason: WaitReason; held: boolean }[] = []
  readonly deadLettered: { task: DeliveryTask; reason: string; cls: DeadLetterClass; attempts: number }[] = []
  readonly unreadable: { message: BrokerMessage; reason: string }[] = []

  async publishTask(task: DeliveryTask): Promise<void> {
    this.published.push(task)
  }

  async schedule(task: DeliveryTask, delayMs: number, reason: WaitReason, held = false): Promise<Date> {
    this.scheduled.push({ task, delayMs, reason, held })
    return new Date(Date.now() + delayMs)
  }

  async deadLetterTask(task: DeliveryTask, reason: string, cls: DeadLetterClass = 'endpoint', attempts = task.attempt): Promise<void> {
    this.deadLettered.push({ task, reason, cls, attempts })
  }

  async deadLetterMessage(message: BrokerMessage, reason: string): Promise<void> {
    this.unreadable.push({ message, reason })
  }
}

export class FakeAttempts implements AttemptRecorder {
  readonly records: AttemptRecord[] = []
  readonly succeededIds: string[] = []

  record(_tenantId: string, _subscriptionId: string, attempt: AttemptRecord): void {
    this.records.push(attempt)
  }

  succeeded(_tenantId: string, subscriptionId: string): void {
    this.succeededIds.push(subscriptionId)
  }

  outcomes(): string[] {
    return this.records.map((record) => record.outcome)
  }
}

export class FakeChanges implements SubscriptionChanger {
  readonly failures = new Map<string, FailureCount>()
  readonly disabled: { subscriptionId: string; reason: string }[] = []
  readonly removed: string[] = []

  async recordFailure(_tenantId: string, subscriptionId: string, now = Date.now()): Promise<FailureCount> {
    const count = this.failures.get(subscriptionId) ?? { count: 0, sinceMs: now }
    count.count += 1
    this.failures.set(subscriptionId, count)
    return { ...count }
  }

  async disable(_tenantId: string, subscriptionId: string, reason: string): Promise<boolean> {
    this.disabled.push({ subscriptionId, reason })
    return true
  }

  async remove(_tenantId: string, subscriptionId: string): Promise<boolean> {
    this.removed.push(subscriptionId)
    return true
  }
}

/** Answers each POST with the next scripted answer (or the function's), and signs with the real signing code. */
export class FakeWebhooks implements WebhookSender {
  readonly sent: WebhookRequest[] = []
  readonly sign = signedRequest
  private readonly answers: (SendResult | ((request: WebhookRequest) => Promise<SendResult>))[]

  constructor(...answers: (SendResult | ((request: WebhookRequest) => Promise<SendResult>))[]) {
    this.answers = answers
  }

  async send(request: WebhookRequest): Promise<SendResult> {
    this.sent.push(request)
    const answer = this.answers.shift() ?? { kind: 'response', status: 200 }
    return typeof answer === 'function' ? answer(request) : answer
  }
}

export const status = (code: number, retryAfterMs?: number): SendResult =>
  retryAfterMs === undefined ? { kind: 'response', status: code } : { kind: 'response', status: code, retryAfterMs }

/** A deliver context on fakes, with the real policies (breakers, gate, latency, retry policy) and metrics on a fresh registry. */
export function deliverWorld(options: { subscriptions?: Subscription[]; answers?: ConstructorParameters<typeof FakeWebhooks>; endpointConcurrency?: number } = {}) {
  const subscriptions = new FakeSubscriptions(...(options.subscriptions ?? [subscription('sub_1')]))
  const queue = new FakeQueue()
  const attempts = new FakeAttempts()
  const changes = new FakeChanges()
  const webhooks = new FakeWebhooks(...(options.answers ?? []))
  const breakers = new CircuitBreakers({ failureThreshold: 3, openMs: 60_000 })
  const registry = new Registry()
  const metrics = createDispatcherMetrics(registry, () => breakers.openCount())
  const shutdown = new AbortController()
  const silent = { debug() {}, info() {}, warn() {}, error() {} }
  const ctx: DeliverContext = {
    policy: { scheduleMs: SCHEDULE_MS, retryAfterMaxMs: 600_000, max4xxAttempts: 2 },
    subscriptions, webhooks, breakers, attempts, changes, retries: queue, deadLetters: queue, metrics, log: silent,
    gate: new ConcurrencyGate(8, options.endpointConcurrency ?? 4),
    latency: new EndpointLatency(250),
    shortestTierMs: SCHEDULE_MS[0]!,
    disableAfter: { failures: 3, ms: 0 },
    shutdown: shutdown.signal,
    waitOutRedisOutage: (operation) => operation(),
    random: () => 0,
  }
  /** How often the deliver stage counted this outcome (dispatcher_deliveries_total). */
  const counted = async (outcome: string) => (await metrics.deliveries.get()).values.find((value) => value.labels.outcome === outcome)?.value ?? 0
  return { ctx, subscriptions, queue, attempts, changes, webhooks, breakers, metrics, shutdown, counted }
}

/** The ordered-delivery queues as the registry keeps them in Redis, in memory (the registry's own tests cover the scripts). */
export class FakeOrder implements OrderQueue {
  readonly queues = new Map<string, { ids: string[]; tasks: Map<string, DeliveryTask> }>()
  readonly asked: string[] = []

  private queue(task: OrderedTask) {
    const key = `${task.subscriptionId}/${task.orderKey}`
    let queue = this.queues.get(key)
    if (!queue) this.queues.set(key, queue = { ids: [], tasks: new Map() })
    return queue
  }

  async enqueue(task: OrderedTask): Promise<{ position: 'head' | 'queued'; length: number }> {
    const queue = this.queue(task)
    if (!queue.ids.includes(task.deliveryId)) {
      queue.ids.push(task.deliveryId)
      queue.tasks.set(task.deliveryId, task)
    }
    return { position: queue.ids[0] === task.deliveryId ? 'head' : 'queued', length: queue.ids.length }
  }

  async position(task: OrderedTask): Promise<'head' | 'queued' | 'absent'> {
    this.asked.push(task.deliveryId)
    const index = this.queue(task).ids.indexOf(task.deliveryId)
    return index === 0 ? 'head' : index > 0 ? 'queued' : 'absent'
  }

  async release(task: OrderedTask, publish: (next: DeliveryTask) => Promise<void>): Promise<void> {
    const queue = this.queue(task)
    if (queue.ids[0] !== task.deliveryId) return
    const next = queue.ids[1]
    if (next) await publish(queue.tasks.get(next)!)
    queue.ids.shift()
    queue.tasks.delete(task.deliveryId)
  }
}

/** One subscription budget shared by every FlowPace given this store (the Redis script's rules, in memory). */
export class FakeBudgets implements FlowBudgetStore {
  readonly reservations = new Map<string, { id: string; count: number; until: number }[]>()
  readonly pauses = new Map<string, number>()
  calls = 0

  async reserve(_tenantId: string, subscriptionId: string, request: Parameters<FlowBudgetStore['reserve']>[2], now = Date.now()) {
    this.calls += 1
    let list = this.reservations.get(subscriptionId) ?? []
    if (request.refund) {
      const refunded = list.find((each) => each.id === request.refund!.id)
      if (refunded) refunded.count = request.refund.granted - request.refund.unused
    }
    const pausedUntil = this.pauses.get(subscriptionId) ?? 0
    if (pausedUntil > now) return { granted: 0, holdMs: 0, pausedUntil }
    list = list.filter((each) => each.until > now && each.count > 0)
    this.reservations.set(subscriptionId, list)
    const used = list.reduce((sum, each) => sum + each.count, 0)
    const free = request.limit - used
    if (free <= 0) return { granted: 0, holdMs: 0, freesAt: Math.min(...list.map((each) => each.until)) }
    const granted = Math.min(request.want, free)
    const holdMs = (used + granted) * 4 <= request.limit ? request.longHoldMs : request.holdMs
    list.push({ id: request.id, count: granted, until: now + request.windowMs + holdMs })
    return { granted, holdMs }
  }

  async pause(_tenantId: string, subscriptionId: string, untilMs: number): Promise<void> {
    this.pauses.set(subscriptionId, Math.max(untilMs, this.pauses.get(subscriptionId) ?? 0))
  }
}
