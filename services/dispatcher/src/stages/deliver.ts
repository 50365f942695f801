import { parseDeliveryTask, startSpan, type AttemptOutcome, type AttemptRecord, type DeliveryTask } from '@arrivals/contracts'
import { HELD_HEADER, NOT_BEFORE_HEADER, type BrokerMessage } from '../messages.js'
import type { DispatcherMetrics } from '../metrics.js'
import type { CircuitBreakers } from '../policies/circuit-breaker.js'
import type { ConcurrencyGate } from '../policies/concurrency-gate.js'
import type { EndpointLatency } from '../policies/endpoint-latency.js'
import type { FlowPace } from '../policies/flow-pace.js'
import { decide, isEndpointFailure, type Decision, type RetryPolicy, type SendResult } from '../policies/retry-policy.js'
import type {
  AttemptRecorder, DeadLetters, Log, RetryScheduler, Subscription, SubscriptionChanger, SubscriptionLookup, WaitOutRedisOutage, WebhookRequest, WebhookSender,
} from '../ports.js'
import { admit, orderedTask, release, skippedOver, type OrderContext } from './order.js'

/** What the deliver stage works with for the life of the process (svix's context); a unit test builds one from fakes. */
export interface DeliverContext {
  policy: RetryPolicy
  subscriptions: SubscriptionLookup
  webhooks: WebhookSender
  breakers: CircuitBreakers
  gate: ConcurrencyGate
  latency: EndpointLatency
  attempts: AttemptRecorder
  changes: SubscriptionChanger
  retries: RetryScheduler
  deadLetters: DeadLetters
  metrics: DispatcherMetrics
  log: Log
  /** The shortest retry tier: where a task waits when its endpoint is busy. */
  shortestTierMs: number
  disableAfter: { failures: number; ms: number }
  /** Aborted when the drain deadline of a shutdown has passed: unfinished sends are handed back. */
  shutdown: AbortSignal
  waitOutRedisOutage: WaitOutRedisOutage
  random?: () => number
  /** Ordered delivery (stages/order.ts): absent, tasks are sent as they come. */
  order?: OrderContext
  /** The flow rate and receivers' pauses (policies/flow-pace.ts): absent, no limit. */
  pace?: FlowPace
}

/**
 * How one pass through the deliver stage ended: the one outcome type, also the `outcome` label of
 * dispatcher_deliveries_total. The first four are the retry policy's decisions on an answer.
 */
export type Outcome = Decision['outcome'] | 'circuit-open' | 'skipped' | 'deferred' | 'invalid' | 'requeued' | 'duplicate'

/** The outcomes that finish a delivery: an ordered one lets the next of its store go. */
const FINISHED: ReadonlySet<Outcome> = new Set<Outcome>(['delivered', 'gone', 'gave-up', 'skipped'])

/** The inline attempt was not admitted (circuit not closed, endpoint slow, or turned slow while waiting): the fan-out publishes a task instead. */
export type NotAdmitted = 'not-admitted'

/** A delivery with its subscription found: what the attempt step works on. */
export interface Delivery {
  kind: 'delivery'
  /** Made by the fan-out stage (the first attempt, no task published yet) rather than from the deliveries queue. */
  inline: boolean
  task: DeliveryTask
  subscription: Subscription
  /** An open circuit already held this task back once (its history says so already). */
  held: boolean
}

/** The two ways in: a task from the deliveries queue, or the first attempt inline from the fan-out stage. */
export type Entry = { kind: 'message'; message: BrokerMessage } | Delivery

// Step results: each step hands the delivery on with what the next step needs, or ends it.
interface Ended { kind: 'ended'; outcome: Outcome; task?: DeliveryTask }
interface Answered { kind: 'answered'; result: SendResult; durationMs: number }
type Received = Delivery | Ended
type Attempted = Answered | Ended | { kind: NotAdmitted }

// The endings carry no data: one constant each, no allocation per message.
const ended = (outcome: Outcome): Ended => ({ kind: 'ended', outcome })
const ENDED = {
  'circuit-open': ended('circuit-open'), 'skipped': ended('skipped'), 'deferred': ended('deferred'), 'invalid': ended('invalid'),
  'requeued': ended('requeued'), 'gave-up': ended('gave-up'), 'duplicate': ended('duplicate'),
} as const
const NOT_ADMITTED = { kind: 'not-admitted' } as const

/**
 * The deliver stage's one door, for both entries: receive (queue only: parse, due?, find, active?) →
 * attempt (admit to a send slot, circuit, sign, POST) → conclude (carry out the retry policy's
 * decision). The queued message is acknowledged only after whatever follows it (a retry, a dead
 * letter) was confirmed by the broker; an inline attempt likewise before its event is.
 */
export async function deliver(ctx: DeliverContext, entry: Entry): Promise<Outcome | NotAdmitted> {
  const delivery = entry.kind === 'message' ? await receive(ctx, entry.message) : entry
  if (delivery.kind === 'ended') return finished(ctx, delivery.task, delivery.outcome)
  const attempted = await attempt(ctx, delivery)
  if (attempted.kind === 'not-admitted') return attempted.kind
  if (attempted.kind === 'ended') return finished(ctx, delivery.task, attempted.outcome)
  return finished(ctx, delivery.task, await conclude(ctx, delivery, attempted))
}

/**
 * Counts the outcome; a finished ordered delivery first lets the next one of its store go (before its
 * own message is acknowledged). Unordered deliveries return at once (no extra promise on the hot path).
 */
function finished(ctx: DeliverContext, task: DeliveryTask | undefined, outcome: Outcome): Outcome | Promise<Outcome> {
  if (!ctx.order || task?.orderKey === undefined || !FINISHED.has(outcome) || !orderedTask(task)) return counted(ctx, outcome)
  return release(ctx.order, task).then(() => counted(ctx, outcome))
}

/** Every outcome is counted once; a shutdown hands the message back. */
function counted(ctx: DeliverContext, outcome: Outcome): Outcome {
  ctx.metrics.deliveries.inc({ outcome })
  return outcome
}

/** The consumer's verdict on a queued task once the stage is done with it. */
export function verdictOf(outcome: Outcome | NotAdmitted): 'ack' | 'requeue' {
  return outcome === 'requeued' ? 'requeue' : 'ack'
}

/** Step 1 (queue only): a task that is due, for an active subscription. */
async function receive(ctx: DeliverContext, message: BrokerMessage): Promise<Received> {
  const parsed = parseDeliveryTask(message.content)
  if (!parsed.ok) {
    ctx.log.warn({ reason: parsed.reason }, 'invalid delivery task dead-lettered')
    await ctx.deadLetters.deadLetterMessage(message, parsed.reason)
    return ENDED.invalid
  }
  const task = parsed.task

  const held = message.headers[HELD_HEADER] !== undefined
  const notBefore = Number(message.headers[NOT_BEFORE_HEADER])
  if (Number.isFinite(notBefore) && notBefore > Date.now()) {
    // Clamped: a not-before beyond any wait Arrivals sets (a forged or corrupt mark, years ahead)
    // would otherwise send the task round the longest tier forever.
    await ctx.retries.schedule(task, Math.min(notBefore - Date.now(), longestWaitMs(ctx.policy)), 'not-yet', held)
    return ENDED.deferred
  }
  if (ctx.order && orderedTask(task) && !(await admit(ctx.order, task))) return ENDED.duplicate

  const subscription = await ctx.waitOutRedisOutage(() => ctx.subscriptions.find(task.tenantId, task.subscriptionId))
  if (!subscription) return skip(ctx, task, 'the subscription no longer exists')
  if (subscription.record.status !== 'active') {
    const why = `the subscription is disabled${subscription.record.disabledReason ? `: ${subscription.record.disabledReason}` : ''}`
    // A delivery cut short by the disabling (or replayed meanwhile) stays recoverable: once the
    // subscription is enabled again, the operator's redeliver-since or replay sends it. A test is not kept.
    if (task.origin === 'test') return skip(ctx, task, why)
    await ctx.deadLetters.deadLetterTask(task, `not sent: ${why}`, 'endpoint', task.attempt - 1)
    return skip(ctx, task, `${why}; dead-lettered for redelivery once it is enabled again`)
  }
  return { kind: 'delivery', inline: false, task, subscription, held }
}

/** The longest wait the dispatcher itself gives a task: its retry schedule, or a receiver's Retry-After. */
export function longestWaitMs(policy: RetryPolicy): number {
  return Math.max(policy.retryAfterMaxMs, ...policy.scheduleMs)
}

/** Step 2: admission to a send slot, then (slot held) the circuit, the signed request and the POST. */
async function attempt(ctx: DeliverContext, delivery: Delivery): Promise<Attempted> {
  const { task, subscription } = delivery
  const endpoint = subscription.record.callbackRedacted
  // Inline only for an endpoint known fast and healthy; a fast one at its cap is waited for here
  // (milliseconds), and one that turns slow meanwhile (the gate's trim) becomes a task.
  if (delivery.inline && (!ctx.breakers.isClosed(endpoint) || !ctx.latency.isFast(endpoint))) return NOT_ADMITTED
  const release = await ctx.gate.acquire(endpoint, !delivery.inline && !ctx.latency.isFast(endpoint))
  if (release === 'busy') {
    if (delivery.inline) return NOT_ADMITTED
    await ctx.retries.schedule(task, ctx.shortestTierMs, 'endpoint-busy', delivery.held)
    return ENDED.deferred
  }

  let result: SendResult
  let durationMs: number
  try {
    // Another attempt may have been answered 410 while this one waited for its slot.
    if (ctx.subscriptions.isGone(task.subscriptionId)) return skip(ctx, task, 'the receiver answered 410 Gone to an earlier delivery; the subscription was removed')
    const circuit = ctx.breakers.check(endpoint, task.attempt)
    if (!circuit.allowed) {
      const dueAt = await ctx.retries.schedule(task, circuit.retryInMs, 'circuit-open', true)
      // Once per held task: a long outage must not flood the (capped) history with these.
      if (!delivery.held) ctx.attempts.record(task.tenantId, task.subscriptionId, attemptRecord(task, 'circuit-open', null, 0, 'the endpoint looks down (its circuit breaker is open); the delivery waits without spending an attempt', dueAt))
      return ENDED['circuit-open']
    }
    if (ctx.pace) {
      // Over the flow rate, or paused by a receiver's 429: waits in a tier without spending an attempt.
      let pace = ctx.pace.take(task.tenantId, task.subscriptionId, subscription.record.flowRateLimit)
      if (pace instanceof Promise) pace = await pace.catch(() => ctx.waitOutRedisOutage(async () => ctx.pace!.take(task.tenantId, task.subscriptionId, subscription.record.flowRateLimit)))
      if (!pace.go) {
        if (delivery.inline) return NOT_ADMITTED
        ctx.metrics.held.inc({ reason: pace.reason })
        await ctx.retries.schedule(task, pace.waitMs, pace.reason, delivery.held)
        return ENDED.deferred
      }
    }
    // The webhook POST's client span: its context is the request's traceparent (undici's own
    // instrumentation is not used, see service-kit's tracing-sdk.ts).
    const span = startSpan('webhook attempt', { kind: 'client', traceparent: task.traceparent, attributes: { 'arrivals.delivery_id': task.deliveryId, 'arrivals.attempt': task.attempt, 'server.address': endpoint } })
    let request: WebhookRequest
    try {
      request = ctx.webhooks.sign(span.traceparent === task.traceparent ? task : { ...task, traceparent: span.traceparent }, subscription)
    } catch (error) {
      span.end('cannot open the subscription secrets')
      // Arrivals' fault, not the endpoint's: a pipeline dead letter (replayable once the key is fixed),
      // and no failure counted toward disabling the subscription.
      ctx.log.error({ subscriptionId: task.subscriptionId, err: { message: (error as Error).message } }, 'cannot open the subscription secrets')
      const reason = 'the callback or signing secret cannot be opened (is CALLBACK_ENCRYPTION_KEY the same as the subscriptions service\'s?)'
      await ctx.deadLetters.deadLetterTask(task, reason, 'pipeline')
      ctx.attempts.record(task.tenantId, task.subscriptionId, attemptRecord(task, 'gave-up', null, 0, reason))
      return ENDED['gave-up']
    }
    const started = performance.now()
    const finished = ctx.latency.begin(endpoint, started)
    result = await ctx.webhooks.send({ ...request, signal: ctx.shutdown }).catch((error: unknown) => {
      span.end(String(error))
      throw error
    })
    if (result.kind === 'response') span.setAttribute('http.response.status_code', result.status)
    span.end(result.kind !== 'response' ? result.kind : result.status >= 400 ? `HTTP ${result.status}` : undefined)
    durationMs = performance.now() - started
    finished(durationMs)
    const delivered = result.kind === 'response' && result.status >= 200 && result.status < 300
    if (ctx.shutdown.aborted && !delivered) return ENDED.requeued
    if (result.kind !== 'refused') ctx.breakers.record(endpoint, isEndpointFailure(result))
  } finally {
    release()
  }
  ctx.metrics.attemptDuration.observe({ result: resultClass(result) }, durationMs / 1000)
  return { kind: 'answered', result, durationMs }
}

/** Step 3: carries out the retry policy's decision on the answer. */
async function conclude(ctx: DeliverContext, delivery: Delivery, answered: Answered): Promise<Outcome> {
  const { task, subscription } = delivery
  const { result, durationMs } = answered
  const decision = decide(ctx.policy, task.attempt, result, ctx.random)
  const status = result.kind === 'response' ? result.status : null
  if (ctx.pace && status === 429 && result.kind === 'response' && result.retryAfterMs !== undefined) await pauseFlow(ctx, ctx.pace, task, result.retryAfterMs)
  const fields = { subscriptionId: task.subscriptionId, deliveryId: task.deliveryId, attempt: task.attempt, status }
  switch (decision.outcome) {
    case 'delivered': {
      ctx.attempts.record(task.tenantId, task.subscriptionId, attemptRecord(task, 'delivered', status, durationMs))
      ctx.attempts.succeeded(task.tenantId, task.subscriptionId)
      ctx.metrics.eventToDelivery.observe({ origin: task.origin }, Math.max(0, Date.now() - task.createdAt) / 1000)
      return 'delivered'
    }
    case 'gone': {
      ctx.subscriptions.markGone(task.subscriptionId)
      const removed = await ctx.waitOutRedisOutage(() => ctx.changes.remove(task.tenantId, task.subscriptionId))
      if (removed) ctx.metrics.subscriptionsChanged.inc({ change: 'removed' })
      ctx.log.info(fields, 'receiver answered 410 Gone; subscription removed')
      ctx.attempts.record(task.tenantId, task.subscriptionId, attemptRecord(task, 'gone', status, durationMs, decision.reason))
      return 'gone'
    }
    case 'retry': {
      const next: DeliveryTask = { ...task, attempt: task.attempt + 1, lastStatus: status, lastError: decision.reason.slice(0, 500) }
      const dueAt = await ctx.retries.schedule(next, decision.delayMs, 'retry')
      ctx.log.info({ ...fields, delayMs: decision.delayMs, error: decision.reason }, 'delivery failed; retry scheduled')
      ctx.attempts.record(task.tenantId, task.subscriptionId, attemptRecord(task, 'retry', status, durationMs, decision.reason, dueAt))
      await countFailure(ctx, task, subscription, decision.reason)
      return 'retry'
    }
    case 'gave-up': {
      const reason = orderedTask(task) && ctx.order ? `${decision.reason}${skippedOver(task)}` : decision.reason
      await ctx.deadLetters.deadLetterTask({ ...task, lastStatus: status, lastError: decision.reason.slice(0, 500) }, reason)
      ctx.log.warn({ ...fields, reason: decision.reason }, 'delivery gave up; dead-lettered')
      ctx.attempts.record(task.tenantId, task.subscriptionId, attemptRecord(task, 'gave-up', status, durationMs, decision.reason))
      await countFailure(ctx, task, subscription, decision.reason)
      return 'gave-up'
    }
  }
}

function skip(ctx: DeliverContext, task: DeliveryTask, reason: string): Ended {
  ctx.log.debug({ subscriptionId: task.subscriptionId, deliveryId: task.deliveryId, reason }, 'delivery skipped')
  ctx.attempts.record(task.tenantId, task.subscriptionId, attemptRecord(task, 'skipped', null, 0, reason))
  return task.orderKey === undefined ? ENDED.skipped : { kind: 'ended', outcome: 'skipped', task }
}

/** A 429 with Retry-After pauses the subscription on every replica until then (capped); bookkeeping, never fatal. */
async function pauseFlow(ctx: DeliverContext, pace: FlowPace, task: DeliveryTask, retryAfterMs: number): Promise<void> {
  const untilMs = Date.now() + Math.min(retryAfterMs, ctx.policy.retryAfterMaxMs)
  try {
    await pace.pause(task.tenantId, task.subscriptionId, untilMs)
  } catch (error) {
    ctx.log.warn({ subscriptionId: task.subscriptionId, err: { message: (error as Error).message } }, 'pause after 429 not shared with the other replicas')
  }
}

/** The outcomes an attempt record is written for. */
type RecordedOutcome = Exclude<Outcome, 'deferred' | 'invalid' | 'requeued' | 'duplicate'>

/** The history spells `retry` as the API does (`retrying`); every other outcome is the same word. */
function attemptRecord(task: DeliveryTask, outcome: RecordedOutcome, status: number | null, durationMs: number, error?: string, nextAttemptAt?: Date): AttemptRecord {
  const recorded: AttemptOutcome = outcome === 'retry' ? 'retrying' : outcome
  const record: AttemptRecord = {
    deliveryId: task.deliveryId,
    eventId: task.eventId,
    attempt: task.attempt,
    at: new Date().toISOString(),
    outcome: recorded,
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

/** Counts the failure; after sustained failure (count and duration both reached) disables the subscription. */
async function countFailure(ctx: DeliverContext, task: DeliveryTask, subscription: Subscription, what: string): Promise<void> {
  try {
    const now = Date.now()
    const { count, sinceMs } = await ctx.changes.recordFailure(task.tenantId, task.subscriptionId, now)
    if (count < ctx.disableAfter.failures || now - sinceMs < ctx.disableAfter.ms) return
    const reason = `disabled after ${count} consecutive failed attempts over ${Math.round((now - sinceMs) / 1000)} s; last: ${what}`
    if (await ctx.changes.disable(task.tenantId, subscription.record.id, reason)) {
      ctx.metrics.subscriptionsChanged.inc({ change: 'disabled' })
      ctx.log.warn({ subscriptionId: task.subscriptionId, tenantId: task.tenantId, failures: count }, 'subscription disabled after sustained failure')
    }
  } catch (error) {
    // Bookkeeping only: the delivery's outcome is already durable.
    ctx.log.warn({ subscriptionId: task.subscriptionId, err: { message: (error as Error).message } }, 'failure count not recorded')
  }
}
