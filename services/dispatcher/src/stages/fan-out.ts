import { catalogueEntry, deliveryIdFor, inSpan, parseEvent, validTraceparent, type DeliveryTask } from '@arrivals/contracts'
import type { BrokerMessage, Verdict } from '../messages.js'
import type { DispatcherMetrics } from '../metrics.js'
import type { DeadLetters, Log, SubscriptionMatcher, TaskPublisher, WaitOutRedisOutage } from '../ports.js'
import { deliver, type DeliverContext, type NotAdmitted, type Outcome } from './deliver.js'
import { enqueue, type OrderContext } from './order.js'

/** What the fan-out stage works with for the life of the process. */
export interface FanOutContext {
  subscriptions: SubscriptionMatcher
  tasks: TaskPublisher
  deadLetters: DeadLetters
  metrics: DispatcherMetrics
  log: Log
  waitOutRedisOutage: WaitOutRedisOutage
  /** When set, the first attempt to a fast, healthy endpoint is made here (the deliver stage's inline entry) instead of through a task. */
  inline?: DeliverContext
  /** Ordered delivery (stages/order.ts): an ordered subscription's delivery goes on only at the head of its store's queue. */
  order?: OrderContext
}

/**
 * The fan-out stage: validate the event, find the tenant's matching subscriptions, publish one task
 * per match (or make the first attempt right here for a fast, healthy endpoint), and only then
 * acknowledge. A crash before the ack redelivers the event; the tasks it publishes again carry the
 * same deliveryId (webhook-id), so receivers can recognise the duplicate. An invalid event is
 * dead-lettered with the reason and acknowledged: it never loops.
 */
export async function fanOut(ctx: FanOutContext, message: BrokerMessage): Promise<Verdict> {
  // One span per event handled: the tasks carry its context on, so each attempt is its child.
  const attributes = { 'messaging.message.id': message.messageId ?? '' }
  return inSpan('fan-out', { traceparent: validTraceparent(message.headers.traceparent), attributes }, (span) => fanOutEvent(ctx, message, span.traceparent))
}

async function fanOutEvent(ctx: FanOutContext, message: BrokerMessage, carried: string | undefined): Promise<Verdict> {
  const parsed = parseEvent(message.content)
  if (!parsed.ok) {
    ctx.log.warn({ reason: parsed.reason, tenantId: typeof message.headers.tenantid === 'string' ? message.headers.tenantid : undefined }, 'invalid event dead-lettered')
    await ctx.deadLetters.deadLetterMessage(message, parsed.reason)
    ctx.metrics.events.inc({ result: 'invalid' })
    return 'ack'
  }
  const event = parsed.event
  const tenantId = event.tenantid
  if (!tenantId) {
    // A tenant in the AMQP header but not in the event is an integrator's slip, not a choice: it would
    // match nothing in silence, so it is dead-lettered with what to fix (operators and the producer see it).
    if (typeof message.headers.tenantid === 'string') {
      const reason = 'the event has no tenantid attribute (the tenant is only in the AMQP header): set the CloudEvents extension attribute tenantid in the event itself'
      ctx.log.warn({ reason }, 'invalid event dead-lettered')
      await ctx.deadLetters.deadLetterMessage(message, reason)
      ctx.metrics.events.inc({ result: 'invalid' })
      return 'ack'
    }
    // Not an error (DESIGN): an event without a tenant matches nothing.
    ctx.metrics.events.inc({ result: 'no-tenant' })
    return 'ack'
  }
  // parseEvent validated the event against this very entry, so it is there.
  const entry = catalogueEntry(event.type)!
  const matches = await ctx.waitOutRedisOutage(() => ctx.subscriptions.match(tenantId, event, entry))
  if (matches.length === 0) {
    ctx.metrics.events.inc({ result: 'no-match' })
    return 'ack'
  }
  const payload = entry.toNotification(event)
  const traceparent = carried ?? validTraceparent(event.traceparent)
  const createdAt = Date.now()
  let published = 0
  const outcomes = await Promise.all(matches.map(async (subscription): Promise<Outcome | 'published' | 'queued'> => {
    const { record } = subscription
    const task: DeliveryTask = {
      kind: 'deliver',
      deliveryId: deliveryIdFor(event.id, record.id),
      subscriptionId: record.id,
      tenantId,
      eventId: event.id,
      eventType: event.type,
      attempt: 1,
      createdAt,
      occurredAt: event.time,
      origin: 'event',
      payload,
    }
    if (traceparent) task.traceparent = traceparent
    if (record.ordered && ctx.order) {
      // Behind an earlier delivery of its store: it waits in the queue, published when its turn comes.
      task.orderKey = event.data.storeId
      if (!(await enqueue(ctx.order, { ...task, orderKey: event.data.storeId }))) return 'queued'
    }
    const inline: Outcome | NotAdmitted = ctx.inline
      ? await deliver(ctx.inline, { kind: 'delivery', inline: true, task, subscription, held: false })
      : 'not-admitted'
    if (inline !== 'not-admitted') return inline
    await ctx.tasks.publishTask(task)
    published += 1
    return 'published'
  }))
  ctx.metrics.tasksPublished.inc(published)
  // Shutting down in the middle of an inline attempt: the whole event comes back (same webhook-ids).
  if (outcomes.includes('requeued')) return 'requeue'
  ctx.metrics.events.inc({ result: 'fanned-out' })
  return 'ack'
}
