export { createSubscriptionRegistry, type SubscriptionRegistry } from './registry.js'
export type { RecordChange, SubscriptionPage, Subscriptions, SubscriptionsChanged } from './subscriptions.js'
export type { AttemptBatch, Attempts, DeadLetters, FailureStreak, Failures, SubscriptionRef } from './history.js'
export { historyLimits } from './layout.js'
