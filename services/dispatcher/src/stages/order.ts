import type { DeliveryTask } from '@arrivals/contracts'
import type { DispatcherMetrics } from '../metrics.js'
import type { Log, OrderedTask, OrderQueue, TaskPublisher, WaitOutRedisOutage } from '../ports.js'

/**
 * Ordered delivery (DESIGN, "Ordered delivery"; docs/decisions/0006): per (subscription, store) a
 * queue in Redis, shared by every replica, whose head is the one delivery being made. The fan-out
 * queues each delivery of an ordered subscription; only a head goes on (inline or as a task), the
 * rest wait in Redis without any broker message. Whoever finishes the head (delivered, dead-lettered,
 * skipped) publishes the next one and only then removes the head. A retried head keeps its place, so
 * it holds the later deliveries of its store for its subscription, and nothing else.
 */
export interface OrderContext {
  queue: OrderQueue
  tasks: TaskPublisher
  metrics: DispatcherMetrics
  log: Log
  waitOutRedisOutage: WaitOutRedisOutage
}

/**
 * An event's delivery to an ordered subscription. Replays, redeliveries and tests are an operator's
 * choice, sent as they come.
 */
export function orderedTask(task: DeliveryTask): task is OrderedTask {
  return task.orderKey !== undefined && task.origin === 'event'
}

/** Fan-out: queues the delivery behind its store's earlier ones; true when it is the head (it goes now). */
export async function enqueue(ctx: OrderContext, task: OrderedTask): Promise<boolean> {
  const { position } = await ctx.waitOutRedisOutage(() => ctx.queue.enqueue(task))
  if (position === 'head') return true
  ctx.metrics.held.inc({ reason: 'ordered' })
  return false
}

/**
 * Deliver: may this task be sent? A task behind another one of its queue is a stale copy (a crash
 * between publishing the next head and removing the old one): the head will publish its own. A task
 * the queue no longer knows was released already (a late copy) or was lost with Redis's data: it is
 * sent, since a duplicate with the same webhook-id is better than a lost webhook.
 */
export async function admit(ctx: OrderContext, task: OrderedTask): Promise<boolean> {
  const position = await ctx.waitOutRedisOutage(() => ctx.queue.position(task))
  if (position !== 'queued') return true
  ctx.log.debug({ subscriptionId: task.subscriptionId, deliveryId: task.deliveryId }, 'stale copy of an ordered delivery dropped; its turn comes from the queue')
  return false
}

/** Deliver: the head is finished; the next delivery of its store is published, then the head removed. */
export async function release(ctx: OrderContext, task: OrderedTask): Promise<void> {
  await ctx.waitOutRedisOutage(() => ctx.queue.release(task, (next) => ctx.tasks.publishTask(next)))
}

/** What a dead letter of an ordered delivery adds to its reason. */
export function skippedOver(task: OrderedTask): string {
  return `; ordered delivery: the later deliveries of store ${task.orderKey} went on without this one`
}
