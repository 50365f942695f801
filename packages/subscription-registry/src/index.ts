export { createSubscriptionRegistry, type SubscriptionRegistry } from './registry.js'
export type {
  ChangedSubscription, ChangeWatch, IndexedSubscriptions, RecordChange, RedisClient, SubscriptionPage, SubscriptionQuotas, Subscriptions, SubscriptionsChanged, WatchOptions,
} from './subscriptions.js'
export { defaultSubscriptionQuotas, QuotaExceededError } from './subscriptions.js'
export type { AttemptBatch, Attempts, DeadLetters, DeadLettersSince, FailureStreak, Failures, SubscriptionRef } from './history.js'
export { historyLimits } from './layout.js'
export { newSigningSecret, newSubscriptionRecord, subscriptionFingerprint, type NewSubscription } from './records.js'
export { createOrderAndPace, type BudgetGrant, type BudgetRequest, type DeliveryOrder, type FlowBudgets, type OrderAndPace, type OrderPosition } from './order-and-pace.js'
