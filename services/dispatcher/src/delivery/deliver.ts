import { parseDeliveryTask, type AttemptOutcome, type AttemptRecord, type DeliveryTask } from '@arrivals/contracts'
import type { AttemptLog } from './attempt-log.js'
import type { CircuitBreakers } from './circuit-breaker.js'
import type { ConcurrencyGate, Release } from './concurrency-gate.js'
import type { EndpointLatency } from './endpoint-latency.js'
import type { Log } from './log.js'
import type { DispatcherMetrics } from './metrics.js'
import { decide, isEndpointFailure, type Decision, type RetryPolicy, type SendResult } from './retry-policy.js'
import type { Sender, SendRequest } from './sender.js'
import { signWebhook } from './signing.js'
import type { CachedSubscription, SubscriptionCache } from './subscription-cache.js'
import type { SubscriptionChanges } from './subscription-changes.js'
import { HELD_HEADER, NOT_BEFORE_HEADER, type BrokerMessage, type TaskQueue, type Verdict } from './task-queue.js'

/** Everything the deliver stage depends on, in one object (svix's context), so a test can build one. */
export interface DeliveryContext {
  policy: RetryPolicy
  cache: SubscriptionCache
  sender: Sender
  breakers: CircuitBreakers
  gate: ConcurrencyGate
  latency: EndpointLatency
  attempts: AttemptLog
  changes: SubscriptionChanges
  queue: TaskQueue
  metrics: DispatcherMetrics
  log: Log
  /** The shortest retry tier: where a task waits when its endpoint is busy. */
  shortestTierMs: number
  disableAfter: { failures: number; ms: number }
  /** Aborted when the drain deadline of a shutdown has passed: unfinished sends are handed back. */
  shutdown: AbortSignal
  /** Runs a Redis operation, waiting out a Redis outage (infrastructure retries, not delivery retries). */
  infra<T>(operation: () => Promise<T>): Promise<T>
  random?: () => number
}

/** The named results of one pass through the deliver stage. */
export type StageOutcome = 'delivered' | 'retry' | 'gave-up' | 'gone' | 'circuit-open' | 'skipped' | 'deferred' | 'invalid' | 'requeued'

const USER_AGENT = 'Arrivals-Webhooks/1.0'

// A fan-out's tasks share one payload object: serialise it once for all of them.
const bodies = new WeakMap<object, string>()
function bodyOf(payload: DeliveryTask['payload']): string {
  let body = bodies.get(payload)
  if (body === undefined) {
    body = JSON.stringify(payload)
    bodies.set(payload, body)
  }
  return body
}

/** Step 1 of a delivery: the signed request (a fresh timestamp per attempt, the same webhook-id always). */
export function prepare(task: DeliveryTask, subscription: CachedSubscription, now = Date.now()): SendRequest {
  const body = bodyOf(task.payload)
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    ...signWebhook(subscription.signingKey(), task.deliveryId, Math.floor(now / 1000), body),
  }
  if (task.traceparent) headers.traceparent = task.traceparent
  return { url: subscription.callbackUrl(), headers, body }
}

function attemptRecord(task: DeliveryTask, outcome: AttemptOutcome, status: number | null, durationMs: number, error?: string, nextAttemptAt?: Date): AttemptRecord {
  const record: AttemptRecord = {
    deliveryId: task.deliveryId,
    eventId: task.eventId,
    attempt: task.attempt,
    at: new Date().toISOString(),
    outcome,
    status,
    durationMs: Math.round(durationMs),
  }
  if (error !== undefined) record.error = error.slice(0, 500)
  if (nextAttemptAt) record.nextAttemptAt = nextAttemptAt.toISOString()
  return record
}

function resultClass(result: SendResult): string {
  if (result.kind !== 'response') return result.kind
  return `${Math.floor(result.status / 100)}xx`
}

/**
 * The deliver stage: parse → (wait | skip) → admit → prepare → send → settle, where settle is one of
 * delivered | retry | gave-up | gone, and admission can end in circuit-open or deferred. The message
 * is acknowledged only after whatever follows it (a retry, a dead letter) was confirmed by the broker.
 */
export async function deliver(ctx: DeliveryContext, message: BrokerMessage): Promise<Verdict> {
  const outcome = await deliverMessage(ctx, message)
  ctx.metrics.deliveries.inc({ outcome })
  return outcome === 'requeued' ? 'requeue' : 'ack'
}

async function deliverMessage(ctx: DeliveryContext, message: BrokerMessage): Promise<StageOutcome> {
  const parsed = parseDeliveryTask(message.content)
  if (!parsed.ok) {
    ctx.log.warn({ reason: parsed.reason }, 'invalid delivery task dead-lettered')
    await ctx.queue.deadLetterPipeline(message, parsed.reason)
    return 'invalid'
  }
  const task = parsed.task

  const held = message.headers[HELD_HEADER] !== undefined
  const notBefore = Number(message.headers[NOT_BEFORE_HEADER])
  if (Number.isFinite(notBefore) && notBefore > Date.now()) {
    await ctx.queue.schedule(task, notBefore - Date.now(), 'not-yet', held)
    return 'deferred'
  }

  const subscription = await ctx.infra(() => ctx.cache.find(task.tenantId, task.subscriptionId))
  if (!subscription) return skip(ctx, task, 'the subscription no longer exists')
  if (subscription.record.status !== 'active') {
    const why = `the subscription is disabled${subscription.record.disabledReason ? `: ${subscription.record.disabledReason}` : ''}`
    // A delivery cut short by the disabling (or replayed meanwhile) stays recoverable: once the
    // subscription is enabled again, the operator's redeliver-since or replay sends it. A test is not kept.
    if (task.origin === 'test') return skip(ctx, task, why)
    await ctx.queue.deadLetterTask(task, `not sent: ${why}`, 'endpoint', task.attempt - 1)
    return skip(ctx, task, `${why}; dead-lettered for redelivery once it is enabled again`)
  }

  const endpoint = subscription.record.callbackRedacted
  const release = await ctx.gate.acquire(endpoint, !ctx.latency.isFast(endpoint))
  if (release === 'busy') {
    await ctx.queue.schedule(task, ctx.shortestTierMs, 'endpoint-busy', held)
    return 'deferred'
  }
  return attempt(ctx, task, subscription, release, held)
}

/**
 * The first attempt made right in the fan-out stage, saving the second broker hop, for an endpoint
 * that is known to be fast and healthy. Undefined when it is not admitted:
 * the caller publishes a task instead. The event is acknowledged only after every inline attempt
 * settled (delivered, or its retry or dead letter confirmed), so a crash still loses nothing.
 */
export async function deliverInline(ctx: DeliveryContext, task: DeliveryTask, subscription: CachedSubscription): Promise<StageOutcome | undefined> {
  const endpoint = subscription.record.callbackRedacted
  if (!ctx.breakers.isClosed(endpoint) || !ctx.latency.isFast(endpoint)) return undefined
  // A fast endpoint at its cap: wait for a slot here (milliseconds); turned slow meanwhile: a task.
  const release = await ctx.gate.acquire(endpoint, false)
  if (release === 'busy') return undefined
  const outcome = await attempt(ctx, task, subscription, release)
  ctx.metrics.deliveries.inc({ outcome })
  return outcome
}

/** One attempt with a send slot held: circuit check → prepare → send → settle. */
async function attempt(ctx: DeliveryContext, task: DeliveryTask, subscription: CachedSubscription, release: Release, held = false): Promise<StageOutcome> {
  const endpoint = subscription.record.callbackRedacted
  let result: SendResult
  let durationMs: number
  try {
    // Another attempt may have been answered 410 while this one waited for its slot.
    if (ctx.cache.isGone(task.subscriptionId)) return skip(ctx, task, 'the receiver answered 410 Gone to an earlier delivery; the subscription was removed')
    const circuit = ctx.breakers.check(endpoint, task.attempt)
    if (!circuit.allowed) {
      const dueAt = await ctx.queue.schedule(task, circuit.retryInMs, 'circuit-open', true)
      // Once per held task: a long outage must not flood the (capped) history with these.
      if (!held) ctx.attempts.record(task.subscriptionId, attemptRecord(task, 'circuit-open', null, 0, 'the endpoint looks down (its circuit breaker is open); the delivery waits without spending an attempt', dueAt))
      return 'circuit-open'
    }
    let request: SendRequest
    try {
      request = prepare(task, subscription)
    } catch (error) {
      // Arrivals' fault, not the endpoint's: a pipeline dead letter (replayable once the key is fixed),
      // and no failure counted toward disabling the subscription.
      ctx.log.error({ subscriptionId: task.subscriptionId, err: { message: (error as Error).message } }, 'cannot open the subscription secrets')
      const reason = 'the callback or signing secret cannot be opened (is CALLBACK_ENCRYPTION_KEY the same as the subscriptions service\'s?)'
      await ctx.queue.deadLetterTask(task, reason, 'pipeline')
      ctx.attempts.record(task.subscriptionId, attemptRecord(task, 'gave-up', null, 0, reason))
      return 'gave-up'
    }
    const started = performance.now()
    const finished = ctx.latency.begin(endpoint, started)
    result = await ctx.sender.send({ ...request, signal: ctx.shutdown })
    durationMs = performance.now() - started
    finished(durationMs)
    const delivered = result.kind === 'response' && result.status >= 200 && result.status < 300
    if (ctx.shutdown.aborted && !delivered) return 'requeued'
    if (result.kind !== 'refused') ctx.breakers.record(endpoint, isEndpointFailure(result))
  } finally {
    release()
  }
  ctx.metrics.attemptDuration.observe({ result: resultClass(result) }, durationMs / 1000)
  return settle(ctx, task, subscription, decide(ctx.policy, task.attempt, result, ctx.random), result, durationMs)
}

function skip(ctx: DeliveryContext, task: DeliveryTask, reason: string): StageOutcome {
  ctx.log.debug({ subscriptionId: task.subscriptionId, deliveryId: task.deliveryId, reason }, 'delivery skipped')
  ctx.attempts.record(task.subscriptionId, attemptRecord(task, 'skipped', null, 0, reason))
  return 'skipped'
}

/** The last step: what follows the answer. */
async function settle(ctx: DeliveryContext, task: DeliveryTask, subscription: CachedSubscription, decision: Decision, result: SendResult, durationMs: number): Promise<StageOutcome> {
  const status = result.kind === 'response' ? result.status : null
  const fields = { subscriptionId: task.subscriptionId, deliveryId: task.deliveryId, attempt: task.attempt, status }
  switch (decision.outcome) {
    case 'delivered': {
      ctx.attempts.record(task.subscriptionId, attemptRecord(task, 'delivered', status, durationMs))
      ctx.attempts.succeeded(task.subscriptionId)
      ctx.metrics.eventToDelivery.observe({ origin: task.origin }, Math.max(0, Date.now() - task.createdAt) / 1000)
      return 'delivered'
    }
    case 'gone': {
      ctx.cache.markGone(task.subscriptionId)
      const removed = await ctx.infra(() => ctx.changes.remove(task.tenantId, task.subscriptionId))
      if (removed) ctx.metrics.subscriptionsChanged.inc({ change: 'removed' })
      ctx.log.info(fields, 'receiver answered 410 Gone; subscription removed')
      ctx.attempts.record(task.subscriptionId, attemptRecord(task, 'gone', status, durationMs, decision.reason))
      return 'gone'
    }
    case 'retry': {
      const next: DeliveryTask = { ...task, attempt: task.attempt + 1, lastStatus: status, lastError: decision.reason.slice(0, 500) }
      const dueAt = await ctx.queue.schedule(next, decision.delayMs, 'retry')
      ctx.log.info({ ...fields, delayMs: decision.delayMs, error: decision.reason }, 'delivery failed; retry scheduled')
      ctx.attempts.record(task.subscriptionId, attemptRecord(task, 'retrying', status, durationMs, decision.reason, dueAt))
      await noteFailure(ctx, task, subscription, decision.reason)
      return 'retry'
    }
    case 'gave-up': {
      await ctx.queue.deadLetterTask({ ...task, lastStatus: status, lastError: decision.reason.slice(0, 500) }, decision.reason)
      ctx.log.warn({ ...fields, reason: decision.reason }, 'delivery gave up; dead-lettered')
      ctx.attempts.record(task.subscriptionId, attemptRecord(task, 'gave-up', status, durationMs, decision.reason))
      await noteFailure(ctx, task, subscription, decision.reason)
      return 'gave-up'
    }
  }
}

/** Counts the failure; after sustained failure (count and duration both reached) disables the subscription. */
async function noteFailure(ctx: DeliveryContext, task: DeliveryTask, subscription: CachedSubscription, what: string): Promise<void> {
  try {
    const now = Date.now()
    const { count, sinceMs } = await ctx.changes.recordFailure(task.subscriptionId, now)
    if (count < ctx.disableAfter.failures || now - sinceMs < ctx.disableAfter.ms) return
    const reason = `disabled after ${count} consecutive failed attempts over ${Math.round((now - sinceMs) / 1000)} s; last: ${what}`
    if (await ctx.changes.disable(task.tenantId, subscription.record.id, reason)) {
      ctx.metrics.subscriptionsChanged.inc({ change: 'disabled' })
      ctx.log.warn({ subscriptionId: task.subscriptionId, tenantId: task.tenantId, failures: count }, 'subscription disabled after sustained failure')
    }
  } catch (error) {
    // Bookkeeping only: the delivery itself is already settled.
    ctx.log.warn({ subscriptionId: task.subscriptionId, err: { message: (error as Error).message } }, 'failure count not recorded')
  }
}
