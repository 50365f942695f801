import { Type, type Static } from '@sinclair/typebox'
import { DeliveryTask } from './delivery-task.js'

/**
 * What the subscriptions service writes and the dispatcher reads (subscriptions), and what the
 * dispatcher writes and the subscriptions service reads (attempts, dead letters). Both sides import
 * these shapes, so the Redis layout has one definition.
 */
export const SubscriptionFilters = Type.Object({
  storeId: Type.Optional(Type.String()),
  sku: Type.Optional(Type.String()),
  minQuantity: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Stock adjusted only: the adjustment's reason. */
  reason: Type.Optional(Type.String()),
})
export type SubscriptionFilters = Static<typeof SubscriptionFilters>

export const FlowInfo = Type.Object({
  workflowId: Type.Optional(Type.String()),
  workflowName: Type.Optional(Type.String()),
  environmentId: Type.Optional(Type.String()),
  /** `power-automate`, `logic-apps` or `api`, as far as the request's headers tell. */
  platform: Type.Optional(Type.String()),
})
export type FlowInfo = Static<typeof FlowInfo>

export const SubscriptionRecord = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  eventType: Type.String(),
  /** AES-256-GCM sealed callback URL (secret-box); only the two services hold the key. */
  callbackSealed: Type.String(),
  /** Scheme, host and path only: safe to show and to log. */
  callbackRedacted: Type.String(),
  /** Keyed hash of the URL + filters: finds the existing subscription on a re-subscribe. */
  fingerprint: Type.String(),
  /** Sealed Standard Webhooks signing secret (`whsec_…`). */
  secretSealed: Type.String(),
  filters: SubscriptionFilters,
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  disabledReason: Type.Optional(Type.String()),
  disabledAt: Type.Optional(Type.String()),
  flow: FlowInfo,
  /** Deliver the webhooks of one store in the order their events were published (absent: false). */
  ordered: Type.Optional(Type.Boolean()),
  /** The operator's override of FLOW_RATE_LIMIT for this subscription (`<count>/<duration>` or `unlimited`; absent: the setting). */
  flowRateLimit: Type.Optional(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
})
export type SubscriptionRecord = Static<typeof SubscriptionRecord>

export const AttemptOutcome = Type.Union([
  Type.Literal('delivered'),
  Type.Literal('retrying'),
  Type.Literal('gave-up'),
  Type.Literal('gone'),
  Type.Literal('circuit-open'),
  Type.Literal('skipped'),
])
export type AttemptOutcome = Static<typeof AttemptOutcome>

export const AttemptRecord = Type.Object({
  deliveryId: Type.String(),
  eventId: Type.String(),
  attempt: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  outcome: AttemptOutcome,
  status: Type.Union([Type.Integer(), Type.Null()]),
  durationMs: Type.Number(),
  error: Type.Optional(Type.String()),
  /** When the next attempt is due, if one is scheduled. */
  nextAttemptAt: Type.Optional(Type.String({ format: 'date-time' })),
})
export type AttemptRecord = Static<typeof AttemptRecord>

/** `endpoint`: the receiver failed until we gave up. `pipeline`: Arrivals could not process the message. */
export const DeadLetterClass = Type.Union([Type.Literal('endpoint'), Type.Literal('pipeline')])
export type DeadLetterClass = Static<typeof DeadLetterClass>

export const DeadLetterRecord = Type.Object({
  id: Type.String(),
  class: DeadLetterClass,
  tenantId: Type.Union([Type.String(), Type.Null()]),
  subscriptionId: Type.Union([Type.String(), Type.Null()]),
  eventId: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String(),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  attempts: Type.Integer(),
  deadLetteredAt: Type.String({ format: 'date-time' }),
  /** The task to replay (endpoint class); pipeline dead letters keep a truncated copy of the body. */
  task: Type.Optional(DeliveryTask),
  body: Type.Optional(Type.String()),
})
export type DeadLetterRecord = Static<typeof DeadLetterRecord>

/** AMQP headers the dispatcher sets on a message it dead-letters itself. */
export const deadLetterHeaders = {
  reason: 'x-arrivals-reason',
  class: 'x-arrivals-class',
  lastStatus: 'x-arrivals-last-status',
  attempts: 'x-arrivals-attempts',
} as const

/**
 * The associated data a sealed value is bound to (secret-box), so both services seal and open
 * alike and a ciphertext copied onto another record does not open.
 */
export const sealingContext = {
  callback: (tenantId: string, subscriptionId: string) => `callback:${tenantId}/${subscriptionId}`,
  secret: (tenantId: string, subscriptionId: string) => `secret:${tenantId}/${subscriptionId}`,
} as const

/** One store of a tenant's catalogue (owned by inventory; the connector's store dropdown reads it). */
export const StoreRecord = Type.Object({
  storeId: Type.String(),
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
})
export type StoreRecord = Static<typeof StoreRecord>
