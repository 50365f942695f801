import type { SubscriptionRecord } from '@arrivals/contracts'
import type { Subscription } from './schemas/subscriptions.js'

/** A record as the API shows it: the callback redacted (scheme, host, path), nothing sealed. */
export function subscriptionView(record: SubscriptionRecord): Subscription {
  const view: Subscription = {
    id: record.id,
    eventType: record.eventType,
    status: record.status,
    callback: record.callbackRedacted,
    filters: record.filters,
    ordered: record.ordered === true,
    flow: record.flow,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  }
  if (record.disabledReason !== undefined) view.disabledReason = record.disabledReason
  if (record.disabledAt !== undefined) view.disabledAt = record.disabledAt
  if (record.flowRateLimit !== undefined) view.flowRateLimit = record.flowRateLimit
  return view
}
