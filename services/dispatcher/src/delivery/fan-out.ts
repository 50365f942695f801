import { deliveryIdFor, parseEvent, toNotification, type DeliveryTask } from '@arrivals/contracts'
import type { Log } from './log.js'
import type { DispatcherMetrics } from './metrics.js'
import type { SubscriptionCache } from './subscription-cache.js'
import { validTraceparent, type BrokerMessage, type TaskQueue, type Verdict } from './task-queue.js'

export interface FanOutContext {
  cache: SubscriptionCache
  queue: TaskQueue
  metrics: DispatcherMetrics
  log: Log
  infra<T>(operation: () => Promise<T>): Promise<T>
}

/**
 * The fan-out stage: validate the event, find the tenant's matching subscriptions, publish one task
 * per match, and only then acknowledge. A crash before the ack redelivers the event; the tasks it
 * publishes again carry the same deliveryId (webhook-id), so receivers can recognise the duplicate.
 * An invalid event is dead-lettered with the reason and acknowledged: it never loops.
 */
export async function fanOut(ctx: FanOutContext, message: BrokerMessage): Promise<Verdict> {
  const parsed = parseEvent(message.content)
  if (!parsed.ok) {
    ctx.log.warn({ reason: parsed.reason, tenantId: typeof message.headers.tenantid === 'string' ? message.headers.tenantid : undefined }, 'invalid event dead-lettered')
    await ctx.queue.deadLetterPipeline(message, parsed.reason)
    ctx.metrics.events.inc({ result: 'invalid' })
    return 'ack'
  }
  const event = parsed.event
  const tenantId = event.tenantid
  if (!tenantId) {
    // Not an error (DESIGN): an event without a tenant matches nothing.
    ctx.metrics.events.inc({ result: 'no-tenant' })
    return 'ack'
  }
  const matches = await ctx.infra(() => ctx.cache.match(tenantId, event))
  if (matches.length === 0) {
    ctx.metrics.events.inc({ result: 'no-match' })
    return 'ack'
  }
  const payload = toNotification(event)
  const traceparent = validTraceparent(message.headers.traceparent) ?? validTraceparent(event.traceparent)
  const createdAt = Date.now()
  await Promise.all(matches.map(({ record }) => {
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
    return ctx.queue.publishTask(task)
  }))
  ctx.metrics.tasksPublished.inc(matches.length)
  ctx.metrics.events.inc({ result: 'fanned-out' })
  return 'ack'
}
