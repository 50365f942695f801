import { createHash } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { parseBoundedJson } from './bounded-json.js'
import { TenantId } from './goods-received.js'
import { GoodsReceivedNotification } from './notification.js'
import { StockAdjustedNotification } from './stock-adjusted.js'

/**
 * One delivery of one event to one subscription: the unit the dispatcher's deliver stage consumes.
 * A retry is a new task with `attempt + 1` and a delay (as svix does), never a nack-and-requeue, so
 * the task carries everything the next attempt needs and its `deliveryId` (the `webhook-id`) is
 * stable across every retry, replay and redelivery of the same delivery.
 */
export const DeliveryOrigin = Type.Union([
  Type.Literal('event'),
  Type.Literal('test'),
  Type.Literal('replay'),
  Type.Literal('redeliver'),
])
export type DeliveryOrigin = Static<typeof DeliveryOrigin>

export const DeliveryTask = Type.Object({
  kind: Type.Literal('deliver'),
  deliveryId: Type.String({ pattern: '^msg_[A-Za-z0-9_-]{1,64}$', description: 'Standard Webhooks webhook-id; stable across retries.' }),
  subscriptionId: Type.String({ minLength: 1, maxLength: 64 }),
  tenantId: TenantId,
  eventId: Type.String({ minLength: 1, maxLength: 128 }),
  eventType: Type.String({ minLength: 1, maxLength: 128 }),
  /** 1 for the first attempt. */
  attempt: Type.Integer({ minimum: 1 }),
  /** When the task was first created (ms since epoch); event-to-delivery latency starts here. */
  createdAt: Type.Integer({ minimum: 0 }),
  /** When the event itself happened, for latency metrics. */
  occurredAt: Type.Optional(Type.String()),
  origin: DeliveryOrigin,
  traceparent: Type.Optional(Type.String({ maxLength: 55 })),
  /**
   * Set for an ordered subscription's event deliveries: the store whose webhooks go in publish order.
   * The dispatcher keeps the later deliveries of that store behind this one until it is delivered or
   * dead-lettered; replays and redeliveries drop it (an operator's choice, not the store's order).
   */
  orderKey: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** Last failure, carried forward so exhaustion can say what went wrong. */
  lastStatus: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  lastError: Type.Optional(Type.String({ maxLength: 500 })),
  /** The notification the flow receives, built once by the fan-out from the event's catalogue entry. */
  payload: Type.Union([GoodsReceivedNotification, StockAdjustedNotification]),
})
export type DeliveryTask = Static<typeof DeliveryTask>

const taskCheck = TypeCompiler.Compile(DeliveryTask)

export type TaskValidation = { ok: true; task: DeliveryTask } | { ok: false; reason: string }

export function parseDeliveryTask(body: Buffer | string): TaskValidation {
  const json = parseBoundedJson(body, 'delivery task')
  if (!json.ok) return json
  const parsed = json.value
  if (taskCheck.Check(parsed)) return { ok: true, task: parsed }
  const first = taskCheck.Errors(parsed).First()
  return { ok: false, reason: `invalid delivery task at ${first?.path || '/'}: ${first?.message ?? 'does not match the schema'}` }
}

/**
 * The webhook-id of the delivery of one event to one subscription. Deterministic, so a fan-out that
 * runs twice (the event was redelivered after a crash) produces duplicates a receiver can recognise.
 */
export function deliveryIdFor(eventId: string, subscriptionId: string): string {
  return `msg_${createHashId(`${eventId}\u0000${subscriptionId}`)}`
}

function createHashId(input: string): string {
  return createHash('sha256').update(input).digest('base64url').slice(0, 32)
}
